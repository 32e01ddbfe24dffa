"""The express lane (simulator/api/express.py) answers exactly as FastAPI does.

Two simulators with the same seed, one with the lane and one without (`SIM_EXPRESS=false`),
get the same requests in the same order: good ones, every bad-input case of the express
routes, unauthenticated and unauthorised ones, injected faults and rate limits. Every
answer (status, body, the headers a client reads) and the final state must be identical.
A spy on FastAPI's route handling shows the lane really served the hot operations.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import fastapi.routing
import pytest

from simulator.app import EXPRESS
from simulator.settings import SimSettings
from tests.api.support import world
from tests.api.test_bad_input import CASES, Case, prepared, send
from tests.helpers import INTEGRATIONS, SCHEDULED, TRIGGERED, Sim
from tests.webhooks.support import set_faults

APPROVAL = "/conditional-execution/v2/triggered/approval"
VALIDATE = "/v1/promocodes/DEPOSIT10/validateCustomers"
UPDATE = "/current/integrations/UpdateCustomerPromotionStatus"
EXPRESS_CASES = [c for c in CASES if c.path.split("?")[0] in (APPROVAL, VALIDATE, UPDATE)
                 or "validateCustomers" in c.path]  # fmt: skip
KEPT_HEADERS = ("content-type", "retry-after")

Twins = tuple[Sim, Sim]


def WALL() -> float:
    return 1_795_000_000.0  # a fixed wall clock: creation times are equal too


@pytest.fixture
def twins(make_sim: Callable[..., Sim]) -> Twins:
    """(with the lane, without it): same scenario, same seed, same wall clock."""
    return (
        make_sim(settings=SimSettings(), wall=WALL),
        make_sim(settings=SimSettings(express=False), wall=WALL),
    )


@pytest.fixture
def fastapi_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The paths FastAPI's own route handling served."""
    seen: list[str] = []
    handle = fastapi.routing.APIRoute.handle

    async def spy(self: fastapi.routing.APIRoute, scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(fastapi.routing.APIRoute, "handle", spy)
    yield seen


def answer(response: Any) -> tuple[int, bytes, dict[str, str]]:
    kept = {k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS}
    return response.status_code, response.content, kept


def both(twins: Twins, call: Callable[[Sim], Any]) -> Any:
    """`call` on each twin; the answers must be identical. Returns the lane's response."""
    fast, slow = (call(sim) for sim in twins)
    assert answer(fast) == answer(slow)
    return fast


def posting(path: str, body: Any, **kw: Any) -> Callable[[Sim], Any]:
    return lambda sim: sim.post(path, body, **kw)


def events(sim: Sim, customers: list[str], deposit: int = 5000) -> list[str]:
    body = {
        "customers": [{"customerId": c, "context": {"depositAmount": deposit}} for c in customers]
    }
    assert sim.post(f"/_sim/campaigns/{TRIGGERED}/events", body).status_code == 201
    return [w["body"]["eventId"] for w in sim.outbox(kind="triggered", limit=10_000)]


def validation(customer: str, event: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignData": {"campaignId": TRIGGERED, "campaignType": "triggered"},
        "contexts": [
            {"customerId": customer, "eventId": event, "session": {"depositAmount": 5000}}
        ],
    }
    return body | over


def approval(customer: str, event: str, **over: Any) -> dict[str, Any]:
    body = {"campaignId": TRIGGERED, "customerId": customer, "eventId": event, "approved": True}
    return body | over


def test_the_lane_serves_both_hot_operations_without_fastapi(
    make_sim: Callable[..., Sim], fastapi_calls: list[str]
) -> None:
    assert set(EXPRESS) == {
        "approve_triggered_event",
        "update_customer_promotion_status",
        "validate_customers",
    }
    sim = make_sim()
    [event] = events(sim, ["C0000001"])
    fastapi_calls.clear()
    validated = sim.post(VALIDATE, validation("C0000001", event), params={"dryRun": "false"})
    assert validated.status_code == 200 and validated.json()["contexts"][0]["valid"] is True
    assert sim.post(APPROVAL, approval("C0000001", event)).json()["status"] == "approved"
    body = scheduled_approval(sim)  # executing the campaign is FastAPI's
    fastapi_calls.clear()
    assert sim.post(UPDATE, body).status_code == 200
    assert fastapi_calls == []
    # and the spy does see FastAPI when the lane is off
    off = make_sim(settings=SimSettings(express=False))
    [event] = events(off, ["C0000001"])
    fastapi_calls.clear()
    off.post(VALIDATE, validation("C0000001", event))
    off.post(APPROVAL, approval("C0000001", event))
    body = scheduled_approval(off)
    fastapi_calls.clear()
    off.post(UPDATE, body)
    assert fastapi_calls == [UPDATE]


def scheduled_approval(sim: Sim) -> dict[str, Any]:
    """The scheduled campaign executed and C0000002 validated: its approval body."""
    assert sim.execute().status_code == 200
    body = {"campaignData": {"campaignId": SCHEDULED}, "contexts": [{"customerId": "C0000002"}]}
    validated = sim.post("/v1/promocodes/WELCOME50/validateCustomers", body)
    assert validated.json()["contexts"][0]["valid"] is True
    return {"CampaignID": SCHEDULED, "PromosUpdated": [{"CustomerID": "C0000002", "Status": True}]}


def test_the_flow_answers_the_same_with_and_without_the_lane(twins: Twins) -> None:
    customers = [f"C{i:07d}" for i in range(6)]
    for customer in customers:
        body = {"customers": [{"customerId": customer, "context": {"depositAmount": 5000}}]}
        emitted = both(twins, posting(f"/_sim/campaigns/{TRIGGERED}/events", body))
        assert emitted.status_code == 201
    event_ids = [w["body"]["eventId"] for w in twins[0].outbox(kind="triggered", limit=100)]
    assert event_ids == [w["body"]["eventId"] for w in twins[1].outbox(kind="triggered", limit=100)]
    pairs = list(zip(customers, event_ids, strict=True))
    for customer, event in pairs:
        body = validation(customer, event)
        both(twins, posting(VALIDATE, body, params={"dryRun": "true"}))
        both(twins, posting(VALIDATE, body))
        held = both(twins, posting(VALIDATE, body, params={"dryRun": "true"}))
        assert held.json()["contexts"][0]["effects"][0]["allocationId"]  # the held id
        both(twins, posting(VALIDATE, body, params={"dryRun": "false"}))
    (c0, e0), (c1, e1), (c2, e2) = pairs[:3]
    assert both(twins, lambda s: s.post(APPROVAL, approval(c0, e0))).status_code == 200
    assert both(twins, lambda s: s.post(APPROVAL, approval(c0, e0))).status_code == 409  # again
    assert (
        both(twins, lambda s: s.post(APPROVAL, approval(c1, e1, approved=False))).json()["status"]
        == "declined"
    )
    both(twins, lambda s: s.post(APPROVAL, approval(c2, "EV_unknown")))  # 404
    both(twins, lambda s: s.post(APPROVAL, approval(c2, e2, campaignId=SCHEDULED)))
    both(twins, lambda s: s.post(APPROVAL, approval(c2, e2, approved=1.0)))  # not a bool
    both(twins, lambda s: s.post(APPROVAL, approval(c2, e2, campaignId=7001.0)))  # integral
    assert world(twins[0], TRIGGERED, "PR-DEPOSIT") == world(twins[1], TRIGGERED, "PR-DEPOSIT")


@pytest.mark.parametrize("case", EXPRESS_CASES, ids=[c.id for c in EXPRESS_CASES])
def test_bad_input_gets_fastapis_own_answer(twins: Twins, case: Case) -> None:
    for sim in twins:
        prepared(sim)
    both(twins, lambda s: send(s, case))
    assert world(twins[0]) == world(twins[1])


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"params": {"dryRun": "yes"}}, id="lax-bool-query"),
        pytest.param({"params": {"dryRun": ""}}, id="empty-query-value"),
        pytest.param({"params": [("dryRun", "true"), ("dryRun", "false")]}, id="repeated-query"),
        pytest.param({"params": {"other": "1"}}, id="unknown-query"),
        pytest.param({"headers": {"content-type": "text/plain"}}, id="text-content-type"),
        pytest.param({"headers": {"content-type": "application/vnd.x+json"}}, id="json-suffix"),
        pytest.param({"headers": {"X-API-KEY": "nope"}}, id="unknown-key"),
        pytest.param({"headers": {"X-API-KEY": ""}}, id="empty-key"),
        pytest.param({"path": f"/v1/promocodes/{'X' * 129}/validateCustomers"}, id="long-code"),
        pytest.param({"path": "/v1/promocodes/NOPE/validateCustomers"}, id="unknown-code"),
        pytest.param({"path": "/V1/promocodes/DEPOSIT10/validateCustomers"}, id="path-case"),
        pytest.param({"method": "PUT"}, id="wrong-method"),
    ],
)
def test_unusual_requests_get_the_same_answer(twins: Twins, request_: dict[str, Any]) -> None:
    [event] = events(twins[0], ["C0000003"])
    assert events(twins[1], ["C0000003"]) == [event]
    path = request_.get("path", VALIDATE)
    body = json.dumps(validation("C0000003", event)).encode()

    def call(sim: Sim) -> Any:
        headers = {**sim.headers, "content-type": "application/json", **request_.get("headers", {})}
        return sim.client.request(
            request_.get("method", "POST"), path, content=body, headers=headers,
            params=request_.get("params"),
        )  # fmt: skip

    both(twins, call)
    assert world(twins[0], TRIGGERED, "PR-DEPOSIT") == world(twins[1], TRIGGERED, "PR-DEPOSIT")


