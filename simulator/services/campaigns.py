"""Campaign operations: create, execute, clear, cancel, triggered events, the processed
customer list, approvals (core batch and CE v2), the audit report, and clock-driven work."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from simulator.domain import approvals, audit, campaigns
from simulator.domain.campaigns import ProcessedList
from simulator.domain.errors import DomainError, invalid, not_found
from simulator.domain.models import Campaign, CampaignStats, CampaignStatus, TargetGroup, Tenant
from simulator.domain.tiers import holds
from simulator.population import Population
from simulator.services import coverage
from simulator.services.runtime import Runtime
from simulator.specs import CampaignCreate, TargetGroupSpec
from simulator.store.base import Tx

MAX_APPROVAL_ITEMS = 10_000


def require_tenant(tx: Tx) -> Tenant:
    tenant = tx.tenant()
    if tenant is None:
        raise not_found("tenant", tx.tenant_id)
    return tenant


def require_campaign(tx: Tx, campaign_id: int) -> Campaign:
    campaign = tx.campaign(campaign_id)
    if campaign is None:
        raise not_found("campaign", campaign_id)
    return campaign


def freeze(population: Population, target: TargetGroup) -> ProcessedList:
    """The processed list of a target group at execution time (see `TargetGroup`). An id
    list is kept in population order (indices), like every processed list."""
    count = population.count
    if target.ids:
        found = (population.index_of(cid) for cid in target.ids)
        return ProcessedList(indices=array("I", sorted(i for i in found if i is not None)))
    start = min(target.offset, count)
    if not target.where:
        return ProcessedList(start, min(count, start + target.size))
    indices: array[int] = array("I")
    for index in range(start, count):
        if len(indices) >= target.size:
            break
        attributes = population.customer(index)
        if all(holds(c, attributes, {}) for c in target.where):
            indices.append(index)
    return ProcessedList(indices=indices)


def settle(rt: Runtime, tx: Tx, tenant: Tenant, campaign: Campaign, now: datetime) -> Campaign:
    """Do what the clock owes this campaign (execute at `executeAt`, clear at the deadline)
    before anyone looks at it, so a request never sees a campaign past its time."""
    while (duty := campaigns.due(campaign, now)) is not None:
        if duty == "execute":
            campaign = _execute(rt, tx, tenant, campaign, now)
        else:
            campaign = _clear(rt, tx, tenant, campaign, now)
    return campaign


def settled_campaign(rt: Runtime, tx: Tx, campaign_id: int) -> tuple[Tenant, Campaign, datetime]:
    tenant = require_tenant(tx)
    now = rt.now(tenant)
    return tenant, settle(rt, tx, tenant, require_campaign(tx, campaign_id), now), now


def run_due(rt: Runtime, tenant_id: str) -> int:
    """Run every execution and clearance that has fallen due on the tenant's clock."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = tx.tenant()
        if tenant is None:
            return 0
        now = rt.now(tenant)
        done = 0
        for campaign in tx.campaigns():
            if campaigns.due(campaign, now) is not None:
                settle(rt, tx, tenant, campaign, now)
                done += 1
        return done


