"""SQLite store: one file shared by every server process on the machine.

Concurrency: each `transaction(tenant_id)` is `BEGIN IMMEDIATE` ... `COMMIT` (`ROLLBACK`
when the block raises), so it holds the database's write lock from its first read, and two
processes can never both read a budget and both spend it. The file is in WAL mode (readers
outside a transaction never wait on a writer) with a 30 s busy timeout. Nothing mutable is
cached in the process: every read inside a transaction hits the database.

Connections: one per thread (`threading.local`), opened on first use and closed when the
thread ends or the store closes. A transaction opened while the thread is already inside
one becomes a SAVEPOINT of it (the in-memory store's per-tenant lock is re-entrant too).

Records are frozen dataclasses: orjson writes them as JSON (datetimes as RFC 3339 with
their offset, enums as their values, tuples as lists) and the `_*_from` functions below
rebuild them with the right types; a record carrying a NaN, an infinity or an int beyond
64 bits in a free-form value takes the stdlib encoder instead, which keeps them. Anything
queried has a column of its own; the ledger counters (usage, holdings, period counts) are
plain integer columns, never JSON.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import weakref
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast, get_args

import orjson

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import (
    Allocation,
    AllocationStatus,
    Campaign,
    CampaignStats,
    CampaignStatus,
    CeWebhook,
    ClockState,
    Condition,
    Holding,
    NewReservations,
    OutboxEvent,
    PeriodCaps,
    PopulationSpec,
    Promotion,
    PromotionStatus,
    Reward,
    RewardSpec,
    Role,
    TargetGroup,
    Tenant,
    Tier,
    Token,
    TriggeredEvent,
    Usage,
    Violation,
    allocation_number,
)
from simulator.store.base import FIRST_TENANT_NUMBER

BUSY_TIMEOUT_MS = 30_000
SCHEMA_VERSION = 1

_NO_HOLDING = Holding()
_NO_USAGE = Usage()

_IntCode = Literal["b", "B", "h", "H", "i", "I", "l", "L", "q", "Q"]
_INT_CODES = frozenset(get_args(_IntCode))

# Tables holding a tenant's world; `reset()` empties them (tenants, keys, tokens stay).
_TENANT_TABLES = (
    "promotions",
    "promocodes",
    "usage",
    "holdings",
    "period_counts",
    "allocations",
    "allocation_keys",
    "allocation_numbers",
    "campaigns",
    "processed",
    "campaign_stats",
    "triggered_events",
    "outbox",
)

# Rowid tables keep the first-insert order (upserts keep the rowid), which is the order
# the in-memory store's dicts list things in. WITHOUT ROWID for small keyed counters.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS tenants (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS api_keys (
        key TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        role TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant_id)",
    """CREATE TABLE IF NOT EXISTS tokens (
        token TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        role TEXT NOT NULL,
        last_used REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS promotions (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (tenant_id, id))""",
    """CREATE TABLE IF NOT EXISTS promocodes (
        tenant_id TEXT NOT NULL,
        code TEXT NOT NULL,
        promotion_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, code)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS usage (
        tenant_id TEXT NOT NULL,
        promotion_id TEXT NOT NULL,
        budget_reserved INTEGER NOT NULL,
        budget_committed INTEGER NOT NULL,
        budget_released INTEGER NOT NULL,
        audience_reserved INTEGER NOT NULL,
        audience_committed INTEGER NOT NULL,
        redemptions INTEGER NOT NULL,
        redeemed_amount INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, promotion_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS holdings (
        tenant_id TEXT NOT NULL,
        promotion_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        reserved INTEGER NOT NULL,
        committed INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, promotion_id, customer_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS period_counts (
        tenant_id TEXT NOT NULL,
        promotion_id TEXT NOT NULL,
        period_key TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, promotion_id, period_key)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS allocations (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        status TEXT NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (tenant_id, id))""",
    # Partial indexes: open reservations and commitments of a campaign, in rowid order.
    """CREATE INDEX IF NOT EXISTS allocations_open
        ON allocations (tenant_id, campaign_id) WHERE status = 'reserved'""",
    """CREATE INDEX IF NOT EXISTS allocations_committed
        ON allocations (tenant_id, campaign_id) WHERE status = 'committed'""",
    # (campaign, customer, event) → the allocation last stored under that key. A released
    # allocation's key is reused by the next reservation, so this is a table, not a UNIQUE
    # index on `allocations`. `event_key` is '' for no event and '=' + id otherwise, so
    # the key never holds a NULL (NULLs are distinct in SQL keys) and '' ≠ None.
    """CREATE TABLE IF NOT EXISTS allocation_keys (
        tenant_id TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        customer_id TEXT NOT NULL,
        event_key TEXT NOT NULL,
        allocation_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, campaign_id, customer_id, event_key)) WITHOUT ROWID""",
    # Per campaign, the highest `allocation_id` number stored (`allocations_made`); a
    # table of its own because counting a campaign's allocations would scan them.
    """CREATE TABLE IF NOT EXISTS allocation_numbers (
        tenant_id TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        made INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, campaign_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS campaigns (
        tenant_id TEXT NOT NULL,
        id INTEGER NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (tenant_id, id))""",
    """CREATE TABLE IF NOT EXISTS processed (
        tenant_id TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        start INTEGER NOT NULL,
        stop INTEGER NOT NULL,
        typecode TEXT,
        indices BLOB,
        UNIQUE (tenant_id, campaign_id))""",
    """CREATE TABLE IF NOT EXISTS campaign_stats (
        tenant_id TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (tenant_id, campaign_id))""",
    """CREATE TABLE IF NOT EXISTS triggered_events (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        data BLOB NOT NULL,
        UNIQUE (tenant_id, id))""",
    """CREATE TABLE IF NOT EXISTS outbox (
        tenant_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        kind TEXT NOT NULL,
        campaign_id INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (tenant_id, seq))""",
    "CREATE INDEX IF NOT EXISTS outbox_by_kind ON outbox (tenant_id, kind, seq)",
    # Store-wide counters (the next tenant number); a table of its own, so a file written
    # before it existed gains it on the next start.
    """CREATE TABLE IF NOT EXISTS counters (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL) WITHOUT ROWID""",
    # Chosen customers (explicit ones and chosen attributes): a rowid table, so they list
    # in first-stored order (an upsert keeps the rowid), which fixes explicit indices.
    """CREATE TABLE IF NOT EXISTS customers (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        attributes BLOB NOT NULL,
        UNIQUE (tenant_id, id))""",
    # Legacy usernames → their tenant: a login finds its tenant by this index, not by
    # reading every tenant. Kept by `put_tenant` from the tenant record's users.
    """CREATE TABLE IF NOT EXISTS legacy_users (
        username TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS legacy_users_by_tenant ON legacy_users (tenant_id)",
    "CREATE INDEX IF NOT EXISTS tokens_by_tenant ON tokens (tenant_id)",
    "CREATE INDEX IF NOT EXISTS tokens_by_last_use ON tokens (last_used)",
)

_CUSTOMERS_OF = "SELECT id, attributes FROM customers WHERE tenant_id = ? ORDER BY rowid"
_CUSTOMER_PUT = (
    "INSERT INTO customers (tenant_id, id, attributes) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET attributes = excluded.attributes"
)
_CUSTOMERS_CLEAR = "DELETE FROM customers WHERE tenant_id = ?"

# -- statements (constant strings: sqlite3 keeps them prepared in its statement cache) ----
_TENANT_GET = "SELECT data FROM tenants WHERE id = ?"
_TENANT_PUT = (
    "INSERT INTO tenants (id, data) VALUES (?, ?) "
    "ON CONFLICT (id) DO UPDATE SET data = excluded.data"
)
_TENANT_IDS = "SELECT id FROM tenants ORDER BY rowid"
_NEXT_TENANT_NUMBER = (
    "INSERT INTO counters (name, value) VALUES ('tenant_number', ?) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
)
_TENANT_EXISTS = "SELECT 1 FROM tenants WHERE id = ?"
_KEY_PUT = (
    "INSERT INTO api_keys (key, tenant_id, role) VALUES (?, ?, ?) ON CONFLICT (key) "
    "DO UPDATE SET tenant_id = excluded.tenant_id, role = excluded.role"
)
_KEYS_OF = "SELECT key, role FROM api_keys WHERE tenant_id = ? ORDER BY rowid"
_KEY_GET = "SELECT tenant_id, role FROM api_keys WHERE key = ?"
_TOKEN_PUT = (
    "INSERT INTO tokens (token, tenant_id, role, last_used) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (token) DO UPDATE SET tenant_id = excluded.tenant_id, role = excluded.role, "
    "last_used = excluded.last_used"
)
_TOKEN_GET = "SELECT token, tenant_id, role, last_used FROM tokens WHERE token = ?"
_TOKEN_TOUCH = "UPDATE tokens SET last_used = ? WHERE token = ?"
_TOKENS_PURGE = "DELETE FROM tokens WHERE last_used < ?"
_TENANT_COUNT = "SELECT count(*) FROM tenants"
_USER_GET = "SELECT tenant_id FROM legacy_users WHERE username = ?"
_USERS_CLEAR = "DELETE FROM legacy_users WHERE tenant_id = ?"
_USER_PUT = (
    "INSERT INTO legacy_users (username, tenant_id) VALUES (?, ?) "
    "ON CONFLICT (username) DO UPDATE SET tenant_id = excluded.tenant_id"
)
_USERS_BACKFILL = "INSERT OR IGNORE INTO legacy_users (username, tenant_id) VALUES (?, ?)"
_CREDENTIALS_OF = (
    "SELECT key FROM api_keys WHERE tenant_id = ?1 UNION ALL "
    "SELECT token FROM tokens WHERE tenant_id = ?1"
)
# Deleting a tenant: its world, then everything that names it.
_DELETE_TENANT = (
    *(f"DELETE FROM {table} WHERE tenant_id = ?" for table in _TENANT_TABLES),
    "DELETE FROM customers WHERE tenant_id = ?",
    "DELETE FROM api_keys WHERE tenant_id = ?",
    "DELETE FROM tokens WHERE tenant_id = ?",
    "DELETE FROM legacy_users WHERE tenant_id = ?",
    "DELETE FROM tenants WHERE id = ?",
)

_USAGE_GET = (
    "SELECT budget_reserved, budget_committed, budget_released, audience_reserved, "
    "audience_committed, redemptions, redeemed_amount FROM usage "
    "WHERE tenant_id = ? AND promotion_id = ?"
)
_USAGE_PUT = "INSERT OR REPLACE INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_HOLDING_GET = (
    "SELECT reserved, committed FROM holdings "
    "WHERE tenant_id = ? AND promotion_id = ? AND customer_id = ?"
)
_HOLDING_PUT = "INSERT OR REPLACE INTO holdings VALUES (?, ?, ?, ?, ?)"
_PERIOD_GET = (
    "SELECT count FROM period_counts WHERE tenant_id = ? AND promotion_id = ? AND period_key = ?"
)
_PERIOD_ADD = (
    "INSERT INTO period_counts VALUES (?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, promotion_id, period_key) DO UPDATE SET count = count + excluded.count"
)
_ALLOCATION_GET = "SELECT data FROM allocations WHERE tenant_id = ? AND id = ?"
_ALLOCATION_BY_KEY = (
    "SELECT a.data FROM allocation_keys k JOIN allocations a "
    "ON a.tenant_id = k.tenant_id AND a.id = k.allocation_id "
    "WHERE k.tenant_id = ? AND k.campaign_id = ? AND k.customer_id = ? AND k.event_key = ?"
)
_ALLOCATION_PUT = (
    "INSERT INTO allocations (tenant_id, id, campaign_id, status, data) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET campaign_id = excluded.campaign_id, "
    "status = excluded.status, data = excluded.data"
)
_ALLOCATION_KEY_PUT = (
    "INSERT INTO allocation_keys VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, campaign_id, customer_id, event_key) DO UPDATE SET "
    "allocation_id = excluded.allocation_id WHERE allocation_id <> excluded.allocation_id"
)
_ALLOCATIONS_OPEN = (
    "SELECT data FROM allocations WHERE tenant_id = ? AND campaign_id = ? "
    "AND status = 'reserved' ORDER BY rowid"
)
_ALLOCATIONS_MADE = "SELECT made FROM allocation_numbers WHERE tenant_id = ? AND campaign_id = ?"
_ALLOCATION_NUMBER_PUT = (
    "INSERT INTO allocation_numbers VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, campaign_id) DO UPDATE SET made = excluded.made "
    "WHERE made < excluded.made"
)
_ALLOCATIONS_COMMITTED = (
    "SELECT count(*) FROM allocations WHERE tenant_id = ? AND campaign_id = ? "
    "AND status = 'committed'"
)
_ALLOCATIONS_COMMITTED_ROWS = (  # the partial index allocations_committed serves it
    "SELECT data FROM allocations WHERE tenant_id = ? AND campaign_id = ? AND status = 'committed'"
)
_EVENT_GET = "SELECT data FROM triggered_events WHERE tenant_id = ? AND id = ?"
_EVENT_PUT = (
    "INSERT INTO triggered_events (tenant_id, id, data) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET data = excluded.data"
)
_PROMOTION_GET = "SELECT data FROM promotions WHERE tenant_id = ? AND id = ?"
_PROMOTION_BY_CODE = (
    "SELECT p.data FROM promocodes c JOIN promotions p "
    "ON p.tenant_id = c.tenant_id AND p.id = c.promotion_id "
    "WHERE c.tenant_id = ? AND c.code = ?"
)
_PROMOTIONS = "SELECT data FROM promotions WHERE tenant_id = ? ORDER BY rowid"
_PROMOTION_PUT = (
    "INSERT INTO promotions (tenant_id, id, data) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET data = excluded.data"
)
_PROMOCODE_PUT = "INSERT OR REPLACE INTO promocodes VALUES (?, ?, ?)"
_CAMPAIGN_GET = "SELECT data FROM campaigns WHERE tenant_id = ? AND id = ?"
_CAMPAIGNS = "SELECT data FROM campaigns WHERE tenant_id = ? ORDER BY rowid"
_CAMPAIGN_PUT = (
    "INSERT INTO campaigns (tenant_id, id, data) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, id) DO UPDATE SET data = excluded.data"
)
_PROCESSED_GET = (
    "SELECT start, stop, typecode, indices FROM processed WHERE tenant_id = ? AND campaign_id = ?"
)
_PROCESSED_PUT = (
    "INSERT INTO processed (tenant_id, campaign_id, start, stop, typecode, indices) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, campaign_id) DO UPDATE SET "
    "start = excluded.start, stop = excluded.stop, typecode = excluded.typecode, "
    "indices = excluded.indices"
)
_STATS_GET = "SELECT data FROM campaign_stats WHERE tenant_id = ? AND campaign_id = ?"
_STATS_PUT = (
    "INSERT INTO campaign_stats (tenant_id, campaign_id, data) VALUES (?, ?, ?) "
    "ON CONFLICT (tenant_id, campaign_id) DO UPDATE SET data = excluded.data"
)
_OUTBOX_APPEND = (
    "INSERT INTO outbox (tenant_id, seq, id, kind, campaign_id, data) "
    "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM outbox WHERE tenant_id = ? "
    "RETURNING seq"
)
_OUTBOX_AFTER = "SELECT seq, data FROM outbox WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT ?"
_OUTBOX_KIND_AFTER = (
    "SELECT seq, data FROM outbox WHERE tenant_id = ? AND kind = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_DELETE_TENANT_ROWS = tuple(f"DELETE FROM {table} WHERE tenant_id = ?" for table in _TENANT_TABLES)


# -- records ↔ JSON ---------------------------------------------------------------------
def _dump(record: object, *free: Any) -> bytes:
    """JSON of a record; `free` are its free-form values (contexts, bodies, condition
    values). orjson would turn a NaN or an infinity among them into null and refuses ints
    beyond 64 bits, so such a record takes the slower stdlib encoder, which keeps them."""
    if any(_exotic(value) for value in free):
        return json.dumps(record, default=_plain, allow_nan=True).encode()
    try:
        return orjson.dumps(record)
    except orjson.JSONEncodeError:
        return json.dumps(record, default=_plain, allow_nan=True).encode()


def _load(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # written by the stdlib fallback of `_dump`
        return json.loads(raw)


def _exotic(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int):
        return not -(2**63) <= value < 2**64
    if isinstance(value, dict):
        return any(_exotic(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_exotic(v) for v in value)
    return False


def _plain(value: Any) -> Any:
    """What the stdlib encoder cannot write itself (as orjson writes it)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in fields(value)}
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def _conditions(conditions: Iterable[Condition]) -> list[Any]:
    return [c.value for c in conditions]


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _opt_dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _condition_from(d: dict[str, Any]) -> Condition:
    value = d["value"]  # a list value was a tuple (`ConditionSpec.to_domain`)
    return Condition(d["field"], d["op"], tuple(value) if isinstance(value, list) else value)


def _tenant_from(raw: bytes) -> Tenant:
    d = _load(raw)
    clock = d["clock"]
    hook = d["ce_webhook"]
    return Tenant(
        id=d["id"],
        name=d["name"],
        created_at=_dt(d["created_at"]),
        # 0 for a tenant written before tenants had numbers (no webhook id to give it)
        numeric_id=d.get("numeric_id", 0),
        clock=ClockState(clock["mode"], clock["offset_s"], _opt_dt(clock["manual_now"])),
        population=PopulationSpec(**d["population"]),
        webhook_secret=d["webhook_secret"],
        listeners=d["listeners"],
        ce_webhook=None
        if hook is None
        else CeWebhook(hook["id"], hook["url"], _dt(hook["created_at"]), hook["secret"]),
        users={name: (user[0], user[1]) for name, user in d["users"].items()},
        legacy_promotions=d["legacy_promotions"],
        # absent from a file written before the login limits (rev 2)
        logins={name: (login[0], login[1]) for name, login in d.get("logins", {}).items()},
    )


def _promotion_from(raw: bytes) -> Promotion:
    d = _load(raw)
    return Promotion(
        id=d["id"],
        name=d["name"],
        promocodes=tuple(d["promocodes"]),
        reward_kind=d["reward_kind"],
        currency=d["currency"],
        budget=d["budget"],
        audience_cap=d["audience_cap"],
        per_customer_limit=d["per_customer_limit"],
        period_caps=PeriodCaps(**d["period_caps"]),
        tiers=tuple(
            Tier(
                t["id"],
                t["name"],
                tuple(_condition_from(c) for c in t["when"]),
                RewardSpec(**t["reward"]),
            )
            for t in d["tiers"]
        ),
        status=PromotionStatus(d["status"]),
        ever_active=d["ever_active"],
        created_at=_dt(d["created_at"]),
    )


def _campaign_from(raw: bytes) -> Campaign:
    d = _load(raw)
    target = d["target"]
    return Campaign(
        id=d["id"],
        type=d["type"],
        promo_code=d["promo_code"],
        action_id=d["action_id"],
        action_name=d["action_name"],
        status=CampaignStatus(d["status"]),
        created_at=_dt(d["created_at"]),
        target=None
        if target is None
        else TargetGroup(
            target["size"],
            target["offset"],
            tuple(_condition_from(c) for c in target["where"]),
            tuple(target.get("ids", ())),
        ),
        clearance_window_s=d["clearance_window_s"],
        execute_at=_opt_dt(d["execute_at"]),
        series_id=d["series_id"],
        trigger=d["trigger"],
        executed_at=_opt_dt(d["executed_at"]),
        clearance_required_by=_opt_dt(d["clearance_required_by"]),
        finished_at=_opt_dt(d["finished_at"]),
        channels=tuple(d.get("channels", ())),
    )


def _allocation_from(raw: bytes) -> Allocation:
    d = _load(raw)
    return Allocation(
        id=d["id"],
        promotion_id=d["promotion_id"],
        campaign_id=d["campaign_id"],
        customer_id=d["customer_id"],
        event_id=d["event_id"],
        tier_id=d["tier_id"],
        tier_name=d["tier_name"],
        reward=Reward(**d["reward"]),
        status=AllocationStatus(d["status"]),
        reserved_at=_dt(d["reserved_at"]),
        period_keys=tuple(d["period_keys"]),
        redeemed=d["redeemed"],
        redeemed_amount=d["redeemed_amount"],
    )


def _stats_from(raw: bytes) -> CampaignStats:
    d = _load(raw)
    return CampaignStats(
        targeted=d["targeted"],
        fetch_calls=d["fetch_calls"],
        fetched=d["fetched"],
        validated=d["validated"],
        invalid=d["invalid"],
        approved=d["approved"],
        released=d["released"],
        approvals_refused=d["approvals_refused"],
        redeemed=d["redeemed"],
        redemptions_refused=d["redemptions_refused"],
        events_emitted=d["events_emitted"],
        sent=d["sent"],
        violations=d["violations"],
        examples=tuple(Violation(v["code"], _dt(v["at"]), v["detail"]) for v in d["examples"]),
    )


def _event_from(raw: bytes) -> TriggeredEvent:
    d = _load(raw)
    return TriggeredEvent(d["id"], d["campaign_id"], d["customer_id"], d["context"], _dt(d["at"]))


def _outbox_from(seq: int, raw: bytes) -> OutboxEvent:
    d = _load(raw)
    return OutboxEvent(d["id"], d["kind"], d["campaign_id"], d["body"], _dt(d["created_at"]), seq)


def _event_key(event_id: str | None) -> str:
    return "" if event_id is None else "=" + event_id


def _processed_from(row: tuple[int, int, str | None, bytes | None]) -> ProcessedList:
    start, stop, typecode, blob = row
    if blob is None or typecode is None:
        return ProcessedList(start, stop)
    if typecode not in _INT_CODES:
        raise ValueError(f"processed list stored with array typecode {typecode!r}")
    indices = array(cast(_IntCode, typecode))
    indices.frombytes(blob)
    return ProcessedList(start, stop, indices)


# -- transaction ---------------------------------------------------------------------------
class SqliteTx:
    """One tenant's state inside one SQLite transaction: every call is one statement or two."""

    def __init__(self, conn: sqlite3.Connection, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._c = conn
        # Set by any write of tenant-scoped rows: if the tenant record is still missing at
        # commit those rows are dropped, as the in-memory store drops a tenant never created.
        self.wrote_tenant_rows = False
        # The usernames of the tenant record last read, so `put_tenant` rewrites the
        # username index only when they changed (most writes change the clock or logins).
        self._users_read: frozenset[str] | None = None

    def _one(self, sql: str, params: tuple[Any, ...]) -> Any:
        return self._c.execute(sql, params).fetchone()

    def _write(self, sql: str, params: tuple[Any, ...]) -> None:
        self.wrote_tenant_rows = True
        self._c.execute(sql, params)

    # -- tenant ------------------------------------------------------------------------
    def tenant(self) -> Tenant | None:
        row = self._one(_TENANT_GET, (self.tenant_id,))
        if row is None:
            return None
        tenant = _tenant_from(row[0])
        self._users_read = frozenset(tenant.users)
        return tenant

    def tenant_count(self) -> int:
        return int(self._one(_TENANT_COUNT, ())[0])

    def tenant_exists(self) -> bool:
        return self._one(_TENANT_EXISTS, (self.tenant_id,)) is not None

    def next_tenant_number(self) -> int:
        # Inside this transaction (BEGIN IMMEDIATE holds the file's write lock), so two
        # processes creating tenants at once never draw the same number.
        number: int = self._one(_NEXT_TENANT_NUMBER, (FIRST_TENANT_NUMBER,))[0]
        return number

    def put_tenant(self, tenant: Tenant) -> None:
        self._c.execute(_TENANT_PUT, (self.tenant_id, _dump(tenant, tenant.clock.offset_s)))
        users = frozenset(tenant.users)
        if users != self._users_read:
            self._c.execute(_USERS_CLEAR, (self.tenant_id,))
            for username in tenant.users:
                self._c.execute(_USER_PUT, (username, self.tenant_id))
            self._users_read = users

    def add_key(self, key: str, role: Role) -> None:
        self._c.execute(_KEY_PUT, (key, self.tenant_id, role))

    def keys(self) -> list[tuple[str, Role]]:
        rows = self._c.execute(_KEYS_OF, (self.tenant_id,)).fetchall()
        return [(key, cast(Role, role)) for key, role in rows]

    def put_token(self, token: Token) -> None:
        self._c.execute(_TOKEN_PUT, (token.token, token.tenant_id, token.role, token.last_used))

    # -- ledger ------------------------------------------------------------------------
    def usage(self, promotion_id: str) -> Usage:
        row = self._one(_USAGE_GET, (self.tenant_id, promotion_id))
        return _NO_USAGE if row is None else Usage(*row)

    def set_usage(self, promotion_id: str, usage: Usage) -> None:
        self._write(
            _USAGE_PUT,
            (
                self.tenant_id,
                promotion_id,
                usage.budget_reserved,
                usage.budget_committed,
                usage.budget_released,
                usage.audience_reserved,
                usage.audience_committed,
                usage.redemptions,
                usage.redeemed_amount,
            ),
        )

    def holding(self, promotion_id: str, customer_id: str) -> Holding:
        row = self._one(_HOLDING_GET, (self.tenant_id, promotion_id, customer_id))
        return _NO_HOLDING if row is None else Holding(row[0], row[1])

    def set_holding(self, promotion_id: str, customer_id: str, holding: Holding) -> None:
        self._write(
            _HOLDING_PUT,
            (self.tenant_id, promotion_id, customer_id, holding.reserved, holding.committed),
        )

    def holdings(self, promotion_id: str, customer_ids: Sequence[str]) -> list[Holding]:
        return [self.holding(promotion_id, customer_id) for customer_id in customer_ids]

    def set_holdings(
        self, promotion_id: str, customer_ids: Sequence[str], holdings: Sequence[Holding]
    ) -> None:
        # Row by row: `executemany` measured no faster here and held more memory at peak
        # (docs/decisions.md, "Ledger"); SQL's transaction already makes the batch one.
        for customer_id, holding in zip(customer_ids, holdings, strict=True):
            self.set_holding(promotion_id, customer_id, holding)

    def period_count(self, promotion_id: str, period_key: str) -> int:
        row = self._one(_PERIOD_GET, (self.tenant_id, promotion_id, period_key))
        return 0 if row is None else int(row[0])

    def add_period_count(self, promotion_id: str, period_key: str, delta: int) -> None:
        self._write(_PERIOD_ADD, (self.tenant_id, promotion_id, period_key, delta))

    def allocation(self, allocation_id: str) -> Allocation | None:
        row = self._one(_ALLOCATION_GET, (self.tenant_id, allocation_id))
        return None if row is None else _allocation_from(row[0])

    def allocation_by_key(
        self, campaign_id: int, customer_id: str, event_id: str | None
    ) -> Allocation | None:
        row = self._one(
            _ALLOCATION_BY_KEY, (self.tenant_id, campaign_id, customer_id, _event_key(event_id))
        )
        return None if row is None else _allocation_from(row[0])

    def allocations_by_keys(
        self, campaign_id: int, customer_ids: Sequence[str]
    ) -> list[Allocation | None]:
        return [self.allocation_by_key(campaign_id, cid, None) for cid in customer_ids]

    def allocations_made(self, campaign_id: int) -> int:
        row = self._one(_ALLOCATIONS_MADE, (self.tenant_id, campaign_id))
        return 0 if row is None else int(row[0])

    def put_allocation(self, allocation: Allocation) -> None:
        tid = self.tenant_id
        # A new allocation is reserved, or an approval record; a later write of one (a
        # status change, a redemption) need not touch the numbers.
        new = allocation.status is AllocationStatus.RESERVED or allocation.is_approval_record
        numbered = allocation_number(allocation.id) if new else None
        if numbered is not None and numbered[1] == allocation.campaign_id:
            self._c.execute(_ALLOCATION_NUMBER_PUT, (tid, allocation.campaign_id, numbered[2]))
        self._write(
            _ALLOCATION_PUT,
            (tid, allocation.id, allocation.campaign_id, allocation.status, _dump(allocation)),
        )
        self._c.execute(
            _ALLOCATION_KEY_PUT,
            (
                tid,
                allocation.campaign_id,
                allocation.customer_id,
                _event_key(allocation.event_id),
                allocation.id,
            ),
        )

    def set_statuses(self, allocations: Sequence[Allocation], status: AllocationStatus) -> None:
        self.put_allocations([allocation.with_status(status) for allocation in allocations])

    def put_allocations(self, allocations: Sequence[Allocation]) -> None:
        for allocation in allocations:  # row by row, as `set_holdings`
            self.put_allocation(allocation)

    def put_reservations(self, reservations: NewReservations) -> None:
        self.put_allocations(reservations.records)

    def committed_allocations(self, campaign_id: int) -> list[Allocation]:
        rows = self._c.execute(_ALLOCATIONS_COMMITTED_ROWS, (self.tenant_id, campaign_id))
        return [_allocation_from(row[0]) for row in rows.fetchall()]

    def open_allocations(self, campaign_id: int) -> list[Allocation]:
        rows = self._c.execute(_ALLOCATIONS_OPEN, (self.tenant_id, campaign_id)).fetchall()
        return [_allocation_from(row[0]) for row in rows]

    def committed_count(self, campaign_id: int) -> int:
        return int(self._one(_ALLOCATIONS_COMMITTED, (self.tenant_id, campaign_id))[0])

    def event(self, event_id: str) -> TriggeredEvent | None:
        row = self._one(_EVENT_GET, (self.tenant_id, event_id))
        return None if row is None else _event_from(row[0])

    def put_event(self, event: TriggeredEvent) -> None:
        self._write(_EVENT_PUT, (self.tenant_id, event.id, _dump(event, event.context)))

    # -- promotions and campaigns ------------------------------------------------------
    def promotion(self, promotion_id: str) -> Promotion | None:
        row = self._one(_PROMOTION_GET, (self.tenant_id, promotion_id))
        return None if row is None else _promotion_from(row[0])

    def promotion_by_code(self, promocode: str) -> Promotion | None:
        row = self._one(_PROMOTION_BY_CODE, (self.tenant_id, promocode))
        return None if row is None else _promotion_from(row[0])

    def promotions(self) -> list[Promotion]:
        rows = self._c.execute(_PROMOTIONS, (self.tenant_id,)).fetchall()
        return [_promotion_from(row[0]) for row in rows]

    def put_promotion(self, promotion: Promotion) -> None:
        tid = self.tenant_id
        values = _conditions(c for tier in promotion.tiers for c in tier.when)
        self._write(_PROMOTION_PUT, (tid, promotion.id, _dump(promotion, *values)))
        # Codes are only ever added, never taken back (as the in-memory store's index).
        for code in promotion.promocodes:
            self._c.execute(_PROMOCODE_PUT, (tid, code, promotion.id))

    def campaign(self, campaign_id: int) -> Campaign | None:
        row = self._one(_CAMPAIGN_GET, (self.tenant_id, campaign_id))
        return None if row is None else _campaign_from(row[0])

    def campaigns(self) -> list[Campaign]:
        rows = self._c.execute(_CAMPAIGNS, (self.tenant_id,)).fetchall()
        return [_campaign_from(row[0]) for row in rows]

    def put_campaign(self, campaign: Campaign) -> None:
        values = _conditions(campaign.target.where) if campaign.target else []
        self._write(_CAMPAIGN_PUT, (self.tenant_id, campaign.id, _dump(campaign, *values)))

    def processed(self, campaign_id: int) -> ProcessedList | None:
        # Not cached: `reset()` in another process may drop it, and a slice is three ints.
        row = self._one(_PROCESSED_GET, (self.tenant_id, campaign_id))
        return None if row is None else _processed_from(row)

    def put_processed(self, campaign_id: int, processed: ProcessedList) -> None:
        indices = processed.indices
        self._write(
            _PROCESSED_PUT,
            (
                self.tenant_id,
                campaign_id,
                processed.start,
                processed.stop,
                None if indices is None else indices.typecode,
                None if indices is None else indices.tobytes(),
            ),
        )

    def stats(self, campaign_id: int) -> CampaignStats:
        row = self._one(_STATS_GET, (self.tenant_id, campaign_id))
        return CampaignStats() if row is None else _stats_from(row[0])

    def put_stats(self, campaign_id: int, stats: CampaignStats) -> None:
        self._write(_STATS_PUT, (self.tenant_id, campaign_id, _dump(stats)))

    # -- outbox ------------------------------------------------------------------------
    def append_outbox(self, event: OutboxEvent) -> OutboxEvent:
        """Store the event as the tenant's next `seq` (1, 2, …; 1 again after `reset`)."""
        tid = self.tenant_id
        self.wrote_tenant_rows = True
        # fetchall: a RETURNING statement must run to its end before COMMIT.
        [(seq,)] = self._c.execute(
            _OUTBOX_APPEND,
            (tid, event.id, event.kind, event.campaign_id, _dump(event, event.body), tid),
        ).fetchall()
        return OutboxEvent(
            event.id, event.kind, event.campaign_id, event.body, event.created_at, int(seq)
        )

    def outbox(
        self, *, after: int = 0, limit: int = 100, kind: str | None = None
    ) -> Sequence[OutboxEvent]:
        limit = max(limit, 1)  # the in-memory store returns one event even for limit 0
        if kind is None:
            rows = self._c.execute(_OUTBOX_AFTER, (self.tenant_id, after, limit))
        else:
            rows = self._c.execute(_OUTBOX_KIND_AFTER, (self.tenant_id, kind, after, limit))
        return [_outbox_from(seq, data) for seq, data in rows.fetchall()]

    # -- chosen customers ----------------------------------------------------------------
    def customers(self) -> list[tuple[str, dict[str, Any]]]:
        rows = self._c.execute(_CUSTOMERS_OF, (self.tenant_id,)).fetchall()
        return [(cid, _load(raw)) for cid, raw in rows]

    def put_customer(self, customer_id: str, attributes: Mapping[str, Any]) -> None:
        self._write(_CUSTOMER_PUT, (self.tenant_id, customer_id, _dump(dict(attributes))))

    def clear_customers(self) -> None:
        self._c.execute(_CUSTOMERS_CLEAR, (self.tenant_id,))

    def reset(self) -> None:
        """Forget everything but the tenant record and its keys (and tokens)."""
        for sql in _DELETE_TENANT_ROWS:
            self._c.execute(sql, (self.tenant_id,))


# -- store ---------------------------------------------------------------------------------
class _Connection(sqlite3.Connection):
    """A thread's connection. `guard` is held while the thread uses it, so `close()` from
    another thread never closes it under a running statement (sqlite3 would crash); it can
    be weakly referenced, so the store's list of open connections does not keep a finished
    thread's connection alive."""

    guard: threading.RLock
    generation: int


class SqliteStore:
    """Every tenant's state in one SQLite file, shared safely by several server processes."""

    # Transactions may wait up to the busy timeout for another process's write lock.
    blocking = True

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()  # .conn, and .depth: transactions open on the thread
        self._lock = threading.Lock()
        self._generation = 0  # bumped by close(): threads then open fresh connections
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._create_schema()

    # -- connections -------------------------------------------------------------------
    def _connect(self) -> _Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
            check_same_thread=False,  # close() may close it from another thread
            cached_statements=256,
            factory=_Connection,
        )
        conn.guard = threading.RLock()
        conn.generation = self._generation
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode, NORMAL survives a crash of the process (not of the machine's power).
        conn.execute("PRAGMA synchronous = NORMAL")
        with self._lock:
            self._open.add(conn)
        return conn

    def _conn(self) -> _Connection:
        """This thread's connection; a fresh one after `close()`, except in the middle of a
        transaction, which finishes on the connection it began on."""
        local = self._local
        conn: _Connection | None = getattr(local, "conn", None)
        if conn is None or (conn.generation != self._generation and not getattr(local, "depth", 0)):
            if conn is not None:  # ours and idle: close() left it because it was in use
                conn.close()
                with self._lock:
                    self._open.discard(conn)
            conn = local.conn = self._connect()
        return conn

    def _create_schema(self) -> None:
        conn = self._conn()
        with conn.guard:
            conn.execute("BEGIN IMMEDIATE")  # several processes may start on a new file
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise RuntimeError(
                        f"{self.path} has schema version {version}; "
                        f"this optisim knows {SCHEMA_VERSION}"
                    )
                for statement in _SCHEMA:
                    conn.execute(statement)
                _backfill_users(conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _fetchone(self, sql: str, params: tuple[Any, ...]) -> Any:
        """One statement outside a transaction (autocommit; WAL readers never wait)."""
        conn = self._conn()
        with conn.guard:
            return conn.execute(sql, params).fetchone()

    # -- Store -------------------------------------------------------------------------
    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[SqliteTx]:
        """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` when the block raises. Opened inside
        another transaction of this store on the same thread, it is a SAVEPOINT instead:
        its writes land with the outer transaction, and only they are undone if it raises."""
        conn = self._conn()
        local = self._local
        depth: int = getattr(local, "depth", 0)
        savepoint = f"optisim_{depth}"
        with conn.guard:
            if depth:
                conn.execute(f"SAVEPOINT {savepoint}")
            else:
                if conn.in_transaction:  # left open by a rollback that failed: start clean
                    conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
            local.depth = depth + 1
            try:
                tx = SqliteTx(conn, tenant_id)
                yield tx
                _drop_if_no_tenant(tx)
                conn.execute(f"RELEASE {savepoint}" if depth else "COMMIT")
            except BaseException:
                if depth:
                    conn.execute(f"ROLLBACK TO {savepoint}")
                    conn.execute(f"RELEASE {savepoint}")
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                local.depth = depth

    def lookup_key(self, key: str) -> tuple[str, Role] | None:
        row = self._fetchone(_KEY_GET, (key,))
        return None if row is None else (row[0], cast(Role, row[1]))

    def lookup_token(self, token: str) -> Token | None:
        row = self._fetchone(_TOKEN_GET, (token,))
        return None if row is None else Token(row[0], row[1], cast(Role, row[2]), row[3])

    def touch_token(self, token: str, last_used: float) -> None:
        self._fetchone(_TOKEN_TOUCH, (last_used, token))

    def purge_tokens(self, used_before: float) -> int:
        conn = self._conn()
        with conn.guard:
            return conn.execute(_TOKENS_PURGE, (used_before,)).rowcount

    def user_tenant(self, username: str) -> str | None:
        row = self._fetchone(_USER_GET, (username,))
        return None if row is None else str(row[0])

    def tenant_count(self) -> int:
        return int(self._fetchone(_TENANT_COUNT, ())[0])

    def delete_tenant(self, tenant_id: str) -> list[str] | None:
        with self.transaction(tenant_id) as tx:
            if not tx.tenant_exists():
                return None
            conn = tx._c
            credentials = [row[0] for row in conn.execute(_CREDENTIALS_OF, (tenant_id,))]
            for sql in _DELETE_TENANT:
                conn.execute(sql, (tenant_id,))
            return credentials

    def tenant_ids(self) -> list[str]:
        conn = self._conn()
        with conn.guard:
            return [row[0] for row in conn.execute(_TENANT_IDS).fetchall()]

    def outbox_since(self, mark: int) -> tuple[int, list[str]]:
        """The outbox's rowids grow with every append (from any process), so the newest
        rowid is the mark: one index lookup when nothing was written. When rows at the
        top were deleted (a reset), the mark fell back: every tenant with rows is
        reported once (the relay's cursors make that harmless)."""
        conn = self._conn()
        with conn.guard:
            (top,) = conn.execute("SELECT coalesce(max(rowid), 0) FROM outbox").fetchone()
            if top == mark:
                return mark, []
            since = mark if top > mark else 0
            rows = conn.execute(
                "SELECT DISTINCT tenant_id FROM outbox WHERE rowid>?", (since,)
            ).fetchall()
            return int(top), [row[0] for row in rows]

    def close(self) -> None:
        """Close the connections this store opened. One in use by another thread right
        now is left to that thread, which swaps it for a fresh one when it next calls; a
        later call from any thread opens a new connection."""
        with self._lock:
            self._generation += 1
            conns = list(self._open)
        for conn in conns:
            if conn.guard.acquire(blocking=False):
                try:
                    conn.close()
                finally:
                    conn.guard.release()
                with self._lock:
                    self._open.discard(conn)


def _backfill_users(conn: sqlite3.Connection) -> None:
    """A file written before the username index gets it from its tenant records (the
    first tenant to declare a username keeps it: the one a login used to find first)."""
    if conn.execute("SELECT 1 FROM legacy_users LIMIT 1").fetchone() is not None:
        return
    for (raw,) in conn.execute("SELECT data FROM tenants ORDER BY rowid").fetchall():
        tenant = _load(raw)
        for username in tenant.get("users", {}):
            conn.execute(_USERS_BACKFILL, (username, tenant["id"]))


def _drop_if_no_tenant(tx: SqliteTx) -> None:
    """A transaction that wrote tenant rows but never created the tenant leaves nothing
    behind (keys and tokens stay, as in the in-memory store)."""
    if tx.wrote_tenant_rows and not tx.tenant_exists():
        tx.reset()
        tx.clear_customers()
