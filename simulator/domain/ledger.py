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
"""

from __future__ import annotations

from dataclasses import replace

from simulator.domain.models import Allocation, AllocationStatus, Holding
from simulator.domain.state import LedgerState


def reserve(state: LedgerState, allocation: Allocation) -> None:
    """Record a new reservation (the caller has checked every limit)."""
    pid, cid, value = allocation.promotion_id, allocation.customer_id, allocation.reward.value
    usage = state.usage(pid)
    holding = state.holding(pid, cid)
    state.set_usage(
        pid,
        replace(
            usage,
            budget_reserved=usage.budget_reserved + value,
            audience_reserved=usage.audience_reserved + (1 if holding.live == 0 else 0),
        ),
    )
    state.set_holding(pid, cid, Holding(holding.reserved + 1, holding.committed))
    for key in allocation.period_keys:
        state.add_period_count(pid, key, 1)
    state.put_allocation(allocation)


def commit(state: LedgerState, allocation: Allocation) -> Allocation:
    """Approve a reservation: its value moves from reserved to committed budget."""
    assert allocation.status is AllocationStatus.RESERVED
    pid, cid, value = allocation.promotion_id, allocation.customer_id, allocation.reward.value
    usage = state.usage(pid)
    holding = state.holding(pid, cid)
    first_commitment = holding.committed == 0
    state.set_usage(
        pid,
        replace(
            usage,
            budget_reserved=usage.budget_reserved - value,
            budget_committed=usage.budget_committed + value,
            audience_reserved=usage.audience_reserved - (1 if first_commitment else 0),
            audience_committed=usage.audience_committed + (1 if first_commitment else 0),
        ),
    )
    state.set_holding(pid, cid, Holding(holding.reserved - 1, holding.committed + 1))
    committed = replace(allocation, status=AllocationStatus.COMMITTED)
    state.put_allocation(committed)
    return committed


def release(state: LedgerState, allocation: Allocation) -> Allocation:
    """Give a reservation back: its budget, audience slot and period counts are freed."""
    assert allocation.status is AllocationStatus.RESERVED
    pid, cid, value = allocation.promotion_id, allocation.customer_id, allocation.reward.value
    usage = state.usage(pid)
    holding = Holding(state.holding(pid, cid).reserved - 1, state.holding(pid, cid).committed)
    state.set_usage(
        pid,
        replace(
            usage,
            budget_reserved=usage.budget_reserved - value,
            budget_released=usage.budget_released + value,
            audience_reserved=usage.audience_reserved - (1 if holding.live == 0 else 0),
        ),
    )
    state.set_holding(pid, cid, holding)
    for key in allocation.period_keys:
        state.add_period_count(pid, key, -1)
    released = replace(allocation, status=AllocationStatus.RELEASED)
    state.put_allocation(released)
    return released
