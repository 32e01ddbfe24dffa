"""Delivery logs: in memory (with the memory store) and SQLite (tables `wh_*` in the
store's own file, so pending deliveries survive a restart with the rest of the state)."""

from __future__ import annotations

import heapq
import math
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, astuple, replace
from pathlib import Path
from typing import Any

import orjson

from simulator.domain.models import Attempt, Delivery, WebhookConfig
from simulator.store.base import (
    DeliverySummary,
    PrunedCount,
    Retention,
    Room,
    lag_bucket,
    lag_percentiles,
    lag_value,
)


def _bump(counts: dict[Any, int], key: Any, by: int) -> None:
    n = counts.get(key, 0) + by
    if n:
        counts[key] = n
    else:
        counts.pop(key, None)


class _Group:
    """The aggregates of one tenant's kept deliveries of one (kind, campaign): counts,
    attempts and retries per status, lags per bucket and value, and delivery times (a
    multiset with lazy min/max heaps: stale tops are dropped when read)."""

    __slots__ = ("buckets", "done", "highs", "lags", "lows", "status")

    def __init__(self) -> None:
        self.status: dict[str, list[int]] = {}
        self.buckets: dict[int, int] = {}
        self.lags: dict[int, dict[float, int]] = {}
        self.done: dict[float, int] = {}
        self.lows: list[float] = []
        self.highs: list[float] = []

    def account(self, d: Delivery, sign: int) -> None:
        row = self.status.setdefault(d.status, [0, 0, 0])
        row[0] += sign
        row[1] += sign * d.attempts
        row[2] += sign * max(0, d.attempts - 1)
        if not row[0]:
            del self.status[d.status]
        if d.delivered_at is None:
            return
        value = lag_value(d.delivered_at, d.created_at)
        bucket = lag_bucket(value)
        _bump(self.buckets, bucket, sign)
        _bump(self.lags.setdefault(bucket, {}), value, sign)
        if not self.lags[bucket]:
            del self.lags[bucket]
        _bump(self.done, d.delivered_at, sign)
        if sign > 0:
            heapq.heappush(self.lows, d.delivered_at)
            heapq.heappush(self.highs, -d.delivered_at)
        elif len(self.lows) > 2 * len(self.done) + 64:
            self.lows = list(self.done)
            heapq.heapify(self.lows)
            self.highs = [-t for t in self.done]
            heapq.heapify(self.highs)

    def first_last(self) -> tuple[float | None, float | None]:
        while self.lows and self.lows[0] not in self.done:
            heapq.heappop(self.lows)
        while self.highs and -self.highs[0] not in self.done:
            heapq.heappop(self.highs)
        if not self.lows:
            return None, None
        return self.lows[0], -self.highs[0]


