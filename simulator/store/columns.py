"""The in-memory ledger's layout: columns per campaign and per promotion, keyed by numbers.

A record per allocation cost ~400 bytes held (the record, its id string, the customer id
string, three dict entries); a 5,000,000-customer rehearsal needed gigabytes. Here:

- A customer id of the tenant's usual shape, `<prefix><digits>` with ASCII digits of one
  fixed width (the population's `C0001234`), is its *number* (`Numbering`): arrays indexed
  by it replace dicts keyed by the string, and the string is rebuilt when read. Any other
  id goes to a dict, so every id works; the usual ones cost bytes.
- A campaign's allocations are rows of a `Book`: the row is the allocation's number in
  the campaign less one (`models.allocation_id`), so an id finds its row with no index; the
  fields that repeat (promotion, tier, reward, period keys) are one shared `Shape` per
  distinct combination, referenced by a 4-byte index; the reservation time is a slot
  holding the call's one datetime (a triggered campaign's differ per event).
- A promotion's holdings are a slot per customer number holding one of the few distinct
  holding records, shared (`Holdings`).

Every write goes through the caller's undo log (`Log`): (table, key, old value) entries
for the arrays and dicts, and one (book, TRUNCATE, rows) per book grown in a transaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from datetime import datetime
from functools import partial
from operator import attrgetter
from typing import Any, cast

from simulator.domain.models import (
    APPROVAL_RECORD,
    RESERVATION,
    Allocation,
    AllocationStatus,
    Holding,
    NewReservations,
    Reward,
    allocation_stem,
)
from simulator.domain.numbered import number_of, numbers_of

# (table, key, old value or ABSENT), or a callable that undoes something itself
LogEntry = tuple[Any, Any, Any] | Callable[[], object]
Log = list[LogEntry]
ABSENT = object()
TRUNCATE = object()  # (book, TRUNCATE, rows): undone by `book.truncate(rows)`

STATUSES = (AllocationStatus.RESERVED, AllocationStatus.COMMITTED, AllocationStatus.RELEASED)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
RESERVED, COMMITTED, _RELEASED = range(3)
# Numbers beyond this take the dict path: an array indexed by number grows to the largest
# number seen, and an id such as `C999999999999` must not allocate terabytes.
MAX_NUMBER = 1 << 25
NO_HOLDING = Holding()
_SHARED_HOLDINGS: dict[tuple[int, int], Holding] = {}
_CUSTOMER_ID, _EVENT_ID = attrgetter("customer_id"), attrgetter("event_id")


def _restore(table: MutableSequence[Any], keys: list[int], old: list[Any]) -> None:
    """Undo a batch of writes to `table` (in reverse: a key written twice gets its first
    old value back)."""
    for key, value in zip(reversed(keys), reversed(old), strict=True):
        table[key] = value


def _grown(length: int, number: int) -> int:
    """The new length of a table indexed by number so `number` indexes it (doubling, so
    growth is amortised)."""
    return min(MAX_NUMBER, max(number + 1, 2 * length, 1024))


def _grow(table: array[int], number: int) -> None:
    """Zero-fill `table` so `number` indexes it."""
    table.frombytes(bytes((_grown(len(table), number) - len(table)) * table.itemsize))


class Numbering:
    """Customer ids `<prefix><digits>`, `width` ASCII digits, as ints: learnt from the first
    such id a tenant's ledger sees (population ids all share one prefix and width)."""

    __slots__ = ("_known", "_last", "prefix", "width")

    def __init__(self) -> None:
        self.prefix: str | None = None
        self.width = 0
        # Ids asked about lately, one by one or in a batch: a triggered event's customer
        # is asked about for its key, holding, row and holdings write, and an approval
        # about the customers its validations read moments before; a str keeps its hash,
        # so a dict answers faster than parsing again (~50 against ~170 ns an id).
        # Emptied when it outgrows two batches.
        self._known: dict[str, int] = {}
        self._last: tuple[list[str], list[int]] = ([], [])  # the last `numbers` asked, answered

    def number(self, customer_id: str) -> int:
        """The customer's number, or -1 for an id of another shape."""
        known = self._known
        number = known.get(customer_id)
        if number is not None:
            return number
        number = -1
        if self.prefix is not None or self._learn(customer_id):
            assert self.prefix is not None
            found = number_of(customer_id, self.prefix, self.width)
            if found is not None and found < MAX_NUMBER:
                number = found
        if len(known) >= 32_768:
            known.clear()
        known[customer_id] = number
        return number

    def numbers(self, customer_ids: Sequence[str]) -> list[int]:
        """`number` of each id (looked up without a call when known). A batch asks about
        the same customers three or four times in a row (their rows, their holdings, the
        holdings written back): the last answer is kept for an equal list."""
        last = self._last
        if last[0] == customer_ids:  # the same strings: compared by identity, in C
            return last[1]
        get = self._known.get
        if customer_ids and get(customer_ids[0]) is None:  # a batch not seen: read at once
            numbers = self._read(customer_ids, None)
        else:
            seen = [get(c) for c in customer_ids]
            numbers = cast(list[int], seen) if None not in seen else self._read(customer_ids, seen)
        self._last = (list(customer_ids), numbers)
        return numbers

    def _read(self, customer_ids: Sequence[str], seen: list[int | None] | None) -> list[int]:
        """The numbers of a batch with ids not seen lately (`seen`: those known, or None
        when not looked up): a batch of the usual shape read in a few C-level passes, any
        other id by id."""
        if self.prefix is not None:
            numbers = numbers_of(customer_ids, self.prefix, self.width)
            if numbers is not None and max(numbers) < MAX_NUMBER:
                known = self._known
                if len(known) >= 32_768:
                    known.clear()
                known.update(zip(customer_ids, numbers, strict=True))
                return numbers
        number = self.number
        if seen is None:
            return [number(c) for c in customer_ids]
        return [n if n is not None else number(c) for n, c in zip(seen, customer_ids, strict=True)]

    def customer_id(self, number: int) -> str:
        # concatenation: half the time of a nested format spec
        return f"{self.prefix}" + str(number).zfill(self.width)

    def _learn(self, customer_id: str) -> bool:
        stem = customer_id.rstrip("0123456789")
        width = len(customer_id) - len(stem)
        if width == 0:
            return False
        self.prefix, self.width = stem, width
        return True


