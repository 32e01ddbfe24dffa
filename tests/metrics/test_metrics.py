"""`GET /_sim/metrics` (simulator/metrics): exact counts after known traffic, parsed with
prometheus-client's own parser, on both stores; the express lane and FastAPI count alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import pytest

from simulator.settings import SimSettings
from tests.helpers import TRIGGERED, Sim
from tests.metrics.support import pick, requests, scrape, value

VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"
APPROVAL = "/conditional-execution/v2/triggered/approval"
DEMO = {"tenant": "demo"}


@pytest.fixture
def fastapi_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths FastAPI's own route handling served (a spy on FastAPI, not on our code)."""
    seen: list[str] = []
    handle = fastapi.routing.APIRoute.handle

    async def spy(self: fastapi.routing.APIRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(fastapi.routing.APIRoute, "handle", spy)
    return seen  # type: ignore[return-value]


def traffic(sim: Sim) -> None:
    """Known traffic over every surface, with express and non-express answers."""
    assert sim.execute().status_code == 200  # control
    for customer in ("C0000001", "C0000002", "C0000003"):
        assert sim.validate_customers([customer]).status_code == 200  # express
    assert sim.post(VALIDATE, {"contexts": "nope"}).status_code == 400  # handed to FastAPI
    assert sim.validate_customers(["C0000001", "C9999999"]).status_code == 200
    assert sim.update_customer_promotion_status({"C0000001": True}).status_code == 200
    refused = sim.update_customer_promotion_status({"C0000002": False, "C0000007": True})
    assert refused.status_code == 409  # C0000007 was never validated
    body = {"customers": [{"customerId": "C0000010", "context": {"depositAmount": 5000}}]}
    assert sim.post(f"/_sim/campaigns/{TRIGGERED}/events", body).status_code == 201
    [event] = [w["body"]["eventId"] for w in sim.outbox(kind="triggered")]  # GET /_sim/outbox
    approval = {"campaignId": TRIGGERED, "customerId": "C0000010", "eventId": event}
    assert sim.post(APPROVAL, approval | {"approved": True}).status_code == 409  # not validated
    assert sim.as_key("wrong").get("/_sim/clock").status_code == 401
    assert sim.client.get("/_sim/no-such-route").status_code == 404
    assert sim.client.post("/current/general/NoSuchFunction").status_code == 405


EXPECTED = {
    ("control", "execute_campaign", "200"): 1,
    ("promotions", "validate_customers", "200"): 4,
    ("promotions", "validate_customers", "400"): 1,
    ("core", "update_customer_promotion_status", "200"): 1,
    ("core", "update_customer_promotion_status", "409"): 1,
    ("control", "emit_events", "201"): 1,
    ("control", "list_outbox", "200"): 1,
    ("ce_v2", "approve_triggered_event", "409"): 1,
    ("control", "get_clock", "401"): 1,
    ("control", "unmatched", "404"): 1,
    ("core", "unmatched", "405"): 1,
}


def test_requests_are_counted_by_surface_operation_and_status(sim: Sim) -> None:
    traffic(sim)
    samples = scrape(sim)
    assert requests(samples) == EXPECTED
    # the histogram counts the same requests, and every one took some time
    for (surface, operation, status), n in EXPECTED.items():
        labels = {"surface": surface, "operation": operation, "status": status}
        assert value(samples, "optisim_request_duration_seconds_count", **labels) == n
        assert value(samples, "optisim_request_duration_seconds_bucket", **labels, le="+Inf") == n
        assert value(samples, "optisim_request_duration_seconds_sum", **labels) > 0
    # the scrape itself is counted by the next one
    assert requests(scrape(sim), "control")["control", "get_metrics", "200"] == 1


def test_the_express_lane_and_fastapi_count_identically(
    make_sim: Callable[..., Sim], fastapi_calls: list[str]
) -> None:
    fast = make_sim()
    slow = make_sim(settings=SimSettings(express=False))
    fastapi_calls.clear()
    traffic(fast)
    assert fastapi_calls.count(VALIDATE) == 1  # only the bad body: the lane served the rest
    assert APPROVAL not in fastapi_calls
    fastapi_calls.clear()
    traffic(slow)
    assert fastapi_calls.count(VALIDATE) == 5 and fastapi_calls.count(APPROVAL) == 1
    assert requests(scrape(fast)) == requests(scrape(slow)) == EXPECTED


def test_ledger_gauges_are_each_promotions_usage(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    customers = [f"C{i:07d}" for i in range(6)]
    assert sim.validate_customers(customers).status_code == 200
    decided = {"C0000000": True, "C0000001": True, "C0000002": False}
    assert sim.update_customer_promotion_status(decided).status_code == 200
    promotion = sim.promotion("PR-WELCOME")
    usage = promotion["usage"]
    assert usage["audienceReserved"] == 3 and usage["audienceCommitted"] == 2
    samples = scrape(sim)
    labels = {**DEMO, "promotion": "PR-WELCOME"}
    expected = {
        "budget": promotion["budget"],
        "budget_reserved": usage["budgetReserved"],
        "budget_committed": usage["budgetCommitted"],
        "budget_released": usage["budgetReleased"],
        "budget_remaining": promotion["budget"]
        - usage["budgetReserved"]
        - usage["budgetCommitted"],
        "audience_used": 5,
        "audience_cap": promotion["audienceCap"],
    }
    got = {name: value(samples, f"optisim_promotion_{name}", **labels) for name in expected}
    assert got == expected
    assert usage["budgetCommitted"] > 0 and usage["budgetReleased"] > 0
    # every promotion of the tenant has its gauges, the untouched ones at zero use
    ids = {p["id"] for p in sim.get("/v1/promotions").json()}
    assert {dict(lab)["promotion"] for lab in pick(samples, "optisim_promotion_budget")} == ids
    assert value(samples, "optisim_promotion_audience_used", **DEMO, promotion="PR-SPINS") == 0


def test_refusals_are_counted_by_stage_and_rule_as_the_audit_counts_them(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    assert sim.validate_customers(["C0000001", "C9999998", "C9999999"]).status_code == 200
    refused = sim.update_customer_promotion_status({"C0000001": True, "C0000005": True})
    assert refused.status_code == 409
    samples = scrape(sim)
    got = {
        (dict(lab)["stage"], dict(lab)["reason"]): n
        for lab, n in pick(samples, "optisim_refusals_total", **DEMO).items()
    }
    assert got == {("validation", "not_targeted"): 2, ("approval", "not_validated"): 1}
    report = sim.report()
    assert report["invalid"] == {"not_targeted": 2}
    assert report["approvalsRefused"] == {"not_validated": 1}


def test_outbox_pending_and_the_journal_fill(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(settings=SimSettings(webhooks=False, journal_size=5))
    body = {"customers": [{"customerId": f"C{i:07d}"} for i in range(3)]}
    assert sim.post(f"/_sim/campaigns/{TRIGGERED}/events", body).status_code == 201
    for _ in range(2):
        assert sim.get("/_sim/clock").status_code == 200
    samples = scrape(sim)
    assert value(samples, "optisim_outbox_pending", **DEMO) == 3  # no relay runs
    assert value(samples, "optisim_journal_entries", **DEMO) == 3
    assert value(samples, "optisim_journal_capacity") == 5
    assert value(samples, "optisim_journal_enabled", **DEMO) == 1
    assert (
        sim.client.put("/_sim/journal", json={"enabled": False}, headers=sim.headers).status_code
        == 200
    )
    assert value(scrape(sim), "optisim_journal_enabled", **DEMO) == 0  # the tenant's switch
    assert (
        sim.client.put("/_sim/journal", json={"enabled": True}, headers=sim.headers).status_code
        == 200
    )
    for _ in range(4):
        assert sim.get("/_sim/clock").status_code == 200
    assert value(scrape(sim), "optisim_journal_entries", **DEMO) == 5  # the ring is full


def test_the_route_is_open_and_can_be_switched_off(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim()
    assert sim.client.get("/_sim/metrics").status_code == 200  # no key
    assert scrape(sim, key="not-a-key")  # a wrong key is not refused either
    off = make_sim(settings=SimSettings(metrics=False))
    assert off.client.get("/_sim/metrics").status_code == 404
    assert off.get("/_sim/clock").status_code == 200
    app: Any = off.client.app
    assert not hasattr(app.state, "metrics_registry")  # nothing is counted


def test_other_methods_on_the_route_are_405_with_allow(sim: Sim) -> None:
    response = sim.client.post("/_sim/metrics")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"
