"""The reference client against the REAL simulator, over real sockets: the simulator runs
with uvicorn in a thread, the client's listener with uvicorn in the test's event loop, so
the simulator's dispatcher delivers signed webhooks to it. Every test then checks the
client's own summary against the simulator's audit (report, usage): they must agree
exactly, with no protocol violations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from reference_client import Integrator, MemoryWallet, SqliteJournal, SqliteWallet
from reference_client.flows.common import OWN_REWARD
from reference_client.listener import create_listener_app
from reference_client.models import ScheduledEvent, format_core_time
from reference_client.platform.wallet import Wallet
from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import (
    ADMIN,
    LossyTransport,
    RecordingTransport,
    ThreadServer,
    client_config,
    eventually,
    serve_here,
)

SCHEDULED, SPINS, TRIGGERED = 48213, 48214, 7001
# The demo's campaign on CASHBACK5, a code added with AddPromotions only (no Promotions
# promotion: wire-contract §2.1, rev 2), and a triggered campaign on it made by a test.
PLAIN, PLAIN_TRIGGERED = 48215, 7002


@pytest.fixture
def simulator() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server


@dataclass
class World:
    sim: httpx.AsyncClient
    integrator: Integrator
    listener_url: str

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.sim.request(method, path, **kw)
        assert response.is_success, (path, response.status_code, response.text)
        return response.json() if response.content else None

    async def report(self, campaign_id: int) -> dict[str, Any]:
        found: dict[str, Any] = await self.ok("GET", f"/_sim/campaigns/{campaign_id}/report")
        return found

    async def usage(self, promotion_id: str) -> dict[str, int]:
        found: dict[str, int] = (await self.ok("GET", f"/v1/promotions/{promotion_id}"))["usage"]
        return found

    async def faults(self, *rules: dict[str, Any]) -> None:
        await self.ok("PUT", "/_sim/faults", json={"seed": 7, "rules": list(rules)})


@contextlib.asynccontextmanager
async def world(
    sim_url: str,
    wallet: Wallet | None = None,
    register: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    **config: Any,
) -> AsyncIterator[World]:
    """Integrator started, listener served and registered, webhook retries compressed."""
    integrator = Integrator(client_config(sim_url, **config), wallet=wallet, transport=transport)
    async with httpx.AsyncClient(base_url=sim_url, headers={"X-API-KEY": ADMIN}) as sim:
        await sim.put("/_sim/webhooks/config", json={"timeScale": 0.01})
        async with integrator, serve_here(create_listener_app(integrator)) as url:
            if register:
                await integrator.register_listeners(url)
            yield World(sim, integrator, url)


def credited(wallet: MemoryWallet | SqliteWallet) -> int:
    return sum(a.amount for a in wallet.activations())


def test_demo_campaigns_end_to_end_match_the_simulator_audit(simulator: ThreadServer) -> None:
    wallet = MemoryWallet()
    recorded = RecordingTransport()

    async def scenario() -> None:
        async with world(simulator.url, wallet, transport=recorded) as w:
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/execute")
            await w.ok("POST", f"/_sim/campaigns/{TRIGGERED}/events", json={"count": 50})
            summaries = w.integrator.summaries
            await eventually(
                lambda: (
                    SCHEDULED in summaries()
                    and TRIGGERED in summaries()
                    and summaries()[TRIGGERED].events_processed == 50
                ),
                timeout=90,
                what="both campaigns' webhooks",
            )
            await w.integrator.wait_idle(90)

            s = summaries()[SCHEDULED]
            report = await w.report(SCHEDULED)
            usage = await w.usage("PR-WELCOME")
            assert report["violations"] == {}, report["violationExamples"]
            assert report["fetched"] == s.targeted == 10_000
            assert s.scrubbed_by_rule["self_excluded"] > 0
            assert s.scrubbed_by_rule["blocked_countries"] > 0
            assert s.scrubbed + s.validated + s.ineligible == s.targeted
            assert report["validated"] == s.validated
            assert report["invalid"] == s.ineligible_by_reason
            assert report["approved"] == s.approved == s.activated > 0
            assert report["released"] == s.released == 0
            assert report["redeemed"] == s.redeemed == s.approved
            assert usage["budgetCommitted"] == sum(t.amount for t in s.rewards_by_tier.values())
            assert usage["budgetReserved"] == 0
            assert usage["audienceCommitted"] == s.approved
            assert s.errors == {} and s.duplicates_skipped == 0
            assert s.deadline is not None and s.finished_at is not None
            assert s.finished_at < s.deadline

            t = summaries()[TRIGGERED]
            report = await w.report(TRIGGERED)
            deposit = await w.usage("PR-DEPOSIT")
            assert report["violations"] == {}, report["violationExamples"]
            assert report["eventsEmitted"] == t.events_processed == 50
            assert report["validated"] == t.validated
            assert report["approved"] == t.approved == t.activated > 0
            assert report["redeemed"] == t.redeemed == t.approved
            assert deposit["budgetCommitted"] == sum(x.amount for x in t.rewards_by_tier.values())
            assert deposit["budgetReserved"] == 0
            # every cent on our wallet is committed on theirs, and nothing else
            assert credited(wallet) == usage["budgetCommitted"] + deposit["budgetCommitted"]

    asyncio.run(scenario())
    # The client authenticates with its API key only: it never logs in, so the login limits
    # (429 on a login too soon, wire-contract §2) can never refuse it; the demo runs these
    # same flows (simulator/demo.py).
    paths = {path.rsplit("/", 1)[-1] for _, path, *_ in recorded.exchanges}
    assert {"RegisterEventListener", "GetProcessedCampaignCustomers", "validateCustomers"} <= paths
    assert {"UpdateCustomerPromotionStatus", "approval", "redemptions"} <= paths
    logins = [e for e in recorded.exchanges if e[1].lower().rstrip("/").endswith("/login")]
    assert logins == []
    assert not any(token for *_, token in recorded.exchanges)
    assert not [e for e in recorded.exchanges if e[2] == 429]


def test_lost_responses_and_injected_faults_are_reconciled_exactly(
    simulator: ThreadServer,
) -> None:
    wallet = MemoryWallet()
    # Applied on the server, the response lost on the way back: the retry must be
    # reconciled. (Done in our transport: the simulator's drop_connection fault cannot cut
    # an empty 200 body, see the final report.)
    lossy = LossyTransport({"UpdateCustomerPromotionStatus": {1}})

    async def scenario() -> None:
        async with world(simulator.url, wallet, transport=lossy, approve_batch=1000) as w:
            await w.faults(
                {"target": "api", "operation": "approve_triggered_event",
                 "action": "drop_connection", "nth": 2},
                {"target": "api", "operation": "get_processed_campaign_customers",
                 "action": "truncate", "nth": 1},
                {"target": "api", "operation": "report_redemptions",
                 "action": "drop_connection", "nth": 1},
                {"target": "api", "operation": "validate_customers",
                 "action": "error", "status": 503, "probability": 0.2},
                {"target": "api", "operation": "validate_customers",
                 "action": "rate_limit", "retryAfter": 1, "nth": 3},
                {"target": "webhook", "operation": "scheduled", "action": "duplicate",
                 "nth": 1},
                {"target": "webhook", "operation": "triggered", "action": "duplicate",
                 "nth": 5},
            )  # fmt: skip
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/execute")
            await w.ok("POST", f"/_sim/campaigns/{TRIGGERED}/events", json={"count": 20})
            summaries = w.integrator.summaries
            await eventually(
                lambda: (
                    SCHEDULED in summaries()
                    and TRIGGERED in summaries()
                    and summaries()[TRIGGERED].events_processed == 20
                ),
                timeout=90,
                what="both campaigns' webhooks",
            )
            await w.integrator.wait_idle(90)

            s, t = summaries()[SCHEDULED], summaries()[TRIGGERED]
            report, usage = await w.report(SCHEDULED), await w.usage("PR-WELCOME")
            # The only "violations" are the retries that proved a lost call was applied.
            assert set(report["violations"]) <= {"duplicate_approval", "duplicate_redemption"}
            assert lossy.lost == ["UpdateCustomerPromotionStatus#1"]
            assert s.approvals_reconciled == 1000  # the whole first batch had been applied
            assert report["approved"] == s.approved
            assert report["redeemed"] == s.redeemed == s.approved
            assert usage["budgetCommitted"] == sum(x.amount for x in s.rewards_by_tier.values())
            assert usage["budgetReserved"] == 0
            assert s.errors == {}

            report, deposit = await w.report(TRIGGERED), await w.usage("PR-DEPOSIT")
            assert set(report["violations"]) <= {"duplicate_approval", "duplicate_redemption"}
            assert t.approvals_reconciled == 1
            assert report["approved"] == t.approved
            assert report["redeemed"] == t.redeemed == t.approved
            assert deposit["budgetCommitted"] == sum(x.amount for x in t.rewards_by_tier.values())
            assert credited(wallet) == usage["budgetCommitted"] + deposit["budgetCommitted"]
            assert s.duplicates_skipped == t.duplicates_skipped == 1  # redelivered, skipped
            # retries that must have happened: the cut page, the lost approval, the 429, the
            # dropped CE approval (per campaign), and the dropped redemption report (global)
            assert s.retries >= 2 and s.retries + t.retries >= 4
            assert w.integrator.retries >= 5

    asyncio.run(scenario())


class RefusingWallet(MemoryWallet):
    """A platform that refuses rewards for customers whose id ends in 7."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()

    def add_free_spins(self, customer_id: str, units: int, activation_key: str) -> bool:
        if customer_id.endswith("7"):
            self.refused.add(customer_id)
            return False
        return super().add_free_spins(customer_id, units, activation_key)