def shared(holding: Holding) -> Holding:
    """The one shared record of these counts (records are treated as immutable; a batch
    writes a handful of distinct holdings, so a slot costs a pointer, not a record)."""
    counts = (holding.reserved, holding.committed)
    found = _SHARED_HOLDINGS.get(counts)
    if found is None:
        if len(_SHARED_HOLDINGS) >= 4096:  # counts beyond the usual few: not shared
            return holding
        found = _SHARED_HOLDINGS[counts] = holding
    return found


class Holdings:
    """One promotion's holdings: a slot per customer number (None: holds nothing), and a
    dict for customers without one."""

    __slots__ = ("by_number", "others")

    def __init__(self) -> None:
        self.by_number: list[Holding | None] = []
        self.others: dict[str, Holding] = {}

    def get(self, number: int, customer_id: str) -> Holding:
        if number < 0:
            return self.others.get(customer_id, NO_HOLDING)
        by_number = self.by_number
        return (by_number[number] or NO_HOLDING) if number < len(by_number) else NO_HOLDING

    def get_many(self, numbers: Sequence[int], customer_ids: Sequence[str]) -> list[Holding]:
        """`get` of each customer."""
        by_number, length, get = self.by_number, len(self.by_number), self.get
        return [
            (by_number[n] or NO_HOLDING) if 0 <= n < length else get(n, c)
            for n, c in zip(numbers, customer_ids, strict=True)
        ]

    def set_many(
        self,
        numbers: Sequence[int],
        customer_ids: Sequence[str],
        holdings: Sequence[Holding],
        log: Log,
    ) -> None:
        """`set` of each customer, in order."""
        if not numbers:
            return
        if min(numbers) < 0:  # some customers without a number: one by one
            for n, c, holding in zip(numbers, customer_ids, holdings, strict=True):
                self.set(n, c, holding, log)
            return
        self._reach(max(numbers))
        by_number = self.by_number
        log.append(partial(_restore, by_number, list(numbers), [by_number[n] for n in numbers]))
        last: Holding | None = None
        kept = NO_HOLDING
        for n, holding in zip(numbers, holdings, strict=True):
            if holding is not last:  # a batch writes a few records, mostly in runs
                last, kept = holding, shared(holding)
            by_number[n] = kept

    def set(self, number: int, customer_id: str, holding: Holding, log: Log) -> None:
        if number < 0:
            others = self.others
            log.append((others, customer_id, others.get(customer_id, ABSENT)))
            others[customer_id] = holding
            return
        by_number = self.by_number
        if number >= len(by_number):
            self._reach(number)
        log.append((by_number, number, by_number[number]))
        by_number[number] = shared(holding)

    def _reach(self, number: int) -> None:
        """Grow the slots so `number` indexes them."""
        by_number = self.by_number
        if number >= len(by_number):
            by_number.extend([None] * (_grown(len(by_number), number) - len(by_number)))