class MemoryDeliveryLog:
    """Deliveries in dicts; pending ones in one due-time heap per lane (tenant and kind), so
    a claim visits only lanes with pending work, in turn (lazy deletion: stale heap entries
    are skipped). Finished deliveries and attempts beyond the retention are pruned into
    per-tenant counters, so summaries stay exact."""

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._deliveries: dict[tuple[str, str], Delivery] = {}
        # insertion-ordered dicts used as ordered sets: O(1) removal when pruning
        self._order: dict[str, dict[tuple[str, str], None]] = {}
        self._lanes: dict[str, dict[str, list[tuple[float, int, str]]]] = {}
        self._turn = 0
        self._tick = 0
        self._attempts: dict[str, deque[Attempt]] = {}
        self._pruned: dict[str, dict[tuple[str, int, str], PrunedCount]] = {}
        self._groups: dict[str, dict[tuple[str, int], _Group]] = {}
        self._configs: dict[str, WebhookConfig] = {}

    def _schedule(self, d: Delivery) -> None:
        if d.status == "pending":
            self._tick += 1
            lanes = self._lanes.setdefault(d.tenant_id, {})
            heapq.heappush(lanes.setdefault(d.kind, []), (d.next_at, self._tick, d.event_id))

    def _put(self, key: tuple[str, str], d: Delivery) -> None:
        """Store a delivery's new state, moving its share of the aggregates."""
        old = self._deliveries.get(key)
        if old is not None:
            self._group(old).account(old, -1)
        self._deliveries[key] = d
        self._group(d).account(d, 1)

    def _group(self, d: Delivery) -> _Group:
        groups = self._groups.setdefault(d.tenant_id, {})
        group = groups.get((d.kind, d.campaign_id))
        if group is None:
            group = groups[d.kind, d.campaign_id] = _Group()
        return group

    def cursor(self, tenant_id: str) -> int:
        return self._cursors.get(tenant_id, 0)

    def ingest(self, tenant_id: str, deliveries: Sequence[Delivery], cursor: int) -> None:
        with self._lock:
            order = self._order.setdefault(tenant_id, {})
            for d in deliveries:
                key = (tenant_id, d.event_id)
                if key not in self._deliveries:
                    order[key] = None
                self._put(key, d)
                self._schedule(d)
            self._cursors[tenant_id] = cursor

    def _due_head(self, tenant_id: str, kind: str, heap: list[tuple[float, int, str]]) -> bool:
        """Drop stale entries off the top; whether a live entry remains."""
        while heap:
            next_at, _, event_id = heap[0]
            d = self._deliveries.get((tenant_id, event_id))
            if d is not None and d.status == "pending" and d.next_at == next_at:
                return True
            heapq.heappop(heap)
        return False

    def claim(
        self, now: float, limit: int, lease: float, room: Room | None = None
    ) -> list[Delivery]:
        out: list[Delivery] = []
        with self._lock:
            # The lanes with a due head and room, one queue of lanes per tenant.
            active: list[list[str]] = []
            tenants: list[str] = []
            rooms: dict[tuple[str, str], int] = {}
            for tenant_id, lanes in list(self._lanes.items()):
                kinds = []
                for kind, heap in list(lanes.items()):
                    if not self._due_head(tenant_id, kind, heap):
                        del lanes[kind]
                        continue
                    if heap[0][0] <= now:
                        space = limit if room is None else room(tenant_id, kind)
                        if space > 0:
                            rooms[tenant_id, kind] = space
                            kinds.append(kind)
                if not lanes:
                    del self._lanes[tenant_id]
                if kinds:
                    tenants.append(tenant_id)
                    active.append(kinds)
            if not tenants:
                return out
            # Round robin over tenants (and over each tenant's lanes), starting one further
            # each call, so no tenant's backlog is always first.
            self._turn = (self._turn + 1) % len(tenants)
            ring = deque(zip(tenants, active, strict=True))
            ring.rotate(-self._turn)
            while ring and len(out) < limit:
                tenant_id, kinds = ring.popleft()
                kind = kinds[0]
                heap = self._lanes[tenant_id][kind]
                if not self._due_head(tenant_id, kind, heap) or heap[0][0] > now:
                    kinds.pop(0)
                else:
                    _, _, event_id = heapq.heappop(heap)
                    d = self._deliveries[(tenant_id, event_id)]
                    claimed = replace(d, next_at=now + lease)
                    self._deliveries[(tenant_id, event_id)] = claimed
                    self._schedule(claimed)
                    out.append(claimed)
                    rooms[tenant_id, kind] -= 1
                    kinds.pop(0)
                    if rooms[tenant_id, kind] > 0:
                        kinds.append(kind)
                if kinds:
                    ring.append((tenant_id, kinds))
        return out

    def finish(self, results: Sequence[tuple[Delivery, Attempt | None]]) -> None:
        with self._lock:
            for d, attempt in results:
                key = (d.tenant_id, d.event_id)
                if key not in self._deliveries:
                    continue  # the tenant was reset meanwhile
                self._put(key, d)
                self._schedule(d)
                if attempt is not None:
                    self._attempts.setdefault(d.tenant_id, deque()).append(attempt)

    def get(self, tenant_id: str, event_id: str) -> Delivery | None:
        return self._deliveries.get((tenant_id, event_id))

    def deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        campaign_id: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        out = []
        with self._lock:
            for key in self._order.get(tenant_id, ()):
                d = self._deliveries[key]
                if d.seq <= after or (status and d.status != status) or (kind and d.kind != kind):
                    continue
                if campaign_id is not None and d.campaign_id != campaign_id:
                    continue
                out.append(d)
                if len(out) >= limit:
                    break
        return out

    def counts(self, tenant_id: str, *, pruned: bool = False) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for g in self._groups.get(tenant_id, {}).values():
                for status, (count, _, _) in g.status.items():
                    if count:
                        out[status] = out.get(status, 0) + count
            if pruned:
                for (_, _, status), dropped in self._pruned.get(tenant_id, {}).items():
                    if dropped.count:
                        out[status] = out.get(status, 0) + dropped.count
        return out

    def attempts(
        self,
        tenant_id: str,
        *,
        event_id: str | None = None,
        failed_only: bool = False,
        after: float = 0.0,
        limit: int = 100,
    ) -> list[Attempt]:
        out = []
        with self._lock:
            for a in self._attempts.get(tenant_id, ()):
                if a.at <= after or (event_id and a.event_id != event_id):
                    continue
                if failed_only and a.status is not None and 200 <= a.status < 300:
                    continue
                out.append(a)
                if len(out) >= limit:
                    break
        return out

    def reschedule(self, tenant_id: str, event_ids: Sequence[str], now: float) -> int:
        done = 0
        with self._lock:
            for event_id in event_ids:
                d = self._deliveries.get((tenant_id, event_id))
                if d is None:
                    continue
                d = replace(d, status="pending", next_at=now)
                self._put((tenant_id, event_id), d)
                self._schedule(d)
                done += 1
        return done

    def failed_since(self, tenant_id: str, since: float) -> list[str]:
        with self._lock:
            return [
                key[1]
                for key in self._order.get(tenant_id, ())
                if self._deliveries[key].status == "failed"
                and self._deliveries[key].created_at >= since
            ]

    def summary(
        self, tenant_id: str, *, kind: str | None = None, campaign_id: int | None = None
    ) -> DeliverySummary:
        out = DeliverySummary()
        with self._lock:
            groups = [
                g
                for (k, campaign), g in self._groups.get(tenant_id, {}).items()
                if (not kind or k == kind) and (campaign_id is None or campaign == campaign_id)
            ]
            buckets: dict[int, int] = {}
            for g in groups:
                for status, (count, attempts, retries) in g.status.items():
                    out.add_kept(status, count, attempts, retries)
                out.add_done(sum(g.buckets.values()), *g.first_last())
                for bucket, n in g.buckets.items():
                    buckets[bucket] = buckets.get(bucket, 0) + n

            def values(bucket: int) -> dict[float, int]:
                merged: dict[float, int] = {}
                for g in groups:
                    for value, n in g.lags.get(bucket, {}).items():
                        merged[value] = merged.get(value, 0) + n
                return merged

            out.lag_ms = lag_percentiles(buckets, values)
            for (k, campaign, status), pruned in self._pruned.get(tenant_id, {}).items():
                if (kind and k != kind) or (campaign_id is not None and campaign != campaign_id):
                    continue
                out.add_pruned(status, pruned)
        return out

    def prune(self, tenant_id: str, now: float, retention: Retention) -> int:
        removed = 0
        with self._lock:
            order = self._order.get(tenant_id, {})
            finished = sum(  # from the aggregates: no pass over the rows
                row[0]
                for g in self._groups.get(tenant_id, {}).values()
                for status, row in g.status.items()
                if status != "pending"
            )
            excess = finished - retention.deliveries if retention.deliveries else 0
            oldest = now - retention.seconds if retention.seconds else None
            pruned = self._pruned.setdefault(tenant_id, {})
            for key in list(order):
                d = self._deliveries[key]
                if excess <= 0 and (oldest is None or d.created_at >= oldest):
                    break
                if d.status == "pending":
                    continue  # work still to do is never dropped
                del order[key]
                del self._deliveries[key]
                self._group(d).account(d, -1)
                group = (d.kind, d.campaign_id, d.status)
                pruned[group] = pruned.get(group, PrunedCount()).plus(d)
                excess -= 1
                removed += 1
            # Claims leave stale heap entries behind (the lease's); a heap mostly stale
            # is rebuilt, so memory follows the pending work, not the history.
            for kind, heap in self._lanes.get(tenant_id, {}).items():
                if len(heap) > 64:
                    live = [
                        e
                        for e in heap
                        if (live_d := self._deliveries.get((tenant_id, e[2]))) is not None
                        and live_d.status == "pending"
                        and live_d.next_at == e[0]
                        and live_d.kind == kind
                    ]
                    if len(live) * 2 < len(heap):
                        heapq.heapify(live)
                        heap[:] = live
            attempts = self._attempts.get(tenant_id)
            if attempts:
                while attempts and (
                    (retention.attempts and len(attempts) > retention.attempts)
                    or (oldest is not None and attempts[0].at < oldest)
                ):
                    attempts.popleft()
        return removed

    def config(self, tenant_id: str) -> WebhookConfig:
        return self._configs.get(tenant_id, WebhookConfig())

    def set_config(self, tenant_id: str, config: WebhookConfig) -> None:
        self._configs[tenant_id] = config

    def reset(self, tenant_id: str) -> None:
        with self._lock:
            self._cursors.pop(tenant_id, None)
            for key in self._order.pop(tenant_id, {}):
                self._deliveries.pop(key, None)
            self._attempts.pop(tenant_id, None)
            self._lanes.pop(tenant_id, None)
            self._pruned.pop(tenant_id, None)
            self._groups.pop(tenant_id, None)

    def drop(self, tenant_id: str) -> None:
        self.reset(tenant_id)  # its stale heap entries are skipped when they come due
        self._configs.pop(tenant_id, None)

    def close(self) -> None:
        pass


