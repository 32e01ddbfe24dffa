"""In-memory store: dicts per tenant, one lock per tenant, and an undo log per transaction.

Rule functions write as they go; when one raises, the undo log puts every dict back, so a
refused batch leaves no trace (the same all-or-nothing the SQLite store gets from SQL).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any, cast

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import (
    APPROVAL_RECORD,
    RESERVATION,
    Allocation,
    AllocationStatus,
    Campaign,
    CampaignStats,
    Holding,
    NewReservations,
    OutboxEvent,
    Promotion,
    Role,
    Tenant,
    Token,
    TriggeredEvent,
    Usage,
    allocation_number,
)
from simulator.store.base import FIRST_TENANT_NUMBER
from simulator.store.columns import (
    ABSENT,
    COMMITTED,
    NO_HOLDING,
    RESERVED,
    STATUS_CODE,
    TRUNCATE,
    Book,
    Holdings,
    Log,
    Numbering,
    Recent,
)

_NO_USAGE = Usage()


@dataclass
class _TenantData:
    tenant: Tenant | None = None
    promotions: dict[str, Promotion] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # promocode → promotion id
    usage: dict[str, Usage] = field(default_factory=dict)
    # The ledger in columns (`simulator.store.columns`): holdings per promotion, allocations
    # per campaign as rows, and the few whose ids are not their campaign's numbers whole.
    numbering: Numbering = field(default_factory=Numbering)
    recent: Recent = field(default_factory=Recent)  # records written lately, as written
    holdings: dict[str, Holdings] = field(default_factory=dict)
    periods: dict[tuple[str, str], int] = field(default_factory=dict)
    books: dict[int, Book] = field(default_factory=dict)
    loose: dict[str, Allocation] = field(default_factory=dict)
    loose_open: dict[int, dict[str, None]] = field(default_factory=dict)
    # campaign id → the highest number given to a loose allocation numbered as the
    # campaign's (beyond its rows): `allocations_made` counts it, as the SQLite store does
    numbered_beyond: dict[int, int] = field(default_factory=dict)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    processed: dict[int, ProcessedList] = field(default_factory=dict)
    stats: dict[int, CampaignStats] = field(default_factory=dict)
    events: dict[str, TriggeredEvent] = field(default_factory=dict)
    outbox: list[OutboxEvent] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # chosen, in order
    # The tenant's own API keys and login tokens, so listing and deleting them never scans
    # every tenant's (a scan made creating the 10,000th tenant cost 5x the first).
    keys: dict[str, Role] = field(default_factory=dict)
    tokens: dict[str, None] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)


_ID, _CAMPAIGN = attrgetter("id"), attrgetter("campaign_id")


class MemoryTx:
    """A transaction over one tenant's dicts; see module docstring for rollback."""

    def __init__(self, store: MemoryStore, tenant_id: str, data: _TenantData) -> None:
        self.tenant_id = tenant_id
        self._store = store
        self._d = data
        # (table, key, old value or ABSENT), or a callable for the rare special writes;
        # tuples, not closures: a 10,000-item approval logs ~20,000 of them.
        self._undo: Log = []
        self._grown: set[int] = set()  # the books this transaction added rows to
        # allocation id → its row, for the rows this transaction read or added: writing
        # one back (a status change) then needs no parsing of its id
        self._rows: dict[str, int] = {}

    # -- undo-logged primitive writes ------------------------------------------------
    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        self._undo.append((table, key, table.get(key, ABSENT)))
        table[key] = value

    def _del(self, table: dict[Any, Any], key: Any) -> None:
        if key in table:
            self._undo.append((table, key, table.pop(key)))

    def rollback(self) -> None:
        while self._undo:
            entry = self._undo.pop()
            if callable(entry):
                entry()
                continue
            table, key, old = entry
            if old is ABSENT:
                table.pop(key, None)
            elif key is TRUNCATE:
                table.truncate(old)
            else:
                table[key] = old

    # -- tenant ------------------------------------------------------------------------
    def tenant(self) -> Tenant | None:
        return self._d.tenant

    def next_tenant_number(self) -> int:
        return self._store.next_tenant_number()

    def tenant_count(self) -> int:
        return self._store.tenant_count()

    def put_tenant(self, tenant: Tenant) -> None:
        old = self._d.tenant
        store = self._store
        self._undo.append(lambda: setattr(self._d, "tenant", old))
        self._d.tenant = tenant
        if old is None:
            store._adjust_count(1)
            self._undo.append(lambda: store._adjust_count(-1))
        old_users = old.users if old is not None else {}
        if old_users is not tenant.users:  # the legacy username index follows the record
            for username in old_users.keys() - tenant.users.keys():
                if store._users.get(username) == self.tenant_id:
                    self._del(store._users, username)
            for username in tenant.users.keys() - old_users.keys():
                self._set(store._users, username, self.tenant_id)

    def add_key(self, key: str, role: Role) -> None:
        self._set(self._store._keys, key, (self.tenant_id, role))
        self._set(self._d.keys, key, role)

    def keys(self) -> list[tuple[str, Role]]:
        return list(self._d.keys.items())

    def put_token(self, token: Token) -> None:
        self._set(self._store._tokens, token.token, token)
        self._set(self._d.tokens, token.token, None)

    # -- ledger ------------------------------------------------------------------------
    def usage(self, promotion_id: str) -> Usage:
        return self._d.usage.get(promotion_id, _NO_USAGE)

    def set_usage(self, promotion_id: str, usage: Usage) -> None:
        self._set(self._d.usage, promotion_id, usage)

    def holding(self, promotion_id: str, customer_id: str) -> Holding:
        table = self._d.holdings.get(promotion_id)
        if table is None:
            return NO_HOLDING
        return table.get(self._d.numbering.number(customer_id), customer_id)

    def _holdings(self, promotion_id: str) -> Holdings:
        table = self._d.holdings.get(promotion_id)
        if table is None:
            table = Holdings()
            self._set(self._d.holdings, promotion_id, table)
        return table

    def set_holding(self, promotion_id: str, customer_id: str, holding: Holding) -> None:
        number = self._d.numbering.number(customer_id)
        self._holdings(promotion_id).set(number, customer_id, holding, self._undo)

    def holdings(self, promotion_id: str, customer_ids: Sequence[str]) -> list[Holding]:
        if len(customer_ids) == 1:  # a one-context call's, or one event's: no batch set-up
            return [self.holding(promotion_id, customer_ids[0])]
        table = self._d.holdings.get(promotion_id)
        if table is None:
            return [NO_HOLDING] * len(customer_ids)
        return table.get_many(self._d.numbering.numbers(customer_ids), customer_ids)

    def set_holdings(
        self, promotion_id: str, customer_ids: Sequence[str], holdings: Sequence[Holding]
    ) -> None:
        if len(customer_ids) == 1:  # a one-context call's, or one event's: no batch set-up
            self.set_holding(promotion_id, customer_ids[0], holdings[0])
            return
        numbers = self._d.numbering.numbers(customer_ids)
        self._holdings(promotion_id).set_many(numbers, customer_ids, holdings, self._undo)

    def period_count(self, promotion_id: str, period_key: str) -> int:
        return self._d.periods.get((promotion_id, period_key), 0)

    def add_period_count(self, promotion_id: str, period_key: str, delta: int) -> None:
        key = (promotion_id, period_key)
        self._set(self._d.periods, key, self._d.periods.get(key, 0) + delta)

    def allocation(self, allocation_id: str) -> Allocation | None:
        loose = self._d.loose.get(allocation_id)
        if loose is not None:
            return loose
        numbered = allocation_number(allocation_id)
        if numbered is None:
            return None
        prefix, campaign_id, number = numbered
        book = self._d.books.get(campaign_id)
        if book is None or not 0 < number <= len(book) or book.prefix(number - 1) != prefix:
            return None
        return self._record(book, number - 1)

    def _record(self, book: Book, row: int, customer_id: str | None = None) -> Allocation:
        allocation = book.record(row, customer_id)
        self._rows[allocation.id] = row
        return allocation

    def allocation_by_key(
        self, campaign_id: int, customer_id: str, event_id: str | None
    ) -> Allocation | None:
        book = self._d.books.get(campaign_id)
        ref = None if book is None else book.row_of(customer_id, event_id)
        if ref is None or book is None:
            return None
        if isinstance(ref, str):
            return self._d.loose[ref]
        return self._record(book, ref, customer_id)

    def allocations_by_keys(
        self, campaign_id: int, customer_ids: Sequence[str]
    ) -> list[Allocation | None]:
        book = self._d.books.get(campaign_id)
        if book is None:
            return [None] * len(customer_ids)
        refs = book.rows_of(customer_ids)
        found = book.records(refs, customer_ids)
        # as `_record`: a status change finds its row
        if not self._d.loose and None not in refs:  # every ref a row: paired in C
            self._rows.update(zip(map(_ID, found), cast(list[int], refs), strict=True))
        else:
            self._rows.update(
                [
                    (a.id, r)
                    for a, r in zip(found, refs, strict=True)
                    if a is not None and type(r) is int
                ]
            )
        if self._d.loose:
            loose = self._d.loose
            for i, ref in enumerate(refs):
                if isinstance(ref, str):
                    found[i] = loose[ref]
        return found

    def allocations_made(self, campaign_id: int) -> int:
        book = self._d.books.get(campaign_id)
        made = 0 if book is None else len(book)
        beyond = self._d.numbered_beyond
        return max(made, beyond.get(campaign_id, 0)) if beyond else made

    def put_allocation(self, allocation: Allocation) -> None:
        self.put_allocations((allocation,))

    def set_statuses(self, allocations: Sequence[Allocation], status: AllocationStatus) -> None:
        """A row read or added in this transaction changes its status byte alone; any
        other allocation is written back whole."""
        rows, books, log = self._rows, self._d.books, self._undo
        code = STATUS_CODE[status]
        if len(allocations) == 1:  # one event's approval: no batch set-up
            (allocation,) = allocations
            row = rows.get(allocation.id)
            if row is not None:
                books[allocation.campaign_id].set_status(row, code, log)
                return
        found = list(map(rows.get, map(_ID, allocations)))
        campaigns = set(map(_CAMPAIGN, allocations))
        if None not in found and len(campaigns) == 1:  # the usual batch: one campaign's rows
            books[campaigns.pop()].set_statuses(cast(list[int], found), code, log)
            return
        book: Book | None = None
        whole: list[Allocation] = []
        for allocation, row in zip(allocations, found, strict=True):
            if row is None:
                whole.append(allocation.with_status(status))
                continue
            if book is None or book.campaign_id != allocation.campaign_id:
                book = books[allocation.campaign_id]
            book.set_status(row, code, log)
        if whole:
            self.put_allocations(whole)

    def put_allocations(self, allocations: Sequence[Allocation]) -> None:
        """Each allocation numbered as its campaign's next row is appended, one of an
        existing row updates it, and any other (an id of another shape) is kept loose."""
        d, log, rows = self._d, self._undo, self._rows
        books, loose = d.books, d.loose
        book: Book | None = None
        for allocation in allocations:
            aid, campaign_id = allocation.id, allocation.campaign_id
            if book is None or book.campaign_id != campaign_id:  # a batch is one campaign's
                book = books.get(campaign_id)
                if book is None:
                    book = Book(campaign_id, d.numbering, d.recent)
                    self._set(books, campaign_id, book)
            row = rows.get(aid)
            if row is not None:  # read or added by this transaction: its row is known
                book.update(row, allocation, log)
                continue
            prefix = APPROVAL_RECORD if allocation.is_approval_record else RESERVATION
            length = len(book.status)
            if aid == book.allocation_id(prefix, length) and (not loose or aid not in loose):
                rows[aid] = length
                book.append(allocation, prefix, log, self._grown)
                continue
            numbered = None if aid in loose else allocation_number(aid)
            if numbered is not None and numbered[1] == campaign_id:
                prefix, row = numbered[0], numbered[2] - 1
                if 0 <= row < len(book) and book.prefix(row) == prefix:
                    book.update(row, allocation, log)
                    continue
            self._put_loose(book, allocation)

    def put_reservations(self, reservations: NewReservations) -> None:
        """A batch numbered as its campaign's next rows, none of them kept loose (a
        validation's usually is), is appended column by column; any other as
        `put_allocations` would."""
        records, d = reservations.records, self._d
        if len(records) > 1:
            campaign_id = records[0].campaign_id
            book = d.books.get(campaign_id)
            if book is None and reservations.first == 1:  # the campaign's first rows
                book = Book(campaign_id, d.numbering, d.recent)
                self._set(d.books, campaign_id, book)
            if (
                book is not None
                and reservations.first == len(book) + 1
                and (not d.loose or d.loose.keys().isdisjoint([a.id for a in records]))
            ):
                book.extend(reservations, self._undo, self._grown)
                return
        self.put_allocations(records)

    def _put_loose(self, book: Book, allocation: Allocation) -> None:
        d = self._d
        old = d.loose.get(allocation.id)
        self._set(d.loose, allocation.id, allocation)
        if old is None:  # a record's key never changes: a new status leaves it as it is
            book.key(allocation.customer_id, allocation.event_id, allocation.id, self._undo)
            # a number beyond the rows is taken: the next one must come after it (numbered
            # so, it would be mistaken for this one)
            numbered = allocation_number(allocation.id)
            new = allocation.status is AllocationStatus.RESERVED or allocation.is_approval_record
            if (
                new
                and numbered is not None
                and numbered[1] == book.campaign_id
                and numbered[2] > d.numbered_beyond.get(book.campaign_id, 0)
            ):
                self._set(d.numbered_beyond, book.campaign_id, numbered[2])
        open_ids = d.loose_open.get(book.campaign_id)
        if open_ids is None:
            open_ids = {}
            self._set(d.loose_open, book.campaign_id, open_ids)
        if allocation.status is AllocationStatus.RESERVED:
            self._set(open_ids, allocation.id, None)
        else:
            self._del(open_ids, allocation.id)

    def committed_allocations(self, campaign_id: int) -> list[Allocation]:
        # the dashboard's read: scans the campaign's status column (and loose records)
        book = self._d.books.get(campaign_id)
        rows = [] if book is None else [self._record(book, r) for r in book.rows(COMMITTED)]
        return rows + [
            a
            for a in self._d.loose.values()
            if a.campaign_id == campaign_id and a.status is AllocationStatus.COMMITTED
        ]

    def open_allocations(self, campaign_id: int) -> list[Allocation]:
        book = self._d.books.get(campaign_id)
        rows = [] if book is None else [self._record(book, r) for r in book.rows(RESERVED)]
        loose = self._d.loose
        return rows + [loose[i] for i in self._d.loose_open.get(campaign_id, {})]

    def committed_count(self, campaign_id: int) -> int:
        book = self._d.books.get(campaign_id)
        rows = 0 if book is None else book.count(COMMITTED)
        return rows + sum(
            1
            for a in self._d.loose.values()
            if a.campaign_id == campaign_id and a.status is AllocationStatus.COMMITTED
        )

    def event(self, event_id: str) -> TriggeredEvent | None:
        return self._d.events.get(event_id)

    def put_event(self, event: TriggeredEvent) -> None:
        self._set(self._d.events, event.id, event)

    # -- promotions and campaigns ------------------------------------------------------
    def promotion(self, promotion_id: str) -> Promotion | None:
        return self._d.promotions.get(promotion_id)

    def promotion_by_code(self, promocode: str) -> Promotion | None:
        pid = self._d.codes.get(promocode)
        return None if pid is None else self._d.promotions.get(pid)

    def promotions(self) -> list[Promotion]:
        return list(self._d.promotions.values())

    def put_promotion(self, promotion: Promotion) -> None:
        self._set(self._d.promotions, promotion.id, promotion)
        for code in promotion.promocodes:
            self._set(self._d.codes, code, promotion.id)

    def campaign(self, campaign_id: int) -> Campaign | None:
        return self._d.campaigns.get(campaign_id)

    def campaigns(self) -> list[Campaign]:
        return list(self._d.campaigns.values())

    def put_campaign(self, campaign: Campaign) -> None:
        self._set(self._d.campaigns, campaign.id, campaign)

    def processed(self, campaign_id: int) -> ProcessedList | None:
        return self._d.processed.get(campaign_id)

    def put_processed(self, campaign_id: int, processed: ProcessedList) -> None:
        self._set(self._d.processed, campaign_id, processed)

    def stats(self, campaign_id: int) -> CampaignStats:
        return self._d.stats.get(campaign_id) or CampaignStats()

    def put_stats(self, campaign_id: int, stats: CampaignStats) -> None:
        self._set(self._d.stats, campaign_id, stats)

    # -- outbox ------------------------------------------------------------------------
    def append_outbox(self, event: OutboxEvent) -> OutboxEvent:
        outbox = self._d.outbox
        stored = replace(event, seq=(outbox[-1].seq if outbox else 0) + 1)
        outbox.append(stored)
        self._undo.append(outbox.pop)
        # Before the commit, harmlessly: the relay reads the outbox inside a transaction
        # of its own, which waits for this one (and finds nothing if it rolled back).
        self._store.outbox_written(self.tenant_id)
        return stored

    def outbox(
        self, *, after: int = 0, limit: int = 100, kind: str | None = None
    ) -> Sequence[OutboxEvent]:
        out: list[OutboxEvent] = []
        for event in self._d.outbox[after:]:  # seq n sits at index n - 1
            if kind is None or event.kind == kind:
                out.append(event)
                if len(out) >= limit:
                    break
        return out

    # -- chosen customers ----------------------------------------------------------------
    def customers(self) -> list[tuple[str, dict[str, Any]]]:
        return [(cid, dict(attrs)) for cid, attrs in self._d.customers.items()]

    def put_customer(self, customer_id: str, attributes: Mapping[str, Any]) -> None:
        self._set(self._d.customers, customer_id, dict(attributes))

    def clear_customers(self) -> None:
        old = self._d.customers
        self._undo.append(lambda: setattr(self._d, "customers", old))
        self._d.customers = {}

    def reset(self) -> None:
        tenant = self._d.tenant
        d = self._d
        fresh = _TenantData(
            tenant=tenant, customers=d.customers, keys=d.keys, tokens=d.tokens, lock=d.lock
        )
        old = dict(vars(self._d))
        self._undo.append(lambda: vars(self._d).update(old))
        vars(self._d).update(vars(fresh))