def sweep_due(rt: Runtime, tenant_id: str) -> float | None:
    """Run every duty that has fallen due (as `run_due`), and say when (wall clock) the
    tenant's next one falls due: None when none is scheduled, or on a manual clock, which
    moves only by /_sim/clock (and runs what falls due there)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = tx.tenant()
        if tenant is None:
            return None
        now = rt.now(tenant)
        upcoming: list[datetime] = []
        for campaign in tx.campaigns():
            if campaigns.due(campaign, now) is not None:
                campaign = settle(rt, tx, tenant, campaign, now)
            at = campaigns.next_duty_at(campaign)
            if at is not None:
                upcoming.append(at)
        if not upcoming or (tenant.clock.mode == "manual" and tenant.clock.manual_now):
            return None
        return rt.wall() + max(0.0, (min(upcoming) - now).total_seconds())


def create_campaign(rt: Runtime, tenant_id: str, spec: CampaignCreate) -> Campaign:
    """Create a campaign; its promo code must belong to an existing promotion."""
    with rt.store.transaction(tenant_id) as tx:
        return create_campaign_in(rt, tx, require_tenant(tx), spec)


def promotion_backed(tx: Tx, campaign: Campaign) -> bool:
    """Whether a Promotions promotion is behind the campaign's promo code (the Advanced
    Control Flow, with a ledger) or not (a code added with AddPromotions only)."""
    return tx.promotion_by_code(campaign.promo_code) is not None


def check_target_group(population: Population, target: TargetGroupSpec) -> None:
    """A target group must fit the population: an id list names existing customers only
    (else 404 `unknown_customer`), and `offset + size` is at most the number of customers
    (else 409 `target_group_too_large`): an error, not a list that silently comes out
    shorter (fidelity item 11)."""
    if target.ids is not None:
        for k, cid in enumerate(target.ids):
            if population.index_of(cid) is None:
                raise DomainError(
                    "unknown_customer",
                    f"targetGroup.ids[{k}]: customer {cid!r} is not in the population",
                    {"field": f"targetGroup.ids[{k}]"},
                )
        return
    if target.offset + (target.size or 0) > population.count:
        raise DomainError(
            "target_group_too_large",
            f"targetGroup.size: offset {target.offset} + size {target.size} is more than the "
            f"{population.count:,} customers of the population",
            {"field": "targetGroup.size"},
        )


def create_campaign_in(rt: Runtime, tx: Tx, tenant: Tenant, spec: CampaignCreate) -> Campaign:
    """A campaign's promo code must be known: a Promotions promotion's code, or a code
    added with `integrations/AddPromotions` (a campaign without a ledger, §2.1)."""
    if tx.campaign(spec.id) is not None:
        raise DomainError("campaign_exists", f"campaign {spec.id} already exists")
    code = spec.promoCode
    if tx.promotion_by_code(code) is None and code not in tenant.legacy_promotions:
        raise DomainError(
            "unknown_promocode",
            f"promocode {code!r} belongs to no promotion and was not added with AddPromotions",
        )
    if spec.targetGroup is not None:
        check_target_group(rt.population(tenant, tx), spec.targetGroup)
    campaign = Campaign(
        id=spec.id,
        type=spec.type,
        promo_code=spec.promoCode,
        action_id=spec.actionId,
        action_name=spec.actionName,
        status=CampaignStatus.SCHEDULED if spec.type == "scheduled" else CampaignStatus.ACTIVE,
        created_at=rt.now(tenant),
        target=spec.targetGroup.to_domain() if spec.targetGroup else None,
        clearance_window_s=round(spec.clearanceWindowMinutes * 60),
        execute_at=spec.executeAt,
        series_id=spec.seriesId,
        trigger=spec.trigger,
        channels=tuple(spec.channels),
    )
    tx.put_campaign(campaign)
    return settle(rt, tx, tenant, campaign, rt.now(tenant))


def get_campaign(rt: Runtime, tenant_id: str, campaign_id: int) -> tuple[Campaign, int]:
    """The campaign and the size of its processed list (0 before execution)."""
    with rt.store.transaction(tenant_id) as tx:
        _, campaign, _ = settled_campaign(rt, tx, campaign_id)
        processed = tx.processed(campaign_id)
        return campaign, len(processed) if processed is not None else 0


def list_campaigns(rt: Runtime, tenant_id: str) -> list[Campaign]:
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        now = rt.now(tenant)
        return [settle(rt, tx, tenant, c, now) for c in sorted(tx.campaigns(), key=lambda c: c.id)]


def _execute(rt: Runtime, tx: Tx, tenant: Tenant, campaign: Campaign, now: datetime) -> Campaign:
    if campaign.status is CampaignStatus.SCHEDULED and campaign.target is not None:
        processed = freeze(rt.population(tenant, tx), campaign.target)
    else:
        processed = ProcessedList()
    executed, event = campaigns.execute(campaign, tenant_id=tenant.numeric_id, now=now, ids=rt.ids)
    tx.put_processed(campaign.id, processed)
    tx.put_campaign(executed)
    tx.append_outbox(event)
    tx.put_stats(campaign.id, replace(tx.stats(campaign.id), targeted=len(processed)))
    coverage.hit(campaign.id, "lifecycle.executed")
    return executed


def _clear(rt: Runtime, tx: Tx, tenant: Tenant, campaign: Campaign, now: datetime) -> Campaign:
    done = campaigns.clear(tx, campaign, now=now, tenant_id=tenant.numeric_id, ids=rt.ids)
    tx.put_campaign(done.campaign)
    for event in done.events:
        tx.append_outbox(event)
    stats = tx.stats(campaign.id)
    tx.put_stats(
        campaign.id, replace(stats, sent=done.sent, released=stats.released + done.released)
    )
    coverage.hit(campaign.id, "lifecycle.cleared")
    return done.campaign


def execute_campaign(rt: Runtime, tenant_id: str, campaign_id: int) -> Campaign:
    """Execute a scheduled campaign now: freeze its processed list, set
    `ClearanceRequiredBy` and write the EventTypeID 5 webhook to the outbox."""
    with rt.store.transaction(tenant_id) as tx:
        tenant, campaign, now = settled_campaign(rt, tx, campaign_id)
        return _execute(rt, tx, tenant, campaign, now)


def clear_campaign(rt: Runtime, tenant_id: str, campaign_id: int) -> Campaign:
    """Clear an executed campaign now, as if its `ClearanceRequiredBy` had come: it is sent
    to the approved customers and each of its channels gets an EventTypeID 13 webhook."""
    with rt.store.transaction(tenant_id) as tx:
        tenant, campaign, now = settled_campaign(rt, tx, campaign_id)
        return _clear(rt, tx, tenant, campaign, now)


def cancel_campaign(rt: Runtime, tenant_id: str, campaign_id: int) -> Campaign:
    """Cancel: release open reservations; an executed campaign also sends EventTypeID 4."""
    with rt.store.transaction(tenant_id) as tx:
        _, campaign, now = settled_campaign(rt, tx, campaign_id)
        cancelled, released, event = campaigns.cancel(tx, campaign, now=now, ids=rt.ids)
        tx.put_campaign(cancelled)
        if event is not None:
            tx.append_outbox(event)
        stats = tx.stats(campaign_id)
        tx.put_stats(campaign_id, replace(stats, released=stats.released + released))
        coverage.hit(campaign_id, "lifecycle.cancelled")
        return cancelled


@dataclass(frozen=True, slots=True)
class CustomerPage:
    """One page of a processed list, for the API to encode (it is the hot path)."""

    campaign: Campaign
    population: Population
    processed: ProcessedList
    start: int
    stop: int
    attributes: tuple[str, ...]


def get_processed_campaign_customers(
    rt: Runtime,
    tenant_id: str,
    campaign_id: int,
    *,
    top: int,
    skip: int,
    attributes: tuple[str, ...],
) -> CustomerPage:
    """A page of the frozen processed list, in a stable order; 404 before execution.

    `attributes` are matched case-insensitively against the population's attribute names
    (generated and chosen); an unknown name → 400. A customer without a chosen attribute
    has the empty string for it."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        population = rt.population(tenant, tx)
        names: list[str] = []
        for raw in attributes:
            name = population.attribute_name(raw)
            if name is None:
                raise invalid("CustomerAttributes", f"unknown customer attribute {raw.strip()!r}")
            names.append(name)
        tenant, campaign, _ = settled_campaign(rt, tx, campaign_id)
        processed = tx.processed(campaign_id)
        if campaign.type != "scheduled" or processed is None:
            raise DomainError(
                "campaign_not_executed", f"campaign {campaign_id} has no processed customers"
            )
        start = min(skip, len(processed))
        stop = min(start + top, len(processed))
        tx.put_stats(campaign_id, audit.record_fetch(tx.stats(campaign_id), stop - start))
        return CustomerPage(campaign, population, processed, start, stop, tuple(names))


