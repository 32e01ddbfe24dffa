"""What both flows share: their dependencies (`FlowContext`) and reward activation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from reference_client.config import ClientConfig
from reference_client.flows.coalesce import ValidationCoalescer
from reference_client.http import ApiError, OptimoveApi, PromotionsApi
from reference_client.models import Allocation
from reference_client.platform.journal import Journal
from reference_client.platform.wallet import Wallet
from reference_client.redemption import RedemptionItem, Redemptions
from reference_client.scrubbing import Rule
from reference_client.summary import CampaignSummary

LOG = logging.getLogger("reference_client.flows")
Kind = Literal["scheduled", "triggered"]
# The tier under which rewards of campaigns without a Promotions promotion are counted.
OWN_REWARD = "own reward"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class FlowContext:
    """The flows' dependencies, wired by the `Integrator`."""

    config: ClientConfig
    optimove: OptimoveApi
    promotions: PromotionsApi
    wallet: Wallet
    journal: Journal
    rules: Sequence[Rule]
    redemptions: Redemptions
    summary: Callable[[int, Kind], CampaignSummary]
    is_cancelled: Callable[[int], bool]
    triggered_validations: ValidationCoalescer
    # Promo codes of triggered campaigns that validateCustomers said have no Promotions
    # promotion (see `promotion_missing`): their events are approved without validation
    # until an approval is refused `not_validated` (flows/triggered.py). A scheduled run
    # keeps its own such set, so each run asks afresh (flows/scheduled.py).
    without_promotion: set[str] = field(default_factory=set)
    show_progress: bool = False
    progress_threshold: int = 50_000
    clock: Callable[[], datetime] = field(default=utcnow)


def promotion_missing(exc: BaseException) -> bool:
    """Whether validateCustomers answered that no Promotions promotion is behind the promo
    code: 404 `unknown_promocode`.

    Such a campaign runs Optimove's plain Conditional Execution Bonus Flow: its code was
    added with `integrations/AddPromotions`, the reward is the platform's own, and Optimove
    approves its customers without any validation (wire-contract §2.1, rev 2). The flows
    learn it from the first validation of the code and remember it (`without_promotion`):
    a scheduled run for the rest of that run, the triggered flow until an approval is
    refused `not_validated` (a Promotions promotion has taken the code since). Promotions
    is asked rather than `GetPromotions` read: a code may be listed there *and* be owned by
    a Promotions promotion, and only Promotions knows the latter; and a 404 costs nothing
    extra (the validation call was going to be made anyway).
    """
    return isinstance(exc, ApiError) and exc.status == 404 and exc.code == "unknown_promocode"


def own_reward(customer_id: str, event_id: str | None = None) -> Allocation:
    """A customer of a campaign without a Promotions promotion: nothing reserved, no
    effects; the platform grants its own reward (see `activate`)."""
    return Allocation(customer_id, "", (), event_id)


def activate(wallet: Wallet, allocation: Allocation, summary: CampaignSummary) -> bool:
    """Step 4: activate every reward of one validated customer on our platform.

    True when each reward was credited (or had been, under the same allocation id); False
    when the platform refused one or failed, in which case the customer must be released
    rather than approved. Activated rewards are counted per tier.

    Without effects (a campaign without a Promotions promotion, `own_reward`), the reward
    is the platform's own: this reference platform has none to credit, so it only counts
    the customer under `OWN_REWARD`; yours credits the bonus its own rules name here.
    """
    if not allocation.effects:
        summary.reward(OWN_REWARD)
        summary.activated += 1
        return True
    credited: list[tuple[str, int, int]] = []
    for effect in allocation.effects:
        key = effect.get("allocationId")
        reward = effect["reward"]
        if key is None:  # a dryRun answer: nothing was reserved, nothing to activate
            return False
        try:
            if reward["type"] == "units":
                units = reward.get("units") or 0
                ok = wallet.add_free_spins(allocation.customer_id, units, key)
                credited.append((effect["tierId"], 0, units))
            else:
                amount = reward.get("amount") or 0
                currency = reward.get("currency") or ""
                ok = wallet.credit_bonus(allocation.customer_id, amount, currency, key)
                credited.append((effect["tierId"], amount, 0))
        except Exception:
            LOG.exception(
                "activating %s for %s failed",
                key,
                allocation.customer_id,
                extra={"customer_id": allocation.customer_id, "allocation_id": key},
            )
            ok = False
        if not ok:
            if credited[:-1]:
                # Part of the customer's rewards is on their account and cannot be taken
                # back here: flag it for the platform team rather than hide it.
                LOG.error(
                    "partial activation for %s: %d of %d rewards credited",
                    allocation.customer_id,
                    len(credited) - 1,
                    len(allocation.effects),
                    extra={"customer_id": allocation.customer_id},
                )
            return False
    for tier, amount, units in credited:
        summary.reward(tier, amount, units)
    summary.activated += 1
    return True


def redemption_items(
    campaign_id: int, allocation: Allocation, at: datetime
) -> list[RedemptionItem]:
    return [
        RedemptionItem(campaign_id, allocation.promotion_id, allocation_id, at)
        for allocation_id in allocation.allocation_ids
    ]
