"""What needs a real server process: connections cut by fault injection (the operation ran,
the client cannot tell), and pending deliveries surviving a crash of a SQLite server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.webhooks.support import (
    ClosedPort,
    Listener,
    ServerProcess,
    wait_until,
)

APPROVAL = {
    "TimeStamp": "2026-11-27 10:00:00",
    "CampaignID": 48213,
    "PromosUpdated": [{"CustomerID": "C0000000", "Status": True}],
}
VALIDATE = {"campaignData": {"campaignId": 48213}, "contexts": [{"customerId": "C0000000"}]}


def _ok(response: httpx.Response, status: int = 200) -> httpx.Response:
    assert response.status_code == status, (response.status_code, response.text)
    return response


def _fresh(client: httpx.Client, rules: list[dict[str, object]]) -> None:
    _ok(client.put("/_sim/faults", json={"rules": rules}))
    assert client.delete("/_sim/journal").status_code == 204


def _faults_in_journal(client: httpx.Client) -> list[str]:
    entries = _ok(client.get("/_sim/journal", params={"limit": 1000})).json()["entries"]
    return [e["fault"] for e in entries if e["fault"]]


@pytest.mark.slow
def test_a_dropped_connection_hides_an_approval_that_did_apply(
    shared_server: ServerProcess,
) -> None:
    with shared_server.client() as client:
        rule = {"target": "api", "operation": "update_customer_promotion_status",
                "action": "drop_connection", "nth": 1}  # fmt: skip
        _fresh(client, [rule])
        _ok(client.post("/_sim/campaigns/48213/execute"))
        _ok(client.post("/v1/promocodes/WELCOME50/validateCustomers", json=VALIDATE))
        before = _ok(client.get("/v1/promotions/PR-WELCOME")).json()["usage"]
        assert before["audienceReserved"] == 1 and before["audienceCommitted"] == 0, before
        try:
            got = client.post("/current/integrations/UpdateCustomerPromotionStatus", json=APPROVAL)
        except httpx.TransportError:
            got = None  # the connection was cut: the client cannot tell what happened
        assert got is None, (
            f"the connection was not dropped: the client read a complete {got.status_code} "
            f"response (headers {dict(got.headers)})"
        )
        usage = _ok(client.get("/v1/promotions/PR-WELCOME")).json()["usage"]
        assert usage["audienceCommitted"] == 1 and usage["budgetCommitted"] > 0, usage
        assert usage["budgetReserved"] == 0, usage
        retry = client.post("/current/integrations/UpdateCustomerPromotionStatus", json=APPROVAL)
        assert retry.status_code == 409, retry.text
        assert retry.json()["error"] == "duplicate_approval", retry.text
        assert _faults_in_journal(client) == ["drop_connection"]


@pytest.mark.slow
def test_a_truncated_response_is_a_transport_error_and_the_call_still_applied(
    shared_server: ServerProcess,
) -> None:
    with shared_server.client() as client:
        rules = [
            {"target": "api", "operation": "validate_customers", "action": "truncate", "nth": 1},
            {"target": "api", "operation": "get_promotion", "action": "truncate", "nth": 1},
        ]
        _fresh(client, rules)
        _ok(client.post("/_sim/campaigns/48214/execute"))
        page = client.get("/current/customers/GetProcessedCampaignCustomers",
                          params={"CampaignID": 48214, "$top": 1})  # fmt: skip
        customer = _ok(page).json()[0]["CustomerID"]
        body = {"campaignData": {"campaignId": 48214}, "contexts": [{"customerId": customer}]}
        with pytest.raises(httpx.TransportError):
            client.post("/v1/promocodes/SPINS25/validateCustomers", json=body)
        with pytest.raises(httpx.TransportError):
            client.get("/v1/promotions/PR-SPINS")
        usage = _ok(client.get("/v1/promotions/PR-SPINS")).json()["usage"]
        assert usage["audienceReserved"] == 1 and usage["budgetReserved"] == 25, usage
        assert _faults_in_journal(client) == ["truncate", "truncate"]


@pytest.mark.slow
def test_pending_deliveries_survive_a_crash_of_a_sqlite_server(
    make_server: Callable[..., ServerProcess],
    make_listener: Callable[..., Listener],
    closed_port: ClosedPort,
    tmp_path: Path,
) -> None:
    env = {"SIM_STORE": "sqlite", "SIM_SQLITE_PATH": str(tmp_path / "sim.sqlite")}
    first = make_server(env)
    delay = 2.0
    with first.client() as client:
        config = {"retryDelays": [delay] * 10, "timeScale": 1}
        _ok(client.put("/_sim/webhooks/config", json=config))
        for event_type in (5, 4):
            listener_body = {"EventTypeID": event_type, "ListenerURL": closed_port.url("/core")}
            _ok(client.post("/current/general/RegisterEventListener", json=listener_body))
        ce = {"url": closed_port.url("/ce")}
        _ok(client.post("/conditional-execution/v2/triggered/webhooks/", json=ce), 201)
        _ok(client.post("/_sim/campaigns/48213/execute"))
        _ok(client.post("/_sim/campaigns/7001/events", json={"count": 3}), 201)

        def retrying_and_not_in_flight() -> list[dict[str, object]] | None:
            found = client.get("/_sim/deliveries").json()["deliveries"]
            now = time.time()
            if len(found) == 4 and all(
                d["status"] == "pending"
                and d["attempts"] >= 1
                and 0.4 < d["nextAt"] - now < delay * 1.2  # waiting for a retry, not leased
                for d in found
            ):
                return list(found)
            return None

        pending = wait_until(
            retrying_and_not_in_flight, timeout=15, interval=0.05, what="retrying deliveries"
        )
    assert all("Connect" in str(d["lastError"]) for d in pending), pending
    first.kill()

    listener = make_listener(sock=closed_port.sock)  # the port now answers
    second = make_server(env)
    got = listener.wait_for(4, timeout=15)
    assert {r.id for r in got} == {d["eventId"] for d in pending}
    assert sorted(r.path for r in got) == ["/ce", "/ce", "/ce", "/core"]
    with second.client() as client:

        def delivered() -> list[dict[str, object]] | None:
            found = client.get("/_sim/deliveries").json()["deliveries"]
            return found if all(d["status"] == "delivered" for d in found) else None

        done = wait_until(delivered, timeout=10, interval=0.05, what="delivered after the restart")
        assert {d["eventId"] for d in done} == {d["eventId"] for d in pending}
        for d in done:
            log = client.get(f"/_sim/deliveries/{d['eventId']}").json()["attemptLog"]
            assert log[0]["status"] is None and log[-1]["status"] == 200, log
