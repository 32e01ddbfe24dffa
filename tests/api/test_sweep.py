"""The clock sweep visits only tenants with something to do (issue 17): written ones,
those whose next duty has come, and all of them once at start; a realtime campaign still
executes at `executeAt` with nobody calling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from simulator.scenario import builtin_scenario
from simulator.services.sweep import DutySweep
from simulator.settings import SimSettings
from tests.api.support import active_promotion, scheduled_campaign
from tests.helpers import Sim
from tests.webhooks.support import wait_until


def test_a_realtime_campaign_executes_at_its_time_with_nobody_calling(
    make_sim: Callable[..., Sim],
) -> None:
    sim = make_sim(
        scenario=builtin_scenario("demo"), settings=SimSettings(sweep_seconds=0.05, webhooks=False)
    )
    active_promotion(sim)
    at = datetime.now(UTC) + timedelta(seconds=1)
    created = scheduled_campaign(
        sim, 9101, execute=False, executeAt=at.isoformat().replace("+00:00", "Z")
    )
    assert created["status"] == "scheduled"
    # The outbox is read without settling the campaign: only the sweep can execute it.
    wait_until(lambda: sim.outbox(kind="scheduled"), timeout=10, what="the sweep to execute 9101")
    # The execution the clock made counts for the business-rule coverage as a request's.
    coverage = sim.get("/_sim/coverage", params={"campaignId": 9101}).json()
    executed = [r for r in coverage["rules"] if r["id"] == "lifecycle.executed"]
    assert executed and executed[0]["count"] == 1, coverage


def test_the_sweep_visits_idle_tenants_only_in_its_full_passes() -> None:
    tenants = [f"t{i}" for i in range(1000)]
    sweep = DutySweep(lambda: tenants, full_every_s=300)
    assert len(sweep.due(0.0)) == 1000  # once at start
    for t in tenants:
        sweep.visited(t, 50.0 if t == "t7" else None)
    assert sweep.due(1.0) == []  # idle: nobody visited
    sweep.touch("t3")
    assert sweep.due(2.0) == ["t3"]
    assert sweep.due(49.0) == []
    assert sweep.due(50.0) == ["t7"]  # its duty has come
    assert sweep.due(51.0) == []
    assert len(sweep.due(300.0)) == 1000  # the safety net
