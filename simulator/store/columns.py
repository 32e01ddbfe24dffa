"""The in-memory ledger's layout: columns per campaign and per promotion, keyed by numbers.

A record per allocation cost ~400 bytes held (the record, its id string, the customer id
string, three dict entries); a 5,000,000-customer rehearsal needed gigabytes. Here:

- A customer id of the tenant's usual shape, `<prefix><digits>` with ASCII digits of one
  fixed width (the population's `C0001234`), is its *number* (`Numbering`): arrays indexed
  by it replace dicts keyed by the string, and the string is rebuilt when read. Any other
  id goes to a dict, so every id works; the usual ones cost bytes.
- A campaign's allocations are rows of a `Book`: the row is the allocation's number in
  the campaign less one (`models.allocation_id`), so an id finds its row with no index; the
  fields that repeat (promotion, tier, reward, reservation time, period keys) are one
  shared `Shape` per distinct combination, referenced by a 4-byte index.
- A promotion's holdings are one 8-byte counter pair per customer number (`Holdings`).

Every write goes through the caller's undo log (`Log`): (table, key, old value) entries
for the arrays and dicts, and one truncation per book grown in a transaction.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from simulator.domain.models import (
    Allocation,
    AllocationStatus,
    Holding,
    Reward,
    allocation_id,
)

# (table, key, old value or ABSENT), or a callable that undoes something itself
LogEntry = tuple[Any, Any, Any] | Callable[[], object]
Log = list[LogEntry]
ABSENT = object()

STATUSES = (AllocationStatus.RESERVED, AllocationStatus.COMMITTED, AllocationStatus.RELEASED)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
RESERVED, COMMITTED, _RELEASED = range(3)
# Numbers beyond this take the dict path: an array indexed by number grows to the largest
# number seen, and an id such as `C999999999999` must not allocate terabytes.
MAX_NUMBER = 1 << 25
_NO_HOLDING = Holding()
_SHARED_HOLDINGS: dict[int, Holding] = {}


def _grow(table: array[int], number: int) -> None:
    """Zero-fill `table` so `number` indexes it (doubling, so growth is amortised)."""
    size = min(MAX_NUMBER, max(number + 1, 2 * len(table), 1024))
    table.frombytes(bytes((size - len(table)) * table.itemsize))


class Numbering:
    """Customer ids `<prefix><digits>`, `width` ASCII digits, as ints: learnt from the first
    such id a tenant's ledger sees (population ids all share one prefix and width)."""

    __slots__ = ("_length", "prefix", "width")

    def __init__(self) -> None:
        self.prefix: str | None = None
        self.width = 0
        self._length = -1

    def number(self, customer_id: str) -> int:
        """The customer's number, or -1 for an id of another shape."""
        if len(customer_id) != self._length and (
            self.prefix is not None or not self._learn(customer_id)
        ):
            return -1
        prefix = self.prefix
        assert prefix is not None
        digits = customer_id[len(prefix) :]
        if not (customer_id.startswith(prefix) and digits.isascii() and digits.isdigit()):
            return -1
        number = int(digits)
        return number if number < MAX_NUMBER else -1

    def customer_id(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.width}d}"

    def _learn(self, customer_id: str) -> bool:
        stem = customer_id.rstrip("0123456789")
        width = len(customer_id) - len(stem)
        if width == 0:
            return False
        self.prefix, self.width, self._length = stem, width, len(customer_id)
        return True


def _pack(holding: Holding) -> int:
    return holding.reserved | holding.committed << 32


def _unpack(packed: int) -> Holding:
    holding = _SHARED_HOLDINGS.get(packed)
    if holding is None:
        holding = Holding(packed & 0xFFFFFFFF, packed >> 32)
        if len(_SHARED_HOLDINGS) < 4096:  # the few distinct counts, shared
            _SHARED_HOLDINGS[packed] = holding
    return holding


class Holdings:
    """One promotion's holdings: packed (reserved, committed) per customer number, and a
    dict for customers without one."""

    __slots__ = ("by_number", "others")

    def __init__(self) -> None:
        self.by_number: array[int] = array("q")
        self.others: dict[str, Holding] = {}

    def get(self, number: int, customer_id: str) -> Holding:
        if number < 0:
            return self.others.get(customer_id, _NO_HOLDING)
        by_number = self.by_number
        return _unpack(by_number[number]) if number < len(by_number) else _NO_HOLDING

    def set(self, number: int, customer_id: str, holding: Holding, log: Log) -> None:
        if number < 0:
            others = self.others
            log.append((others, customer_id, others.get(customer_id, ABSENT)))
            others[customer_id] = holding
            return
        by_number = self.by_number
        if number >= len(by_number):
            _grow(by_number, number)
        log.append((by_number, number, by_number[number]))
        by_number[number] = _pack(holding)


