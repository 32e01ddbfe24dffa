"""Tenant lifecycle on a shared server: `DELETE /_sim/tenants/{id}` forgets everything of
the tenant (store rows, caches, credentials, faults, journal, deliveries), on both stores,
and its memory is really freed; creating tenants costs the same at every count."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from simulator.scenario import builtin_scenario
from simulator.services import tenants
from simulator.services.runtime import Runtime
from simulator.store.memory import MemoryStore
from simulator.store.sqlite import SqliteStore
from tests.api.support import envelope
from tests.conftest import open_store
from tests.helpers import ADMIN, SCHEDULED, Sim

DEMO_TENANT = "demo"


def new_tenant(sim: Sim, **body: Any) -> tuple[str, Sim, Sim]:
    """A fresh tenant: its id and clients with its admin and integrations keys."""
    created = sim.post("/_sim/tenants", body or {"builtin": "demo"})
    assert created.status_code == 201, created.text
    answer = created.json()
    keys = answer["keys"]
    return answer["tenantId"], sim.as_key(keys["admin"]), sim.as_key(keys["integrations"])


def test_a_deleted_tenant_is_gone_and_its_keys_are_refused_everywhere(sim: Sim) -> None:
    tenant_id, admin, integrations = new_tenant(sim)
    assert admin.execute().status_code == 200
    faults = {"rules": [{"target": "api", "operation": "get_clock", "action": "latency", "nth": 9}]}
    assert admin.put("/_sim/faults", faults).status_code == 200
    assert admin.put("/_sim/customers/X-1", {"attributes": {"Tier": "gold"}}).status_code == 201

    deleted = admin.delete(f"/_sim/tenants/{tenant_id}")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""

    for client, path in (
        (admin, "/_sim/tenant"),
        (admin, "/_sim/clock"),
        (admin, "/v1/promotions"),
        (integrations, f"/current/customers/GetProcessedCampaignCustomers?CampaignID={SCHEDULED}"),
    ):
        assert client.get(path).status_code == 401, path
    assert integrations.validate_customers(["C0000001"]).status_code == 401
    assert admin.delete(f"/_sim/tenants/{tenant_id}").status_code == 401
    # The server's own tenant did not notice.
    assert sim.get("/_sim/tenant").json()["id"] == DEMO_TENANT
    assert sim.campaign()["status"] == "scheduled"


def test_delete_answers_404_for_unknown_and_for_another_tenant(sim: Sim) -> None:
    envelope(sim.delete("/_sim/tenants/t-nobody"), 404, "unknown_tenant", "t-nobody")
    other_id, other, _ = new_tenant(sim)
    # Another tenant's id looks exactly like a missing one, and it survives.
    envelope(sim.delete(f"/_sim/tenants/{other_id}"), 404, "unknown_tenant", other_id)
    assert other.get("/_sim/tenant").json()["id"] == other_id
    assert other.delete(f"/_sim/tenants/{DEMO_TENANT}").status_code == 404
    assert sim.get("/_sim/tenant").status_code == 200


def test_delete_needs_the_admin_key(sim: Sim) -> None:
    tenant_id, admin, integrations = new_tenant(sim)
    envelope(integrations.delete(f"/_sim/tenants/{tenant_id}"), 403, "forbidden")
    assert sim.client.delete(f"/_sim/tenants/{tenant_id}").status_code == 401
    assert admin.get("/_sim/tenant").status_code == 200


def test_delete_leaves_nothing_in_the_process(sim: Sim) -> None:
    """Journal, faults, rate-limit windows, delivery log and dispatcher forget the tenant."""
    tenant_id, admin, _ = new_tenant(sim)
    admin.execute()
    admin.put(
        "/_sim/faults",
        {"rules": [{"target": "webhook", "action": "delay", "probability": 1.0}]},
    )
    state = sim.client.app.state  # type: ignore[attr-defined]
    assert state.journal.entries(tenant_id)
    assert admin.delete(f"/_sim/tenants/{tenant_id}").status_code == 204
    assert not state.journal.entries(tenant_id)
    assert tenant_id not in state.journal._entries
    assert not state.faults.active(tenant_id)
    assert tenant_id not in state.faults._tenants
    assert not any(k[0] == tenant_id for k in state.dispatcher._limits)
    assert state.delivery_log.cursor(tenant_id) == 0
    assert not state.delivery_log.deliveries(tenant_id)


def test_a_deleted_tenant_frees_its_store_memory(tmp_path: Path, store_kind: str) -> None:
    """2,000 tenants created and deleted leave nothing of them in the store."""
    store = open_store(store_kind, tmp_path / "many.sqlite")
    rt = Runtime(store=store)
    demo = builtin_scenario("demo")
    tenants.ensure_scenario_tenant(rt, demo)
    for _ in range(2000):
        tenant, _ = tenants.create_tenant(rt, demo, builtin=True)
        username, (password, _) = next(iter(tenant.users.items()))
        tenants.login(rt, username, password)
        tenants.delete_tenant(rt, tenant.id)
    assert rt.store.tenant_ids() == [DEMO_TENANT]
    assert rt.store.tenant_count() == 1
    if isinstance(store, MemoryStore):
        assert set(store._tenants) == {DEMO_TENANT}
        assert {t for t, _ in store._keys.values()} == {DEMO_TENANT}
        assert not store._tokens
        assert set(store._users.values()) == {DEMO_TENANT}
    else:
        assert isinstance(store, SqliteStore)
        store.close()
        with sqlite3.connect(tmp_path / "many.sqlite") as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                column = "tenant_id" if "tenant_id" in columns else "id"
                if table == "tenants" or "tenant_id" in columns:
                    others = db.execute(
                        f"SELECT count(*) FROM {table} WHERE {column} != ?", (DEMO_TENANT,)
                    ).fetchone()[0]
                    assert others == 0, table
    store.close()


def test_the_servers_own_tenant_can_be_deleted(make_sim: Any) -> None:
    sim = make_sim()
    assert sim.delete(f"/_sim/tenants/{DEMO_TENANT}").status_code == 204
    assert sim.get("/_sim/tenant").status_code == 401
    assert Sim(sim.client, ADMIN).get("/_sim/clock").status_code == 401
