"""Approving customers back to Optimove: the batch core call and the CE v2 per-event call.

Real API (optimove-api-facts §2.6): UpdateCustomerPromotionStatus takes at most 10,000
items, the campaign goes only to customers marked true by ClearanceRequiredBy. The real
service is documented as accepting repeats; the simulator refuses a duplicate approval
by default (wire-contract §2.1) because that is the integrator bug worth catching.

A campaign whose promo code reaches no Promotions promotion (codes added with
`integrations/AddPromotions` only: Optimove's plain "Conditional Execution Bonus Flow",
optimove-api-facts "Added in turn 2") has no ledger: its approvals need no reservation and
are recorded as *approval records*, committed allocations of no promotion and no reward, so
duplicates, `already_approved` and the customers sent at clearance work exactly as for a
Promotions campaign (wire-contract §2.1, rev 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from simulator.domain import ledger
from simulator.domain.errors import DomainError
from simulator.domain.models import (
    APPROVAL_RECORD,
    NO_PROMOTION,
    RESERVED_STATUS,
    Allocation,
    AllocationStatus,
    Campaign,
    CampaignStatus,
    Reward,
)
from simulator.domain.state import LedgerState

DuplicateMode = Literal["reject", "ignore"]

# Per-item approval refusals, in the order they are checked (`_item_reason`), and the
# per-event ones of CE v2 (`approve_event`).
APPROVAL_REASONS = ("not_targeted", "not_validated", "duplicate_approval", "already_approved")


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    approved: int = 0
    released: int = 0
    ignored: int = 0


def check_campaign_open(campaign: Campaign, now: datetime) -> None:
    """Approvals need an executed campaign that is neither cancelled nor past clearance."""
    if campaign.status is CampaignStatus.CANCELLED:
        raise DomainError("campaign_cancelled", f"campaign {campaign.id} was cancelled")
    if campaign.status is CampaignStatus.SCHEDULED:
        raise DomainError("campaign_not_executed", f"campaign {campaign.id} has not executed yet")
    crb = campaign.clearance_required_by
    if campaign.status is CampaignStatus.CLEARED or (crb is not None and now >= crb):
        raise DomainError(
            "clearance_closed",
            f"campaign {campaign.id} cleared at its ClearanceRequiredBy; approvals are closed",
        )


def approve_customers(
    state: LedgerState,
    *,
    campaign: Campaign,
    items: list[tuple[str, bool]],
    is_targeted: Callable[[str], bool],
    now: datetime,
    duplicates: DuplicateMode,
    promotion_backed: bool,
) -> ApprovalOutcome:
    """UpdateCustomerPromotionStatus: all items apply, or none does.

    Rules:
    - `Status: true` commits the customer's reservation for this campaign. When the
      campaign's promo code reaches no Promotions promotion (`promotion_backed` false) there
      is no reservation to commit: the customer is approved by an approval record.
    - `Status: false` releases it; for a customer with no reservation it is a no-op.
    - Refused items, each listed once with the first reason that applies:
      `not_targeted` (not in the processed list), `not_validated` (true without a
      reservation, only where a Promotions promotion is behind the code),
      `duplicate_approval` (already approved, or twice in this batch),
      `already_approved` (false for an approved customer).
    - Any refused item → 409 with `details.rejected`; the error code is the reason they
      share, else `approval_rejected`. With `duplicates="ignore"` a duplicate is a no-op.
    """
    check_campaign_open(campaign, now)
    first: dict[str, bool] = dict(items)  # each customer once: the usual batch, built in C
    repeated: set[str] = set()
    if len(first) < len(items):  # someone twice: each customer's first item counts
        first = {}
        for customer_id, status in items:
            if customer_id in first:
                repeated.add(customer_id)
            else:
                first[customer_id] = status
    rejected: list[dict[str, str]] = []
    plan: list[tuple[str, bool, Allocation | None]] = []
    ignored = len(items) - len(first)
    ignoring = duplicates == "ignore"
    # read once, in one batch: nothing is written before every item has been judged
    found = state.allocations_by_keys(campaign.id, list(first))
    for (customer_id, status), allocation in zip(first.items(), found, strict=True):
        # a reservation may be approved or released: no reason (the usual item, judged
        # without a call; `_item_reason` agrees)
        own = (
            None
            if allocation is not None and allocation.status is RESERVED_STATUS
            else _item_reason(allocation, customer_id, status, is_targeted, promotion_backed)
        )
        if own is None and (customer_id not in repeated or ignoring):
            plan.append((customer_id, status, allocation))  # a repeat applies once
        elif own is None:
            rejected.append({"CustomerID": customer_id, "reason": "duplicate_approval"})
        elif own == "duplicate_approval" and ignoring:
            ignored += 1
        else:
            rejected.append({"CustomerID": customer_id, "reason": own})
    if rejected:
        reasons = {r["reason"] for r in rejected}
        code = reasons.pop() if len(reasons) == 1 else "approval_rejected"
        raise DomainError(
            code,
            f"{len(rejected)} of {len(items)} items refused; nothing was applied",
            {"rejected": rejected},
        )
    records: list[Allocation] = []
    commits: list[Allocation] = []
    releases: list[Allocation] = []
    numbers = ledger.Numbers(state, campaign.id, APPROVAL_RECORD)
    for customer_id, status, allocation in plan:  # each customer once: order is free
        if status and not promotion_backed and allocation is None:
            records.append(approval_record(campaign, customer_id, None, now, numbers.next()))
        elif allocation is None or allocation.status is not RESERVED_STATUS:
            ignored += 1  # Status false without a reservation: a no-op
        elif status:
            commits.append(allocation)
        else:
            releases.append(allocation)
    tallies = ledger.Tallies(state)
    state.put_allocations(records)
    ledger.commit_all(state, tallies.__getitem__, commits)
    ledger.release_all(state, tallies.__getitem__, releases)
    tallies.save()
    return ApprovalOutcome(len(records) + len(commits), len(releases), ignored)


def _item_reason(
    allocation: Allocation | None,
    customer_id: str,
    status: bool,
    is_targeted: Callable[[str], bool],
    promotion_backed: bool,
) -> str | None:
    """The item's own reason, before repeats within the batch are considered
    (`allocation`: the customer's, of this campaign, without an eventId)."""
    # Only a customer without an allocation here needs the (costly) look into the
    # processed list: validation and approval make one only for a targeted customer, and
    # the list is frozen when the campaign executes.
    if allocation is None and not is_targeted(customer_id):
        return "not_targeted"
    live = allocation is not None and allocation.status is not AllocationStatus.RELEASED
    if status and not live and promotion_backed:
        return "not_validated"
    committed = allocation is not None and allocation.status is AllocationStatus.COMMITTED
    if status and committed:
        return "duplicate_approval"
    if not status and committed:
        return "already_approved"
    return None


def approve_event(
    state: LedgerState,
    *,
    campaign: Campaign,
    customer_id: str,
    event_id: str,
    approved: bool,
    promotion_backed: bool,
    now: datetime,
) -> tuple[Literal["approved", "declined"], bool]:
    """CE v2 approval of one triggered event; returns the status and whether the ledger
    changed (a decline without a reservation changes nothing).

    Rules: the event must have been emitted for this customer and campaign (else 404
    `unknown_event`); `approved: true` commits the event's reservation (`not_validated`
    without one, `duplicate_approval` when already committed); `approved: false` releases
    it, is a no-op without one, and is `already_approved` for a committed event. Without a
    Promotions promotion behind the campaign's code (`promotion_backed` false),
    `approved: true` approves the event by an approval record instead of a reservation.
    """
    if campaign.status is CampaignStatus.CANCELLED:
        raise DomainError("campaign_cancelled", f"campaign {campaign.id} was cancelled")
    event = state.event(event_id)
    if event is None or event.customer_id != customer_id or event.campaign_id != campaign.id:
        raise DomainError(
            "unknown_event",
            f"event {event_id!r} was not emitted for customer {customer_id!r} "
            f"in campaign {campaign.id}",
        )
    allocation = state.allocation_by_key(campaign.id, customer_id, event_id)
    status = allocation.status if allocation is not None else None
    if status is AllocationStatus.COMMITTED:
        code = "duplicate_approval" if approved else "already_approved"
        raise DomainError(code, f"event {event_id!r} was already approved")
    if allocation is None and approved and not promotion_backed:
        record_id = ledger.Numbers(state, campaign.id, APPROVAL_RECORD).next()
        state.put_allocation(approval_record(campaign, customer_id, event_id, now, record_id))
        return "approved", True
    if allocation is None or status is AllocationStatus.RELEASED:
        if approved:
            raise DomainError("not_validated", f"event {event_id!r} has no reservation")
        return "declined", False
    tallies = ledger.Tallies(state)
    if approved:
        ledger.commit(state, tallies[allocation.promotion_id], allocation)
    else:
        ledger.release(state, tallies[allocation.promotion_id], allocation)
    tallies.save()
    return ("approved" if approved else "declined"), True


def approval_record(
    campaign: Campaign, customer_id: str, event_id: str | None, now: datetime, record_id: str
) -> Allocation:
    """An approval without a ledger: committed, of no promotion, with no reward. It holds
    nothing of any budget or cap and cannot be redeemed (no promotion owns it).
    `record_id`: its `allocation_id` (an `APPROVAL_RECORD` one, `ledger.Numbers`)."""
    return Allocation(
        record_id,
        NO_PROMOTION,
        campaign.id,
        customer_id,
        event_id,
        "",
        "",
        Reward("amount", 0),
        AllocationStatus.COMMITTED,
        now,
        (),
    )