def test_rewards_the_wallet_refuses_are_released_not_approved(simulator: ThreadServer) -> None:
    wallet = RefusingWallet()

    async def scenario() -> None:
        async with world(simulator.url, wallet, blocked_countries=[]) as w:
            await w.ok("POST", f"/_sim/campaigns/{SPINS}/execute")
            await eventually(lambda: SPINS in w.integrator.summaries(), what="the webhook")
            await w.integrator.wait_idle(60)

            s = w.integrator.summaries()[SPINS]
            report, usage = await w.report(SPINS), await w.usage("PR-SPINS")
            assert report["violations"] == {}, report["violationExamples"]
            assert s.released == len(wallet.refused) > 0
            assert report["released"] == s.released
            assert report["approved"] == s.approved == s.validated - s.released
            assert {a.customer_id for a in wallet.activations()}.isdisjoint(wallet.refused)
            spins = sum(t.units for t in s.rewards_by_tier.values())
            assert usage["budgetCommitted"] == spins == sum(a.amount for a in wallet.activations())
            assert usage["budgetReserved"] == 0
            assert s.rewards_by_tier["T-SPINS"].count == s.approved

    asyncio.run(scenario())


def test_a_restarted_client_resumes_without_approving_or_crediting_twice(
    simulator: ThreadServer, tmp_path: Path
) -> None:
    store = tmp_path / "client.sqlite"
    options: dict[str, Any] = {"store_path": store, "approve_batch": 500}

    async def first_run() -> int:
        async with world(simulator.url, **options) as w:
            w.integrator.drain_timeout_s = 0  # a crash: nothing may finish cleanly
            await w.faults(
                # slow approvals (1 s per batch of 500) so the crash below lands with
                # most batches still pending, on a fast machine too
                {"target": "api", "operation": "update_customer_promotion_status",
                 "action": "latency", "latencyMs": 1000, "probability": 1.0},
            )  # fmt: skip
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/execute")
            await eventually(
                lambda: (
                    w.integrator.summaries().get(SCHEDULED)
                    and w.integrator.summaries()[SCHEDULED].approved >= 500
                ),
                timeout=60,
                what="the first approvals",
            )
            await w.faults()
            return w.integrator.summaries()[SCHEDULED].approved

    async def second_run() -> None:
        async with world(simulator.url, register=False, **options) as w:
            await w.integrator.wait_idle(60)  # start() resumed the pending webhook
            s = w.integrator.summaries()[SCHEDULED]
            report, usage = await w.report(SCHEDULED), await w.usage("PR-WELCOME")
            journal, wallet = SqliteJournal(store), SqliteWallet(store)
            try:
                approved = journal.approved(SCHEDULED)
                activations = wallet.activations()
            finally:
                journal.close()
                wallet.close()
            assert s.resumed_skipped >= first
            assert set(report["violations"]) <= {"duplicate_approval"}
            assert report["approved"] == len(approved)
            assert len(activations) == len({a.customer_id for a in activations}) == len(approved)
            assert usage["budgetCommitted"] == sum(a.amount for a in activations)
            assert usage["budgetReserved"] == 0
            assert report["redeemed"] == report["approved"]

    first = asyncio.run(first_run())
    assert first >= 500
    asyncio.run(second_run())


