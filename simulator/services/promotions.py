"""Promotions operations: lifecycle, validateCustomers, redemptions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import partial
from operator import attrgetter
from typing import Any

from simulator.domain import audit, promotions, redemptions, validation
from simulator.domain.errors import DomainError, not_found
from simulator.domain.models import PeriodCaps, Promotion, PromotionStatus, Usage
from simulator.domain.redemptions import RedemptionItem, RedemptionRejection
from simulator.domain.tiers import attribute_names
from simulator.domain.validation import ContextResult, Contexts
from simulator.services import coverage
from simulator.services.campaigns import (
    require_tenant,
    settled_campaign,
    targeted_index,
    targeted_indices,
)
from simulator.services.runtime import Runtime
from simulator.specs import PromotionCreate
from simulator.store.base import Tx


def require_promotion(tx: Tx, promotion_id: str) -> Promotion:
    promotion = tx.promotion(promotion_id)
    if promotion is None:
        raise not_found("promotion", promotion_id)
    return promotion


def build_promotion(spec: PromotionCreate, now: Any) -> Promotion:
    tiers = tuple(t.to_domain() for t in spec.tiers)
    promotions.check_tiers(tiers, spec.rewardKind)
    return Promotion(
        id=spec.id,
        name=spec.name,
        promocodes=tuple(spec.promocodes),
        reward_kind=spec.rewardKind,
        currency=spec.currency,
        budget=spec.budget,
        audience_cap=spec.audienceCap,
        per_customer_limit=spec.perCustomerLimit,
        period_caps=spec.periodCaps.to_domain() if spec.periodCaps else PeriodCaps(),
        tiers=tiers,
        status=PromotionStatus.DRAFT,
        ever_active=False,
        created_at=now,
    )


def add_promotion(tx: Tx, promotion: Promotion) -> None:
    """Store a new promotion: its id and every promocode must be new to the tenant."""
    if tx.promotion(promotion.id) is not None:
        raise DomainError("promotion_exists", f"promotion {promotion.id!r} already exists")
    for code in promotion.promocodes:
        if tx.promotion_by_code(code) is not None:
            raise DomainError(
                "promocode_exists", f"promocode {code!r} already belongs to a promotion"
            )
    tx.put_promotion(promotion)


def create_promotion(rt: Runtime, tenant_id: str, spec: PromotionCreate) -> tuple[Promotion, Usage]:
    """Create a promotion in `draft` (tiers checked against `rewardKind`)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        promotion = build_promotion(spec, rt.now(tenant))
        add_promotion(tx, promotion)
        return promotion, tx.usage(promotion.id)


def get_promotion(rt: Runtime, tenant_id: str, promotion_id: str) -> tuple[Promotion, Usage]:
    """The promotion and its usage (budget and audience reserved / committed / released)."""
    with rt.store.transaction(tenant_id) as tx:
        require_tenant(tx)
        return require_promotion(tx, promotion_id), tx.usage(promotion_id)


def list_promotions(rt: Runtime, tenant_id: str) -> list[tuple[Promotion, Usage]]:
    with rt.store.transaction(tenant_id) as tx:
        require_tenant(tx)
        return [(p, tx.usage(p.id)) for p in sorted(tx.promotions(), key=lambda p: p.id)]


def _transition(
    rt: Runtime, tenant_id: str, promotion_id: str, change: str, tiers: Any = None
) -> tuple[Promotion, Usage]:
    with rt.store.transaction(tenant_id) as tx:
        require_tenant(tx)
        promotion = require_promotion(tx, promotion_id)
        if change == "activate":
            promotion = promotions.activate(promotion)
        elif change == "deactivate":
            promotion = promotions.deactivate(promotion)
        elif change == "archive":
            promotion = promotions.archive(promotion)
        else:
            promotion = promotions.set_tiers(promotion, tiers)
        tx.put_promotion(promotion)
        return promotion, tx.usage(promotion_id)


def activate_promotion(rt: Runtime, tenant_id: str, promotion_id: str) -> tuple[Promotion, Usage]:
    """Activate (from draft or deactivated); an archived promotion cannot be activated."""
    return _transition(rt, tenant_id, promotion_id, "activate")


def deactivate_promotion(rt: Runtime, tenant_id: str, promotion_id: str) -> tuple[Promotion, Usage]:
    """Deactivate an active promotion: validations answer `promotion_not_active`."""
    return _transition(rt, tenant_id, promotion_id, "deactivate")


def archive_promotion(rt: Runtime, tenant_id: str, promotion_id: str) -> tuple[Promotion, Usage]:
    """Archive (DELETE): kept for reporting, never active again."""
    return _transition(rt, tenant_id, promotion_id, "archive")


def set_promotion_tiers(
    rt: Runtime, tenant_id: str, promotion_id: str, tiers: Any
) -> tuple[Promotion, Usage]:
    """Replace the tiers; refused with `tiers_locked` once the promotion was ever active."""
    return _transition(rt, tenant_id, promotion_id, "tiers", tiers)


