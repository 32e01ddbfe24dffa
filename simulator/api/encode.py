"""Domain objects to wire JSON, encoded with orjson straight to bytes.

Large responses never go through FastAPI's `jsonable_encoder` (performance-notes: ~100x
slower for 1,000-object lists).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from simulator.domain.models import Campaign, CampaignStats, CeWebhook, Promotion, Reward, Usage
from simulator.domain.periods import iso_time
from simulator.domain.validation import ContextResult


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def reward(r: Reward) -> dict[str, Any]:
    if r.type == "units":
        return {"type": "units", "units": r.value}
    return {"type": "amount", "amount": r.value, "currency": r.currency}


def context_results(results: list[ContextResult]) -> list[dict[str, Any]]:
    """validateCustomers' `contexts`: each result with its effect (a valid result's tier,
    reward and allocation). The customers of a batch mostly share a few rewards: each is
    encoded once and its dict shared (orjson writes it where it is referenced)."""
    rewards: dict[int, dict[str, Any]] = {}  # id of a reward → its JSON; the results hold them
    out = []
    for r in results:
        effects = []
        if r.valid and r.reward is not None:
            encoded = rewards.get(id(r.reward))
            if encoded is None:
                encoded = rewards[id(r.reward)] = reward(r.reward)
            effects.append(
                {
                    "tierId": r.tier_id,
                    "tierName": r.tier_name,
                    "reward": encoded,
                    "allocationId": r.allocation_id,
                }
            )
        out.append(
            {
                "customerId": r.customer_id,
                "eventId": r.event_id,
                "valid": r.valid,
                "reason": r.reason,
                "effects": effects,
            }
        )
    return out


def usage(p: Promotion, u: Usage) -> dict[str, int]:
    return {
        "budgetTotal": p.budget,
        "budgetReserved": u.budget_reserved,
        "budgetCommitted": u.budget_committed,
        "budgetReleased": u.budget_released,
        "audienceCap": p.audience_cap,
        "audienceReserved": u.audience_reserved,
        "audienceCommitted": u.audience_committed,
        "redemptions": u.redemptions,
        "redeemedAmount": u.redeemed_amount,
    }


def promotion(p: Promotion, u: Usage) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "promocodes": list(p.promocodes),
        "rewardKind": p.reward_kind,
        "currency": p.currency,
        "budget": p.budget,
        "audienceCap": p.audience_cap,
        "perCustomerLimit": p.per_customer_limit,
        "periodCaps": {
            "daily": p.period_caps.daily,
            "weekly": p.period_caps.weekly,
            "monthly": p.period_caps.monthly,
        },
        "tiers": [
            {
                "id": t.id,
                "name": t.name,
                "when": [
                    {
                        "field": c.field,
                        "op": c.op,
                        "value": list(c.value) if isinstance(c.value, tuple) else c.value,
                    }
                    for c in t.when
                ],
                "reward": {
                    k: v
                    for k, v in (
                        ("type", t.reward.type),
                        ("amount", t.reward.amount),
                        ("currency", t.reward.currency),
                        ("units", t.reward.units),
                        ("percent", t.reward.percent),
                        ("of", t.reward.of),
                        ("max", t.reward.max),
                    )
                    if v is not None
                },
            }
            for t in p.tiers
        ],
        "status": p.status.value,
        "createdAt": iso_time(p.created_at),
        "usage": usage(p, u),
    }


def webhook(h: CeWebhook) -> dict[str, Any]:
    return {"id": h.id, "url": h.url, "createdAt": iso_time(h.created_at)}


def _time(value: Any) -> str | None:
    return None if value is None else iso_time(value)


def campaign(c: Campaign, processed: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "type": c.type,
        "status": c.status.value,
        "promoCode": c.promo_code,
        "actionId": c.action_id,
        "actionName": c.action_name,
        "createdAt": iso_time(c.created_at),
        "executeAt": _time(c.execute_at),
        "executedAt": _time(c.executed_at),
        "clearanceRequiredBy": _time(c.clearance_required_by),
        "finishedAt": _time(c.finished_at),
        "clearanceWindowMinutes": c.clearance_window_s / 60,
        "seriesId": c.series_id,
        "trigger": c.trigger,
        "channels": list(c.channels),
        "targetGroup": None
        if c.target is None
        else {
            "size": c.target.size,
            "offset": c.target.offset,
            "where": [{"field": w.field, "op": w.op, "value": w.value} for w in c.target.where],
        },
    }
    if processed is not None:
        out["processedCustomers"] = processed
    return out


def report(c: Campaign, s: CampaignStats) -> dict[str, Any]:
    return {
        "campaign": campaign(c),
        "targeted": s.targeted,
        "fetchCalls": s.fetch_calls,
        "fetched": s.fetched,
        "validated": s.validated,
        "invalid": s.invalid,
        "approved": s.approved,
        "released": s.released,
        "approvalsRefused": s.approvals_refused,
        "duplicatesRefused": s.approvals_refused.get("duplicate_approval", 0),
        "redeemed": s.redeemed,
        "redemptionsRefused": s.redemptions_refused,
        "eventsEmitted": s.events_emitted,
        "sent": s.sent,
        "violations": s.violations,
        "violationCount": sum(s.violations.values()),
        "violationExamples": [
            {"code": v.code, "at": iso_time(v.at), "detail": v.detail} for v in s.examples
        ],
    }