def test_a_cancelled_campaign_approves_nobody_else(simulator: ThreadServer) -> None:
    wallet = MemoryWallet()

    async def scenario() -> None:
        async with world(
            simulator.url, wallet, page_size=2000, validate_batch=500, concurrency=1
        ) as w:
            # Slow validation (4 x 300 ms a page) leaves the cancel webhook time to arrive
            # before the next page would be activated and approved.
            await w.faults(
                {"target": "api", "operation": "validate_customers",
                 "action": "latency", "latencyMs": 300, "probability": 1.0},
            )  # fmt: skip
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/execute")
            await eventually(
                lambda: (
                    w.integrator.summaries().get(SCHEDULED)
                    and w.integrator.summaries()[SCHEDULED].approved > 0
                ),
                timeout=60,
                what="the first approvals",
            )
            await w.ok("POST", f"/_sim/campaigns/{SCHEDULED}/cancel")
            await w.integrator.wait_idle(60)

            s = w.integrator.summaries()[SCHEDULED]
            report, usage = await w.report(SCHEDULED), await w.usage("PR-WELCOME")
            assert s.cancelled
            assert s.targeted < 10_000  # it stopped paging
            assert report["violations"] == {}, report["violationExamples"]
            assert report["approved"] == s.approved
            assert usage["budgetReserved"] == 0  # released by the cancel
            assert usage["budgetCommitted"] == credited(wallet)

    asyncio.run(scenario())


