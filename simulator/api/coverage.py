"""`GET /_sim/coverage`: which catalogued business rules (`simulator.domain.rules`) the
tenant's traffic exercised, how often, with an example journal entry (admin key).

Counted on the hot path by the services and the middleware (`simulator.services.coverage`);
the webhook rules and the integrator's answers to injected faults are read here, when
asked, from the delivery log and the journal (nothing on the hot path).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from simulator.api import encode
from simulator.api.deps import AdminDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.api.schemas import ErrorResponse
from simulator.control_models import Coverage
from simulator.domain.rules import CATALOGUE, Rule, tier_rules
from simulator.services import coverage, promotions

router = APIRouter(prefix="/_sim", tags=["control"], route_class=WireRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input (the message names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": ErrorResponse, "description": "Not an admin key"},
}
SCAN = 100_000  # deliveries and attempts read per request (a test tenant has far fewer)


@router.get("/coverage", operation_id="get_coverage", response_model=Coverage, responses=ERRORS)
async def get_coverage(
    rt: RuntimeDep,
    caller: AdminDep,
    request: Request,
    campaignId: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Every catalogued rule (and each tier of the tenant's promotions) with how often the
    tenant's traffic exercised it (`count`) and the `seq` of an example journal entry; with
    `campaignId`, only what happened on that campaign. `ratio` is covered / total."""
    tenant = caller.tenant_id
    counts = dict(request.app.state.coverage.counts(tenant, campaignId))
    log = request.app.state.delivery_log
    deliveries = log.deliveries(tenant, campaign_id=campaignId, limit=SCAN)
    campaign_of = {d.event_id: d.campaign_id for d in deliveries}
    attempts = [
        (a.event_id, a.status, a.fault)
        for a in log.attempts(tenant, limit=SCAN)
        if a.event_id in campaign_of
    ]
    duplicated = {
        cid
        for cid in set(campaign_of.values())
        if request.app.state.coverage.counts(tenant, cid).get("approve.duplicate_approval")
    }
    derived: list[tuple[str, int | None]] = [
        (rule, None) for _, rule, _ in coverage.webhook_rules(campaign_of, attempts, duplicated)
    ]
    if campaignId is None:
        journal = request.app.state.journal
        entries = journal.entries(tenant, limit=journal.size)
        derived += [(rule, seq) for rule, seq in coverage.answers(entries)]
    for rule, seq in derived:
        times, example = counts.get(rule, (0, None))
        counts[rule] = (times + 1, example if example is not None else seq)
    owned = await call(rt, promotions.list_promotions, tenant)
    rules: list[Rule] = [*CATALOGUE.values(), *tier_rules(p for p, _ in owned)]
    rows = [
        {
            "id": r.id,
            "group": r.group,
            "summary": r.summary,
            "count": counts.get(r.id, (0, None))[0],
            "example": counts.get(r.id, (0, None))[1],
        }
        for r in rules
    ]
    covered = sum(1 for row in rows if row["count"])
    return encode.json_response(
        {
            "campaignId": campaignId,
            "covered": covered,
            "total": len(rows),
            "ratio": round(covered / len(rows), 4) if rows else 1.0,
            "rules": rows,
        }
    )


@router.delete("/coverage", operation_id="clear_coverage", status_code=204, responses=ERRORS)
async def clear_coverage(caller: AdminDep, request: Request) -> Response:
    """Forget what the tenant's traffic covered so far (a scenario load does too)."""
    request.app.state.coverage.clear(caller.tenant_id)
    return Response(status_code=204)
