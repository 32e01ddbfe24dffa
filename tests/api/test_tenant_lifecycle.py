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
from simulator.settings import SimSettings
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
    assert admin.put("/_sim/journal", {"enabled": True}).status_code == 200
    state = sim.client.app.state  # type: ignore[attr-defined]
    assert state.journal.entries(tenant_id)
    assert tenant_id in state.journal._switch
    assert admin.delete(f"/_sim/tenants/{tenant_id}").status_code == 204
    assert not state.journal.entries(tenant_id)
    assert tenant_id not in state.journal._entries
    assert not state.faults.active(tenant_id)
    assert tenant_id not in state.faults._tenants
    assert not any(k[0] == tenant_id for k in state.dispatcher._limits)
    assert tenant_id not in state.journal._switch
    assert tenant_id not in state.dispatcher._dirty
    assert tenant_id not in state.dispatcher._concurrency
    assert tenant_id not in state.duties._touched
    assert tenant_id not in state.duties._next
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


# -- legacy usernames ------------------------------------------------------------------------
def test_a_copy_of_the_demo_gets_its_own_credentials_and_logs_in_to_itself(sim: Sim) -> None:
    created = sim.post("/_sim/tenants", {"builtin": "demo"})
    assert created.status_code == 201, created.text
    answer = created.json()
    [user] = answer["users"]
    assert user["username"] == f"demo-{answer['tenantId']}"
    assert user["role"] == "integrations" and len(user["password"]) >= 12
    token = sim.client.post(
        "/current/general/login",
        json={"Username": user["username"], "Password": user["password"]},
    ).json()
    integrations = sim.as_key(answer["keys"]["integrations"])
    # The token lands in the copy: the copy's campaign executed, the scenario's not.
    assert sim.as_key(answer["keys"]["admin"]).execute().status_code == 200
    served = sim.client.get(
        "/current/customers/GetProcessedCampaignCustomers",
        params={"CampaignID": SCHEDULED},
        headers={"Authorization-Token": token},
    )
    assert served.status_code == 200, served.text
    assert served.json() == integrations.get_processed_campaign_customers().json()
    assert sim.get_processed_campaign_customers().status_code != 200  # not executed here
    # The scenario tenant's own demo/demo still logs in to the scenario tenant.
    own = sim.client.post("/current/general/login", json={"Username": "demo", "Password": "demo"})
    assert own.status_code == 200, own.text


def test_a_scenario_declaring_a_username_another_tenant_holds_is_refused(sim: Sim) -> None:
    scenario = {
        "tenant": {"id": "x", "name": "x", "users": [{"username": "demo", "password": "p"}]}
    }
    refused = sim.post("/_sim/tenants", {"scenario": scenario})
    body = envelope(refused, 409, "username_taken", "tenant.users[0].username", "'demo'")
    assert body["details"]["field"] == "tenant.users[0].username"
    assert _tenant_count(sim) == ["demo"]  # nothing was created
    # Loading it into an existing tenant is refused alike, and changes nothing there.
    _, admin, _ = new_tenant(sim)
    before = admin.campaign()
    envelope(admin.post("/_sim/scenario", scenario), 409, "username_taken", "users[0]")
    assert admin.campaign() == before  # the demo world is still there
    # A free username is fine, and is then taken in turn.
    scenario["tenant"]["users"] = [{"username": "ci-user", "password": "p"}]
    assert sim.post("/_sim/tenants", {"scenario": scenario}).status_code == 201
    envelope(sim.post("/_sim/tenants", {"scenario": scenario}), 409, "username_taken", "ci-user")


def test_a_deleted_tenants_username_is_free_again(sim: Sim) -> None:
    scenario = {"tenant": {"id": "x", "name": "x", "users": [{"username": "ci", "password": "p"}]}}
    tenant_id, admin, _ = new_tenant(sim, scenario=scenario)
    assert admin.delete(f"/_sim/tenants/{tenant_id}").status_code == 204
    login = {"Username": "ci", "Password": "p"}
    assert sim.client.post("/current/general/login", json=login).status_code == 401
    assert sim.post("/_sim/tenants", {"scenario": scenario}).status_code == 201
    assert sim.client.post("/current/general/login", json=login).status_code == 200