class MemoryStore:
    """All tenants in this process's memory; gone when the process ends."""

    blocking = False

    def __init__(self) -> None:
        self._tenants: dict[str, _TenantData] = {}
        self._keys: dict[str, tuple[str, Role]] = {}
        # Login tokens in last-use order (a use moves one to the end), so purging the
        # expired ones reads only those, never the live ones.
        self._tokens: dict[str, Token] = {}
        self._users: dict[str, str] = {}  # legacy username → tenant id
        self._lock = threading.Lock()
        self._next_number = FIRST_TENANT_NUMBER
        # tenant → the outbox mark of its latest append, least recent first
        self._outbox_marks: dict[str, int] = {}
        self._outbox_mark = 0
        self._count = 0

    def _adjust_count(self, delta: int) -> None:
        with self._lock:
            self._count += delta

    def tenant_count(self) -> int:
        return self._count

    def next_tenant_number(self) -> int:
        with self._lock:
            number = self._next_number
            self._next_number += 1
            return number

    @contextmanager
    def transaction(self, tenant_id: str) -> Iterator[MemoryTx]:
        with self._lock:
            data = self._tenants.get(tenant_id)
            if data is None:
                data = self._tenants[tenant_id] = _TenantData()
        with data.lock:
            tx = MemoryTx(self, tenant_id, data)
            try:
                yield tx
            except BaseException:
                tx.rollback()
                raise
            if data.tenant is None:  # nothing was created: leave no empty tenant behind
                with self._lock:
                    self._tenants.pop(tenant_id, None)

    def lookup_key(self, key: str) -> tuple[str, Role] | None:
        return self._keys.get(key)

    def lookup_token(self, token: str) -> Token | None:
        return self._tokens.get(token)

    def touch_token(self, token: str, last_used: float) -> None:
        with self._lock:
            found = self._tokens.pop(token, None)
            if found is not None:
                self._tokens[token] = replace(found, last_used=last_used)

    def purge_tokens(self, used_before: float) -> int:
        purged = 0
        with self._lock:
            while self._tokens:
                token = next(iter(self._tokens.values()))
                if token.last_used >= used_before:
                    break
                del self._tokens[token.token]
                data = self._tenants.get(token.tenant_id)
                if data is not None:
                    data.tokens.pop(token.token, None)
                purged += 1
        return purged

    def user_tenant(self, username: str) -> str | None:
        return self._users.get(username)

    def delete_tenant(self, tenant_id: str) -> list[str] | None:
        with self._lock:
            data = self._tenants.get(tenant_id)
        if data is None:
            return None
        with data.lock:  # waits for the tenant's running transaction, if any
            tenant = data.tenant
            if tenant is None:
                return None
            with self._lock:
                self._tenants.pop(tenant_id, None)
                for key in data.keys:
                    self._keys.pop(key, None)
                for token in data.tokens:
                    self._tokens.pop(token, None)
                for username in tenant.users:
                    if self._users.get(username) == tenant_id:
                        del self._users[username]
                self._count -= 1
                self._outbox_marks.pop(tenant_id, None)
            data.tenant = None  # a transaction that waited on the lock finds no tenant
            return [*data.keys, *data.tokens]

    def tenant_ids(self) -> list[str]:
        return [t for t, d in self._tenants.items() if d.tenant is not None]

    def outbox_written(self, tenant_id: str) -> None:
        with self._lock:
            self._outbox_mark += 1
            self._outbox_marks.pop(tenant_id, None)
            self._outbox_marks[tenant_id] = self._outbox_mark

    def outbox_since(self, mark: int) -> tuple[int, list[str]]:
        with self._lock:
            changed = []
            for tenant_id, written in reversed(self._outbox_marks.items()):
                if written <= mark:
                    break
                changed.append(tenant_id)
            return self._outbox_mark, changed

    def close(self) -> None:
        pass
