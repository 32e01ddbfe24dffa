"""Delivery logs: in memory (with the memory store) and SQLite (tables `wh_*` in the
store's own file, so pending deliveries survive a restart with the rest of the state)."""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import orjson

from simulator.domain.models import Attempt, Delivery, WebhookConfig


class MemoryDeliveryLog:
    """Deliveries in dicts, due ones in a heap (lazy deletion: stale entries are skipped)."""

    blocking = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: dict[str, int] = {}
        self._deliveries: dict[tuple[str, str], Delivery] = {}
        self._order: dict[str, list[tuple[str, str]]] = {}
        self._due: list[tuple[float, int, str, str]] = []
        self._tick = 0
        self._attempts: dict[str, list[Attempt]] = {}
        self._configs: dict[str, WebhookConfig] = {}

    def _schedule(self, d: Delivery) -> None:
        if d.status == "pending":
            self._tick += 1
            heapq.heappush(self._due, (d.next_at, self._tick, d.tenant_id, d.event_id))

    def cursor(self, tenant_id: str) -> int:
        return self._cursors.get(tenant_id, 0)

    def ingest(self, tenant_id: str, deliveries: Sequence[Delivery], cursor: int) -> None:
        with self._lock:
            order = self._order.setdefault(tenant_id, [])
            for d in deliveries:
                key = (tenant_id, d.event_id)
                if key not in self._deliveries:
                    order.append(key)
                self._deliveries[key] = d
                self._schedule(d)
            self._cursors[tenant_id] = cursor

    def claim(self, now: float, limit: int, lease: float) -> list[Delivery]:
        out: list[Delivery] = []
        with self._lock:
            while self._due and len(out) < limit and self._due[0][0] <= now:
                next_at, _, tenant_id, event_id = heapq.heappop(self._due)
                d = self._deliveries.get((tenant_id, event_id))
                if d is None or d.status != "pending" or d.next_at != next_at:
                    continue  # stale heap entry
                claimed = replace(d, next_at=now + lease)
                self._deliveries[(tenant_id, event_id)] = claimed
                self._schedule(claimed)
                out.append(claimed)
        return out

    def finish(self, results: Sequence[tuple[Delivery, Attempt | None]]) -> None:
        with self._lock:
            for d, attempt in results:
                key = (d.tenant_id, d.event_id)
                if key not in self._deliveries:
                    continue  # the tenant was reset meanwhile
                self._deliveries[key] = d
                self._schedule(d)
                if attempt is not None:
                    self._attempts.setdefault(d.tenant_id, []).append(attempt)

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
                self._deliveries[(tenant_id, event_id)] = d
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

    def config(self, tenant_id: str) -> WebhookConfig:
        return self._configs.get(tenant_id, WebhookConfig())

    def set_config(self, tenant_id: str, config: WebhookConfig) -> None:
        self._configs[tenant_id] = config

    def reset(self, tenant_id: str) -> None:
        with self._lock:
            self._cursors.pop(tenant_id, None)
            for key in self._order.pop(tenant_id, []):
                self._deliveries.pop(key, None)
            self._attempts.pop(tenant_id, None)

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
CREATE TABLE IF NOT EXISTS wh_attempt (
    id INTEGER PRIMARY KEY AUTOINCREMENT, tenant_id TEXT NOT NULL, event_id TEXT NOT NULL,
    number INTEGER NOT NULL, url TEXT NOT NULL, at REAL NOT NULL, status INTEGER,
    latency_ms REAL NOT NULL, error TEXT, fault TEXT);
CREATE INDEX IF NOT EXISTS wh_attempt_tenant ON wh_attempt (tenant_id, at);
CREATE TABLE IF NOT EXISTS wh_config (tenant_id TEXT PRIMARY KEY, config BLOB NOT NULL);
"""


def _row(row: sqlite3.Row | tuple[Any, ...]) -> Delivery:
    return Delivery(*row)


class SqliteDeliveryLog:
    """The delivery log in the SQLite file; every call is one short IMMEDIATE transaction."""

    blocking = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._db().executescript(_SCHEMA)  # executescript commits on its own

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
            db.executemany(
                f"INSERT OR IGNORE INTO wh_delivery ({_DELIVERY_COLUMNS}) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [tuple(asdict(d).values()) for d in deliveries],
            )
            db.execute(
                "INSERT INTO wh_cursor VALUES (?, ?) ON CONFLICT(tenant_id) DO UPDATE "
                "SET seq=excluded.seq",
                (tenant_id, cursor),
            )

    def claim(self, now: float, limit: int, lease: float) -> list[Delivery]:
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {_DELIVERY_COLUMNS} FROM wh_delivery WHERE status='pending' "
                "AND next_at<=? ORDER BY next_at LIMIT ?",
                (now, limit),
            ).fetchall()
            claimed = [replace(_row(r), next_at=now + lease) for r in rows]
            db.executemany(
                "UPDATE wh_delivery SET next_at=? WHERE tenant_id=? AND event_id=?",
                [(d.next_at, d.tenant_id, d.event_id) for d in claimed],
            )
        return claimed

    def finish(self, results: Sequence[tuple[Delivery, Attempt | None]]) -> None:
        with self._tx() as db:
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
            cur = db.executemany(
                "UPDATE wh_delivery SET status='pending', next_at=? "
                "WHERE tenant_id=? AND event_id=?",
                [(now, tenant_id, e) for e in event_ids],
            )
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

    def reset(self, tenant_id: str) -> None:
        with self._tx() as db:
            for table in ("wh_cursor", "wh_delivery", "wh_attempt"):
                db.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))

    def drop(self, tenant_id: str) -> None:
        with self._tx() as db:
            for table in ("wh_cursor", "wh_delivery", "wh_attempt", "wh_config"):
                db.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))

    def close(self) -> None:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
