"""A scheduled campaign whose budget runs out part-way: exactly the affordable customers
are approved and credited, and nothing is lost or double-counted."""

from __future__ import annotations

import asyncio
from typing import Any

from reference_client import MemoryWallet
from simulator.app import create_app
from simulator.scenario import builtin_scenario
from simulator.settings import SimSettings
from tests.client.support import ThreadServer, eventually
from tests.client.test_end_to_end import SCHEDULED, credited, world

BUDGET = 1_000_000  # EUR 10,000: about a fifth of what 10,000 customers would need
CHEAPEST = 500  # the smallest tier reward of the demo's welcome promotion


def tight_budget_app() -> Any:
    scenario = builtin_scenario("demo")
    promotions = [
        p.model_copy(update={"budget": BUDGET}) if p.id == "PR-WELCOME" else p
        for p in scenario.promotions
    ]
    return create_app(
        SimSettings(), scenario=scenario.model_copy(update={"promotions": promotions})
    )


def test_a_campaign_whose_budget_runs_out_approves_exactly_the_affordable_customers() -> None:
    wallet = MemoryWallet()

    async def scenario(url: str) -> None:
        async with world(url, wallet) as w:
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/execute")
            summaries = w.integrator.summaries
            await eventually(
                lambda: SCHEDULED in summaries() and summaries()[SCHEDULED].finished_at is not None,
                timeout=90,
                what="the scheduled campaign",
            )
            await w.integrator.wait_idle(90)
            s = summaries()[SCHEDULED]
            report = await w.report(SCHEDULED)
            usage = await w.usage("PR-WELCOME")

            assert report["violations"] == {}, report["violationExamples"]
            assert report["invalid"].get("budget_exhausted", 0) > 0  # it did run out
            # every valid (affordable) customer was credited and approved, nobody else
            assert report["approved"] == s.approved == s.validated == report["validated"]
            assert usage["budgetCommitted"] == credited(wallet)
            assert usage["budgetCommitted"] <= BUDGET
            assert usage["budgetReserved"] == 0
            # nothing affordable was left unspent: not even the cheapest reward still fits
            assert BUDGET - usage["budgetCommitted"] < CHEAPEST
            assert usage["audienceCommitted"] == s.approved

    with ThreadServer(tight_budget_app()) as server:
        asyncio.run(scenario(server.url))