def test_a_deadline_at_risk_is_logged(
    simulator: ThreadServer, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with world(simulator.url, register=False, deadline_margin_s=120) as w:
            await w.ok("POST", f"/_sim/campaigns/{SPINS}/execute")
            soon = format_core_time(datetime.now(UTC) + timedelta(seconds=90))  # < margin
            event = ScheduledEvent(EventTypeID=5, CampaignID=SPINS, ClearanceRequiredBy=soon)
            w.integrator.dispatch_webhook("msg_deadline", event)
            await w.integrator.wait_idle(60)
            s = w.integrator.summaries()[SPINS]
            assert s.errors.get("deadline_at_risk") == 1
            assert s.approved > 0  # still worked: the server decides what is too late

    with caplog.at_level(logging.WARNING, logger="reference_client"):
        asyncio.run(scenario())
    assert any("deadline at risk" in r.getMessage() for r in caplog.records)


def test_an_ineligible_triggered_event_credits_and_approves_nothing(
    simulator: ThreadServer,
) -> None:
    wallet = MemoryWallet()

    async def scenario() -> None:
        async with world(simulator.url, wallet, redemption_mode="per_event") as w:
            events = [
                {"customerId": "C0000001", "context": {"depositAmount": 12_000}},
                {"customerId": "C0000002", "context": {"depositAmount": 500}},  # below 1000
            ]
            await w.ok("POST", f"/_sim/campaigns/{TRIGGERED}/events", json={"customers": events})
            await eventually(
                lambda: (
                    TRIGGERED in w.integrator.summaries()
                    and w.integrator.summaries()[TRIGGERED].events_processed == 2
                ),
                what="two events",
            )
            await w.integrator.wait_idle(30)

            t = w.integrator.summaries()[TRIGGERED]
            report = await w.report(TRIGGERED)
            journal = await w.ok("GET", "/_sim/journal", params={"limit": 1000})
            approvals = [e for e in journal["entries"] if e["path"].endswith("/triggered/approval")]
            assert report["violations"] == {}, report["violationExamples"]
            assert t.ineligible_by_reason == report["invalid"] == {"no_tier_matched": 1}
            assert (t.validated, t.activated, t.approved, t.released) == (1, 1, 1, 0)
            assert len(approvals) == 1  # no approval (true or false) for the ineligible one
            assert [(a.customer_id, a.amount) for a in wallet.activations()] == [
                ("C0000001", 1200)  # 10% of the deposit
            ]
            assert report["redeemed"] == t.redeemed == 1

    asyncio.run(scenario())


def test_scrubbing_sees_the_attributes_of_customers_you_choose(simulator: ThreadServer) -> None:
    """Explicit customers' attributes reach the client's scrubbing rules end to end
    (CustomerAttributes), and the survivor's tier follows its chosen VIPLevel."""
    chosen = {
        "excluded-1": {"SelfExcluded": True, "Country": "AT", "VIPLevel": "Gold"},
        "paris-1": {"SelfExcluded": False, "Country": "FR", "VIPLevel": "Gold"},
        "vienna-1": {"SelfExcluded": False, "Country": "AT", "VIPLevel": "Gold"},
    }

    async def scenario() -> None:
        async with world(simulator.url) as w:
            for customer_id, attributes in chosen.items():
                await w.ok("PUT", f"/_sim/customers/{customer_id}", json={"attributes": attributes})
            campaign = {
                "id": 48300,
                "type": "scheduled",
                "promoCode": "WELCOME50",
                "targetGroup": {"ids": list(chosen)},
            }
            await w.ok("POST", "/_sim/campaigns", json=campaign)
            await w.ok("POST", "/_sim/campaigns/48300/execute")
            summaries = w.integrator.summaries
            await eventually(lambda: 48300 in summaries(), timeout=60, what="the webhook")
            await w.integrator.wait_idle(60)
            s = summaries()[48300]
            assert s.targeted == 3
            assert s.scrubbed_by_rule == {"self_excluded": 1, "blocked_countries": 1}
            assert s.validated == 1 and s.approved == 1
            report = await w.report(48300)
            assert report["violations"] == {}, report["violationExamples"]
            assert report["validated"] == 1 and report["approved"] == 1
            usage = await w.usage("PR-WELCOME")
            assert usage["budgetCommitted"] == 5000  # T-VIP: the chosen VIPLevel Gold

    asyncio.run(scenario())


async def plain_triggered_campaign(w: World) -> None:
    campaign = {
        "id": PLAIN_TRIGGERED,
        "type": "triggered",
        "promoCode": "CASHBACK5",
        "actionId": 22,
        "actionName": "Cashback on deposits",
        "seriesId": 901,
        "trigger": "deposit",
    }
    await w.ok("POST", "/_sim/campaigns", json=campaign)


class ValidationLog(httpx.AsyncHTTPTransport):
    """A real HTTP transport that records each validateCustomers call: (promo code,
    campaign id, status)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, int, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        path = request.url.path
        if path.endswith("/validateCustomers"):
            campaign = json.loads(request.content)["campaignData"]["campaignId"]
            self.calls.append((path.split("/")[3], campaign, response.status_code))
        return response

    def of(self, code: str, campaign_id: int) -> list[int]:
        return [status for c, cid, status in self.calls if (c, cid) == (code, campaign_id)]


def test_campaigns_without_a_promotion_are_approved_without_validation_beside_others(
    simulator: ThreadServer,
) -> None:
    """Both kinds at once: the client learns from validateCustomers' 404 that CASHBACK5 has
    no Promotions promotion, approves those customers and events as they are, and keeps
    validating the Promotions campaigns beside them."""
    log = ValidationLog()

    async def scenario() -> None:
        async with world(
            simulator.url,
            transport=log,
            blocked_countries=[],
            validate_batch=100,  # 48215's 500 customers in five batches...
            concurrency=1,  # ...one at a time, so the run learns from the first one
        ) as w:
            await plain_triggered_campaign(w)
            await w.ok("POST", f"/_sim/campaigns/{PLAIN}/execute")
            await w.ok("POST", f"/_sim/campaigns/{SPINS}/execute")
            await w.ok("POST", f"/_sim/campaigns/{PLAIN_TRIGGERED}/events", json={"count": 20})
            await w.ok("POST", f"/_sim/campaigns/{TRIGGERED}/events", json={"count": 10})
            summaries = w.integrator.summaries

            def done(plain_events: int) -> bool:
                found = summaries()
                return (
                    PLAIN in found
                    and SPINS in found
                    and PLAIN_TRIGGERED in found
                    and TRIGGERED in found
                    and found[PLAIN_TRIGGERED].events_processed == plain_events
                    and found[TRIGGERED].events_processed == 10
                )

            await eventually(lambda: done(20), timeout=90, what="every campaign's webhooks")
            await w.integrator.wait_idle(90)
            learned = len(log.of("CASHBACK5", PLAIN_TRIGGERED))
            # a second wave of events: the code is known to have no promotion, no more calls
            await w.ok("POST", f"/_sim/campaigns/{PLAIN_TRIGGERED}/events", json={"count": 10})
            await eventually(lambda: done(30), timeout=60, what="the second wave")
            await w.integrator.wait_idle(60)
            assert len(log.of("CASHBACK5", PLAIN_TRIGGERED)) == learned

            p, report = summaries()[PLAIN], await w.report(PLAIN)
            assert report["violations"] == {}, report["violationExamples"]
            assert report["fetched"] == p.targeted == 500
            assert report["validated"] == p.validated == 0
            assert p.scrubbed + p.approved == 500 and p.approved > 0
            assert report["approved"] == p.approved == p.activated
            assert p.rewards_by_tier[OWN_REWARD].count == p.approved
            assert p.released == report["released"] == 0 and p.errors == {}
            await w.ok("POST", f"/_sim/campaigns/{PLAIN}/clear")
            assert (await w.report(PLAIN))["sent"] == p.approved

            t, report = summaries()[PLAIN_TRIGGERED], await w.report(PLAIN_TRIGGERED)
            assert report["violations"] == {}, report["violationExamples"]
            assert report["approved"] == t.approved == 30 and t.validated == 0
            assert report["validated"] == 0 and t.errors == {}

            # the Promotions campaigns beside them are validated as ever
            for campaign_id in (SPINS, TRIGGERED):
                s, report = summaries()[campaign_id], await w.report(campaign_id)
                assert report["violations"] == {}, report["violationExamples"]
                assert report["validated"] == s.validated > 0
                assert report["approved"] == s.approved > 0
                assert OWN_REWARD not in s.rewards_by_tier

    asyncio.run(scenario())
    # The scheduled run learned from its first batch: one call, not five.
    assert log.of("CASHBACK5", PLAIN) == [404]
    assert set(log.of("CASHBACK5", PLAIN_TRIGGERED)) == {404}
    assert set(log.of("SPINS25", SPINS)) == set(log.of("DEPOSIT10", TRIGGERED)) == {200}


def test_a_code_a_promotion_takes_later_is_validated_again(simulator: ThreadServer) -> None:
    """The triggered flow remembers a code without a promotion until an approval is
    refused `not_validated`: a Promotions promotion owns the code now, so the next events
    are validated again."""
    wallet = MemoryWallet()

    async def one_event(w: World, customer_id: str, n: int) -> None:
        body = {"customers": [{"customerId": customer_id, "context": {"depositAmount": 5000}}]}
        await w.ok("POST", f"/_sim/campaigns/{PLAIN_TRIGGERED}/events", json=body)
        await eventually(
            lambda: (
                PLAIN_TRIGGERED in w.integrator.summaries()
                and w.integrator.summaries()[PLAIN_TRIGGERED].events_processed == n
            ),
            what=f"event {n}",
        )
        await w.integrator.wait_idle(30)

    async def scenario() -> None:
        async with world(simulator.url, wallet) as w:
            await plain_triggered_campaign(w)
            await one_event(w, "C0000001", 1)
            promotion = {
                "id": "PR-CASHBACK",
                "name": "Cashback, now in Promotions",
                "promocodes": ["CASHBACK5"],
                "rewardKind": "amount",
                "currency": "EUR",
                "budget": 100_000,
                "audienceCap": 100,
                "tiers": [
                    {
                        "id": "T-CASH",
                        "name": "EUR 5",
                        "when": [],
                        "reward": {"type": "amount", "amount": 500, "currency": "EUR"},
                    }
                ],
            }
            await w.ok("POST", "/v1/promotions", json=promotion)
            await w.ok("PATCH", "/v1/promotions/PR-CASHBACK/activate")
            await one_event(w, "C0000002", 2)  # approved as is: refused, code forgotten
            await one_event(w, "C0000003", 3)  # validated, then approved

            t, report = w.integrator.summaries()[PLAIN_TRIGGERED], await w.report(PLAIN_TRIGGERED)
            assert t.errors == {"approval_not_validated": 1}
            assert (t.validated, t.approved) == (1, 2)
            assert report["approved"] == 2 and report["validated"] == 1
            assert report["violations"] == {"approved_without_validation": 1}
            assert t.rewards_by_tier[OWN_REWARD].count == 2  # the first two events
            assert t.rewards_by_tier["T-CASH"].count == 1
            usage = await w.usage("PR-CASHBACK")
            assert usage["budgetCommitted"] == credited(wallet) == 500

    asyncio.run(scenario())
