"""Promotion lifecycle (optimove-api-facts §3.1): draft → active ⇄ deactivated → archived.

Rules:
- Created as `draft`; `activate` from draft or deactivated; `deactivate` from active.
- Archiving (DELETE) is final: activating an archived promotion → `promotion_archived`.
- Tiers cannot be edited once the promotion has ever been active → `tiers_locked`.
- Every tier's reward must fit the promotion's `rewardKind` (percent is an amount reward).
"""

from __future__ import annotations

from dataclasses import replace

from simulator.domain.errors import DomainError, invalid
from simulator.domain.models import Promotion, PromotionStatus, RewardKind, Tier
from simulator.domain.tiers import OPS


def check_tiers(tiers: tuple[Tier, ...], kind: RewardKind) -> None:
    """Each tier id is unique, each condition well formed, each reward of the promotion's kind."""
    seen: set[str] = set()
    for i, tier in enumerate(tiers):
        if tier.id in seen:
            raise invalid(f"tiers[{i}].id", f"duplicate tier id {tier.id!r}")
        seen.add(tier.id)
        fits = tier.reward.type == "units" if kind == "units" else tier.reward.type != "units"
        if not fits:
            raise invalid(
                f"tiers[{i}].reward.type",
                f"a {tier.reward.type} reward does not fit rewardKind {kind!r}",
            )
        for j, cond in enumerate(tier.when):
            root = cond.field.partition(".")[0]
            if root not in ("attributes", "session") or "." not in cond.field:
                raise invalid(
                    f"tiers[{i}].when[{j}].field", "must be 'attributes.X' or 'session.Y'"
                )
            if cond.op not in OPS:
                raise invalid(f"tiers[{i}].when[{j}].op", f"must be one of {', '.join(OPS)}")
            if cond.op in ("in", "not_in") and not isinstance(cond.value, list | tuple):
                raise invalid(f"tiers[{i}].when[{j}].value", f"'{cond.op}' needs a list")


def activate(promotion: Promotion) -> Promotion:
    if promotion.status is PromotionStatus.ARCHIVED:
        raise DomainError(
            "promotion_archived", f"promotion {promotion.id!r} is archived and cannot be activated"
        )
    return replace(promotion, status=PromotionStatus.ACTIVE, ever_active=True)


def deactivate(promotion: Promotion) -> Promotion:
    if promotion.status is PromotionStatus.ARCHIVED:
        raise DomainError("promotion_archived", f"promotion {promotion.id!r} is archived")
    if promotion.status is PromotionStatus.DRAFT:
        raise DomainError(
            "invalid_transition", f"promotion {promotion.id!r} is a draft and was never active"
        )
    return replace(promotion, status=PromotionStatus.DEACTIVATED)


def archive(promotion: Promotion) -> Promotion:
    return replace(promotion, status=PromotionStatus.ARCHIVED)


def set_tiers(promotion: Promotion, tiers: tuple[Tier, ...]) -> Promotion:
    if promotion.ever_active:
        raise DomainError(
            "tiers_locked",
            f"promotion {promotion.id!r} has been active; its tiers can no longer change",
        )
    check_tiers(tiers, promotion.reward_kind)
    return replace(promotion, tiers=tiers)
