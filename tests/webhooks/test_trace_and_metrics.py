"""Trace context and the webhook metrics, with a real listener on 127.0.0.1.

Every webhook carries a W3C `traceparent` (simulator/tracing.py): one trace per event, one
span per attempt. The journal records a request's valid `traceparent`, so an event can be
followed from its webhook to the integrator's calls about it."""

from __future__ import annotations

from typing import Any

import orjson

from simulator import tracing
from tests.helpers import TRIGGERED, Sim
from tests.metrics.support import pick, scrape, value
from tests.webhooks.support import (
    ClosedPort,
    Listener,
    configure,
    emit,
    ok,
    register,
    register_ce,
    set_faults,
    wait_settled,
)

VALIDATE = "/v1/promocodes/DEPOSIT10/validateCustomers"
APPROVAL = "/conditional-execution/v2/triggered/approval"
CALLER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def journal(sim: Sim) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = ok(sim.get("/_sim/journal", params={"limit": 1000}))["entries"]
    return entries


def test_every_attempt_carries_a_traceparent_of_the_events_trace(
    listener: Listener, sim: Sim
) -> None:
    configure(sim)
    register_ce(sim, listener.url("/ce"))
    listener.respond(500)  # the first attempt fails, its retry is delivered
    emit(sim, 2)
    wait_settled(sim, 2)
    got = listener.wait_for(3, "/ce")
    by_event: dict[str, list[tuple[str, str]]] = {}
    for request in got:
        parsed = tracing.parse(request.headers["traceparent"])
        assert parsed is not None, request.headers["traceparent"]
        assert request.headers["traceparent"].startswith("00-")
        assert request.headers["traceparent"].endswith("-01")  # sampled
        by_event.setdefault(request.id, []).append(parsed)
    assert sorted(len(spans) for spans in by_event.values()) == [1, 2]
    for event_id, spans in by_event.items():
        assert {trace for trace, _ in spans} == {tracing.trace_id("demo", event_id)}
        assert len({span for _, span in spans}) == len(spans)  # a span per attempt
    assert len({spans[0][0] for spans in by_event.values()}) == 2  # a trace per event


def test_webhook_attempts_lag_and_acknowledgements_are_counted(
    listener: Listener, sim: Sim
) -> None:
    configure(sim)
    register_ce(sim, listener.url("/ce"))
    listener.respond(500, 404)  # two refused attempts, then every one delivered
    emit(sim, 3)
    wait_settled(sim, 3)
    samples = scrape(sim)
    attempts = {
        dict(labels)["outcome"]: n
        for labels, n in pick(samples, "optisim_webhook_attempts_total", kind="triggered").items()
    }
    assert attempts == {"refused": 2, "delivered": 3}
    triggered = {"kind": "triggered"}
    assert value(samples, "optisim_webhook_ack_seconds_count", **triggered) == 5
    assert value(samples, "optisim_webhook_ack_seconds_sum", **triggered) > 0
    assert value(samples, "optisim_webhook_delivery_lag_seconds_count", **triggered) == 3
    lag_inf = value(samples, "optisim_webhook_delivery_lag_seconds_bucket", **triggered, le="+Inf")
    assert lag_inf == 3
    deliveries = {
        dict(labels)["status"]: n
        for labels, n in pick(samples, "optisim_webhook_deliveries", tenant="demo").items()
    }
    assert deliveries == {"pending": 0, "delivered": 3, "failed": 0, "skipped": 0}
    assert value(samples, "optisim_outbox_pending", tenant="demo") == 0


def test_one_event_is_followed_from_the_request_through_its_webhook_to_the_journal(
    listener: Listener, sim: Sim
) -> None:
    configure(sim)
    register_ce(sim, listener.url("/ce"))
    body = {"customers": [{"customerId": "C0000001", "context": {"depositAmount": 5000}}]}
    emitted = sim.post(
        f"/_sim/campaigns/{TRIGGERED}/events", body, headers={"traceparent": CALLER_TRACE}
    )
    assert emitted.status_code == 201
    [webhook] = listener.wait_for(1, "/ce")
    event = orjson.loads(webhook.body)
    trace, _ = tracing.parse(webhook.headers["traceparent"]) or ("", "")
    assert trace == tracing.trace_id("demo", webhook.id)
    assert trace != CALLER_TRACE.split("-")[1]  # a new trace per event (docs/decisions.md)
    # the integrator continues the webhook's trace on its calls about the event
    ours = f"00-{trace}-{'a1' * 8}-01"
    validation = {
        "campaignData": {"campaignId": TRIGGERED, "campaignType": "triggered"},
        "contexts": [
            {
                "customerId": event["user"]["user_id"],
                "eventId": event["eventId"],
                "session": {"depositAmount": 5000},
            }
        ],
    }
    headers = {"traceparent": ours}
    assert sim.post(VALIDATE, validation, headers=headers).status_code == 200  # express lane
    approval = {
        "campaignId": TRIGGERED,
        "customerId": event["user"]["user_id"],
        "eventId": event["eventId"],
        "approved": True,
    }
    assert sim.post(APPROVAL, approval, headers=headers).status_code == 200
    assert sim.get("/_sim/clock", headers={"traceparent": "not-a-traceparent"}).status_code == 200
    entries = journal(sim)
    assert [e["traceparent"] for e in entries if e["path"].endswith("/events")] == [CALLER_TRACE]
    followed = [(e["path"], e["status"]) for e in entries if trace in (e["traceparent"] or "")]
    assert followed == [(VALIDATE, 200), (APPROVAL, 200)]
    [clock] = [e for e in entries if e["path"] == "/_sim/clock"]
    assert clock["traceparent"] is None  # an invalid header is ignored, as W3C prescribes


def test_dropped_unreachable_and_duplicated_attempts_have_their_outcomes(
    listener: Listener, closed_port: ClosedPort, sim: Sim
) -> None:
    configure(sim, retry_delays=(10,))  # one retry: two attempts, then failed
    register(sim, closed_port.url(), [5])  # the scheduled webhook cannot connect
    register_ce(sim, listener.url("/ce"))
    set_faults(
        sim,
        [
            {"target": "webhook", "operation": "triggered", "action": "drop", "nth": 1},
            {"target": "webhook", "operation": "triggered", "action": "duplicate", "nth": 2},
        ],
    )
    ok(sim.execute())
    emit(sim, 1)
    found = wait_settled(sim, 2)
    assert sorted(d["status"] for d in found) == ["delivered", "failed"]
    samples = scrape(sim)
    attempts = {
        (dict(labels)["kind"], dict(labels)["outcome"]): n
        for labels, n in pick(samples, "optisim_webhook_attempts_total").items()
    }
    # triggered: attempt 1 dropped; attempt 2 delivered, and its duplicate copy too
    assert attempts == {
        ("scheduled", "error"): 2,
        ("triggered", "dropped"): 1,
        ("triggered", "delivered"): 2,
    }
    assert value(samples, "optisim_webhook_ack_seconds_count", kind="triggered") == 2
    assert value(samples, "optisim_webhook_ack_seconds_count", kind="scheduled") == 0
    assert value(samples, "optisim_webhook_delivery_lag_seconds_count", kind="triggered") == 1
    assert value(samples, "optisim_webhook_deliveries", tenant="demo", status="failed") == 1
