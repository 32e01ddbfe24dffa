"""What only the SQLite store promises: the file outlives the store object, and several
store objects (standing in for server processes) on one file never lose an update."""

from __future__ import annotations

import gc
import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import Allocation, AllocationStatus, Holding, Token, Usage
from simulator.store.base import Tx
from simulator.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.store.test_store_contract import (
    TID,
    a_campaign,
    a_promotion,
    an_allocation,
    an_outbox_event,
    create,
    populate,
    some_stats,
)


def test_everything_survives_reopening_the_file(tmp_path: Path) -> None:
    db = tmp_path / "sim.sqlite"
    first = SqliteStore(db)
    tenant = create(first)
    with first.transaction(TID) as tx:
        populate(tx)
        tx.put_token(Token("tok", TID, "admin", 3.5))
        before = (
            tx.promotions(),
            tx.campaigns(),
            tx.usage("PR-1"),
            tx.holding("PR-1", "C1"),
            tx.period_count("PR-1", "D2026-11-27"),
            tx.allocation_by_key(48213, "C0000001", None),
            list(tx.open_allocations(48213)),
            tx.committed_count(48213),
            tx.processed(48213),
            tx.stats(48213),
            tx.event("EV_1"),
            list(tx.outbox()),
        )
    first.close()

    second = SqliteStore(db)
    with second.transaction(TID) as tx:
        assert tx.tenant() == tenant
        after = (
            tx.promotions(),
            tx.campaigns(),
            tx.usage("PR-1"),
            tx.holding("PR-1", "C1"),
            tx.period_count("PR-1", "D2026-11-27"),
            tx.allocation_by_key(48213, "C0000001", None),
            list(tx.open_allocations(48213)),
            tx.committed_count(48213),
            tx.processed(48213),
            tx.stats(48213),
            tx.event("EV_1"),
            list(tx.outbox()),
        )
        assert tx.append_outbox(an_outbox_event(2)).seq == 2
    assert after == before
    assert after[0] == [a_promotion()]
    assert after[1] == [a_campaign()]
    assert after[9] == some_stats()
    assert second.lookup_key(f"{TID}-admin") == (TID, "admin")
    assert second.lookup_token("tok") == Token("tok", TID, "admin", 3.5)
    assert second.tenant_ids() == [TID]
    second.close()


def test_connections_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sim.sqlite")
    with store.transaction(TID):
        pass
    conn = store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
    assert store.blocking is True
    store.close()


def test_the_store_works_again_after_close(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sim.sqlite")
    create(store)
    store.close()
    with store.transaction(TID) as tx:
        assert tx.tenant() is not None
    assert store.lookup_key(f"{TID}-int") == (TID, "integrations")
    store.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sim.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="schema version"):
        SqliteStore(db)


def test_uncommitted_writes_are_invisible_to_another_store_on_the_file(tmp_path: Path) -> None:
    db = tmp_path / "sim.sqlite"
    writer, reader = SqliteStore(db), SqliteStore(db)
    create(writer)
    with writer.transaction(TID) as tx:
        tx.add_key("fresh-key", "admin")
        assert reader.lookup_key("fresh-key") is None
        assert reader.tenant_ids() == [TID]
    assert reader.lookup_key("fresh-key") == (TID, "admin")
    writer.close()
    reader.close()