_DELIVERY_COLUMNS = (
    "tenant_id, event_id, seq, kind, campaign_id, body, status, attempts, next_at, "
    "created_at, last_status, last_error, delivered_at"
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS wh_cursor (tenant_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS wh_delivery (
    tenant_id TEXT NOT NULL, event_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
    campaign_id INTEGER NOT NULL, body BLOB NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_at REAL NOT NULL, created_at REAL NOT NULL,
    last_status INTEGER, last_error TEXT, delivered_at REAL,
    PRIMARY KEY (tenant_id, event_id));
CREATE INDEX IF NOT EXISTS wh_delivery_due ON wh_delivery (status, next_at);
CREATE INDEX IF NOT EXISTS wh_delivery_seq ON wh_delivery (tenant_id, seq);
CREATE INDEX IF NOT EXISTS wh_delivery_lane ON wh_delivery (tenant_id, kind, status, next_at);
CREATE TABLE IF NOT EXISTS wh_pruned (
    tenant_id TEXT NOT NULL, kind TEXT NOT NULL, campaign_id INTEGER NOT NULL,
    status TEXT NOT NULL, count INTEGER NOT NULL, attempts INTEGER NOT NULL,
    first_done REAL, last_done REAL, PRIMARY KEY (tenant_id, kind, campaign_id, status));
CREATE TABLE IF NOT EXISTS wh_attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, event_id TEXT NOT NULL,
    number INTEGER NOT NULL, url TEXT NOT NULL, at REAL NOT NULL, status INTEGER,
    latency_ms REAL NOT NULL, error TEXT, fault TEXT);
CREATE INDEX IF NOT EXISTS wh_attempt_tenant ON wh_attempt (tenant_id, at);
CREATE TABLE IF NOT EXISTS wh_config (tenant_id TEXT PRIMARY KEY, config BLOB NOT NULL);
"""
# Aggregates of the kept deliveries, changed in the same transaction as the rows, so every
# process sharing the file (SIM_WORKERS>1) reads them consistent with the rows: counts,
# attempts and retries per (kind, campaign, status); lag counts per (kind, campaign,
# bucket) and per value within a bucket (`lag_bucket`).
_AGGREGATES = (
    "CREATE TABLE IF NOT EXISTS wh_agg (tenant_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "campaign_id INTEGER NOT NULL, status TEXT NOT NULL, count INTEGER NOT NULL, "
    "attempts INTEGER NOT NULL, retries INTEGER NOT NULL, "
    "PRIMARY KEY (tenant_id, kind, campaign_id, status))",
    "CREATE TABLE IF NOT EXISTS wh_lag_bucket (tenant_id TEXT NOT NULL, kind TEXT NOT NULL, "
    "campaign_id INTEGER NOT NULL, bucket INTEGER NOT NULL, count INTEGER NOT NULL, "
    "PRIMARY KEY (tenant_id, kind, campaign_id, bucket))",
    "CREATE TABLE IF NOT EXISTS wh_lag (tenant_id TEXT NOT NULL, bucket INTEGER NOT NULL, "
    "value REAL NOT NULL, kind TEXT NOT NULL, campaign_id INTEGER NOT NULL, "
    "count INTEGER NOT NULL, PRIMARY KEY (tenant_id, bucket, value, kind, campaign_id))",
    # first/last delivery time of a group: one index probe each
    "CREATE INDEX IF NOT EXISTS wh_delivery_done ON wh_delivery "
    "(tenant_id, kind, campaign_id, delivered_at)",
)
_AGGREGATE_TABLES = ("wh_agg", "wh_lag_bucket", "wh_lag")
# What a row contributes to the aggregates.
_SHARE = "kind, campaign_id, status, attempts, delivered_at, created_at"
_Share = tuple[str, int, str, int, float | None, float]


def _account(db: sqlite3.Connection, tenant_id: str, shares: Sequence[_Share], sign: int) -> None:
    """Add (sign 1) or remove (sign -1) rows' shares of the aggregates."""
    agg: dict[tuple[str, int, str], list[int]] = {}
    buckets: dict[tuple[str, int, int], int] = {}
    lags: dict[tuple[int, float, str, int], int] = {}
    for kind, campaign_id, status, attempts, done, created in shares:
        row = agg.setdefault((kind, campaign_id, status), [0, 0, 0])
        row[0] += sign
        row[1] += sign * attempts
        row[2] += sign * max(0, attempts - 1)
        if done is not None:
            value = lag_value(done, created)
            bucket = lag_bucket(value)
            _bump(buckets, (kind, campaign_id, bucket), sign)
            _bump(lags, (bucket, value, kind, campaign_id), sign)
    agg = {k: v for k, v in agg.items() if any(v)}
    db.executemany(
        "INSERT INTO wh_agg VALUES (?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
        "count=count+excluded.count, attempts=attempts+excluded.attempts, "
        "retries=retries+excluded.retries",
        [(tenant_id, *k, *v) for k, v in agg.items()],
    )
    db.executemany(
        "DELETE FROM wh_agg WHERE tenant_id=? AND kind=? AND campaign_id=? AND status=? "
        "AND count=0",
        [(tenant_id, *k) for k in agg],
    )
    db.executemany(
        "INSERT INTO wh_lag_bucket VALUES (?,?,?,?,?) ON CONFLICT DO UPDATE SET "
        "count=count+excluded.count",
        [(tenant_id, *k, n) for k, n in buckets.items()],
    )
    db.executemany(
        "DELETE FROM wh_lag_bucket WHERE tenant_id=? AND kind=? AND campaign_id=? "
        "AND bucket=? AND count=0",
        [(tenant_id, *k) for k in buckets],
    )
    db.executemany(
        "INSERT INTO wh_lag VALUES (?,?,?,?,?,?) ON CONFLICT DO UPDATE SET "
        "count=count+excluded.count",
        [(tenant_id, *k, n) for k, n in lags.items()],
    )
    db.executemany(
        "DELETE FROM wh_lag WHERE tenant_id=? AND bucket=? AND value=? AND kind=? "
        "AND campaign_id=? AND count=0",
        [(tenant_id, *k) for k in lags],
    )


def _shares(db: sqlite3.Connection, tenant_id: str, event_ids: Sequence[str]) -> list[_Share]:
    out: list[_Share] = []
    for event_id in dict.fromkeys(event_ids):
        row = db.execute(
            f"SELECT {_SHARE} FROM wh_delivery WHERE tenant_id=? AND event_id=?",
            (tenant_id, event_id),
        ).fetchone()
        if row is not None:
            out.append(row)
    return out


def _row(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


class SqliteDeliveryLog:
    """The delivery log in the SQLite file; every call is one short IMMEDIATE transaction."""

    blocking = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._turn = 0
        self._db().executescript(_SCHEMA)  # executescript commits on its own
        with self._tx() as db:
            # A file from before the aggregates: build them once from the kept rows (in
            # the transaction that creates them, so a second process finds them built).
            built = db.execute("SELECT 1 FROM sqlite_master WHERE name='wh_agg'").fetchone()
            for statement in _AGGREGATES:
                db.execute(statement)
            if built is None:
                for (tenant_id,) in db.execute("SELECT DISTINCT tenant_id FROM wh_delivery"):
                    shares = db.execute(
                        f"SELECT {_SHARE} FROM wh_delivery WHERE tenant_id=?", (tenant_id,)
                    ).fetchall()
                    _account(db, tenant_id, shares, 1)

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def cursor(self, tenant_id: str) -> int:
        row = self._db().execute("SELECT seq FROM wh_cursor WHERE tenant_id=?", (tenant_id,))
        found = row.fetchone()
        return int(found[0]) if found else 0

    def ingest(self, tenant_id: str, deliveries: Sequence[Delivery], cursor: int) -> None:
        with self._tx() as db:
            added: list[_Share] = []
            for d in deliveries:
                cur = db.execute(
                    f"INSERT OR IGNORE INTO wh_delivery ({_DELIVERY_COLUMNS}) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    tuple(asdict(d).values()),
                )
                if cur.rowcount == 1:
                    added.append(
                        (d.kind, d.campaign_id, d.status, d.attempts, d.delivered_at, d.created_at)
                    )
            _account(db, tenant_id, added, 1)
            db.execute(
                "INSERT INTO wh_cursor VALUES (?, ?) ON CONFLICT(tenant_id) DO UPDATE "
                "SET seq=excluded.seq",
                (tenant_id, cursor),
            )

    def claim(
        self, now: float, limit: int, lease: float, room: Room | None = None
    ) -> list[Delivery]:
        # Which lanes have due work: a read outside any write transaction, so an idle
        # poll never takes the file's write lock.
        lanes = (
            self._db()
            .execute(
                "SELECT DISTINCT tenant_id, kind FROM wh_delivery "
                "WHERE status='pending' AND next_at<=?",
                (now,),
            )
            .fetchall()
        )
        rooms = [(t, k, limit if room is None else room(t, k)) for t, k in lanes]
        rooms = [(t, k, r) for t, k, r in rooms if r > 0]
        if not rooms:
            return []
        # A fair share per lane this round (round robin in rounds of `limit`); a lane that
        # cannot use its share leaves it to the next call.
        share = max(1, math.ceil(limit / len(rooms)))
        self._turn = (self._turn + 1) % len(rooms)
        rooms = rooms[self._turn :] + rooms[: self._turn]
        claimed: list[Delivery] = []
        with self._tx() as db:
            for tenant_id, kind, space in rooms:
                take = min(space, share, limit - len(claimed))
                if take <= 0:
                    break
                rows = db.execute(
                    f"SELECT {_DELIVERY_COLUMNS} FROM wh_delivery WHERE tenant_id=? AND "
                    "kind=? AND status='pending' AND next_at<=? ORDER BY next_at LIMIT ?",
                    (tenant_id, kind, now, take),
                ).fetchall()
                claimed.extend(replace(_row(r), next_at=now + lease) for r in rows)
            db.executemany(
                "UPDATE wh_delivery SET next_at=? WHERE tenant_id=? AND event_id=?",
                [(d.next_at, d.tenant_id, d.event_id) for d in claimed],
            )
        return claimed

    def finish(self, results: Sequence[tuple[Delivery, Attempt | None]]) -> None:
        by_tenant: dict[str, list[str]] = {}
        for d, _ in results:
            by_tenant.setdefault(d.tenant_id, []).append(d.event_id)
        with self._tx() as db:
            before = {t: _shares(db, t, ids) for t, ids in by_tenant.items()}
            db.executemany(
                "UPDATE wh_delivery SET status=?, attempts=?, next_at=?, last_status=?, "
                "last_error=?, delivered_at=? WHERE tenant_id=? AND event_id=?",
                [
                    (
                        d.status,
                        d.attempts,
                        d.next_at,
                        d.last_status,
                        d.last_error,
                        d.delivered_at,
                        d.tenant_id,
                        d.event_id,
                    )
                    for d, _ in results
                ],
            )
            db.executemany(
                "INSERT INTO wh_attempt (tenant_id, event_id, number, url, at, status, "
                "latency_ms, error, fault) VALUES (?,?,?,?,?,?,?,?,?)",
                [tuple(asdict(a).values()) for _, a in results if a is not None],
            )
            for tenant_id, ids in by_tenant.items():
                _account(db, tenant_id, before[tenant_id], -1)
                _account(db, tenant_id, _shares(db, tenant_id, ids), 1)

    def get(self, tenant_id: str, event_id: str) -> Delivery | None:
        row = (
            self._db()
            .execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM wh_delivery WHERE tenant_id=? AND event_id=?",
                (tenant_id, event_id),
            )
            .fetchone()
        )
        return None if row is None else _row(row)

    def deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        campaign_id: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        sql = f"SELECT {_DELIVERY_COLUMNS} FROM wh_delivery WHERE tenant_id=? AND seq>?"
        args: list[Any] = [tenant_id, after]
        for column, value in (("status", status), ("kind", kind), ("campaign_id", campaign_id)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        rows = self._db().execute(sql + " ORDER BY seq LIMIT ?", (*args, limit)).fetchall()
        return [_row(r) for r in rows]

    def counts(self, tenant_id: str, *, pruned: bool = False) -> dict[str, int]:
        sql = "SELECT status, SUM(count) FROM wh_agg WHERE tenant_id=? GROUP BY status"
        if pruned:
            sql = (
                "SELECT status, SUM(count) FROM (SELECT status, count FROM wh_agg WHERE "
                "tenant_id=:t UNION ALL SELECT status, count FROM wh_pruned WHERE tenant_id=:t) "
                "GROUP BY status"
            )
        rows = self._db().execute(sql, {"t": tenant_id} if pruned else (tenant_id,)).fetchall()
        return {status: n for status, n in rows if n}

    def attempts(
        self,
        tenant_id: str,
        *,
        event_id: str | None = None,
        failed_only: bool = False,
        after: float = 0.0,
        limit: int = 100,
    ) -> list[Attempt]:
        sql = (
            "SELECT tenant_id, event_id, number, url, at, status, latency_ms, error, fault "
            "FROM wh_attempt WHERE tenant_id=? AND at>?"
        )
        args: list[Any] = [tenant_id, after]
        if event_id is not None:
            sql += " AND event_id=?"
            args.append(event_id)
        if failed_only:
            sql += " AND (status IS NULL OR status<200 OR status>=300)"
        rows = self._db().execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [Attempt(*r) for r in rows]

    def reschedule(self, tenant_id: str, event_ids: Sequence[str], now: float) -> int:
        with self._tx() as db:
            before = _shares(db, tenant_id, event_ids)
            cur = db.executemany(
                "UPDATE wh_delivery SET status='pending', next_at=? "
                "WHERE tenant_id=? AND event_id=?",
                [(now, tenant_id, e) for e in event_ids],
            )
            _account(db, tenant_id, before, -1)
            _account(db, tenant_id, _shares(db, tenant_id, event_ids), 1)
            return cur.rowcount

    def failed_since(self, tenant_id: str, since: float) -> list[str]:
        rows = (
            self._db()
            .execute(
                "SELECT event_id FROM wh_delivery WHERE tenant_id=? AND status='failed' "
                "AND created_at>=? ORDER BY seq",
                (tenant_id, since),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    def config(self, tenant_id: str) -> WebhookConfig:
        row = (
            self._db()
            .execute("SELECT config FROM wh_config WHERE tenant_id=?", (tenant_id,))
            .fetchone()
        )
        if row is None:
            return WebhookConfig()
        data = orjson.loads(row[0])
        return WebhookConfig(
            tuple(data["retry_delays"]),
            data["time_scale"],
            data["timeout_s"],
            data["concurrency"],
            tuple((s, t) for s, t in data["previous_secrets"]),
        )

    def set_config(self, tenant_id: str, config: WebhookConfig) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO wh_config VALUES (?, ?) ON CONFLICT(tenant_id) DO UPDATE "
                "SET config=excluded.config",
                (tenant_id, orjson.dumps(asdict(config))),
            )

    def summary(
        self, tenant_id: str, *, kind: str | None = None, campaign_id: int | None = None
    ) -> DeliverySummary:
        where = "tenant_id=?"
        args: list[Any] = [tenant_id]
        for column, value in (("kind", kind), ("campaign_id", campaign_id)):
            if value is not None:
                where += f" AND {column}=?"
                args.append(value)
        out = DeliverySummary()
        db = self._db()
        # One read transaction: aggregates and rows from the same snapshot. Every read
        # is of aggregates (a handful of groups) or one index probe per group.
        db.execute("BEGIN")
        try:
            groups: set[tuple[str, int]] = set()
            for k, campaign, status, count, attempts, retries in db.execute(
                "SELECT kind, campaign_id, status, count, attempts, retries FROM wh_agg "
                f"WHERE {where}",
                args,
            ):
                groups.add((k, campaign))
                out.add_kept(status, count, attempts, retries)
            buckets = dict(
                db.execute(
                    f"SELECT bucket, SUM(count) FROM wh_lag_bucket WHERE {where} GROUP BY bucket",
                    args,
                ).fetchall()
            )
            firsts: list[float] = []
            lasts: list[float] = []
            for k, campaign in groups:
                key = (tenant_id, k, campaign)
                done = "FROM wh_delivery WHERE tenant_id=? AND kind=? AND campaign_id=? AND "
                done += "delivered_at IS NOT NULL"
                (first,) = db.execute(f"SELECT MIN(delivered_at) {done}", key).fetchone()
                (last,) = db.execute(f"SELECT MAX(delivered_at) {done}", key).fetchone()
                if first is not None:
                    firsts.append(first)
                    lasts.append(last)
            if firsts:
                out.add_done(sum(buckets.values()), min(firsts), max(lasts))

            def values(bucket: int) -> dict[float, int]:
                return dict(
                    db.execute(
                        f"SELECT value, SUM(count) FROM wh_lag WHERE {where} AND bucket=? "
                        "GROUP BY value",
                        (*args, bucket),
                    ).fetchall()
                )

            out.lag_ms = lag_percentiles(buckets, values)
            for status, count, attempts, first, last in db.execute(
                "SELECT status, count, attempts, first_done, last_done FROM wh_pruned "
                f"WHERE {where}",
                args,
            ):
                out.add_pruned(status, PrunedCount(count, attempts, first, last))
        finally:
            db.execute("COMMIT")
        return out

    def prune(self, tenant_id: str, now: float, retention: Retention) -> int:
        oldest = now - retention.seconds if retention.seconds else None
        with self._tx() as db:
            drop: list[tuple[Any, ...]] = []
            cols = f"event_id, {_SHARE}"
            if retention.deliveries:
                (finished,) = db.execute(  # from the aggregates: no pass over the rows
                    "SELECT COALESCE(SUM(count), 0) FROM wh_agg WHERE tenant_id=? "
                    "AND status!='pending'",
                    (tenant_id,),
                ).fetchone()
                if finished > retention.deliveries:
                    drop += db.execute(
                        f"SELECT {cols} FROM wh_delivery WHERE tenant_id=? AND "
                        "status!='pending' ORDER BY seq LIMIT ?",
                        (tenant_id, finished - retention.deliveries),
                    ).fetchall()
            if oldest is not None:
                seen = {row[0] for row in drop}
                drop += [
                    row
                    for row in db.execute(
                        f"SELECT {cols} FROM wh_delivery WHERE tenant_id=? AND "
                        "status!='pending' AND created_at<?",
                        (tenant_id, oldest),
                    )
                    if row[0] not in seen
                ]
            groups: dict[tuple[str, int, str], PrunedCount] = {}
            for _, kind, campaign_id, status, attempts, done, _ in drop:
                group = (kind, campaign_id, status)
                groups[group] = groups.get(group, PrunedCount()).merge(
                    PrunedCount(1, attempts, done, done)
                )
            for (kind, campaign_id, status), c in groups.items():
                row = db.execute(
                    "SELECT count, attempts, first_done, last_done FROM wh_pruned WHERE "
                    "tenant_id=? AND kind=? AND campaign_id=? AND status=?",
                    (tenant_id, kind, campaign_id, status),
                ).fetchone()
                total = c.merge(PrunedCount(*row)) if row else c
                db.execute(
                    "INSERT OR REPLACE INTO wh_pruned VALUES (?,?,?,?,?,?,?,?)",
                    (tenant_id, kind, campaign_id, status, *astuple(total)),
                )
            db.executemany(
                "DELETE FROM wh_delivery WHERE tenant_id=? AND event_id=?",
                [(tenant_id, row[0]) for row in drop],
            )
            _account(db, tenant_id, [row[1:] for row in drop], -1)
            if oldest is not None:
                db.execute("DELETE FROM wh_attempt WHERE tenant_id=? AND at<?", (tenant_id, oldest))
            if retention.attempts:
                (kept,) = db.execute(
                    "SELECT COUNT(*) FROM wh_attempt WHERE tenant_id=?", (tenant_id,)
                ).fetchone()
                if kept > retention.attempts:
                    db.execute(
                        "DELETE FROM wh_attempt WHERE id IN (SELECT id FROM wh_attempt "
                        "WHERE tenant_id=? ORDER BY at, id LIMIT ?)",
                        (tenant_id, kept - retention.attempts),
                    )
        return len(drop)

    def reset(self, tenant_id: str) -> None:
        with self._tx() as db:
            for table in (
                "wh_cursor",
                "wh_delivery",
                "wh_attempt",
                "wh_pruned",
                *_AGGREGATE_TABLES,
            ):
                db.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))

    def drop(self, tenant_id: str) -> None:
        with self._tx() as db:
            tables = ("wh_cursor", "wh_delivery", "wh_attempt", "wh_config", "wh_pruned")
            for table in (*tables, *_AGGREGATE_TABLES):
                db.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
