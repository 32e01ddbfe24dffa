"""Webhook delivery (wire-contract §6): what is sent, where, with which headers and
signatures, to a real HTTP listener on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from simulator.scenario import builtin_scenario
from tests.helpers import SCHEDULED, TRIGGERED, Sim
from tests.webhooks.support import (
    DEMO_SECRET,
    Listener,
    configure,
    deliveries,
    emit,
    new_secret,
    ok,
    register,
    register_ce,
    wait_settled,
)


def _core_time(iso: str, plus: timedelta = timedelta()) -> str:
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) + plus).strftime("%Y-%m-%d %H:%M:%S")


def _wire_ready(sim: Sim, listener: Listener, **ce: Any) -> None:
    configure(sim)
    register(sim, listener.url("/t5"), [5])
    register(sim, listener.url("/t4"), [4])
    register_ce(sim, listener.url("/ce"), **ce)


def test_execute_sends_one_type_5_webhook_with_the_contract_body(
    listener: Listener, sim: Sim
) -> None:
    _wire_ready(sim, listener)
    now = sim.clock()["now"]
    ok(sim.execute())
    [got] = listener.wait_for(1, "/t5")
    assert got.body and got.headers["content-type"] == "application/json"
    assert orjson.loads(got.body) == {
        "EventTypeID": 5,
        "TimeStamp": _core_time(now),
        "CampaignID": SCHEDULED,
        "ClearanceRequiredBy": _core_time(now, timedelta(minutes=30)),
        "TenantID": 28209,  # the demo tenant's fixed integer id
    }
    wait_settled(sim, 1)
    time.sleep(0.15)  # nothing else arrives: one webhook, to the type 5 listener only
    assert [r.path for r in listener.received()] == ["/t5"]


def test_cancel_after_execute_sends_a_type_4_webhook(listener: Listener, sim: Sim) -> None:
    _wire_ready(sim, listener)
    ok(sim.execute())
    listener.wait_for(1, "/t5")
    now = sim.clock()["now"]
    ok(sim.cancel())
    [got] = listener.wait_for(1, "/t4")
    assert orjson.loads(got.body) == {
        "EventTypeID": 4,
        "TimeStamp": _core_time(now),
        "CampaignID": SCHEDULED,
    }
    assert got.headers["content-type"] == "application/json"
    kinds = [d["kind"] for d in wait_settled(sim, 2)]
    assert kinds == ["scheduled", "cancelled"]


def test_each_triggered_event_sends_one_ce_v2_webhook_with_the_contract_body(
    listener: Listener, sim: Sim
) -> None:
    _wire_ready(sim, listener)
    now = sim.clock()["now"]
    emit(sim, 3)
    got = listener.wait_for(3, "/ce")
    wait_settled(sim, 3)
    time.sleep(0.15)
    assert len(listener.received()) == 3  # exactly one webhook per event, nothing else
    bodies = [orjson.loads(r.body) for r in got]
    assert len({r.id for r in got}) == 3
    assert len({b["eventId"] for b in bodies}) == 3
    for body in bodies:
        assert set(body) == {"eventId", "eventTime", "user", "campaign", "context"}
        assert body["eventId"].startswith("EV")
        assert body["eventTime"] == now and now.endswith("Z")
        assert body["user"] == {"user_id": body["user"]["user_id"], "is_visitor": False}
        assert body["user"]["user_id"].startswith("C")
        assert body["campaign"] == {
            "id": TRIGGERED,
            "series_id": 900,
            "action": {
                "id": 21,
                "name": "Deposit match",
                "promo_codes": ["DEPOSIT10"],
                "channels": [],
            },
        }
        assert isinstance(body["context"]["depositAmount"], int)
    assert all(r.headers["content-type"] == "application/json" for r in got)


def test_the_emit_response_lists_the_count_and_the_event_ids_the_webhooks_carry(
    listener: Listener, sim: Sim
) -> None:
    _wire_ready(sim, listener)
    result = emit(sim, 3)
    got = listener.wait_for(3, "/ce")
    sent = {orjson.loads(r.body)["eventId"] for r in got}
    assert result["count"] == 3, result
    assert sorted(result["eventIds"]) == sorted(sent), result


def test_webhooks_carry_standard_webhooks_headers_that_verify_with_the_tenant_secret(
    listener: Listener, sim: Sim
) -> None:
    _wire_ready(sim, listener)
    ok(sim.advance(3 * 86400))  # the simulator clock is 3 days ahead of the wall clock
    now = sim.clock()["now"]
    ok(sim.execute())
    emit(sim, 2)
    got = listener.wait_for(3)
    assert orjson.loads(listener.received("/t5")[0].body)["TimeStamp"] == _core_time(now)
    for r in got:
        assert r.method == "POST"
        assert r.id.startswith("msg_")
        # webhook-timestamp is wall-clock time even on a virtual clock (§6)
        assert abs(int(r.headers["webhook-timestamp"]) - time.time()) < 120
        assert r.headers["webhook-signature"].startswith("v1,")
        assert len(r.headers["webhook-signature"].split()) == 1
        # the reference verifier accepts the raw body as received
        Webhook(DEMO_SECRET).verify(r.body, r.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(r.body, r.headers)
    listed = {d["eventId"] for d in wait_settled(sim, 3)}
    assert {r.id for r in got} == listed  # webhook-id is the delivery id


def test_a_ce_v2_registration_with_its_own_secret_signs_triggered_events_with_it(
    listener: Listener, sim: Sim
) -> None:
    own = new_secret()
    _wire_ready(sim, listener, secret=own)
    ok(sim.execute())
    emit(sim, 2)
    triggered = listener.wait_for(2, "/ce")
    for r in triggered:
        Webhook(own).verify(r.body, r.headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(DEMO_SECRET).verify(r.body, r.headers)
    # scheduled webhooks keep the tenant's secret
    [scheduled] = listener.wait_for(1, "/t5")
    Webhook(DEMO_SECRET).verify(scheduled.body, scheduled.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(own).verify(scheduled.body, scheduled.headers)


def test_a_ce_v2_registration_moved_by_the_control_api_keeps_its_id_and_own_secret(
    listener: Listener, sim: Sim
) -> None:
    own = new_secret()
    _wire_ready(sim, listener, secret=own)
    before = ok(sim.get("/_sim/tenant"))["ceWebhook"]
    moved = ok(sim.client.put("/_sim/ce-webhook", json={"url": listener.url("/moved")},
                              headers=sim.headers))  # fmt: skip
    assert moved == before | {"url": listener.url("/moved")}
    assert "secret" not in moved and "secret" not in ok(sim.get("/_sim/tenant"))["ceWebhook"]
    ok(sim.execute())
    emit(sim, 1)
    [got] = listener.wait_for(1, "/moved")
    Webhook(own).verify(got.body, got.headers)  # still the registration's own secret
    with pytest.raises(WebhookVerificationError):
        Webhook(DEMO_SECRET).verify(got.body, got.headers)
    # bad input changes nothing; without a registration there is nothing to move
    put = sim.client.put
    refused = put("/_sim/ce-webhook", json={"url": "ftp://x"}, headers=sim.headers)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    assert "url" in refused.json()["message"]
    assert ok(sim.get("/_sim/tenant"))["ceWebhook"]["url"] == listener.url("/moved")
    hooks = "/conditional-execution/v2/triggered/webhooks/"
    assert sim.client.delete(hooks, headers=sim.headers).status_code in (200, 204)
    gone = put("/_sim/ce-webhook", json={"url": listener.url("/x")}, headers=sim.headers)
    assert gone.status_code == 404 and gone.json()["error"] == "unknown_webhook"


def test_a_tenant_without_secret_sends_unsigned_webhooks_with_id_and_timestamp(
    listener: Listener, sim: Sim
) -> None:
    scenario = builtin_scenario("demo").model_dump(mode="json", exclude_none=True)
    scenario["tenant"] = {"id": "unsigned", "name": "No secret"}
    scenario["clock"] = {"mode": "manual"}
    created = ok(sim.post("/_sim/tenants", {"scenario": scenario}), 201)
    other = sim.as_key(created["keys"]["admin"])
    assert ok(other.get("/_sim/tenant"))["signed"] is False
    _wire_ready(other, listener)
    ok(other.execute())
    emit(other, 1)
    got = listener.wait_for(2)
    for r in got:
        assert "webhook-signature" not in r.headers
        assert r.id.startswith("msg_")
        assert abs(int(r.headers["webhook-timestamp"]) - time.time()) < 120
        assert r.headers["content-type"] == "application/json"
    assert {d["status"] for d in wait_settled(other, 2)} == {"delivered"}
    assert deliveries(sim) == []  # the demo tenant sent nothing


def test_events_emitted_with_a_rate_are_spread_over_time(listener: Listener, sim: Sim) -> None:
    """§7: triggered events are emitted "at a target rate": 8 events at 10/s take ~0.7 s."""
    _wire_ready(sim, listener)
    emit(sim, 8, rate=10)
    got = listener.wait_for(8, "/ce")
    arrivals = sorted(r.at for r in got)
    assert arrivals[-1] - arrivals[0] >= 0.5, arrivals