def targeted_index(
    population: Population, processed: ProcessedList | None, customer_id: str
) -> int | None:
    """The customer's population index if the campaign's frozen list holds it, else None."""
    index = population.index_of(customer_id)
    if index is None or processed is None or not processed.contains(index):
        return None
    return index


def targeted_indices(
    population: Population, processed: ProcessedList | None, customer_ids: Sequence[str]
) -> list[int] | None:
    """`targeted_index` of each customer of a batch whose customers are all generated ones
    in the frozen list, read at once (the usual validateCustomers call); None for any other
    batch (the caller then asks `targeted_index` one by one)."""
    if processed is None:
        return None
    indices = population.generated_indices(customer_ids)
    if indices is None or not processed.contains_all(indices):
        return None
    return indices


def _targeting(population: Population, processed: ProcessedList | None) -> Callable[[str], bool]:
    return lambda customer_id: targeted_index(population, processed, customer_id) is not None


def update_customer_promotion_status(
    rt: Runtime, tenant_id: str, campaign_id: int, items: list[tuple[str, bool]]
) -> approvals.ApprovalOutcome:
    """Approve (commit) or release customers of a scheduled campaign, all or nothing.
    A refused call is still counted in the audit, in a transaction of its own."""
    if len(items) > MAX_APPROVAL_ITEMS:
        raise DomainError("invalid_request", f"PromosUpdated: at most {MAX_APPROVAL_ITEMS} items")
    try:
        with rt.store.transaction(tenant_id) as tx:
            tenant, campaign, now = settled_campaign(rt, tx, campaign_id)
            if campaign.type != "scheduled":
                raise not_found("campaign", campaign_id)
            backed = promotion_backed(tx, campaign)
            outcome = approvals.approve_customers(
                tx,
                campaign=campaign,
                items=items,
                is_targeted=_targeting(rt.population(tenant, tx), tx.processed(campaign_id)),
                now=now,
                duplicates=rt.duplicates,
                promotion_backed=backed,
            )
            stats = audit.record_approvals(
                tx.stats(campaign_id), outcome.approved, outcome.released, now
            )
            tx.put_stats(campaign_id, stats)
            approved_rule = "approve.approved" if backed else "approve.without_promotion"
            coverage.hit(campaign_id, approved_rule, outcome.approved)
            coverage.hit(campaign_id, "approve.released", outcome.released)
            return outcome
    except DomainError as error:
        coverage.hit_refusal(campaign_id, error.code, (error.details or {}).get("rejected", ()))
        _record_refusal(rt, tenant_id, campaign_id, error)
        raise


