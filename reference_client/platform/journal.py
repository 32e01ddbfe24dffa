"""What the integrator received and finished, so duplicates are skipped and a restarted
client resumes where it stopped.

Business rules every `Journal` keeps:
- A webhook is accepted once per `webhook-id` (stable across the sender's retries and
  re-sends, wire-contract §6); a second `accept` of the same id answers False.
- An accepted webhook stays pending until its work is done; pending webhooks are run again
  after a restart (the transactional-inbox pattern: record first, then acknowledge).
- Approved customers (scheduled) or events (triggered) are remembered per campaign with
  their allocation ids, so a resumed campaign never approves anyone twice and reports
  every approved reward for redemption exactly once.
- A cancelled campaign stays cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from reference_client.platform.wallet import connect


@dataclass(frozen=True, slots=True)
class PendingWebhook:
    webhook_id: str
    kind: str  # "scheduled" (type 5 or 4 body) or "triggered"
    body: bytes


@dataclass(frozen=True, slots=True)
class Approved:
    """A subject (customer id, or event id for triggered campaigns) approved with its
    reward's allocation ids."""

    subject: str
    promotion_id: str
    allocation_ids: tuple[str, ...] = field(default_factory=tuple)


class Journal(Protocol):
    def accept(self, webhook_id: str, kind: str, body: bytes) -> bool: ...
    def done(self, webhook_id: str) -> None: ...
    def pending(self) -> list[PendingWebhook]: ...
    def mark_approved(self, campaign_id: int, rows: Iterable[Approved]) -> None: ...
    def approved(self, campaign_id: int) -> set[str]: ...
    def was_approved(self, campaign_id: int, subject: str) -> bool: ...
    def mark_redeemed(self, allocation_ids: Iterable[str]) -> None: ...
    def unredeemed(self) -> list[tuple[int, str, str]]: ...
    def mark_cancelled(self, campaign_id: int) -> None: ...
    def cancelled(self, campaign_id: int) -> bool: ...


class MemoryJournal:
    """A `Journal` in process memory (dedupe and progress last as long as the process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, PendingWebhook | None] = {}  # None once done
        self._approved: dict[int, dict[str, Approved]] = {}
        self._redeemed: set[str] = set()
        self._cancelled: set[int] = set()

    def accept(self, webhook_id: str, kind: str, body: bytes) -> bool:
        with self._lock:
            if webhook_id in self._seen:
                return False
            self._seen[webhook_id] = PendingWebhook(webhook_id, kind, body)
            return True

    def done(self, webhook_id: str) -> None:
        with self._lock:
            self._seen[webhook_id] = None

    def pending(self) -> list[PendingWebhook]:
        with self._lock:
            return [p for p in self._seen.values() if p is not None]

    def mark_approved(self, campaign_id: int, rows: Iterable[Approved]) -> None:
        with self._lock:
            known = self._approved.setdefault(campaign_id, {})
            for row in rows:
                known.setdefault(row.subject, row)

    def approved(self, campaign_id: int) -> set[str]:
        with self._lock:
            return set(self._approved.get(campaign_id, {}))

    def was_approved(self, campaign_id: int, subject: str) -> bool:
        return subject in self._approved.get(campaign_id, {})

    def mark_redeemed(self, allocation_ids: Iterable[str]) -> None:
        with self._lock:
            self._redeemed.update(allocation_ids)

    def unredeemed(self) -> list[tuple[int, str, str]]:
        """(campaign id, promotion id, allocation id) approved but not yet reported."""
        with self._lock:
            return [
                (campaign_id, row.promotion_id, allocation)
                for campaign_id, rows in self._approved.items()
                for row in rows.values()
                for allocation in row.allocation_ids
                if allocation not in self._redeemed
            ]

    def mark_cancelled(self, campaign_id: int) -> None:
        with self._lock:
            self._cancelled.add(campaign_id)

    def cancelled(self, campaign_id: int) -> bool:
        return campaign_id in self._cancelled


_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal_webhooks (
    webhook_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body BLOB NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS journal_approvals (
    campaign_id INTEGER NOT NULL,
    subject TEXT NOT NULL,
    promotion_id TEXT NOT NULL,
    allocation_id TEXT NOT NULL,
    redeemed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign_id, subject, allocation_id)
);
CREATE INDEX IF NOT EXISTS journal_approvals_allocation ON journal_approvals (allocation_id);
CREATE TABLE IF NOT EXISTS journal_cancelled (campaign_id INTEGER PRIMARY KEY);
"""


class SqliteJournal:
    """A `Journal` in a SQLite file (may be the wallet's file: the tables do not clash)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = connect(self.path)
        self._conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def accept(self, webhook_id: str, kind: str, body: bytes) -> bool:
        with self._tx():
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO journal_webhooks (webhook_id, kind, body) VALUES (?, ?, ?)",
                (webhook_id, kind, body),
            )
            return cursor.rowcount == 1

    def done(self, webhook_id: str) -> None:
        with self._tx():
            # The body is no longer needed once the work is done; keep only the id.
            self._conn.execute(
                "UPDATE journal_webhooks SET done = 1, body = x'' WHERE webhook_id = ?",
                (webhook_id,),
            )

    def pending(self) -> list[PendingWebhook]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT webhook_id, kind, body FROM journal_webhooks WHERE done = 0 ORDER BY rowid"
            ).fetchall()
        return [PendingWebhook(str(i), str(k), bytes(b)) for i, k, b in rows]

    def mark_approved(self, campaign_id: int, rows: Iterable[Approved]) -> None:
        values = [
            (campaign_id, row.subject, row.promotion_id, allocation)
            for row in rows
            for allocation in (row.allocation_ids or ("",))
        ]
        with self._tx():
            self._conn.executemany(
                "INSERT OR IGNORE INTO journal_approvals "
                "(campaign_id, subject, promotion_id, allocation_id) VALUES (?, ?, ?, ?)",
                values,
            )

    def approved(self, campaign_id: int) -> set[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT subject FROM journal_approvals WHERE campaign_id = ?",
                (campaign_id,),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def was_approved(self, campaign_id: int, subject: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM journal_approvals WHERE campaign_id = ? AND subject = ? LIMIT 1",
                (campaign_id, subject),
            ).fetchone()
        return row is not None

    def mark_redeemed(self, allocation_ids: Iterable[str]) -> None:
        with self._tx():
            self._conn.executemany(
                "UPDATE journal_approvals SET redeemed = 1 WHERE allocation_id = ?",
                [(a,) for a in allocation_ids],
            )

    def unredeemed(self) -> list[tuple[int, str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT campaign_id, promotion_id, allocation_id FROM journal_approvals "
                "WHERE redeemed = 0 AND allocation_id != '' ORDER BY rowid"
            ).fetchall()
        return [(int(c), str(p), str(a)) for c, p, a in rows]

    def mark_cancelled(self, campaign_id: int) -> None:
        with self._tx():
            self._conn.execute("INSERT OR IGNORE INTO journal_cancelled VALUES (?)", (campaign_id,))

    def cancelled(self, campaign_id: int) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM journal_cancelled WHERE campaign_id = ?", (campaign_id,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