def test_tenant_numbers_stay_unique_across_stores_on_one_file_and_reopening(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sim.sqlite"
    first, second = SqliteStore(db), SqliteStore(db)
    drawn = []
    for n in range(6):  # alternate, as two server processes would
        with (first if n % 2 else second).transaction(f"t-{n}") as tx:
            drawn.append(tx.next_tenant_number())
    first.close()
    second.close()
    reopened = SqliteStore(db)
    with reopened.transaction("t-later") as tx:
        drawn.append(tx.next_tenant_number())
    reopened.close()
    assert len(set(drawn)) == 7 and drawn == sorted(drawn)


def test_a_reset_by_another_store_is_seen_at_once(tmp_path: Path) -> None:
    """Nothing mutable is cached: processed lists and allocations vanish for every process
    when one of them resets the tenant."""
    db = tmp_path / "sim.sqlite"
    one, other = SqliteStore(db), SqliteStore(db)
    create(one)
    with one.transaction(TID) as tx:
        tx.put_processed(48213, ProcessedList(0, 10))
        tx.put_allocation(an_allocation())
    with other.transaction(TID) as tx:
        assert tx.processed(48213) == ProcessedList(0, 10)
        assert tx.allocation("AL_1") == an_allocation()
    with one.transaction(TID) as tx:
        tx.reset()
        tx.put_processed(48213, ProcessedList(5, 6))
    with other.transaction(TID) as tx:
        assert tx.processed(48213) == ProcessedList(5, 6)
        assert tx.allocation("AL_1") is None
    one.close()
    other.close()


def reserve(tx: Tx, allocation: Allocation) -> None:
    """The ledger's read-modify-write of a reservation, through the Tx alone."""
    pid, cid = allocation.promotion_id, allocation.customer_id
    usage, holding = tx.usage(pid), tx.holding(pid, cid)
    tx.set_usage(
        pid,
        replace(
            usage,
            budget_reserved=usage.budget_reserved + allocation.reward.value,
            audience_reserved=usage.audience_reserved + (1 if holding.live == 0 else 0),
        ),
    )
    tx.set_holding(pid, cid, Holding(holding.reserved + 1, holding.committed))
    for key in allocation.period_keys:
        tx.add_period_count(pid, key, 1)
    tx.put_allocation(allocation)


def test_concurrent_reservations_from_several_stores_lose_no_update(tmp_path: Path) -> None:
    """Read-modify-write under BEGIN IMMEDIATE: 4 store objects with 3 threads each race to reserve
    against one budget; every reservation is counted and the budget is never exceeded."""
    db = tmp_path / "sim.sqlite"
    stores = [SqliteStore(db) for _ in range(4)]
    create(stores[0])
    budget, value = 150 * 500, 500
    reserved: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(store: SqliteStore, n: int) -> None:
        try:
            for i in range(20):
                allocation = an_allocation(f"AL_{n}_{i}", customer_id=f"C{n}_{i}", value=value)
                with store.transaction(TID) as tx:
                    usage = tx.usage("PR-1")
                    if usage.budget_reserved + value > budget:
                        continue
                    reserve(tx, allocation)
                with lock:
                    reserved.append(allocation.id)
        except BaseException as error:
            with lock:
                errors.append(error)

    threads = [
        threading.Thread(target=worker, args=(store, n * 10 + k))
        for n, store in enumerate(stores)
        for k in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(reserved) == 150  # 240 attempts, exactly what the budget allows
    with stores[1].transaction(TID) as tx:
        usage = tx.usage("PR-1")
        assert usage == Usage(budget_reserved=budget, audience_reserved=150)
        open_ids = {a.id for a in tx.open_allocations(48213)}
        assert open_ids == set(reserved)
        assert tx.period_count("PR-1", "D2026-11-27") == 150
        first = tx.allocation(reserved[0])
        assert first is not None
        tx.put_allocation(replace(first, status=AllocationStatus.COMMITTED))
    with stores[2].transaction(TID) as tx:
        assert tx.committed_count(48213) == 1
        committed = tx.allocation(reserved[0])
        assert committed == replace(first, status=AllocationStatus.COMMITTED)
    for store in stores:
        store.close()


def test_a_finished_threads_connection_is_closed(tmp_path: Path) -> None:
    """Worker threads come and go (anyio retires idle ones): their connections must not
    pile up in the store."""
    store = SqliteStore(tmp_path / "sim.sqlite")
    create(store)
    before = len(store._open)

    def work() -> None:
        with store.transaction(TID) as tx:
            assert tx.tenant() is not None

    for _ in range(5):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    gc.collect()
    assert len(store._open) == before
    store.close()
    assert len(store._open) == 0


def test_close_never_closes_a_connection_under_a_running_transaction(tmp_path: Path) -> None:
    """At shutdown a worker thread may still be inside a transaction (a cancelled
    `to_thread` call runs on): close() must leave its connection to it, not pull it away
    mid-statement (sqlite3 crashes the process when that happens)."""
    store = SqliteStore(tmp_path / "sim.sqlite")
    create(store)
    inside, closed = threading.Event(), threading.Event()
    seen: list[object] = []

    def worker() -> None:
        try:
            with store.transaction(TID) as tx:
                inside.set()
                assert closed.wait(10)
                tx.put_promotion(a_promotion())
                seen.append(tx.promotion("PR-1"))
            seen.append(store.lookup_key(f"{TID}-admin"))
        except BaseException as error:
            seen.append(error)

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(10)
    store.close()
    closed.set()
    thread.join(10)
    assert seen == [a_promotion(), (TID, "admin")]
    with store.transaction(TID) as tx:
        assert tx.promotion("PR-1") == a_promotion()
    store.close()


def test_close_while_other_threads_keep_calling_is_safe(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sim.sqlite")
    create(store)
    stop = threading.Event()
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            while not stop.is_set():
                assert store.lookup_key(f"{TID}-admin") == (TID, "admin")
                with store.transaction(TID) as tx:
                    tx.add_period_count("PR-1", "D1", 1)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):
        store.close()
    stop.set()
    for thread in threads:
        thread.join(10)
    assert errors == []
    with store.transaction(TID) as tx:
        assert tx.period_count("PR-1", "D1") > 0
    store.close()


def test_a_tenant_written_before_the_login_limits_reads_with_no_logins(tmp_path: Path) -> None:
    """Files from before rev 2 have no `logins` in the tenant record: nobody logged in."""
    path = tmp_path / "old.sqlite"
    store = SqliteStore(path)
    create(store)
    store.close()
    with sqlite3.connect(path) as conn:
        (raw,) = conn.execute("SELECT data FROM tenants WHERE id = ?", (TID,)).fetchone()
        old = json.loads(raw)
        del old["logins"]
        conn.execute("UPDATE tenants SET data = ? WHERE id = ?", (json.dumps(old), TID))
    reopened = SqliteStore(path)
    with reopened.transaction(TID) as tx:
        tenant = tx.tenant()
    assert tenant is not None and tenant.logins == {}
    assert tenant.users["demo"] == ("pw", "admin")
    reopened.close()
