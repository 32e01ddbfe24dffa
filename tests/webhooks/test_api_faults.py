"""API fault injection (`PUT /_sim/faults`, target "api") and rate-limit emulation: an
injected error changes nothing, `nth` picks one call, 429s carry `Retry-After`, latency is
added, and every injected fault is marked in the request journal."""

from __future__ import annotations

import time
from collections.abc import Callable

from simulator.settings import SimSettings
from tests.helpers import Sim
from tests.webhooks.support import journal_faults, memory_only, ok, set_faults


def test_an_injected_error_answers_the_envelope_and_changes_nothing(sim: Sim) -> None:
    ok(sim.execute())
    before = sim.usage()
    set_faults(
        sim,
        [{"target": "api", "operation": "validate_customers", "action": "error", "probability": 1}],
    )
    response = sim.validate_customers(["C0000000", "C0000001"])
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == 503 and body["error"] == "injected_fault", body
    assert isinstance(body["message"], str) and body["message"]
    assert sim.usage() == before  # nothing was reserved
    assert sim.report()["validated"] == 0
    # other operations are untouched, and the same call works once the rule is gone
    assert sim.get("/v1/promotions/PR-WELCOME").status_code == 200
    assert sim.delete("/_sim/faults").status_code == 204
    assert sim.validate_customers(["C0000000"]).status_code == 200
    assert sim.usage()["budgetReserved"] > 0


@memory_only
def test_an_injected_error_uses_the_rule_status_on_every_surface(sim: Sim) -> None:
    rules = [
        {"target": "api", "operation": "get_promotion", "action": "error", "probability": 1,
         "status": 502},
        {"target": "api", "operation": "get_registered_event_listeners", "action": "error",
         "probability": 1, "status": 504},
    ]  # fmt: skip
    set_faults(sim, rules)
    promo = sim.get("/v1/promotions/PR-WELCOME")
    assert promo.status_code == 502 and promo.json()["error"] == "injected_fault"
    core = sim.get("/current/general/GetRegisteredEventListeners")
    assert core.status_code == 504 and core.json()["error"] == "injected_fault"


@memory_only
def test_an_nth_rule_fails_only_the_nth_matching_call(sim: Sim) -> None:
    ok(sim.execute())
    rule = {"target": "api", "operation": "validate_customers", "action": "error", "nth": 2,
            "status": 500}  # fmt: skip
    set_faults(sim, [rule])
    ok(sim.get("/v1/promotions/PR-WELCOME"))  # another operation does not count
    statuses = [sim.validate_customers([f"C000000{i}"]).status_code for i in range(4)]
    assert statuses == [200, 500, 200, 200]
    assert sim.usage()["audienceReserved"] == 3


@memory_only
def test_a_rate_limit_rule_answers_429_with_retry_after(sim: Sim) -> None:
    rule = {"target": "api", "operation": "get_promotion", "action": "rate_limit",
            "probability": 1, "retryAfter": 7}  # fmt: skip
    set_faults(sim, [rule])
    response = sim.get("/v1/promotions/PR-WELCOME")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"] == "too_many_requests"


@memory_only
def test_a_latency_rule_adds_at_least_that_latency(sim: Sim) -> None:
    ok(sim.get("/_sim/clock"))  # warm the route
    rule = {"target": "api", "operation": "get_clock", "action": "latency", "probability": 1,
            "latencyMs": 400}  # fmt: skip
    set_faults(sim, [rule])
    started = time.perf_counter()
    ok(sim.get("/_sim/clock"))
    assert time.perf_counter() - started >= 0.4
    ranged = dict(rule, latencyMs=300, latencyMaxMs=350)
    set_faults(sim, [ranged])
    started = time.perf_counter()
    ok(sim.get("/_sim/clock"))
    assert time.perf_counter() - started >= 0.3


@memory_only
def test_every_injected_fault_is_marked_in_the_journal(sim: Sim) -> None:
    ok(sim.execute())
    assert sim.delete("/_sim/journal").status_code == 204
    rules = [
        {"target": "api", "operation": "validate_customers", "action": "error", "nth": 1},
        {"target": "api", "operation": "get_promotion", "action": "rate_limit", "nth": 1},
        {"target": "api", "operation": "get_clock", "action": "latency", "nth": 1,
         "latencyMs": 10},
    ]  # fmt: skip
    set_faults(sim, rules)
    assert sim.validate_customers(["C0000000"]).status_code == 503
    assert sim.validate_customers(["C0000001"]).status_code == 200
    assert sim.get("/v1/promotions/PR-WELCOME").status_code == 429
    assert sim.get("/v1/promotions/PR-WELCOME").status_code == 200
    ok(sim.get("/_sim/clock"))
    ok(sim.get("/_sim/clock"))
    assert journal_faults(sim) == [
        ("/v1/promocodes/WELCOME50/validateCustomers", "error_503"),
        ("/v1/promotions/PR-WELCOME", "rate_limit"),
        ("/_sim/clock", "latency"),
    ]
    entries = ok(sim.get("/_sim/journal", params={"limit": 1000}))["entries"]
    faulted = [e for e in entries if e["fault"]]
    assert [e["status"] for e in faulted] == [503, 429, 200]


@memory_only
def test_rate_limit_emulation_refuses_the_call_over_the_limit_with_retry_after(
    make_sim: Callable[..., Sim],
) -> None:
    sim = make_sim(settings=SimSettings(rate_limit=True, rate_limit_requests=5))
    statuses = [sim.get("/_sim/clock").status_code for _ in range(5)]
    assert statuses == [200] * 5
    response = sim.get("/_sim/clock")
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["status"] == 429 and body["error"] == "too_many_requests", body
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 10  # the window is 10 s
    # another key has its own budget
    other = sim.as_key("demo-integrations-key")
    assert other.get("/v1/promotions/PR-WELCOME").status_code == 200
