"""The tenant's integer id (`TenantID` in webhooks, `numericId` in the control API): fixed
by the scenario for its own tenant, numbered by the store otherwise, unique per store, and
stable for the tenant's life (restarts on the same SQLite file included). On both stores;
plus the scenario and campaign fields that carry it and the channels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from simulator.domain.errors import DomainError
from simulator.services import tenants
from simulator.services.runtime import Runtime
from simulator.specs import Scenario
from simulator.store.base import FIRST_TENANT_NUMBER
from simulator.store.memory import MemoryStore
from simulator.store.sqlite import SqliteStore
from tests.api.support import envelope
from tests.conftest import manual_demo, open_store
from tests.helpers import SCHEDULED, Sim


def _without_number(scenario: Scenario, tenant_id: str = "demo") -> Scenario:
    spec = scenario.tenant.model_copy(update={"numericId": None, "id": tenant_id})
    return scenario.model_copy(update={"tenant": spec})


def test_a_scenario_tenant_without_a_fixed_number_is_numbered_by_the_store(
    make_sim: Callable[..., Sim],
) -> None:
    sim = make_sim(scenario=_without_number(manual_demo()))
    number = sim.get("/_sim/tenant").json()["numericId"]
    assert number == FIRST_TENANT_NUMBER
    assert sim.execute().status_code == 200
    [event] = sim.outbox(kind="scheduled")
    assert event["body"]["TenantID"] == number


def test_numbers_survive_a_restart_on_the_same_sqlite_file(
    make_sim: Callable[..., Sim], tmp_path: Path
) -> None:
    path = tmp_path / "shared.sqlite"
    first = make_sim(store=SqliteStore(path))
    created = first.post("/_sim/tenants", {"builtin": "demo"}).json()
    assert first.get("/_sim/tenant").json()["numericId"] == 28209
    again = make_sim(store=SqliteStore(path))  # a second server process on the same file
    assert again.get("/_sim/tenant").json()["numericId"] == 28209
    other = again.as_key(created["keys"]["admin"])
    assert other.get("/_sim/tenant").json()["numericId"] == created["numericId"]
    newer = again.post("/_sim/tenants", {"builtin": "demo"}).json()
    assert newer["numericId"] not in (created["numericId"], 28209)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_fixed_number_another_tenant_has_is_refused(kind: str, tmp_path: Path) -> None:
    rt = Runtime(open_store(kind, tmp_path / "sim.sqlite"))
    tenants.ensure_scenario_tenant(rt, manual_demo())
    clash = manual_demo().model_copy(
        update={"tenant": manual_demo().tenant.model_copy(update={"id": "other", "keys": []})}
    )
    with pytest.raises(DomainError) as raised:
        tenants.ensure_scenario_tenant(rt, clash)
    assert "tenant.numericId" in raised.value.message
    assert rt.store.tenant_ids() == ["demo"]
    # the demo itself finds its own number again without complaint
    tenant, created = tenants.ensure_scenario_tenant(rt, manual_demo())
    assert (tenant.numeric_id, created) == (28209, False)
    rt.store.close()


def test_tenants_stored_before_tenants_had_numbers_get_one_at_the_next_start() -> None:
    rt = Runtime(MemoryStore())
    tenant, _ = tenants.ensure_scenario_tenant(rt, manual_demo())
    other, _ = tenants.create_tenant(rt, manual_demo(), builtin=True)
    for old in (tenant, other):
        with rt.store.transaction(old.id) as tx:
            tx.put_tenant(replace(old, numeric_id=0))
    found, created = tenants.ensure_scenario_tenant(rt, manual_demo())
    assert (found.numeric_id, created) == (28209, False)
    renumbered, _ = tenants.get_tenant(rt, other.id)
    assert renumbered.numeric_id > other.numeric_id  # a fresh number, never a reused one


@pytest.mark.parametrize("number", [0, -1, FIRST_TENANT_NUMBER, "28209x"])
def test_a_scenario_number_outside_its_range_is_refused(sim: Sim, number: object) -> None:
    scenario = manual_demo().model_dump(mode="json", exclude_none=True)
    scenario["tenant"]["numericId"] = number
    response = sim.post("/_sim/scenario", scenario)
    envelope(response, 400, "invalid_request", "tenant.numericId")


def test_campaign_channels_are_shown_and_checked(sim: Sim) -> None:
    assert sim.campaign(SCHEDULED)["channels"] == [15]
    body = {"id": 901, "type": "scheduled", "promoCode": "WELCOME50", "targetGroup": {"size": 1}}
    for channels, needle in (([1, 1], "channels"), ([-1], "channels"), (["email"], "channels")):
        response = sim.create_campaign({**body, "channels": channels})
        envelope(response, 400, "invalid_request", needle)
    created = sim.create_campaign({**body, "channels": [2, 1]})
    assert created.status_code == 201, created.text
    assert created.json()["channels"] == [2, 1]