def test_a_key_without_the_role_and_injected_faults_answer_the_same(twins: Twins) -> None:
    [event] = events(twins[0], ["C0000004"])
    assert events(twins[1], ["C0000004"]) == [event]
    body = validation("C0000004", event)
    rules = [
        {"target": "api", "operation": "validate_customers", "action": "error", "nth": 1,
         "status": 503},
        {"target": "api", "operation": "approve_triggered_event", "action": "rate_limit",
         "nth": 1, "retryAfter": 7},
    ]  # fmt: skip
    for sim in twins:
        set_faults(sim, rules)
    assert both(twins, lambda s: s.post(VALIDATE, body)).status_code == 503
    assert both(twins, lambda s: s.post(VALIDATE, body)).status_code == 200
    assert both(twins, lambda s: s.post(APPROVAL, approval("C0000004", event))).status_code == 429
    integrations = [sim.as_key(INTEGRATIONS) for sim in twins]
    assert both((integrations[0], integrations[1]), lambda s: s.post(
        APPROVAL, approval("C0000004", event))).status_code == 200  # fmt: skip
    journals = [
        [(e["path"], e["status"], e["fault"]) for e in sim.get("/_sim/journal").json()["entries"]]
        for sim in twins
    ]
    assert journals[0] == journals[1]


