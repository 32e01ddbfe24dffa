"""`GET /_sim/coverage` counts exactly what a known run exercised, on every store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.support import cid, emit_for
from tests.helpers import SCHEDULED, TRIGGERED, Sim


def coverage(sim: Sim, **params: Any) -> dict[str, Any]:
    response = sim.get("/_sim/coverage", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(body: dict[str, Any]) -> dict[str, int]:
    return {r["id"]: r["count"] for r in body["rules"] if r["count"]}


def test_a_known_run_is_counted_exactly(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    valid = sim.validate_customers([cid(1), cid(2)])
    assert valid.status_code == 200
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 409
    assert sim.update_customer_promotion_status({cid(2): False}).status_code == 200
    assert sim.update_customer_promotion_status({cid(3): True}).status_code == 409
    tiers = [c["effects"][0]["tierId"] for c in valid.json()["contexts"]]
    found = counts(coverage(sim, campaignId=SCHEDULED))
    expected = {
        "lifecycle.executed": 1,
        "validate.valid": 2,
        "approve.approved": 1,
        "approve.duplicate_approval": 1,
        "approve.released": 1,
        "approve.not_validated": 1,
    }
    for tier in set(tiers):
        expected[f"tier.PR-WELCOME.{tier}"] = tiers.count(tier)
    assert found == expected


def test_the_example_is_the_journal_entry_that_exercised_the_rule(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    assert sim.validate_customers([cid(1)]).status_code == 200
    assert sim.update_customer_promotion_status({cid(4): True}).status_code == 409
    rows = {r["id"]: r for r in coverage(sim)["rules"]}
    example = rows["approve.not_validated"]["example"]
    entries = sim.get("/_sim/journal", params={"limit": 1000}).json()["entries"]
    entry = next(e for e in entries if e["seq"] == example)
    assert entry["path"].endswith("UpdateCustomerPromotionStatus")
    assert entry["status"] == 409
    assert rows["validate.valid"]["count"] == 1
    assert rows["validate.budget_exhausted"]["count"] == 0


def test_coverage_is_per_campaign_and_the_ratio_counts_covered_rules(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    event = emit_for(sim, TRIGGERED, cid(7))
    assert sim.approve_triggered_event(cid(7), event).status_code == 409  # not validated
    triggered = counts(coverage(sim, campaignId=TRIGGERED))
    assert triggered == {"lifecycle.event_emitted": 1, "approve.not_validated": 1}
    scheduled = counts(coverage(sim, campaignId=SCHEDULED))
    assert scheduled == {"lifecycle.executed": 1}
    everything = coverage(sim)
    assert everything["covered"] == 3
    assert everything["ratio"] == round(3 / everything["total"], 4)


def test_an_injected_fault_and_the_integrators_answer_are_covered(sim: Sim) -> None:
    rules = {
        "rules": [{"target": "api", "operation": "validate_customers", "action": "error", "nth": 1}]
    }
    assert sim.put("/_sim/faults", rules).status_code == 200
    assert sim.execute().status_code == 200
    assert sim.validate_customers([cid(1)]).status_code == 503
    assert sim.validate_customers([cid(1)]).status_code == 200
    found = counts(coverage(sim))
    assert found["fault.api.error"] == 1
    assert found["answer.retried"] == 1
    assert "answer.gave_up" not in found


def test_loading_a_scenario_starts_uncovered_and_refusals_outside_campaigns_count(
    sim: Sim,
) -> None:
    assert sim.execute().status_code == 200
    assert sim.post("/_sim/scenario", params={"builtin": "demo"}).status_code == 200
    assert counts(coverage(sim)) == {}
    bad = sim.as_key("nope").get("/current/general/GetLastDataUpdate")
    assert bad.status_code == 401
    assert counts(coverage(sim)) == {}  # an unknown key belongs to no tenant
    assert sim.execute(999).status_code == 404
    assert counts(coverage(sim)) == {}  # control calls' refusals are not the integrator's


class Wall:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


def test_token_expiry_and_the_re_login_429_count_for_the_users_tenant(
    make_sim: Callable[..., Sim],
) -> None:
    wall = Wall()
    sim = make_sim(wall=wall)
    body = {"Username": "demo", "Password": "demo"}
    token = sim.client.post("/current/general/login", json=body).json()
    assert sim.client.post("/current/general/login", json=body).status_code == 429
    wall.now += 21 * 60
    expired = sim.client.get(
        "/current/general/GetLastDataUpdate", headers={"Authorization-Token": token}
    )
    assert expired.status_code == 403
    found = counts(coverage(sim))
    assert found == {"refused.too_many_requests": 1, "refused.token_expired": 1}
    rows = {r["id"]: r for r in coverage(sim)["rules"]}
    entries = sim.get("/_sim/journal", params={"limit": 100}).json()["entries"]
    by_seq = {e["seq"]: e for e in entries}
    assert by_seq[rows["refused.too_many_requests"]["example"]]["status"] == 429
    assert by_seq[rows["refused.token_expired"]["example"]]["status"] == 403
