"""Redemption reports: the optional last step of both flows (optimove-api-facts §2.9, [A] shape)."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.domain import ledger
from simulator.domain.models import AllocationStatus
from simulator.domain.state import LedgerState

# Per-item refusals of a redemption report, in the order they are checked.
REDEMPTION_REASONS = (
    "unknown_allocation",
    "wrong_promotion",
    "not_approved",
    "duplicate_redemption",
)


@dataclass(frozen=True, slots=True)
class RedemptionItem:
    allocation_id: str
    amount: int | None = None


@dataclass(frozen=True, slots=True)
class RedemptionRejection:
    index: int
    allocation_id: str
    reason: str


def redeem(
    state: LedgerState, *, promotion_id: str, items: list[RedemptionItem]
) -> tuple[int, list[RedemptionRejection], dict[int, int]]:
    """Record redemptions; items are independent (a report batch is not atomic).

    Rules: the allocation must exist (`unknown_allocation`), belong to this promotion
    (`wrong_promotion`), be approved (`not_approved`) and not be redeemed already
    (`duplicate_redemption`, also for a repeat inside one batch). `amount` defaults to the
    allocation's reward value. Returns (accepted, rejections, accepted per campaign).
    """
    accepted = 0
    rejected: list[RedemptionRejection] = []
    per_campaign: dict[int, int] = {}
    tally = ledger.Tally(state.usage(promotion_id))
    for index, item in enumerate(items):
        allocation = state.allocation(item.allocation_id)
        reason = None
        if allocation is None:
            reason = "unknown_allocation"
        elif allocation.promotion_id != promotion_id:
            reason = "wrong_promotion"
        elif allocation.status is not AllocationStatus.COMMITTED:
            reason = "not_approved"
        elif allocation.redeemed:
            reason = "duplicate_redemption"
        if reason is not None or allocation is None:
            rejected.append(RedemptionRejection(index, item.allocation_id, reason or ""))
            continue
        amount = allocation.reward.value if item.amount is None else item.amount
        state.put_allocation(allocation.with_redemption(amount))
        tally.redemptions += 1
        tally.redeemed_amount += amount
        accepted += 1
        per_campaign[allocation.campaign_id] = per_campaign.get(allocation.campaign_id, 0) + 1
    if accepted:
        state.set_usage(promotion_id, tally.usage())
    return accepted, rejected, per_campaign