def test_rate_limit_emulation_counts_each_request_once(make_sim: Callable[..., Sim]) -> None:
    fast = make_sim(settings=SimSettings(rate_limit=True, rate_limit_requests=3))
    slow = make_sim(settings=SimSettings(rate_limit=True, rate_limit_requests=3, express=False))
    bad = {"campaignData": {"campaignId": "x"}, "contexts": []}  # the lane defers to FastAPI
    unknown = approval("C0000001", "EV_unknown")  # the lane serves it: a 404
    statuses = [
        [
            sim.post(VALIDATE, bad).status_code,
            sim.post(APPROVAL, unknown).status_code,
            sim.post(VALIDATE, bad).status_code,
            sim.post(APPROVAL, unknown).status_code,
            sim.post(VALIDATE, bad).status_code,
        ]
        for sim in (fast, slow)
    ]
    assert statuses[0] == statuses[1] == [400, 404, 400, 429, 429]


def test_a_streamed_body_over_the_limit_is_the_same_413(make_sim: Callable[..., Sim]) -> None:
    """No Content-Length (chunked): the limit is found while the lane reads the body."""
    fast = make_sim(settings=SimSettings(max_body_bytes=1024), wall=WALL)
    slow = make_sim(settings=SimSettings(max_body_bytes=1024, express=False), wall=WALL)

    def chunked(sim: Sim) -> Any:
        chunks = iter([b'{"campaignId": 7001, "customerId": "', b"C" * 2048, b'"}'])
        headers = {**sim.headers, "content-type": "application/json"}
        return sim.client.post(APPROVAL, content=chunks, headers=headers)

    assert both((fast, slow), chunked).status_code == 413