def _tenant_count(sim: Sim) -> list[str]:
    rt = sim.client.app.state.runtime  # type: ignore[attr-defined]
    return list(rt.store.tenant_ids())


# -- bounds --------------------------------------------------------------------------------------
def test_the_maximum_number_of_tenants_is_a_clear_409(make_sim: Any) -> None:
    sim = make_sim(settings=SimSettings(max_tenants=3))
    ids = [new_tenant(sim)[0] for _ in range(2)]  # the server's own tenant is the third
    body = envelope(sim.post("/_sim/tenants", {}), 409, "too_many_tenants", "3", "SIM_MAX_TENANTS")
    assert body["details"]["limit"] == 3
    assert len(_tenant_count(sim)) == 3
    tenant_id = ids[0]
    admin_key = next(  # the first copy deletes itself; one more fits again
        key for key, (tid, role) in _keys(sim).items() if tid == tenant_id and role == "admin"
    )
    assert sim.as_key(admin_key).delete(f"/_sim/tenants/{tenant_id}").status_code == 204
    assert sim.post("/_sim/tenants", {}).status_code == 201


def _keys(sim: Sim) -> dict[str, tuple[str, str]]:
    rt = sim.client.app.state.runtime  # type: ignore[attr-defined]
    out: dict[str, tuple[str, str]] = {}
    for tenant_id in rt.store.tenant_ids():
        with rt.store.transaction(tenant_id) as tx:
            held = tx.keys()
        out.update({key: (tenant_id, role) for key, role in held})
    return out


class Wall:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expired_tokens_are_purged_after_their_retention(make_sim: Any) -> None:
    wall = Wall()
    settings = SimSettings(token_ttl_seconds=60, token_retention_seconds=600)
    sim = make_sim(wall=wall, settings=settings)
    rt = sim.client.app.state.runtime
    token = sim.client.post(
        "/current/general/login", json={"Username": "demo", "Password": "demo"}
    ).json()
    wall.now += 61
    assert tenants.purge_tokens(rt) == 0  # expired, kept: a client still reads "Expired"
    expired = sim.client.get("/v1/promotions", headers={"Authorization-Token": token})
    envelope(expired, 403, "token_expired")
    wall.now += 600
    assert tenants.purge_tokens(rt) == 1  # purged without ever being used again
    assert rt.store.lookup_token(token) is None
    assert (
        sim.client.get("/v1/promotions", headers={"Authorization-Token": token}).status_code == 401
    )
    assert tenants.purge_tokens(rt) == 0
    # A new login works (nothing of the purged token blocks it).
    relogin = sim.client.post(
        "/current/general/login", json={"Username": "demo", "Password": "demo"}
    )
    assert relogin.status_code == 200


def test_a_sqlite_file_from_before_the_username_index_gets_it(tmp_path: Path) -> None:
    """Tenants written before `legacy_users` existed are indexed at the next start; of
    two declaring one username the first keeps it (the one login found first)."""
    path = tmp_path / "old.sqlite"
    rt = Runtime(store=SqliteStore(path))
    tenants.ensure_scenario_tenant(rt, builtin_scenario("demo"))
    copy, _ = tenants.create_tenant(rt, builtin_scenario("demo"), builtin=True)
    rt.store.close()
    with sqlite3.connect(path) as db:  # as an older build left it: no index, a duplicate
        db.execute("DELETE FROM legacy_users")
        raw = db.execute("SELECT data FROM tenants WHERE id = ?", (copy.id,)).fetchone()[0]
        db.execute(
            "UPDATE tenants SET data = ? WHERE id = ?",
            (raw.replace(f"demo-{copy.id}".encode(), b"demo"), copy.id),
        )
    db.close()
    store = SqliteStore(path)
    try:
        assert store.user_tenant("demo") == DEMO_TENANT
        rt = Runtime(store=store)
        token = tenants.login(rt, "demo", "demo")
        found = store.lookup_token(token)
        assert found is not None and found.tenant_id == DEMO_TENANT
    finally:
        store.close()
