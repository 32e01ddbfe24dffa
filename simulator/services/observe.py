"""What the metrics read from the store at scrape time: each tenant's promotions with
their ledger usage, the refusals counted in its campaigns' audits, and its outbox events
the webhook relay has not picked up yet. Read-only; one transaction per tenant."""

from __future__ import annotations

from dataclasses import dataclass

from simulator.domain.models import Promotion, Usage
from simulator.services.runtime import Runtime

# Counting unrelayed outbox events reads them; past this many the gauge says "at least".
OUTBOX_COUNT_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class TenantSnapshot:
    tenant_id: str
    promotions: tuple[tuple[Promotion, Usage], ...]
    # (stage, reason) → count over the tenant's campaigns; stage is `validation`
    # (invalid validateCustomers results), `approval` (refused approvals) or `redemption`.
    refusals: dict[tuple[str, str], int]
    unrelayed: int  # outbox events after the relay's cursor (at most OUTBOX_COUNT_LIMIT)


def snapshot(rt: Runtime, tenant_id: str, relay_cursor: int) -> TenantSnapshot | None:
    """The tenant's metrics state, or None when the tenant is gone."""
    with rt.store.transaction(tenant_id) as tx:
        if tx.tenant() is None:
            return None
        promotions = tuple((p, tx.usage(p.id)) for p in sorted(tx.promotions(), key=_id))
        refusals: dict[tuple[str, str], int] = {}
        for campaign in tx.campaigns():
            stats = tx.stats(campaign.id)
            for stage, counts in (
                ("validation", stats.invalid),
                ("approval", stats.approvals_refused),
                ("redemption", stats.redemptions_refused),
            ):
                for reason, n in counts.items():
                    refusals[stage, reason] = refusals.get((stage, reason), 0) + n
        unrelayed = len(tx.outbox(after=relay_cursor, limit=OUTBOX_COUNT_LIMIT))
    return TenantSnapshot(tenant_id, promotions, refusals, unrelayed)


def _id(promotion: Promotion) -> str:
    return promotion.id