class Recent:
    """The records a tenant's books were given lately, by campaign id and row, handed back
    as they were while their row is unchanged: an approval reads the reservations its
    validations wrote moments before, and building 10,000 records from the columns was a
    third of a 10,000-item approval.

    Only appends remember a record; any change of a row's status or redemption, and a
    rolled-back append, forgets it (so a record handed back always equals the one its
    columns would build). Bounded: emptied when it would hold more than `LIMIT` records
    (~6 MB), so the ledger's bytes per allocation stay the columns'. An approval forgets
    what it approves, so validating and approving in turn never fills it.
    """

    __slots__ = ("_count", "books")
    LIMIT = 32_768

    def __init__(self) -> None:
        self.books: dict[int, dict[int, Allocation]] = {}  # campaign id → row → record
        self._count = 0

    def of(self, campaign_id: int) -> dict[int, Allocation]:
        """The campaign's remembered records by row (read only)."""
        return self.books.get(campaign_id) or _NOTHING

    def remember(self, campaign_id: int, first_row: int, allocations: Sequence[Allocation]) -> None:
        """Rows `first_row`, `first_row + 1`, … were appended as `allocations`."""
        self._count += len(allocations)
        if self._count > self.LIMIT:
            self.books.clear()
            self._count = len(allocations)
            if self._count > self.LIMIT:
                self._count = 0
                return
        rows = self.books.get(campaign_id)
        if rows is None:
            rows = self.books[campaign_id] = {}
        if len(allocations) == 1:
            rows[first_row] = allocations[0]
        else:
            rows.update(
                zip(range(first_row, first_row + len(allocations)), allocations, strict=True)
            )

    def forget(self, campaign_id: int, rows: Iterable[int]) -> None:
        """The rows changed (or were undone): their records are not theirs any more."""
        remembered = self.books.get(campaign_id)
        if remembered:
            before = len(remembered)
            pop = remembered.pop
            for row in rows:
                pop(row, None)
            self._count -= before - len(remembered)


_NOTHING: dict[int, Allocation] = {}


# What a campaign's allocations mostly share, kept once per distinct combination:
# (prefix, promotion id, tier id, tier name, reward, period keys).
Shape = tuple[str, str, str, str, Reward, tuple[str, ...]]


