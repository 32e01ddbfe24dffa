"""Read-only views for the dashboard (`simulator.ui`): what the control API does not list.

Each opens one store transaction and reads; nothing here writes, so the dashboard can poll
them while a load runs without touching the API's hot path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from simulator.domain.models import Campaign, Promotion, Role, Tenant, Usage
from simulator.services.campaigns import require_tenant
from simulator.services.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Overview:
    tenant: Tenant
    now: datetime
    keys: list[tuple[str, Role]]


@dataclass(frozen=True, slots=True)
class PromotionLedger:
    promotion: Promotion
    usage: Usage
    campaigns: list[int] = field(default_factory=list)
    # tier name → (committed, reserved) allocations in that tier: the tiers hit
    tiers: dict[str, tuple[int, int]] = field(default_factory=dict)


def overview(rt: Runtime, tenant_id: str) -> Overview:
    """The tenant, its clock's now and its keys (the dashboard masks them)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        return Overview(tenant, rt.now(tenant), sorted(tx.keys(), key=lambda k: k[1]))


def ledgers(rt: Runtime, tenant_id: str) -> list[PromotionLedger]:
    """Every promotion with its usage, the campaigns whose promo code reaches it, and the
    tiers hit: its committed and reserved allocations counted by tier."""
    with rt.store.transaction(tenant_id) as tx:
        require_tenant(tx)
        campaigns: list[Campaign] = tx.campaigns()
        out = []
        for p in sorted(tx.promotions(), key=lambda p: p.id):
            linked = [c.id for c in campaigns if _reaches(tx.promotion_by_code(c.promo_code), p)]
            tiers: dict[str, tuple[int, int]] = {}
            for campaign_id in linked:
                for a in tx.committed_allocations(campaign_id):
                    if a.promotion_id == p.id:
                        committed, reserved = tiers.get(a.tier_name, (0, 0))
                        tiers[a.tier_name] = (committed + 1, reserved)
                for a in tx.open_allocations(campaign_id):
                    if a.promotion_id == p.id:
                        committed, reserved = tiers.get(a.tier_name, (0, 0))
                        tiers[a.tier_name] = (committed, reserved + 1)
            out.append(PromotionLedger(p, tx.usage(p.id), linked, tiers))
        return out


def _reaches(found: Promotion | None, promotion: Promotion) -> bool:
    return found is not None and found.id == promotion.id
