"""Delivery never blocks the API: webhooks are sent by the dispatcher, asynchronously,
never inside an API request (dispatcher docstring, wire-contract §6)."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.helpers import Sim
from tests.webhooks.support import Listener, configure, emit, ok, register_ce, wait_until


@pytest.mark.slow
def test_the_api_answers_quickly_while_a_slow_listener_holds_20_deliveries(
    listener: Listener, sim: Sim
) -> None:
    configure(sim, timeoutSeconds=30)
    register_ce(sim, listener.url("/ce"))
    listener.respond(status=200, delay=2.0)
    for path in ("/_sim/clock", "/_sim/deliveries/summary"):  # warm the routes
        ok(sim.get(path))
    emit(sim, 20)
    # emitting did not wait for delivery: the listener has not answered any yet
    assert ok(sim.get("/_sim/deliveries/summary"))["byStatus"].get("delivered", 0) == 0
    listener.wait_for(20, timeout=5)  # all 20 are now held by the listener
    timings = []
    for _ in range(5):
        for path in ("/_sim/clock", "/_sim/deliveries/summary"):
            t0 = time.perf_counter()
            ok(sim.get(path))
            timings.append(time.perf_counter() - t0)
    held = ok(sim.get("/_sim/deliveries/summary"))
    assert held["byStatus"].get("pending") == 20, held  # still in flight during the calls
    assert statistics.median(timings) < 0.25, timings  # a blocked loop would take ~2 s
    assert max(timings) < 0.9, timings
    wait_until(
        lambda: ok(sim.get("/_sim/deliveries/summary"))["byStatus"].get("delivered") == 20,
        timeout=10,
        interval=0.05,
        what="the slow deliveries to complete",
    )