class Shape(NamedTuple):
    """What a campaign's allocations mostly share: kept once per distinct combination."""

    prefix: str
    promotion_id: str
    tier_id: str
    tier_name: str
    reward: Reward
    reserved_at: Any  # datetime
    period_keys: tuple[str, ...]


class Book:
    """One campaign's allocations as rows (row r holds the allocation numbered r + 1).

    Keys (customer, eventId-or-none) find their latest row: a numbered customer without
    an event through `by_number` (customer number → row + 1), any other key through
    `by_key`, whose value may also be the id of a *loose* allocation: one whose id is not
    the campaign's next number (kept whole by the store, so every record still works).
    """

    __slots__ = (
        "by_key",
        "by_number",
        "campaign_id",
        "customer",
        "events",
        "numbering",
        "others",
        "redeemed",
        "shape",
        "shape_index",
        "shapes",
        "status",
    )

    def __init__(self, campaign_id: int, numbering: Numbering) -> None:
        self.campaign_id = campaign_id
        self.numbering = numbering
        self.customer: array[int] = array("i")  # the customer's number, or -1
        self.shape: array[int] = array("I")
        self.status = bytearray()
        self.others: dict[int, str] = {}  # row → customer id without a number
        self.events: dict[int, str] = {}  # row → eventId
        self.redeemed: dict[int, int] = {}  # row → amount redeemed
        self.by_number: array[int] = array("i")
        self.by_key: dict[str | tuple[str, str], int | str] = {}
        self.shapes: list[Shape] = []
        self.shape_index: dict[Shape, int] = {}

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

    def record(self, row: int) -> Allocation:
        shape = self.shapes[self.shape[row]]
        number = self.customer[row]
        customer_id = self.numbering.customer_id(number) if number >= 0 else self.others[row]
        amount = self.redeemed.get(row)
        return Allocation(
            allocation_id(shape.prefix, self.campaign_id, row + 1),
            shape.promotion_id,
            self.campaign_id,
            customer_id,
            self.events.get(row),
            shape.tier_id,
            shape.tier_name,
            shape.reward,
            STATUSES[self.status[row]],
            shape.reserved_at,
            shape.period_keys,
            amount is not None,
            amount or 0,
        )

    def prefix(self, row: int) -> str:
        return self.shapes[self.shape[row]].prefix

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
            log.append(lambda: self._truncate(row))
        shape = Shape(
            prefix,
            allocation.promotion_id,
            allocation.tier_id,
            allocation.tier_name,
            allocation.reward,
            allocation.reserved_at,
            allocation.period_keys,
        )
        index = self.shape_index.get(shape)
        if index is None:
            index = self.shape_index[shape] = len(self.shapes)
            self.shapes.append(shape)
        customer_id, event_id = allocation.customer_id, allocation.event_id
        number = self.numbering.number(customer_id)
        self.customer.append(number)
        self.shape.append(index)
        self.status.append(STATUS_CODE[allocation.status])
        if number < 0:
            self.others[row] = customer_id
        if event_id is not None:
            self.events[row] = event_id
        if allocation.redeemed:
            self.redeemed[row] = allocation.redeemed_amount
        self.key(customer_id, event_id, row, log)

    def key(self, customer_id: str, event_id: str | None, ref: int | str, log: Log) -> None:
        """Point the key at row `ref` (an int) or at loose allocation `ref` (its id)."""
        by_key = self.by_key
        number = self.numbering.number(customer_id) if event_id is None else -1
        if number >= 0:
            by_number = self.by_number
            if number >= len(by_number):
                _grow(by_number, number)
            if isinstance(ref, int):
                log.append((by_number, number, by_number[number]))
                by_number[number] = ref + 1
                if customer_id in by_key:  # a loose allocation held the key before
                    log.append((by_key, customer_id, by_key.pop(customer_id)))
                return
            if by_number[number]:  # a loose allocation takes the key from a row
                log.append((by_number, number, by_number[number]))
                by_number[number] = 0
        key = customer_id if event_id is None else (customer_id, event_id)
        log.append((by_key, key, by_key.get(key, ABSENT)))
        by_key[key] = ref

    def update(self, row: int, allocation: Allocation, log: Log) -> None:
        """A later write of row `row`'s allocation: its status and redemption change."""
        status, redeemed = self.status, self.redeemed
        log.append((status, row, status[row]))
        status[row] = STATUS_CODE[allocation.status]
        if allocation.redeemed or row in redeemed:
            log.append((redeemed, row, redeemed.get(row, ABSENT)))
            if allocation.redeemed:
                redeemed[row] = allocation.redeemed_amount
            else:
                del redeemed[row]

    def _truncate(self, rows: int) -> None:
        del self.customer[rows:]
        del self.shape[rows:]
        del self.status[rows:]
        for table in (self.others, self.events, self.redeemed):
            for row in [r for r in table if r >= rows]:
                del table[row]