def validate_customers(
    rt: Runtime,
    tenant_id: str,
    promocode: str,
    campaign_id: int,
    campaign_type: str | None,
    contexts: Contexts,
    *,
    dry_run: bool,
) -> tuple[Promotion, list[ContextResult]]:
    """validateCustomers for one campaign; valid results reserve (see `validate_contexts`)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant, campaign, now = settled_campaign(rt, tx, campaign_id)
        promotion = tx.promotion_by_code(promocode)
        if promotion is None:
            raise not_found("promocode", promocode)
        if campaign_type is not None and campaign_type != campaign.type:
            raise DomainError(
                "campaign_type_mismatch",
                f"campaign {campaign_id} is {campaign.type}, not {campaign_type}",
            )
        population = rt.population(tenant, tx)
        processed = tx.processed(campaign_id)

        # triggered: any population customer (the event check is the domain's)
        index_of = population.index_of
        indices = None  # a scheduled batch's customers' indices, when read at once
        if campaign.type == "scheduled":
            index_of = partial(targeted_index, population, processed)
            if len(contexts) > 1:
                indices = targeted_indices(population, processed, contexts.customer_ids)
        customer = population.customer
        # what the tiers read of a batch's customers, computed as a batch (or, when it
        # cannot be, their indices, each customer read when judged)
        read: dict[str, Mapping[str, Any]] = {}
        batch: dict[str, int] = {}
        if indices is not None:
            names = attribute_names(promotion.tiers)
            rows = None if names is None else population.attribute_rows(indices, names)
            if rows is not None:
                read = dict(zip(contexts.customer_ids, rows, strict=True))
            else:
                batch = dict(zip(contexts.customer_ids, indices, strict=True))

        def targeting(customer_id: str) -> Mapping[str, Any] | None:
            found = read.get(customer_id)
            if found is not None:
                return found
            index = batch.get(customer_id)
            if index is None:
                index = index_of(customer_id)
            return None if index is None else customer(index)

        try:
            results = validation.validate_contexts(
                tx,
                promotion=promotion,
                promocode=promocode,
                campaign=campaign,
                contexts=contexts,
                targeting=targeting,
                now=now,
                dry_run=dry_run,
            )
        except DomainError as error:
            coverage.hit_refusal(campaign_id, error.code)
            raise
        _cover_validation(campaign_id, promotion.id, results)
        if not dry_run:
            reasons = [(r.customer_id, r.reason) for r in results if r.reason is not None]
            valid = len(results) - len(reasons)
            tx.put_stats(
                campaign_id, audit.record_validation(tx.stats(campaign_id), valid, reasons, now)
            )
        return promotion, results


def _cover_validation(campaign_id: int, promotion_id: str, results: list[ContextResult]) -> None:
    # One C-level pass over the results (a valid result has a tier, an invalid one none);
    # the reasons are counted only when some were refused.
    tiers = Counter(map(_TIER, results))
    refused = tiers.pop(None, 0)
    for tier, times in tiers.items():
        coverage.hit(campaign_id, f"tier.{promotion_id}.{tier}", times)
    coverage.hit(campaign_id, "validate.valid", len(results) - refused)
    if refused:
        for reason, times in Counter([r.reason for r in results if r.reason]).items():
            coverage.hit(campaign_id, f"validate.{reason}", times)


_TIER = attrgetter("tier_id")


def report_redemptions(
    rt: Runtime, tenant_id: str, promotion_id: str, items: list[RedemptionItem]
) -> tuple[int, list[RedemptionRejection]]:
    """Record redemptions; each item is accepted or rejected on its own."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        require_promotion(tx, promotion_id)
        accepted, rejected, per_campaign = redemptions.redeem(
            tx, promotion_id=promotion_id, items=items
        )
        now = rt.now(tenant)
        refused_by_campaign: dict[int, list[tuple[str, str]]] = {}
        for rejection in rejected:
            allocation = tx.allocation(rejection.allocation_id)
            if allocation is not None:
                refused_by_campaign.setdefault(allocation.campaign_id, []).append(
                    (rejection.allocation_id, rejection.reason)
                )
        for campaign_id, n in per_campaign.items():
            coverage.hit(campaign_id, "redeem.accepted", n)
        for campaign_id, refused in refused_by_campaign.items():
            for _, reason in refused:
                coverage.hit(campaign_id, f"redeem.{reason}")
        for campaign_id in set(per_campaign) | set(refused_by_campaign):
            if tx.campaign(campaign_id) is None:
                continue
            stats = audit.record_redemptions(
                tx.stats(campaign_id),
                per_campaign.get(campaign_id, 0),
                refused_by_campaign.get(campaign_id, []),
                now,
            )
            tx.put_stats(campaign_id, stats)
        return accepted, rejected
