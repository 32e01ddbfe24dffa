"""The reward ledger: reserve, commit and release allocations against a promotion.

Business rules (wire-contract §5):
- `reserved + committed <= budget` at all times; a reservation moves to committed on
  approval, or to released on `Status: false`, CE v2 `approved: false`, clearance or cancel.
- Audience: distinct customers holding a live (reserved or committed) allocation, at most
  `audienceCap`. A customer holding any commitment counts in `audienceCommitted`, one
  holding only reservations in `audienceReserved`.
- Period caps count live allocations per calendar period of the reservation time.
- Released allocations count toward nothing (not the limits, not period caps).
Money is conserved: reserved + committed + released = the value of every reservation made.

A batch (1,000 validations, 10,000 approvals) reads each promotion's usage once into a
`Tally`, changes it per item, and writes it once at the end (`Tallies.save`), inside the
caller's store transaction; its new reservations (`Reservations`), commitments and
releases (`commit_all`, `release_all`) are written once each too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from itertools import count

from simulator.domain.models import (
    RESERVED_STATUS,
    Allocation,
    AllocationStatus,
    Holding,
    NewReservations,
    Promotion,
    Reward,
    Tier,
    Usage,
    allocation_stem,
)
from simulator.domain.state import LedgerState


class Tally:
    """One promotion's usage while an operation changes it (mutable, local to the call)."""

    __slots__ = (
        "audience_committed",
        "audience_reserved",
        "budget_committed",
        "budget_released",
        "budget_reserved",
        "redeemed_amount",
        "redemptions",
    )

    def __init__(self, usage: Usage) -> None:
        self.budget_reserved = usage.budget_reserved
        self.budget_committed = usage.budget_committed
        self.budget_released = usage.budget_released
        self.audience_reserved = usage.audience_reserved
        self.audience_committed = usage.audience_committed
        self.redemptions = usage.redemptions
        self.redeemed_amount = usage.redeemed_amount

    @property
    def audience(self) -> int:
        return self.audience_reserved + self.audience_committed

    @property
    def budget_used(self) -> int:
        return self.budget_reserved + self.budget_committed

    def usage(self) -> Usage:
        return Usage(
            self.budget_reserved,
            self.budget_committed,
            self.budget_released,
            self.audience_reserved,
            self.audience_committed,
            self.redemptions,
            self.redeemed_amount,
        )


def budget_remaining(promotion: Promotion, usage: Usage) -> int:
    """What can still be reserved: the budget less live (reserved and committed) value;
    released value is free again."""
    return promotion.budget - usage.budget_reserved - usage.budget_committed


def audience_used(usage: Usage) -> int:
    """Distinct customers holding a live allocation (the number `audienceCap` caps)."""
    return usage.audience_reserved + usage.audience_committed


class Tallies:
    """The tallies of every promotion an operation touches, loaded on first use."""

    def __init__(self, state: LedgerState) -> None:
        self._state = state
        self._tallies: dict[str, Tally] = {}

    def __getitem__(self, promotion_id: str) -> Tally:
        tally = self._tallies.get(promotion_id)
        if tally is None:
            tally = self._tallies[promotion_id] = Tally(self._state.usage(promotion_id))
        return tally

    def save(self) -> None:
        for promotion_id, tally in self._tallies.items():
            self._state.set_usage(promotion_id, tally.usage())


class Numbers:
    """The ids of a call's new allocations of one kind (`prefix`) in one campaign: the
    campaign's next numbers (`allocation_id`), its count read on first use only."""

    __slots__ = ("_campaign_id", "_ids", "_state", "_stem", "first")

    def __init__(self, state: LedgerState, campaign_id: int, prefix: str) -> None:
        self._state, self._campaign_id = state, campaign_id
        self._stem = allocation_stem(prefix, campaign_id)  # `allocation_id`, less the number
        self._ids: Callable[[], str] | None = None
        self.first = 0  # the number of the first id handed out (0: none yet)

    def next(self) -> str:
        ids = self._ids
        if ids is None:  # a call that records nothing reads nothing
            ids = self.ids()
        return ids()

    def ids(self) -> Callable[[], str]:
        """`next` without a Python call per id (a batch's loop binds it once its first
        reservation is made): the ids as a C-level iterator, `stem + str(n)` for n from the
        campaign's next number on."""
        if self._ids is None:
            self.first = self._state.allocations_made(self._campaign_id) + 1
            self._ids = map(self._stem.__add__, map(str, count(self.first))).__next__
        return self._ids


