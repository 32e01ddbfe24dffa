"""What each dashboard page shows, read from the same services and process state as the
control API (never over HTTP). Each builder returns the template context of its page; the
live stream re-renders the same context, so a page and its live updates never disagree."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request

from simulator.api.deps import call
from simulator.api.journal import Journal
from simulator.domain import audit
from simulator.domain.models import Attempt, Delivery
from simulator.domain.periods import iso_time
from simulator.faults import FaultRegistry
from simulator.services import campaigns, dashboard
from simulator.services.runtime import Runtime
from simulator.store.base import DeliveryLog

SHOWN_DELIVERIES = 40
SHOWN_JOURNAL = 200
DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")


@dataclass(frozen=True, slots=True)
class World:
    """The process state the pages read (the app's runtime, journal, delivery log, faults)."""

    rt: Runtime
    journal: Journal
    log: DeliveryLog
    faults: FaultRegistry
    wake: Callable[[], None]  # the dispatcher's: a resent webhook goes out now

    @classmethod
    def of(cls, request: Request) -> World:
        state = request.app.state
        return cls(
            state.runtime, state.journal, state.delivery_log, state.faults, state.dispatcher.wake
        )


def mask(key: str) -> str:
    """Enough of a key to tell keys apart, never enough to use one."""
    return f"{key[:4]}…{key[-2:]}" if len(key) > 10 else "…"


def _bar(parts: Mapping[str, int], cap: int) -> dict[str, Any]:
    """Widths (percent) of stacked parts against a cap; no cap: against their sum."""
    total = sum(parts.values())
    scale = cap if cap > 0 else max(total, 1)
    widths = {k: min(100.0, round(100 * v / scale, 2)) for k, v in parts.items()}
    return {"cap": cap, "parts": parts, "widths": widths, "used": total}


async def tenant_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    view = await call(world.rt, dashboard.overview, tenant_id)
    t = view.tenant
    return {
        "tenant": t,
        "now": iso_time(view.now),
        "keys": [(mask(k), role) for k, role in view.keys],
        "listeners": sorted(t.listeners.items()),
        "ce_webhook": t.ce_webhook.url if t.ce_webhook else None,
    }


def _countdown(deadline: datetime | None, now: datetime) -> str | None:
    if deadline is None:
        return None
    left = int((deadline - now).total_seconds())
    if left <= 0:
        return "passed"
    return f"{left // 3600:d}:{left % 3600 // 60:02d}:{left % 60:02d}"


async def campaigns_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    view = await call(world.rt, dashboard.overview, tenant_id)
    found = await call(world.rt, campaigns.list_campaigns, tenant_id)
    return {
        "now": iso_time(view.now),
        "campaigns": [
            {
                "c": c,
                "status": c.status.value,
                "executed": iso_time(c.executed_at) if c.executed_at else "",
                "deadline": iso_time(c.clearance_required_by) if c.clearance_required_by else "",
                "countdown": _countdown(c.clearance_required_by, view.now),
            }
            for c in sorted(found, key=lambda c: c.id)
        ],
    }


async def ledger_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    found = await call(world.rt, dashboard.ledgers, tenant_id)
    rows = []
    for led in found:
        p, u = led.promotion, led.usage
        rows.append(
            {
                "p": p,
                "u": u,
                "campaigns": led.campaigns,
                "tiers": sorted(led.tiers.items()),
                "budget": _bar(
                    {"committed": u.budget_committed, "reserved": u.budget_reserved}, p.budget
                ),
                "released": _bar({"released": u.budget_released}, p.budget),
                "audience": _bar(
                    {"committed": u.audience_committed, "reserved": u.audience_reserved},
                    p.audience_cap,
                ),
            }
        )
    return {"promotions": rows}


def _timeline(attempts: list[Attempt]) -> list[dict[str, Any]]:
    return [
        {
            "n": a.number,
            "ok": a.status is not None and 200 <= a.status < 300,
            "status": a.status,
            "error": a.error,
            "fault": a.fault,
            "ms": a.latency_ms,
            "at": iso_time(datetime.fromtimestamp(a.at).astimezone()),
        }
        for a in attempts
    ]


async def deliveries_page(
    world: World, tenant_id: str, params: Mapping[str, str]
) -> dict[str, Any]:
    status = params.get("status") or None
    if status not in (None, *DELIVERY_STATUSES):
        status = None
    every = world.log.deliveries(tenant_id, status=status, limit=1_000_000)
    counts = world.log.counts(tenant_id)  # the log counts: no second read of every delivery
    shown: list[Delivery] = every[-SHOWN_DELIVERIES:][::-1]
    by_event: dict[str, list[Attempt]] = {d.event_id: [] for d in shown}
    if shown:
        since = min(d.created_at for d in shown) - 1
        for a in world.log.attempts(tenant_id, after=since, limit=100_000):
            if a.event_id in by_event:
                by_event[a.event_id].append(a)
    return {
        "status": status or "",
        "statuses": DELIVERY_STATUSES,
        "counts": counts,
        "total": sum(counts.values()),
        "deliveries": [{"d": d, "timeline": _timeline(by_event[d.event_id])} for d in shown],
    }


def _matches(entry: Mapping[str, Any], key: str) -> bool:
    key = key.lower()
    return any(
        key in str(entry.get(field) or "").lower() for field in ("path", "query", "error", "fault")
    )


async def journal_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    path = params.get("path", "")[:1024]
    key = params.get("key", "")[:256]
    status_text = params.get("status", "").strip()
    status = int(status_text) if status_text.isdigit() and len(status_text) == 3 else None
    entries = world.journal.entries(
        tenant_id, limit=world.journal.size, path=path or None, status=status
    )
    if key:
        entries = [e for e in entries if _matches(e, key)]
    return {
        "enabled": world.journal.enabled,
        "path": path,
        "key": key,
        "status": status_text if status is not None else "",
        "bad_status": bool(status_text) and status is None,
        "matched": len(entries),
        "entries": [
            {**e, "when": iso_time(datetime.fromtimestamp(e["at"]).astimezone())}
            for e in entries[-SHOWN_JOURNAL:][::-1]
        ],
    }


async def faults_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    seed, rules = world.faults.rules(tenant_id)
    return {"seed": seed, "rules": [r.model_dump(exclude_none=True) for r in rules]}


# A violation refused as a whole shows in the journal by its refusal code; the others by
# the route the integrator called (the audit counts; the journal keeps each request).
_REFUSALS = {v: code for code, v in audit.APPROVAL_VIOLATIONS.items()}
_ROUTES = {
    **{v: "validateCustomers" for v in audit.VALIDATION_VIOLATIONS.values()},
    **{v: "/redemptions" for v in audit.REDEMPTION_VIOLATIONS.values()},
}
APPROVAL_ROUTES = {"scheduled": "UpdateCustomerPromotionStatus", "triggered": "/approval"}


def violation_search(code: str, campaign_type: str) -> str:
    """What to search the journal for to find a violation's requests."""
    if code in _REFUSALS:
        return _REFUSALS[code]
    return _ROUTES.get(code) or APPROVAL_ROUTES.get(campaign_type, code)


async def audit_page(world: World, tenant_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    found = await call(world.rt, campaigns.list_campaigns, tenant_id)
    reports = []
    for c in sorted(found, key=lambda c: c.id):
        _, stats = await call(world.rt, campaigns.campaign_report, tenant_id, c.id)
        reports.append(
            {
                "c": c,
                "s": stats,
                "violations": [
                    {"code": code, "count": n, "search": violation_search(code, c.type)}
                    for code, n in sorted(stats.violations.items())
                ],
                "examples": [
                    {"code": v.code, "at": iso_time(v.at), "detail": v.detail}
                    for v in stats.examples
                ],
            }
        )
    return {"reports": reports}


PAGES = {
    "tenant": tenant_page,
    "campaigns": campaigns_page,
    "ledger": ledger_page,
    "deliveries": deliveries_page,
    "journal": journal_page,
    "faults": faults_page,
    "audit": audit_page,
}
