"""Fault rules can come from a scenario file: armed on load, replaced by the next load."""

from __future__ import annotations

from tests.conftest import manual_demo
from tests.helpers import Sim

RULE = {
    "target": "api",
    "operation": "get_promotion",
    "action": "error",
    "status": 503,
    "probability": 1.0,
}


def test_a_scenario_faults_section_arms_its_rules_and_the_next_load_clears_them(
    sim: Sim,
) -> None:
    scenario = manual_demo().model_dump(mode="json", exclude_none=True)
    scenario["faults"] = {"seed": 3, "rules": [RULE]}
    loaded = sim.post("/_sim/scenario", scenario)
    assert loaded.status_code == 200, loaded.text
    armed = sim.get("/_sim/faults").json()
    assert armed["seed"] == 3 and armed["rules"][0]["operation"] == "get_promotion"
    failed = sim.get("/v1/promotions/PR-WELCOME")
    assert failed.status_code == 503 and failed.json()["error"] == "injected_fault"
    journal = sim.get("/_sim/journal", params={"path": "/v1/promotions"}).json()["entries"]
    assert journal[-1]["fault"] == "error_503"

    del scenario["faults"]
    assert sim.post("/_sim/scenario", scenario).status_code == 200
    assert sim.get("/_sim/faults").json()["rules"] == []
    assert sim.get("/v1/promotions/PR-WELCOME").status_code == 200


def test_a_bad_fault_rule_in_a_scenario_is_refused_naming_the_field(sim: Sim) -> None:
    scenario = manual_demo().model_dump(mode="json", exclude_none=True)
    scenario["faults"] = {"rules": [{**RULE, "action": "duplicate"}]}  # a webhook action
    refused = sim.post("/_sim/scenario", scenario)
    assert refused.status_code == 400
    assert "faults.rules[0]" in refused.json()["message"]
    assert sim.get("/_sim/faults").json()["rules"] == []
