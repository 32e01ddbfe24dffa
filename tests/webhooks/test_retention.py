"""Bounded delivery history (issue 17): finished deliveries and attempts beyond the
retention are dropped per tenant, counted, so the summary stays exact; pending ones stay."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from simulator.domain.models import Attempt, Delivery
from simulator.store.base import DeliveryLog, Retention
from simulator.store.deliveries import MemoryDeliveryLog, SqliteDeliveryLog
from simulator.store.sqlite import SqliteStore


@pytest.fixture
def log(store_kind: str, tmp_path: Path) -> DeliveryLog:
    if store_kind == "memory":
        return MemoryDeliveryLog()
    path = tmp_path / "log.sqlite"
    SqliteStore(path).close()
    return SqliteDeliveryLog(path)


def _fail_all(log: DeliveryLog, tenant: str, n: int, *, at: float = 100.0) -> None:
    """`n` deliveries, each failed after two attempts."""
    made = [
        Delivery(tenant, f"{tenant}-{i}", i + 1, "triggered", 7001, b"{}", created_at=at)
        for i in range(n)
    ]
    log.ingest(tenant, made, n)
    claimed = log.claim(at, n, 30.0)
    assert len(claimed) == n
    results: list[tuple[Delivery, Attempt | None]] = []
    for d in claimed:
        for number in (1, 2):
            a = Attempt(tenant, d.event_id, number, "http://127.0.0.1:1/x", at, 500, 1.0)
            results.append((d, a))
        failed = replace(d, status="failed", attempts=2, last_status=500, last_error="HTTP 500")
        results.append((failed, None))
    log.finish(results)


def test_retention_keeps_the_newest_finished_and_counts_the_rest(log: DeliveryLog) -> None:
    _fail_all(log, "a", 50)
    _fail_all(log, "b", 5)
    pending = Delivery("a", "a-pending", 51, "triggered", 7001, b"{}", next_at=1e12)
    log.ingest("a", [pending], 51)
    removed = log.prune("a", 200.0, Retention(deliveries=10, attempts=15))
    assert removed == 40
    kept = log.deliveries("a", limit=1000)
    assert [d.event_id for d in kept][-1] == "a-pending"  # pending work is never dropped
    assert [d.seq for d in kept if d.status == "failed"] == list(range(41, 51))
    assert len(log.attempts("a", limit=1000)) == 15
    summary = log.summary("a")
    assert summary.total == 51
    assert summary.by_status == {"failed": 50, "pending": 1}
    assert summary.attempts == 100 and summary.retries == 50
    assert log.summary("a", kind="executed").total == 0
    assert log.summary("b").total == 5  # another tenant's history is its own
    assert len(log.deliveries("b", limit=1000)) == 5


def test_retention_by_age_drops_old_history(log: DeliveryLog) -> None:
    _fail_all(log, "a", 20, at=100.0)
    assert log.prune("a", 100.0 + 3_600, Retention(seconds=60)) == 20
    assert log.deliveries("a", limit=100) == []
    assert log.attempts("a", limit=100) == []
    assert log.summary("a").by_status == {"failed": 20}
    log.reset("a")
    assert log.summary("a").total == 0