class Book:
    """One campaign's allocations as rows (row r holds the allocation numbered r + 1).

    Keys (customer, eventId-or-none) find their latest row: a numbered customer without
    an event through `by_number` (customer number → row + 1), any other key through
    `by_key`, whose value may also be the id of a *loose* allocation: one whose id is not
    the campaign's next number (kept whole by the store, so every record still works).
    """

    __slots__ = (
        "at",
        "by_key",
        "by_number",
        "campaign_id",
        "customer",
        "events",
        "last_shape",
        "numbering",
        "others",
        "recent",
        "redeemed",
        "shape",
        "shape_index",
        "shapes",
        "status",
        "stems",
    )

    def __init__(self, campaign_id: int, numbering: Numbering, recent: Recent) -> None:
        self.campaign_id = campaign_id
        self.numbering = numbering
        self.recent = recent
        self.customer: array[int] = array("i")  # the customer's number, or -1
        self.shape: array[int] = array("I")
        self.at: list[datetime] = []  # the reservation time: one object per call, shared
        self.status = bytearray()
        self.others: dict[int, str] = {}  # row → customer id without a number
        self.events: dict[int, str] = {}  # row → eventId
        self.redeemed: dict[int, int] = {}  # row → amount redeemed
        self.by_number: array[int] = array("i")
        self.by_key: dict[str | tuple[str, str], int | str] = {}
        self.shapes: list[Shape] = []
        self.shape_index: dict[tuple[Any, ...], int] = {}
        self.last_shape = 0
        self.stems: dict[str, str] = {}  # prefix → `allocation_stem` of this campaign

    def __len__(self) -> int:
        return len(self.status)

    # -- reads -------------------------------------------------------------------------
    def row_of(self, customer_id: str, event_id: str | None) -> int | str | None:
        """The key's latest row, the id of a loose allocation, or None."""
        if event_id is None:
            number = self.numbering.number(customer_id)
            if number >= 0:
                by_number = self.by_number
                row = by_number[number] - 1 if number < len(by_number) else -1
                if row >= 0:
                    return row
            return self.by_key.get(customer_id)
        return self.by_key.get((customer_id, event_id))

    def rows_of(self, customer_ids: Sequence[str]) -> list[int | str | None]:
        """`row_of` of each customer, without an eventId."""
        by_number, by_key = self.by_number, self.by_key
        length = len(by_number)
        return [
            r - 1 if 0 <= n < length and (r := by_number[n]) else by_key.get(c)
            for n, c in zip(self.numbering.numbers(customer_ids), customer_ids, strict=True)
        ]

    def record(self, row: int, customer_id: str | None = None) -> Allocation:
        """Row `row` as a record (`customer_id`: its customer's id, when the caller knows
        it, as a key lookup does: not rebuilt from the number then)."""
        kept = self.recent.of(self.campaign_id).get(row)
        if kept is not None:
            return kept
        if customer_id is None:
            number = self.customer[row]
            customer_id = self.numbering.customer_id(number) if number >= 0 else self.others[row]
        found = self.records((row,), (customer_id,))[0]
        assert found is not None  # a row always reads as a record
        return found

    def records(
        self, refs: Sequence[int | str | None], customer_ids: Sequence[str]
    ) -> list[Allocation | None]:
        """`record` of each row in `refs` (of `customer_ids`' keys, as `rows_of` found them);
        None where a ref is not a row (no allocation, or a loose one's id). Built in one
        comprehension: a 10,000-item approval reads 10,000 records."""
        shapes, shape, status, at, campaign_id = (
            self.shapes,
            self.shape,
            self.status,
            self.at,
            self.campaign_id,
        )
        events, redeemed, stems = self.events, self.redeemed, self.stems
        for prefix in (RESERVATION, APPROVAL_RECORD):  # `stems` then holds both kinds'
            self.stem(prefix)
        kept = self.recent.of(campaign_id).get
        return [
            None
            if type(r) is not int
            else kept(r)
            or Allocation(
                stems[(sh := shapes[shape[r]])[0]] + str(r + 1),
                sh[1],
                campaign_id,
                c,
                events.get(r) if events else None,
                sh[2],
                sh[3],
                sh[4],
                STATUSES[status[r]],
                at[r],
                sh[5],
                bool(redeemed) and r in redeemed,
                redeemed.get(r, 0) if redeemed else 0,
            )
            for r, c in zip(refs, customer_ids, strict=True)
        ]

    def allocation_id(self, prefix: str, row: int) -> str:
        """`models.allocation_id` of row `row` as a `prefix` allocation, from a stem kept
        per prefix (a read or a new row costs a concatenation, not a formatting)."""
        stem = self.stems.get(prefix)
        if stem is None:
            stem = self.stem(prefix)
        return stem + str(row + 1)

    def stem(self, prefix: str) -> str:
        """`models.allocation_stem` of this campaign's `prefix` allocations (kept)."""
        stem = self.stems.get(prefix)
        if stem is None:
            stem = self.stems[prefix] = allocation_stem(prefix, self.campaign_id)
        return stem

    def prefix(self, row: int) -> str:
        return self.shapes[self.shape[row]][0]

    def rows(self, status: int) -> Iterator[int]:
        """Rows in `status`, in row order (a C-level scan of the status column)."""
        code, column = bytes((status,)), self.status
        row = column.find(code)
        while row >= 0:
            yield row
            row = column.find(code, row + 1)

    def count(self, status: int) -> int:
        return self.status.count(bytes((status,)))

    # -- writes ------------------------------------------------------------------------
    def append(self, allocation: Allocation, prefix: str, log: Log, grown: set[int]) -> None:
        """Add `allocation` as the next row (its id numbers it so) and key it."""
        row = len(self.status)
        if id(self) not in grown:  # the first row this transaction adds: undo cuts back
            grown.add(id(self))
            log.append((self, TRUNCATE, row))  # a tuple: a closure cost 2x, per call
        index = self._shape(prefix, allocation)
        customer_id, event_id = allocation.customer_id, allocation.event_id
        number = self.numbering.number(customer_id)
        self.customer.append(number)
        self.shape.append(index)
        self.at.append(allocation.reserved_at)
        self.status.append(STATUS_CODE[allocation.status])
        if number < 0:
            self.others[row] = customer_id
        if event_id is not None:
            self.events[row] = event_id
            number = -1  # an event's key is (customer, eventId): never by number
        if allocation.redeemed:
            self.redeemed[row] = allocation.redeemed_amount
        self._key(customer_id, event_id, number, row, log)
        self.recent.remember(self.campaign_id, row, (allocation,))

    def extend(self, reservations: NewReservations, log: Log, grown: set[int]) -> None:
        """`append` of each new reservation (numbered as the next rows), column by column:
        a 1,000-context validation adds its rows in a few C-level passes instead of 1,000
        calls. The shape (promotion, tier, reward, period keys) is computed once per choice
        object, from one of its records; the moment (one per batch: `NewReservations`) is
        the first record's, the status reserved."""
        records = reservations.records
        row, n = len(self.status), len(records)
        if id(self) not in grown:
            grown.add(id(self))
            log.append((self, TRUNCATE, row))
        customer_ids = list(map(_CUSTOMER_ID, records))
        numbers = self.numbering.numbers(customer_ids)
        event_ids = list(map(_EVENT_ID, records))
        choices = list(map(id, reservations.choices))
        # a record of each distinct choice (its shape is every such record's)
        one_of = dict(zip(choices, records, strict=True))
        index = {c: self._shape(RESERVATION, a) for c, a in one_of.items()}
        self.customer.extend(numbers)
        self.shape.extend(map(index.__getitem__, choices))
        self.at.extend([records[0].reserved_at] * n)
        self.status.extend(bytes((STATUS_CODE[AllocationStatus.RESERVED],)) * n)
        self.recent.remember(self.campaign_id, row, records)
        if -1 in numbers:
            for r, (number, c) in enumerate(zip(numbers, customer_ids, strict=True), row):
                if number < 0:
                    self.others[r] = c
        with_events = event_ids.count(None) != n
        if with_events:
            for r, e in enumerate(event_ids, row):
                if e is not None:
                    self.events[r] = e
        if with_events or -1 in numbers or self.by_key:
            for r, (number, c, e) in enumerate(
                zip(numbers, customer_ids, event_ids, strict=True), row
            ):
                self._key(c, e, -1 if e is not None else number, r, log)
            return
        # numbered customers without events: keyed by number alone, one undo entry
        by_number = self.by_number
        top = max(numbers)
        if top >= len(by_number):
            _grow(by_number, top)
        old = [by_number[number] for number in numbers]
        log.append(partial(_restore, by_number, numbers, old))
        for r, number in enumerate(numbers, row + 1):
            by_number[number] = r

    def key(self, customer_id: str, event_id: str | None, ref: int | str, log: Log) -> None:
        """Point the key at row `ref` (an int) or at loose allocation `ref` (its id)."""
        number = self.numbering.number(customer_id) if event_id is None else -1
        self._key(customer_id, event_id, number, ref, log)

    def _key(
        self, customer_id: str, event_id: str | None, number: int, ref: int | str, log: Log
    ) -> None:
        by_key = self.by_key
        if number >= 0:
            by_number = self.by_number
            if number >= len(by_number):
                _grow(by_number, number)
            if isinstance(ref, int):
                log.append((by_number, number, by_number[number]))
                by_number[number] = ref + 1
                if by_key and customer_id in by_key:  # a loose allocation held the key
                    log.append((by_key, customer_id, by_key.pop(customer_id)))
                return
            if by_number[number]:  # a loose allocation takes the key from a row
                log.append((by_number, number, by_number[number]))
                by_number[number] = 0
        key = customer_id if event_id is None else (customer_id, event_id)
        log.append((by_key, key, by_key.get(key, ABSENT)))
        by_key[key] = ref

    def _shape(self, prefix: str, allocation: Allocation) -> int:
        """The index of the allocation's shape, added if new."""
        reward, tier_id = allocation.reward, allocation.tier_id
        last = self.shapes[self.last_shape] if self.shapes else None
        # a call's rows mostly share their tier: the same objects as the row before, which
        # identity tells without hashing anything (one-context calls: equal rewards)
        if (
            last is not None
            and (last[4] is reward or last[4] == reward)
            and last[2] == tier_id
            and last[0] == prefix
            and last[1] == allocation.promotion_id
            and last[3] == allocation.tier_name
            and last[5] == allocation.period_keys
        ):
            return self.last_shape
        # keyed by the reward's identity: hashing the frozen dataclass runs Python code,
        # and the shape keeps the reward alive, so its id is never another's
        key = (
            prefix,
            allocation.promotion_id,
            tier_id,
            allocation.tier_name,
            id(reward),
            allocation.period_keys,
        )
        index = self.shape_index.get(key)
        if index is None:
            index = self.shape_index[key] = len(self.shapes)
            self.shapes.append((prefix, key[1], tier_id, key[3], reward, key[5]))
        self.last_shape = index
        return index

    def set_status(self, row: int, code: int, log: Log) -> None:
        self.recent.forget(self.campaign_id, (row,))
        status = self.status
        log.append((status, row, status[row]))
        status[row] = code

    def set_statuses(self, rows: list[int], code: int, log: Log) -> None:
        """`set_status` of each row, with one undo entry."""
        if len(rows) == 1:  # one event's approval: no batch set-up
            self.set_status(rows[0], code, log)
            return
        self.recent.forget(self.campaign_id, rows)
        status = self.status
        log.append(partial(_restore, status, rows, [status[r] for r in rows]))
        for row in rows:
            status[row] = code

    def update(self, row: int, allocation: Allocation, log: Log) -> None:
        """A later write of row `row`'s allocation: its status and redemption change."""
        self.recent.forget(self.campaign_id, (row,))
        status, redeemed = self.status, self.redeemed
        log.append((status, row, status[row]))
        status[row] = STATUS_CODE[allocation.status]
        if allocation.redeemed or row in redeemed:
            log.append((redeemed, row, redeemed.get(row, ABSENT)))
            if allocation.redeemed:
                redeemed[row] = allocation.redeemed_amount
            else:
                del redeemed[row]

    def truncate(self, rows: int) -> None:
        """Drop the rows from `rows` on (the undo of a transaction's new rows)."""
        self.recent.forget(self.campaign_id, range(rows, len(self.status)))
        del self.customer[rows:]
        del self.shape[rows:]
        del self.at[rows:]
        del self.status[rows:]
        for table in (self.others, self.events, self.redeemed):
            for row in [r for r in table if r >= rows]:
                del table[row]