# -- body keys in any case (wire-contract §2, rev 2) ------------------------------------------
def cased_validation(customer: str, event: str) -> dict[str, Any]:
    return {
        "CampaignData": {"CampaignId": TRIGGERED, "campaigntype": "triggered", "Channel": 3},
        "Contexts": [
            {"CustomerId": customer, "EventID": event,
             "Session": {"DepositAmount": 1, "depositAmount": 5000}}
        ],
    }  # fmt: skip


def cased_approval(customer: str, event: str) -> dict[str, Any]:
    return {"CampaignId": TRIGGERED, "customerID": customer, "EventId": event, "APPROVED": True}


def test_bodies_in_another_case_answer_the_same_and_stay_on_the_lane(
    twins: Twins, make_sim: Callable[..., Sim], fastapi_calls: list[str]
) -> None:
    customers = ["C0000001", "C0000002"]
    event_ids = events(twins[0], customers)
    assert events(twins[1], customers) == event_ids
    for customer, event in zip(customers, event_ids, strict=True):
        validated = both(twins, posting(VALIDATE, cased_validation(customer, event)))
        assert validated.json()["contexts"][0]["valid"] is True
        approved = both(twins, posting(APPROVAL, cased_approval(customer, event)))
        assert approved.json() == {
            "campaignId": TRIGGERED, "customerId": customer, "eventId": event, "status": "approved"
        }  # fmt: skip
    assert world(twins[0], TRIGGERED, "PR-DEPOSIT") == world(twins[1], TRIGGERED, "PR-DEPOSIT")
    # the lane serves them itself: other spellings cost no trip through FastAPI
    sim = make_sim()
    [event] = events(sim, ["C0000003"])
    fastapi_calls.clear()
    assert sim.post(VALIDATE, cased_validation("C0000003", event)).status_code == 200
    assert sim.post(APPROVAL, cased_approval("C0000003", event)).status_code == 200
    assert fastapi_calls == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(VALIDATE, {"campaignData": {"campaignId": TRIGGERED},
                                "CampaignData": {"campaignId": TRIGGERED},
                                "contexts": [{"customerId": "C0000004"}]}, id="validate-top"),
        pytest.param(VALIDATE, {"campaignData": {"campaignId": TRIGGERED, "CAMPAIGNID": 1},
                                "contexts": [{"customerId": "C0000004"}]}, id="validate-nested"),
        pytest.param(VALIDATE, {"campaignData": {"campaignId": TRIGGERED},
                                "contexts": [{"customerId": "C0000004"},
                                             {"customerId": "C0000004", "CustomerId": "C1"}]},
                     id="validate-list-item"),
        pytest.param(APPROVAL, {"campaignId": TRIGGERED, "customerId": "C0000004",
                                "customerID": "C0000004", "eventId": "EV_x", "approved": True},
                     id="approval"),
    ],
)  # fmt: skip
def test_a_field_named_twice_gets_fastapis_own_400(
    twins: Twins, path: str, body: dict[str, Any]
) -> None:
    assert both(twins, posting(path, body)).status_code == 400
    assert world(twins[0], TRIGGERED, "PR-DEPOSIT") == world(twins[1], TRIGGERED, "PR-DEPOSIT")
