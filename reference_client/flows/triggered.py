"""The triggered-campaign flow (seed: "Triggered Campaign Execution", steps 2-5), once per
CE v2 webhook (one customer event).

Business rules:
1. Validate the customer for this event: one context `{customerId, eventId, session}`
   where `session` is the webhook's `context` (tier conditions read `session.*`,
   wire-contract §5), with `campaignType: "triggered"`. Concurrent events of the same
   promo code share a call (`flows/coalesce.py`); each context is judged on its own.
   A promo code with no Promotions promotion (404 `unknown_promocode`) is not validated:
   the event goes on to activation (the platform's own reward) and approval as it is.
   The code is remembered for later events (`FlowContext.without_promotion`: one 404,
   not one per event) until an approval of such an event is refused `not_validated`,
   which means a Promotions promotion owns the code now: then it is forgotten and later
   events are validated again.
2. Not valid → nothing is credited and nothing was reserved, so there is nothing to
   approve or release: the reason is recorded.
3. Valid → activate the reward on the wallet (keyed by allocationId: never twice).
4. Approve the event (`approved: true`); a 409 `duplicate_approval` means an earlier
   attempt (response lost) was applied and counts as approved. If the wallet refused,
   release the reservation instead (`approved: false`).
5. Report the redemption of the approved reward (per event or batched).
An event already approved before a restart (journal) is not run again; events of a
cancelled campaign are skipped.
"""

from __future__ import annotations

from reference_client.flows.common import (
    LOG,
    FlowContext,
    activate,
    own_reward,
    promotion_missing,
    redemption_items,
)
from reference_client.http import ApiError, ApiTransportError
from reference_client.models import Allocation, TriggeredEvent
from reference_client.platform.journal import Approved
from reference_client.summary import CURRENT_CAMPAIGN, CampaignSummary


async def run_triggered(ctx: FlowContext, event: TriggeredEvent) -> CampaignSummary:
    """Run one customer event through the flow; returns its campaign's summary."""
    campaign_id = event.campaign.id
    summary = ctx.summary(campaign_id, "triggered")
    token = CURRENT_CAMPAIGN.set(campaign_id)
    try:
        await _run(ctx, event, summary)
    finally:
        CURRENT_CAMPAIGN.reset(token)
        summary.events_processed += 1
        summary.finished_at = ctx.clock()
    return summary


async def _run(ctx: FlowContext, event: TriggeredEvent, s: CampaignSummary) -> None:
    campaign_id = event.campaign.id
    customer_id = event.user.user_id
    log = {"campaign_id": campaign_id, "event_id": event.eventId, "customer_id": customer_id}
    if ctx.is_cancelled(campaign_id):
        s.error("skipped_cancelled")
        return
    if ctx.journal.was_approved(campaign_id, event.eventId):
        s.resumed_skipped += 1
        return
    if not event.campaign.action.promo_codes:
        s.error("no_promo_code")
        LOG.error("triggered event without a promo code", extra=log)
        return
    s.targeted += 1
    promocode = event.campaign.action.promo_codes[0]
    allocation = (
        own_reward(customer_id, event.eventId)
        if promocode in ctx.without_promotion
        else await _validate(ctx, event, promocode, s, log)
    )
    if allocation is None:
        return
    with s.timed("activate"):
        ok = activate(ctx.wallet, allocation, s)
    with s.timed("approve"):
        try:
            await ctx.optimove.approve_triggered_event(
                campaign_id, customer_id, event.eventId, approved=ok
            )
        except ApiError as exc:
            if not (ok and exc.status == 409 and exc.code == "duplicate_approval"):
                s.error(f"approval_{exc.code}")
                LOG.error("approving event refused: %s", exc, extra=log)
                if exc.code == "not_validated" and not allocation.effects:
                    # A Promotions promotion owns the code now: validate from here on.
                    ctx.without_promotion.discard(promocode)
                return
            s.approvals_reconciled += 1
        except ApiTransportError as exc:
            s.error("approval_unanswered")
            LOG.error("approving event unconfirmed: %s", exc, extra=log)
            return
    if not ok:
        s.released += 1
        return
    s.approved += 1
    ctx.journal.mark_approved(
        campaign_id,
        [Approved(event.eventId, allocation.promotion_id, allocation.allocation_ids)],
    )
    with s.timed("redeem"):
        await ctx.redemptions.add(redemption_items(campaign_id, allocation, ctx.clock()))


async def _validate(
    ctx: FlowContext,
    event: TriggeredEvent,
    promocode: str,
    s: CampaignSummary,
    log: dict[str, object],
) -> Allocation | None:
    """Step 1: the event's reward, or None when there is nothing to activate."""
    customer_id = event.user.user_id
    with s.timed("validate"):
        try:
            promotion_id, result = await ctx.triggered_validations.validate(
                promocode,
                event.campaign.id,
                event.campaign.action.id,
                {"customerId": customer_id, "eventId": event.eventId, "session": event.context},
            )
        except (ApiError, ApiTransportError) as exc:
            if promotion_missing(exc):
                ctx.without_promotion.add(promocode)
                return own_reward(customer_id, event.eventId)
            s.error(f"validate_{exc.code if isinstance(exc, ApiError) else 'unavailable'}")
            LOG.error("validating event failed: %s", exc, extra=log)
            return None
    if result is None or not result["valid"]:
        reason = (result.get("reason") or "unknown") if result is not None else "no_result"
        s.count(s.ineligible_by_reason, reason)
        return None
    s.validated += 1
    effects = tuple(result.get("effects", ()))
    return Allocation(customer_id, promotion_id, effects, event.eventId)
