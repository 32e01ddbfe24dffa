"""The ports the rules read and write state through, and the id source.

A store implements `LedgerState` for one tenant inside one transaction, so a rule function
sees a consistent snapshot and its writes land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from simulator.domain.models import (
    Allocation,
    AllocationStatus,
    Holding,
    NewReservations,
    TriggeredEvent,
    Usage,
)


class Ids(Protocol):
    """Source of new ids; passed in so a seeded run can be replayed."""

    def next(self, prefix: str) -> str: ...


class LedgerState(Protocol):
    """Reward ledger of one tenant, as seen inside one store transaction."""

    def usage(self, promotion_id: str) -> Usage: ...

    def set_usage(self, promotion_id: str, usage: Usage) -> None: ...

    def holding(self, promotion_id: str, customer_id: str) -> Holding: ...

    def set_holding(self, promotion_id: str, customer_id: str, holding: Holding) -> None: ...

    def holdings(self, promotion_id: str, customer_ids: Sequence[str]) -> list[Holding]:
        """`holding` of each customer: one read of a batch."""
        ...

    def set_holdings(
        self, promotion_id: str, customer_ids: Sequence[str], holdings: Sequence[Holding]
    ) -> None:
        """`set_holding` of each customer, in order: one write of a batch."""
        ...

    def period_count(self, promotion_id: str, period_key: str) -> int: ...

    def add_period_count(self, promotion_id: str, period_key: str, delta: int) -> None: ...

    def allocation(self, allocation_id: str) -> Allocation | None: ...

    def allocation_by_key(
        self, campaign_id: int, customer_id: str, event_id: str | None
    ) -> Allocation | None: ...

    def allocations_by_keys(
        self, campaign_id: int, customer_ids: Sequence[str]
    ) -> list[Allocation | None]:
        """`allocation_by_key` of each customer, without an eventId: one read of a batch."""
        ...

    def allocations_made(self, campaign_id: int) -> int:
        """The highest number `allocation_id` has given an allocation of the campaign
        (reservations and approval records, live or not; the count of them unless a number
        was skipped): the next one is number `allocations_made + 1`."""
        ...

    def put_allocation(self, allocation: Allocation) -> None: ...

    def put_allocations(self, allocations: Sequence[Allocation]) -> None:
        """`put_allocation` for each, in order: one write of a batch."""
        ...

    def put_reservations(self, reservations: NewReservations) -> None:
        """`put_allocations` of `reservations.records`: a validation's new reservations, which
        a store may write as columns (see `NewReservations`)."""
        ...

    def set_statuses(self, allocations: Sequence[Allocation], status: AllocationStatus) -> None:
        """Each allocation (as read in this transaction) now in `status`, nothing else
        changed: `put_allocations` of each `with_status(status)`, one write of a batch."""
        ...

    def open_allocations(self, campaign_id: int) -> Iterable[Allocation]: ...

    def committed_count(self, campaign_id: int) -> int: ...

    def event(self, event_id: str) -> TriggeredEvent | None: ...
