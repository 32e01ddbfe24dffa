"""The journal is per tenant (issue 17): one tenant's switch leaves the others' journals
alone, and the process-wide budget is shared fairly between tenants."""

from __future__ import annotations

from simulator.api.journal import Journal
from tests.helpers import Sim


def _paths(sim: Sim) -> list[str]:
    body = sim.get("/_sim/journal", params={"limit": 1000}).json()
    return [e["path"] for e in body["entries"]]


def test_switching_one_tenants_journal_off_leaves_the_others_on(sim: Sim) -> None:
    created = sim.post("/_sim/tenants", {"name": "other"})
    assert created.status_code == 201, created.text
    other = sim.as_key(created.json()["keys"]["admin"])
    off = other.put("/_sim/journal", {"enabled": False})
    assert off.status_code == 200 and off.json() == {"enabled": False}
    other.get("/_sim/clock")
    sim.get("/_sim/clock")
    assert "/_sim/clock" in _paths(sim)
    assert sim.get("/_sim/journal").json()["enabled"] is True
    assert "/_sim/clock" not in _paths(other)
    assert other.get("/_sim/journal").json()["enabled"] is False
    assert other.put("/_sim/journal", {"enabled": True}).status_code == 200
    other.get("/_sim/clock")
    assert "/_sim/clock" in _paths(other)


def test_the_budget_is_shared_fairly_between_tenants() -> None:
    journal = Journal(size=80, budget=100)
    for i in range(200):
        journal.record("busy", {"path": f"/{i}", "status": 200})
    assert journal.held("busy") == 80  # the per-tenant cap
    for i in range(30):
        journal.record("quiet", {"path": f"/{i}", "status": 200})
    assert journal.held() == 100  # the process-wide budget
    assert journal.held("quiet") == 30  # the quiet tenant keeps all it wrote
    assert journal.held("busy") == 70
    for i in range(100):
        journal.record("third", {"path": f"/{i}", "status": 200})
    assert journal.held() == 100
    assert journal.held("quiet") == 30  # under its share: untouched
    assert journal.held("busy") >= 100 // 3 and journal.held("third") >= 100 // 3
    newest = journal.entries("busy", limit=1000)
    assert newest[-1]["path"] == "/199"  # the oldest entries went first
    journal.clear("busy")
    assert journal.held() == journal.held("quiet") + journal.held("third")
