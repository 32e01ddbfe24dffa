"""Webhook fault injection (`PUT /_sim/faults`, target "webhook"): duplicated, dropped,
delayed and reordered deliveries, seeded so that a run repeats exactly."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import orjson

from tests.helpers import Sim
from tests.webhooks.support import (
    Listener,
    attempts,
    configure,
    deliveries,
    delivery,
    emit,
    memory_only,
    ok,
    register,
    register_ce,
    set_faults,
    wait_settled,
)


def _wire(sim: Sim, listener: Listener, path: str = "/ce", **config: object) -> None:
    configure(sim, **config)  # type: ignore[arg-type]
    register(sim, listener.url("/t5"), [5])
    register_ce(sim, listener.url(path))


def test_a_duplicate_fault_delivers_every_webhook_id_twice(listener: Listener, sim: Sim) -> None:
    _wire(sim, listener)
    set_faults(sim, [{"target": "webhook", "action": "duplicate", "probability": 1}])
    ok(sim.execute())
    emit(sim, 3)
    found = wait_settled(sim, 4)
    assert {d["status"] for d in found} == {"delivered"}
    got = listener.wait_for(8)
    time.sleep(0.15)
    counts = Counter(r.id for r in listener.received())
    assert counts == {d["eventId"]: 2 for d in found}
    for d in found:  # both copies are identical requests
        copies = [r for r in got if r.id == d["eventId"]]
        assert copies[0].body == copies[1].body
        log = delivery(sim, d["eventId"])["attemptLog"]
        assert len(log) == 2 and {a["attempt"] for a in log} == {1}
        assert all(a["fault"] == "duplicate" and a["status"] == 200 for a in log), log


def test_a_drop_fault_sends_nothing_for_that_attempt_then_the_retry_delivers(
    listener: Listener, sim: Sim
) -> None:
    _wire(sim, listener)
    set_faults(sim, [{"target": "webhook", "operation": "scheduled", "action": "drop", "nth": 1}])
    ok(sim.execute())
    [d] = wait_settled(sim, 1)
    assert d["status"] == "delivered" and d["attempts"] == 2
    time.sleep(0.1)
    assert [r.id for r in listener.received()] == [d["eventId"]]  # one HTTP request only
    log = delivery(sim, d["eventId"])["attemptLog"]
    assert [(a["attempt"], a["status"], a["fault"]) for a in log] == [
        (1, None, "drop"),
        (2, 200, None),
    ]
    assert log[0]["error"]


@memory_only  # dispatcher logic; duplicate and drop cover the stores' logs
def test_a_delay_fault_holds_back_only_the_matching_webhooks(listener: Listener, sim: Sim) -> None:
    _wire(sim, listener)
    rule = {
        "target": "webhook",
        "operation": "scheduled",
        "action": "delay",
        "probability": 1,
        "delaySeconds": 0.5,
    }
    set_faults(sim, [rule])
    started = time.time()
    ok(sim.execute())
    emit(sim, 1)
    [triggered] = listener.wait_for(1, "/ce")
    [scheduled] = listener.wait_for(1, "/t5")
    assert scheduled.at - started >= 0.5
    assert triggered.at < scheduled.at
    found = wait_settled(sim, 2)
    faults = {d["kind"]: delivery(sim, d["eventId"])["attemptLog"][0]["fault"] for d in found}
    assert faults == {"scheduled": "delay", "triggered": None}


@memory_only  # dispatcher logic; duplicate and drop cover the stores' logs
def test_a_reorder_fault_makes_a_burst_arrive_out_of_outbox_order(
    listener: Listener, sim: Sim
) -> None:
    _wire(sim, listener)
    rule = {
        "target": "webhook",
        "operation": "triggered",
        "action": "reorder",
        "probability": 1,
        "windowSeconds": 0.3,
    }
    set_faults(sim, [rule])
    emit(sim, 30)
    got = listener.wait_for(30, "/ce")
    seq = {d["eventId"]: d["seq"] for d in wait_settled(sim, 30)}
    arrival = [seq[r.id] for r in sorted(got, key=lambda r: r.at)]
    assert sorted(arrival) == sorted(seq.values())
    assert arrival != sorted(arrival)
    assert {a["fault"] for a in attempts(sim)} == {"reorder"}


Run = tuple[list[str], list[str], list[tuple[str, int, str]]]


def _faulted_run(make_sim: Callable[..., Sim], listener: Listener, path: str) -> Run:
    sim = make_sim(seed=7)
    _wire(sim, listener, path, retry_delays=[10] * 8)
    rules = [
        {"target": "webhook", "action": "drop", "probability": 0.3},
        {"target": "webhook", "action": "duplicate", "probability": 0.3},
    ]
    set_faults(sim, rules, seed=1234)
    emit(sim, 20)
    found = wait_settled(sim, 20)
    assert {d["status"] for d in found} == {"delivered"}
    bodies = [orjson.loads(delivery(sim, d["eventId"])["body"])["eventId"] for d in found]
    faulted = sorted(
        (a["eventId"], a["attempt"], a["fault"]) for a in attempts(sim) if a["fault"] is not None
    )
    return sorted(d["eventId"] for d in found), bodies, faulted


@memory_only  # the decision does not involve the store
def test_a_seeded_fault_run_repeats_exactly(
    listener: Listener, make_sim: Callable[..., Sim]
) -> None:
    ids_a, events_a, faulted_a = _faulted_run(make_sim, listener, "/a")
    ids_b, events_b, faulted_b = _faulted_run(make_sim, listener, "/b")
    assert ids_a == ids_b and events_a == events_b  # the same webhooks ...
    assert faulted_a == faulted_b  # ... get the same faults on the same attempts
    kinds = Counter(f for _, _, f in faulted_a)
    assert kinds["drop"] > 0 and kinds["duplicate"] > 0, kinds
    assert len({e for e, _, _ in faulted_a}) < 20  # not everything
    assert len(listener.received("/a")) == len(listener.received("/b"))


@memory_only  # dispatcher logic; duplicate and drop cover the stores' logs
def test_faults_are_per_tenant_and_can_be_cleared(listener: Listener, sim: Sim) -> None:
    _wire(sim, listener)
    set_faults(sim, [{"target": "webhook", "action": "duplicate", "probability": 1}], seed=5)
    assert ok(sim.get("/_sim/faults"))["seed"] == 5
    assert sim.delete("/_sim/faults").status_code == 204
    assert ok(sim.get("/_sim/faults"))["rules"] == []
    ok(sim.execute())
    wait_settled(sim, 1)
    time.sleep(0.15)
    assert len(listener.received()) == 1
    assert deliveries(sim)[0]["attempts"] == 1
