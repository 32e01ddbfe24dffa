"""EventTypeID 13 and the integer TenantID (wire-contract §6, rev 2): when a scheduled
campaign executes for its approved customers at `ClearanceRequiredBy`, one webhook per
channel of the campaign goes to the listener registered for 13 with that `ChannelID`,
signed like the others; `TenantID` in webhooks is the tenant's integer id. On both stores,
to a real HTTP listener on 127.0.0.1."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import orjson
from standardwebhooks import Webhook

from tests.api.support import active_promotion, scheduled_campaign
from tests.conftest import manual_demo
from tests.helpers import SCHEDULED, SPINS, Sim
from tests.webhooks.support import (
    DEMO_SECRET,
    Listener,
    configure,
    deliveries,
    ok,
    register,
    register_ce,
    wait_settled,
)

DEMO_TENANT_ID = 28209  # demo.yaml's tenant.numericId


def _core(iso: str, plus: timedelta = timedelta()) -> str:
    return (datetime.fromisoformat(iso.replace("Z", "+00:00")) + plus).strftime("%Y-%m-%d %H:%M:%S")


def register_channel(sim: Sim, url: str, channel: int | None) -> None:
    body: dict[str, Any] = {"EventTypeID": 13, "ListenerURL": url}
    if channel is not None:
        body["ChannelID"] = channel
    ok(sim.post("/current/general/RegisterEventListener", body))


def test_clearing_sends_one_signed_type_13_webhook_per_channel_to_that_channels_listener(
    listener: Listener, sim: Sim
) -> None:
    configure(sim)
    register(sim, listener.url("/t5"), [5])
    register_channel(sim, listener.url("/c15"), 15)
    register_channel(sim, listener.url("/c493"), 493)
    register_channel(sim, listener.url("/c7"), 7)  # a channel no campaign is sent on
    assert ok(sim.get(f"/_sim/campaigns/{SPINS}"))["channels"] == [15, 493]
    ok(sim.execute(SPINS))
    listener.wait_for(1, "/t5")
    now = sim.clock()["now"]
    cleared = ok(sim.clear(SPINS))
    assert cleared["status"] == "cleared"
    got = listener.wait_for(3)
    wait_settled(sim, 3)
    time.sleep(0.15)  # nothing else arrives
    assert sorted(r.path for r in listener.received()) == ["/c15", "/c493", "/t5"]
    for channel in (15, 493):
        [r] = [r for r in got if r.path == f"/c{channel}"]
        assert orjson.loads(r.body) == {
            "EventTypeID": 13,
            "TimeStamp": _core(now),
            "CampaignID": SPINS,
            "ChannelID": channel,
            "TenantID": DEMO_TENANT_ID,
        }
        assert r.headers["content-type"] == "application/json"
        Webhook(DEMO_SECRET).verify(r.body, r.headers)  # signed like every webhook
    channel_events = sim.outbox(kind="channel")
    assert [e["body"]["ChannelID"] for e in channel_events] == [15, 493]
    kinds = sorted(d["kind"] for d in deliveries(sim, kind="channel"))
    assert kinds == ["channel", "channel"]


def test_the_clock_reaching_clearance_required_by_sends_them(listener: Listener, sim: Sim) -> None:
    configure(sim)
    register_channel(sim, listener.url("/c15"), 15)
    executed = ok(sim.execute(SCHEDULED))  # channels [15], 30-minute window
    ok(sim.advance(29 * 60))
    assert sim.outbox(kind="channel") == []  # not before ClearanceRequiredBy
    ok(sim.advance(60))
    now = sim.clock()["now"]
    [got] = listener.wait_for(1, "/c15")
    body = orjson.loads(got.body)
    assert body["CampaignID"] == SCHEDULED and body["ChannelID"] == 15
    assert body["TimeStamp"] == _core(now)
    assert body["TimeStamp"] >= _core(executed["clearanceRequiredBy"])
    assert ok(sim.get(f"/_sim/campaigns/{SCHEDULED}"))["status"] == "cleared"


def test_without_a_listener_for_that_channel_nothing_is_sent_and_it_is_listed_skipped(
    listener: Listener, sim: Sim
) -> None:
    """As for 5 and 4 without a listener: the event is recorded as skipped, never sent. A
    13 listener without a ChannelID, or of another channel, does not receive it."""
    configure(sim)
    register(sim, listener.url("/t5"), [5])
    register_channel(sim, listener.url("/c-general"), None)
    register_channel(sim, listener.url("/c16"), 16)
    ok(sim.execute(SCHEDULED))
    listener.wait_for(1, "/t5")
    ok(sim.clear(SCHEDULED))
    [skipped] = wait_settled(sim, 1, kind="channel")
    assert skipped["status"] == "skipped" and skipped["attempts"] == 0
    assert skipped["lastError"] == "no listener registered"
    time.sleep(0.15)
    assert [r.path for r in listener.received()] == ["/t5"]


def test_a_campaign_without_channels_sends_no_type_13(listener: Listener, sim: Sim) -> None:
    configure(sim)
    register_channel(sim, listener.url("/c15"), 15)
    active_promotion(sim)
    created = scheduled_campaign(sim, 501, size=10)
    assert created["channels"] == []
    ok(sim.clear(501))
    ok(sim.execute(SCHEDULED))
    ok(sim.cancel(SCHEDULED))  # a cancelled campaign is never sent, on no channel
    time.sleep(0.2)
    assert sim.outbox(kind="channel") == []
    assert listener.received() == []


def test_a_triggered_webhook_names_the_campaigns_channels(listener: Listener, sim: Sim) -> None:
    configure(sim)
    register_ce(sim, listener.url("/ce"))
    active_promotion(sim)
    body = {
        "id": 502,
        "type": "triggered",
        "promoCode": "TESTCODE",
        "seriesId": 1,
        "trigger": "deposit",
        "channels": [3, 1],
    }
    created = sim.create_campaign(body)
    assert created.status_code == 201, created.text
    ok(sim.emit(502, count=1), 201)
    [got] = listener.wait_for(1, "/ce")
    assert orjson.loads(got.body)["campaign"]["action"]["channels"] == [3, 1]


# -- the integer TenantID ------------------------------------------------------------------
def test_tenant_ids_are_integers_fixed_for_the_demo_and_unique_per_store(sim: Sim) -> None:
    assert ok(sim.get("/_sim/tenant"))["numericId"] == DEMO_TENANT_ID
    created = [ok(sim.post("/_sim/tenants", {"builtin": "demo"}), 201) for _ in range(3)]
    numbers = [c["numericId"] for c in created]
    assert all(isinstance(n, int) for n in numbers)
    assert len(set(numbers)) == 3 and DEMO_TENANT_ID not in numbers
    for c in created:
        other = sim.as_key(c["keys"]["admin"])
        assert ok(other.get("/_sim/tenant"))["numericId"] == c["numericId"]
        ok(other.execute(SCHEDULED))
        [event] = other.outbox(kind="scheduled")
        assert event["body"]["TenantID"] == c["numericId"]
    # resetting or loading a scenario keeps the number, like the tenant's id and keys
    ok(sim.post("/_sim/reset"))
    assert ok(sim.get("/_sim/tenant"))["numericId"] == DEMO_TENANT_ID
    scenario = manual_demo().model_dump(mode="json", exclude_none=True)
    scenario["tenant"]["numericId"] = 4242
    ok(sim.post("/_sim/scenario", scenario))
    assert ok(sim.get("/_sim/tenant"))["numericId"] == DEMO_TENANT_ID
    ok(sim.execute(SCHEDULED))
    [event] = sim.outbox(kind="scheduled")
    assert event["body"]["TenantID"] == DEMO_TENANT_ID