def _record_refusal(rt: Runtime, tenant_id: str, campaign_id: int, error: DomainError) -> None:
    if error.code.startswith("unknown_") or error.code == "invalid_request":
        return
    with rt.store.transaction(tenant_id) as tx:
        tenant = tx.tenant()
        if tenant is None or tx.campaign(campaign_id) is None:
            return
        rejected = (error.details or {}).get("rejected", [])
        stats = audit.record_refusal(tx.stats(campaign_id), error.code, rejected, rt.now(tenant))
        tx.put_stats(campaign_id, stats)


def approve_triggered_event(
    rt: Runtime, tenant_id: str, campaign_id: int, customer_id: str, event_id: str, approved: bool
) -> Literal["approved", "declined"]:
    """CE v2 approval of one triggered event (see `approvals.approve_event`)."""
    try:
        with rt.store.transaction(tenant_id) as tx:
            _, campaign, now = settled_campaign(rt, tx, campaign_id)
            backed = promotion_backed(tx, campaign)
            status, changed = approvals.approve_event(
                tx,
                campaign=campaign,
                customer_id=customer_id,
                event_id=event_id,
                approved=approved,
                promotion_backed=backed,
                now=now,
            )
            if changed and status == "approved":
                coverage.hit(
                    campaign_id, "approve.approved" if backed else "approve.without_promotion"
                )
            elif changed:
                coverage.hit(campaign_id, "approve.released")
            if changed:
                stats = tx.stats(campaign_id)
                approved_n, released_n = (1, 0) if status == "approved" else (0, 1)
                tx.put_stats(
                    campaign_id, audit.record_approvals(stats, approved_n, released_n, now)
                )
            return status
    except DomainError as error:
        per_event = error.code in ("duplicate_approval", "not_validated", "already_approved")
        coverage.hit_refusal(campaign_id, error.code, [{"reason": error.code}] if per_event else ())
        if per_event:
            _record_refusal(
                rt,
                tenant_id,
                campaign_id,
                DomainError(
                    error.code,
                    error.message,
                    {"rejected": [{"CustomerID": customer_id, "reason": error.code}]},
                ),
            )
        raise


def emit_events(
    rt: Runtime,
    tenant_id: str,
    campaign_id: int,
    *,
    customers: list[tuple[str, Mapping[str, Any]]] | None,
    count: int | None,
    context: Mapping[str, Any],
) -> tuple[list[str], int]:
    """Emit customer events for a triggered campaign: one outbox webhook each. Returns the
    event ids and the outbox sequence number of the first webhook.

    Given `customers`, one event per entry (a customer may repeat); given `count`, that many
    customers are picked deterministically from the population, each with `context` plus a
    generated `depositAmount` (minor units) unless the context sets one.
    """
    with rt.store.transaction(tenant_id) as tx:
        tenant, campaign, now = settled_campaign(rt, tx, campaign_id)
        population = rt.population(tenant, tx)
        stats = tx.stats(campaign_id)
        if customers is None:
            salt = campaign_id * 1_000_003 + stats.events_emitted
            picked = population.pick(salt, count or 0)
            customers = [
                (
                    population.customer_id(index),
                    {"depositAmount": population.sample_value(salt + k, 1_000, 50_000), **context},
                )
                for k, index in enumerate(picked)
            ]
        for i, (customer_id, _) in enumerate(customers):
            if population.index_of(customer_id) is None:
                raise DomainError(
                    "invalid_request",
                    f"customers[{i}].customerId: {customer_id!r} is not in the population",
                    {"field": f"customers[{i}].customerId"},
                )
        ids: list[str] = []
        first_seq = 0
        for customer_id, ctx in customers:
            event, webhook = campaigns.emit_event(
                campaign, customer_id=customer_id, context=ctx, now=now, ids=rt.ids
            )
            tx.put_event(event)
            stored = tx.append_outbox(webhook)
            first_seq = first_seq or stored.seq
            ids.append(event.id)
        tx.put_stats(campaign_id, replace(stats, events_emitted=stats.events_emitted + len(ids)))
        coverage.hit(campaign_id, "lifecycle.event_emitted", len(ids))
        return ids, first_seq


def campaign_report(
    rt: Runtime, tenant_id: str, campaign_id: int
) -> tuple[Campaign, CampaignStats]:
    """The campaign's audit: what was targeted, fetched, validated, approved, released and
    redeemed, and every protocol violation seen so far."""
    with rt.store.transaction(tenant_id) as tx:
        _, campaign, _ = settled_campaign(rt, tx, campaign_id)
        return campaign, tx.stats(campaign_id)