class Reservations:
    """A call's new reservations of one promotion, numbered by `numbers`, written as one
    batch by `write` (`reserve` records one).

    Until then they live here: `holding` and `period_count` answer with them counted, and
    `by_key` holds them by allocation key (the customer id, or (customer id, eventId)), so
    a later check in the same call sees an earlier reservation exactly as it would once
    written.
    """

    __slots__ = (
        "_after",
        "_choices",
        "_holdings",
        "_numbers",
        "_periods",
        "_promotion_id",
        "_read",
        "_state",
        "by_key",
        "made",
    )

    def __init__(self, state: LedgerState, promotion_id: str, numbers: Numbers) -> None:
        self._state = state
        self._promotion_id = promotion_id
        self._numbers = numbers
        self._choices: list[tuple[Tier, Reward]] = []  # each reservation's (tier, reward)
        self._holdings: dict[str, Holding] = {}  # customer id → holding
        self._read: dict[str, Holding] = {}  # customer id → holding before the call
        self._periods: dict[str, int] = {}  # period key → reservations
        self._after: dict[tuple[int, int], Holding] = {}  # counts → one more reserved
        self.by_key: dict[str | tuple[str, str], Allocation] = {}
        self.made: list[Allocation] = []

    def read_holdings(self, customer_ids: Sequence[str]) -> None:
        """Read the customers' holdings in one batch (before any reservation), so `holding`
        answers them without a read each."""
        self._read = _holdings(self._state, self._promotion_id, customer_ids)

    def holding(self, customer_id: str) -> Holding:
        holding = self._holdings.get(customer_id) or self._read.get(customer_id)
        if holding is None:
            return self._state.holding(self._promotion_id, customer_id)
        return holding

    def period_count(self, period_key: str) -> int:
        pending = self._periods.get(period_key, 0)
        return self._state.period_count(self._promotion_id, period_key) + pending

    def reserve(
        self, tally: Tally, allocation: Allocation, holding: Holding, choice: tuple[Tier, Reward]
    ) -> None:
        """Record a new reservation of this promotion (the caller has checked every limit;
        `holding`: the customer's before it, as `holding` answered; `choice`: the (tier,
        reward) it was reserved with, the object the tier chooser answered, see
        `NewReservations.choices`)."""
        assert allocation.promotion_id == self._promotion_id
        cid, eid = allocation.customer_id, allocation.event_id
        tally.budget_reserved += allocation.reward.value
        reserved, committed = holding.reserved, holding.committed
        if reserved == committed == 0:  # the customer's first live allocation
            tally.audience_reserved += 1
        # a batch moves customers between a few distinct counts: one record for each
        after = self._after.get((reserved, committed))
        if after is None:
            after = self._after[reserved, committed] = Holding(reserved + 1, committed)
        self._holdings[cid] = after
        for key in allocation.period_keys:
            self._periods[key] = self._periods.get(key, 0) + 1
        self.by_key[cid if eid is None else (cid, eid)] = allocation
        self.made.append(allocation)
        self._choices.append(choice)

    def write(self) -> None:
        state, pid = self._state, self._promotion_id
        held = self._holdings
        state.set_holdings(pid, list(held), list(held.values()))
        for key, delta in self._periods.items():
            state.add_period_count(pid, key, delta)
        if self.made:  # numbered in order by `numbers`, one moment, one promotion
            state.put_reservations(NewReservations(self.made, self._numbers.first, self._choices))


def commit(state: LedgerState, tally: Tally, allocation: Allocation) -> None:
    """Approve a reservation: its value moves from reserved to committed budget."""
    commit_all(state, lambda _: tally, [allocation])


def release(state: LedgerState, tally: Tally, allocation: Allocation) -> None:
    """Give a reservation back: its budget, audience slot and period counts are freed."""
    release_all(state, lambda _: tally, [allocation])


def commit_all(
    state: LedgerState, tally: Callable[[str], Tally], allocations: Sequence[Allocation]
) -> None:
    """`commit` of each reservation (`tally(promotion_id)`: its promotion's tally), written
    as one batch: per promotion, the holdings read and written once; the statuses once."""
    for promotion_id, group in _by_promotion(allocations).items():
        held = _holdings(state, promotion_id, [a.customer_id for a in group])
        after: dict[tuple[int, int], Holding] = {}  # counts before → holding after (a few)
        value = first = 0
        for allocation in group:
            assert allocation.status is RESERVED_STATUS
            cid = allocation.customer_id
            holding = held[cid]
            value += allocation.reward.value
            if holding.committed == 0:  # the customer's first commitment: reserved → committed
                first += 1
            counts = (holding.reserved, holding.committed)
            moved = after.get(counts)
            if moved is None:
                moved = after[counts] = Holding(holding.reserved - 1, holding.committed + 1)
            held[cid] = moved
        t = tally(promotion_id)
        t.budget_reserved -= value
        t.budget_committed += value
        t.audience_reserved -= first
        t.audience_committed += first
        state.set_holdings(promotion_id, list(held), list(held.values()))
    state.set_statuses(allocations, AllocationStatus.COMMITTED)


def release_all(
    state: LedgerState, tally: Callable[[str], Tally], allocations: Sequence[Allocation]
) -> None:
    """`release` of each reservation, written as one batch (see `commit_all`)."""
    for promotion_id, group in _by_promotion(allocations).items():
        held = _holdings(state, promotion_id, [a.customer_id for a in group])
        periods: Counter[str] = Counter()
        value = freed = 0
        for allocation in group:
            assert allocation.status is RESERVED_STATUS
            cid = allocation.customer_id
            before = held[cid]
            holding = held[cid] = Holding(before.reserved - 1, before.committed)
            value += allocation.reward.value
            if holding.live == 0:  # the customer's last live allocation: a slot is free
                freed += 1
            periods.update(allocation.period_keys)
        t = tally(promotion_id)
        t.budget_reserved -= value
        t.budget_released += value
        t.audience_reserved -= freed
        state.set_holdings(promotion_id, list(held), list(held.values()))
        for period, released in periods.items():
            state.add_period_count(promotion_id, period, -released)
    state.set_statuses(allocations, AllocationStatus.RELEASED)


def _by_promotion(allocations: Sequence[Allocation]) -> dict[str, list[Allocation]]:
    groups: dict[str, list[Allocation]] = {}
    for allocation in allocations:
        group = groups.get(allocation.promotion_id)
        if group is None:
            group = groups[allocation.promotion_id] = []
        group.append(allocation)
    return groups


def _holdings(
    state: LedgerState, promotion_id: str, customer_ids: Sequence[str]
) -> dict[str, Holding]:
    """The customers' holdings (each once, in order of first appearance), read in one
    batch; a caller may change them item by item and write them back."""
    if len(customer_ids) == 1:  # one event's: no batch set-up
        (customer_id,) = customer_ids
        return {customer_id: state.holding(promotion_id, customer_id)}
    customers = list(dict.fromkeys(customer_ids))
    return dict(zip(customers, state.holdings(promotion_id, customers), strict=True))
