"""At-least-once delivery (wire-contract §6): only 2xx counts; anything else, a refused
connection or a timeout is retried on the tenant's schedule (times its time scale); when the
schedule is exhausted the delivery is `failed`; every attempt is logged; re-sends keep
the `webhook-id`."""

from __future__ import annotations

import itertools
from typing import Any

from tests.helpers import Sim
from tests.webhooks.support import (
    ClosedPort,
    Listener,
    attempts,
    configure,
    deliveries,
    delivery,
    emit,
    ok,
    register,
    register_ce,
    wait_settled,
    wait_until,
)


def test_a_listener_failing_n_times_gets_the_webhook_after_n_plus_1_attempts_on_schedule(
    listener: Listener, sim: Sim
) -> None:
    schedule = [50, 200, 600]  # ms with timeScale 0.001
    configure(sim, schedule)
    register(sim, listener.url(), [5])
    listener.respond(500, 503, 404)  # three failures, then 200
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    assert d["status"] == "delivered" and d["attempts"] == 4 and d["lastStatus"] == 200

    got = listener.wait_for(4)
    assert len(got) == 4
    assert {r.id for r in got} == {d["eventId"]}  # the same webhook-id on every attempt
    assert len({r.body for r in got}) == 1

    log = delivery(sim, d["eventId"])["attemptLog"]
    assert [(a["attempt"], a["status"]) for a in log] == [(1, 500), (2, 503), (3, 404), (4, 200)]
    listed = attempts(sim, eventId=d["eventId"])
    assert [(a["attempt"], a["status"]) for a in listed] == [
        (x["attempt"], x["status"]) for x in log
    ]
    assert [a["status"] for a in attempts(sim, failedOnly=True)] == [500, 503, 404]

    # spacing follows schedule times timeScale (jitter ±10 %, a 50 ms poll, a loaded machine)
    arrivals = [r.at for r in got]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    expected = [ms / 1000 for ms in schedule]
    for gap, want in zip(gaps, expected, strict=True):
        assert 0.85 * want <= gap <= 1.1 * want + 1.0, (gaps, expected)
    for earlier, later in itertools.pairwise(gaps):
        assert later >= earlier - 0.1, gaps  # non-decreasing, like the schedule
    assert gaps[2] > gaps[0], gaps


def test_a_listener_that_always_fails_ends_failed_after_the_schedule_and_is_listed(
    listener: Listener, sim: Sim
) -> None:
    configure(sim, [10, 10, 10])
    register(sim, listener.url(), [5])
    register_ce(sim, listener.url("/ce"))
    listener.respond(status=500)
    ok(sim.execute())
    emit(sim, 2)
    found = wait_settled(sim, 3)
    assert {d["status"] for d in found} == {"failed"}
    assert {d["attempts"] for d in found} == {4}  # len(retryDelays) + 1
    assert {d["lastStatus"] for d in found} == {500}
    assert all(d["nextAt"] is None for d in found)
    failed = deliveries(sim, status="failed")
    assert [d["eventId"] for d in failed] == [d["eventId"] for d in found]
    assert deliveries(sim, status="delivered") == []
    assert len(listener.received()) == 12
    for d in found:
        log = delivery(sim, d["eventId"])["attemptLog"]
        assert [(a["attempt"], a["status"]) for a in log] == [(n, 500) for n in (1, 2, 3, 4)]


def test_a_refused_connection_is_retried_on_the_schedule_then_failed(
    closed_port: ClosedPort, sim: Sim
) -> None:
    configure(sim, [10, 20])
    register(sim, closed_port.url(), [5])
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    assert d["status"] == "failed" and d["attempts"] == 3 and d["lastStatus"] is None
    assert d["lastError"]
    log = delivery(sim, d["eventId"])["attemptLog"]
    assert [a["attempt"] for a in log] == [1, 2, 3]
    assert all(a["status"] is None and "Connect" in a["error"] for a in log), log


def test_a_timed_out_attempt_is_retried_and_a_fast_answer_then_delivers(
    listener: Listener, sim: Sim
) -> None:
    configure(sim, [10, 10, 10], timeoutSeconds=0.2)
    register(sim, listener.url(), [5])
    listener.respond((200, 1.0), (200, 1.0))  # slower than the timeout twice, then fast
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    assert d["status"] == "delivered" and d["attempts"] == 3
    log = delivery(sim, d["eventId"])["attemptLog"]
    assert [a["status"] for a in log] == [None, None, 200]
    assert all("timeout" in a["error"] for a in log[:2]), log
    assert all(a["latencyMs"] < 900 for a in log[:2]), log  # the client gave up at 0.2 s
    assert {r.id for r in listener.wait_for(3)} == {d["eventId"]}


def test_a_listener_always_slower_than_the_timeout_ends_failed(
    listener: Listener, sim: Sim
) -> None:
    configure(sim, [10], timeoutSeconds=0.1)
    register(sim, listener.url(), [5])
    listener.respond(status=200, delay=0.5)
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    assert d["status"] == "failed" and d["attempts"] == 2
    assert "timeout" in d["lastError"]


def test_resend_delivers_again_with_the_same_webhook_id(listener: Listener, sim: Sim) -> None:
    configure(sim)
    register(sim, listener.url(), [5])
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    [first] = listener.wait_for(1)
    assert ok(sim.post(f"/_sim/deliveries/{d['eventId']}/resend")) == {"resent": 1}
    got = listener.wait_for(2)
    assert [r.id for r in got] == [d["eventId"], d["eventId"]]
    assert got[1].body == first.body
    wait_until(
        lambda: delivery(sim, d["eventId"])["attempts"] == 2 or None,
        interval=0.05,
        what="the re-send to be logged",
    )
    again = delivery(sim, d["eventId"])
    assert again["status"] == "delivered"
    assert [(a["attempt"], a["status"]) for a in again["attemptLog"]] == [(1, 200), (2, 200)]


def test_resend_of_an_unknown_id_is_404(sim: Sim) -> None:
    response = sim.post("/_sim/deliveries/msg_nope/resend")
    assert response.status_code == 404 and response.json()["error"] == "unknown_delivery"


def test_resend_failed_resends_every_failed_delivery_once_the_listener_recovers(
    listener: Listener, sim: Sim
) -> None:
    configure(sim, [10])
    register(sim, listener.url(), [5])
    register_ce(sim, listener.url("/ce"))
    listener.respond(status=500)
    ok(sim.execute())
    emit(sim, 3)
    failed = wait_settled(sim, 4)
    assert {d["status"] for d in failed} == {"failed"}
    listener.respond(status=200)
    assert ok(sim.post("/_sim/deliveries/resend-failed", {})) == {"resent": 4}

    def all_delivered() -> list[dict[str, Any]] | None:
        found = deliveries(sim)
        return found if found and all(d["status"] == "delivered" for d in found) else None

    done = wait_until(all_delivered, interval=0.05, what="all re-sent deliveries delivered")
    assert {d["eventId"] for d in done} == {d["eventId"] for d in failed}
    assert {d["attempts"] for d in done} == {3}
    last = listener.received()[-4:]
    assert sorted(r.id for r in last) == sorted(d["eventId"] for d in failed)
    assert deliveries(sim, status="failed") == []
    assert ok(sim.post("/_sim/deliveries/resend-failed", {})) == {"resent": 0}
