"""The simulator's control API (`/_sim`, admin keys only, except health).

Tests and users drive the simulated world with it: tenants, scenarios, reset, the clock,
campaign execution / cancel / clear, triggered events, the audit report, the request
journal and the outbox (wire-contract §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from inspect import getdoc
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from simulator import __version__
from simulator.api import encode
from simulator.api.deps import AdminDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.api.schemas import ErrorResponse
from simulator.control_models import (
    AdvanceRequest,
    CeWebhookUrl,
    ClockRequest,
    CreateTenantRequest,
    EmitEventsRequest,
    JournalRequest,
    PutCustomerRequest,
)
from simulator.domain.errors import invalid, not_found
from simulator.domain.models import Tenant, WebhookKind
from simulator.domain.periods import iso_time
from simulator.scenario import BUILTINS, parse_scenario, shared_builtin
from simulator.services import campaigns, tenants
from simulator.specs import CampaignCreate, CampaignId, Id, Scenario

router = APIRouter(prefix="/_sim", tags=["control"], route_class=WireRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input (the message names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": ErrorResponse, "description": "Not an admin key"},
    404: {"model": ErrorResponse, "description": "Unknown object"},
    409: {"model": ErrorResponse, "description": "Refused by a rule (e.g. invalid transition)"},
}


def _tenant(t: Tenant, now: datetime) -> dict[str, Any]:
    return {
        "id": t.id,
        "numericId": t.numeric_id,
        "name": t.name,
        "clock": {"mode": t.clock.mode, "now": iso_time(now)},
        "population": {
            "seed": t.population.seed,
            "size": t.population.size,
            "idPrefix": t.population.id_prefix,
            "idWidth": t.population.id_width,
        },
        "listeners": t.listeners,
        "ceWebhook": encode.webhook(t.ce_webhook) if t.ce_webhook else None,
        "signed": t.webhook_secret is not None,
    }


def _arm_faults(request: Request, tenant_id: str, scenario: Scenario) -> None:
    """A scenario's `faults` section replaces the tenant's rules (none: they are cleared)."""
    registry = request.app.state.faults
    if scenario.faults is not None and scenario.faults.rules:
        registry.set_rules(tenant_id, scenario.faults.rules, scenario.faults.seed)
    else:
        registry.clear(tenant_id)


@router.get("/health", operation_id="health")
async def health(rt: RuntimeDep) -> Response:
    """Liveness: no key needed."""
    return encode.json_response(
        {"status": "ok", "version": __version__, "store": type(rt.store).__name__}
    )


@router.post(
    "/tenants",
    operation_id="create_tenant",
    status_code=201,
    responses=ERRORS,
    description=getdoc(tenants.create_tenant),
)
async def create_tenant(
    rt: RuntimeDep, caller: AdminDep, request: Request, body: CreateTenantRequest
) -> Response:
    if body.scenario is not None and body.builtin is not None:
        raise invalid("scenario", "give either scenario or builtin, not both")
    scenario = body.scenario or (shared_builtin(body.builtin) if body.builtin else Scenario())
    tenant, keys = await call(
        rt, tenants.create_tenant, scenario, name=body.name, builtin=body.builtin is not None
    )
    _arm_faults(request, tenant.id, scenario)
    request.app.state.duties.touch(tenant.id)  # its scenario's campaigns may have duties
    return encode.json_response(
        {
            "tenantId": tenant.id,
            "numericId": tenant.numeric_id,
            "name": tenant.name,
            "keys": {role: key for key, role in keys},
            # Legacy login credentials (generated for a copy of a built-in scenario).
            "users": [
                {"username": username, "password": password, "role": role}
                for username, (password, role) in tenant.users.items()
            ],
        },
        201,
    )


@router.delete(
    "/tenants/{tenantId}",
    operation_id="delete_tenant",
    status_code=204,
    responses=ERRORS,
    description=getdoc(tenants.delete_tenant),
)
async def delete_tenant(
    rt: RuntimeDep,
    caller: AdminDep,
    request: Request,
    tenantId: Annotated[str, Path(max_length=256)],
) -> Response:
    # A tenant's admin key deletes its own tenant only; another tenant is indistinguishable
    # from a missing one (404), as every other object of another tenant is.
    if tenantId != caller.tenant_id:
        raise not_found("tenant", tenantId)
    credentials = await call(rt, tenants.delete_tenant, tenantId)
    state = request.app.state
    state.faults.clear(tenantId)
    state.rate_limiter.forget(tenantId, credentials)
    state.dispatcher.drop(tenantId)
    state.journal.forget(tenantId)
    state.duties.forget(tenantId)
    state.coverage.clear(tenantId)
    request.scope.pop("optisim.tenant", None)  # the journal must not recreate its ring
    return Response(status_code=204)


@router.get("/tenant", operation_id="get_tenant", responses=ERRORS)
async def get_tenant(rt: RuntimeDep, caller: AdminDep) -> Response:
    """The caller's tenant: clock, population, registered listeners."""
    tenant, now = await call(rt, tenants.get_tenant, caller.tenant_id)
    return encode.json_response(_tenant(tenant, now))


@router.post(
    "/scenario",
    operation_id="load_scenario",
    responses=ERRORS,
    description=getdoc(tenants.load_scenario),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Scenario"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def load_scenario(
    rt: RuntimeDep,
    caller: AdminDep,
    request: Request,
    builtin: Literal["demo", "large"] | None = Query(None, description=f"one of {BUILTINS}"),
) -> Response:
    body = await request.body()
    if builtin is not None and body.strip():
        raise invalid("builtin", "give either a scenario body or builtin, not both")
    if builtin is not None:
        scenario = shared_builtin(builtin)
    else:
        scenario = parse_scenario(body, source="body")
    tenant = await call(
        rt, tenants.load_scenario, caller.tenant_id, scenario, builtin=builtin is not None
    )
    request.app.state.dispatcher.forget(caller.tenant_id)
    request.app.state.coverage.clear(caller.tenant_id)  # a fresh world starts uncovered
    _arm_faults(request, caller.tenant_id, scenario)
    _, now = await call(rt, tenants.get_tenant, tenant.id)
    return encode.json_response(_tenant(tenant, now))


@router.post(
    "/reset",
    operation_id="reset_tenant",
    responses=ERRORS,
    description=getdoc(tenants.reset_tenant),
)
async def reset_tenant(rt: RuntimeDep, caller: AdminDep, request: Request) -> Response:
    tenant = await call(rt, tenants.reset_tenant, caller.tenant_id)
    request.app.state.journal.clear(caller.tenant_id)
    request.app.state.coverage.clear(caller.tenant_id)
    request.app.state.dispatcher.forget(caller.tenant_id)
    _, now = await call(rt, tenants.get_tenant, tenant.id)
    return encode.json_response(_tenant(tenant, now))


@router.put(
    "/ce-webhook",
    operation_id="point_triggered_webhook",
    responses=ERRORS,
    description=getdoc(tenants.point_triggered_webhook),
)
async def point_triggered_webhook(rt: RuntimeDep, caller: AdminDep, body: CeWebhookUrl) -> Response:
    hook = await call(rt, tenants.point_triggered_webhook, caller.tenant_id, body.url)
    return encode.json_response(encode.webhook(hook))


def _clock(tenant: Tenant, now: datetime, ran: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"mode": tenant.clock.mode, "now": iso_time(now)}
    if ran is not None:
        out["ran"] = ran
    return out


@router.get("/clock", operation_id="get_clock", responses=ERRORS)
async def get_clock(rt: RuntimeDep, caller: AdminDep) -> Response:
    """The tenant's simulator clock."""
    tenant, now = await call(rt, tenants.get_tenant, caller.tenant_id)
    return encode.json_response(_clock(tenant, now))


@router.put(
    "/clock", operation_id="set_clock", responses=ERRORS, description=getdoc(tenants.set_clock)
)
async def set_clock(rt: RuntimeDep, caller: AdminDep, body: ClockRequest) -> Response:
    if body.now is not None and body.now.tzinfo is None:
        raise invalid("now", "needs a time zone (use Z for UTC)")
    tenant, now, ran = await call(rt, tenants.set_clock, caller.tenant_id, body.mode, body.now)
    return encode.json_response(_clock(tenant, now, ran))


@router.post(
    "/clock/advance",
    operation_id="advance_clock",
    responses=ERRORS,
    description=getdoc(tenants.advance_clock),
)
async def advance_clock(rt: RuntimeDep, caller: AdminDep, body: AdvanceRequest) -> Response:
    tenant, now, ran = await call(rt, tenants.advance_clock, caller.tenant_id, body.seconds)
    return encode.json_response(_clock(tenant, now, ran))


@router.get("/campaigns", operation_id="list_campaigns", responses=ERRORS)
async def list_campaigns(rt: RuntimeDep, caller: AdminDep) -> Response:
    found = await call(rt, campaigns.list_campaigns, caller.tenant_id)
    return encode.json_response([encode.campaign(c) for c in found])


@router.post(
    "/campaigns",
    operation_id="create_campaign",
    status_code=201,
    responses=ERRORS,
    description=getdoc(CampaignCreate),
)
async def create_campaign(rt: RuntimeDep, caller: AdminDep, body: CampaignCreate) -> Response:
    campaign = await call(rt, campaigns.create_campaign, caller.tenant_id, body)
    return encode.json_response(encode.campaign(campaign), 201)


@router.get("/campaigns/{campaignId}", operation_id="get_campaign", responses=ERRORS)
async def get_campaign(rt: RuntimeDep, caller: AdminDep, campaignId: CampaignId) -> Response:
    """The campaign, its state and the size of its processed list."""
    campaign, size = await call(rt, campaigns.get_campaign, caller.tenant_id, campaignId)
    return encode.json_response(encode.campaign(campaign, size))


@router.post(
    "/campaigns/{campaignId}/execute",
    operation_id="execute_campaign",
    responses=ERRORS,
    description=getdoc(campaigns.execute_campaign),
)
async def execute_campaign(rt: RuntimeDep, caller: AdminDep, campaignId: CampaignId) -> Response:
    campaign = await call(rt, campaigns.execute_campaign, caller.tenant_id, campaignId)
    return encode.json_response(encode.campaign(campaign))


@router.post(
    "/campaigns/{campaignId}/cancel",
    operation_id="cancel_campaign",
    responses=ERRORS,
    description=getdoc(campaigns.cancel_campaign),
)
async def cancel_campaign(rt: RuntimeDep, caller: AdminDep, campaignId: CampaignId) -> Response:
    campaign = await call(rt, campaigns.cancel_campaign, caller.tenant_id, campaignId)
    return encode.json_response(encode.campaign(campaign))


@router.post(
    "/campaigns/{campaignId}/clear",
    operation_id="clear_campaign",
    responses=ERRORS,
    description=getdoc(campaigns.clear_campaign),
)
async def clear_campaign(rt: RuntimeDep, caller: AdminDep, campaignId: CampaignId) -> Response:
    campaign = await call(rt, campaigns.clear_campaign, caller.tenant_id, campaignId)
    return encode.json_response(encode.campaign(campaign))


@router.post(
    "/campaigns/{campaignId}/events",
    operation_id="emit_events",
    status_code=201,
    responses=ERRORS,
    description=getdoc(campaigns.emit_events),
)
async def emit_events(
    rt: RuntimeDep,
    caller: AdminDep,
    request: Request,
    campaignId: CampaignId,
    body: EmitEventsRequest,
) -> Response:
    if (body.customers is None) == (body.count is None):
        raise invalid("customers", "give either customers or count")
    customers: list[tuple[str, Mapping[str, Any]]] | None = (
        None
        if body.customers is None
        else [(c.customerId, {**body.context, **c.context}) for c in body.customers]
    )
    dispatcher = request.app.state.dispatcher
    if body.rate is not None:
        dispatcher.hold(caller.tenant_id)
    try:
        ids, first_seq = await call(
            rt,
            campaigns.emit_events,
            caller.tenant_id,
            campaignId,
            customers=customers,
            count=body.count,
            context=body.context,
        )
        if body.rate is not None and ids:
            dispatcher.pace(caller.tenant_id, first_seq, first_seq + len(ids) - 1, body.rate)
    finally:
        if body.rate is not None:
            dispatcher.release(caller.tenant_id)
    return encode.json_response({"campaignId": campaignId, "count": len(ids), "eventIds": ids}, 201)


@router.get(
    "/campaigns/{campaignId}/report",
    operation_id="get_campaign_report",
    responses=ERRORS,
    description=getdoc(campaigns.campaign_report),
)
async def get_campaign_report(rt: RuntimeDep, caller: AdminDep, campaignId: CampaignId) -> Response:
    campaign, stats = await call(rt, campaigns.campaign_report, caller.tenant_id, campaignId)
    return encode.json_response(encode.report(campaign, stats))


@router.get("/journal", operation_id="get_journal", responses=ERRORS)
async def get_journal(
    caller: AdminDep,
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    path: Annotated[str | None, Query(max_length=1024)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
) -> Response:
    """Recent requests of this tenant (oldest first), from a capped ring buffer."""
    journal = request.app.state.journal
    entries = journal.entries(caller.tenant_id, after=after, limit=limit, path=path, status=status)
    return encode.json_response(
        {"enabled": journal.enabled_for(caller.tenant_id), "entries": entries}
    )


@router.put("/journal", operation_id="set_journal", responses=ERRORS)
async def set_journal(caller: AdminDep, request: Request, body: JournalRequest) -> Response:
    """Switch this tenant's journal on or off (off for load runs); other tenants keep
    theirs. `SIM_JOURNAL` is the default of tenants that never switched."""
    request.app.state.journal.switch(caller.tenant_id, body.enabled)
    return encode.json_response({"enabled": body.enabled})


@router.delete("/journal", operation_id="clear_journal", status_code=204, responses=ERRORS)
async def clear_journal(caller: AdminDep, request: Request) -> Response:
    request.app.state.journal.clear(caller.tenant_id)
    return Response(status_code=204)


@router.get("/outbox", operation_id="list_outbox", responses=ERRORS)
async def list_outbox(
    rt: RuntimeDep,
    caller: AdminDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    kind: WebhookKind | None = None,
) -> Response:
    """Webhook events written so far, in order (`seq`); page with `after`."""
    events = await call(rt, tenants.list_outbox, caller.tenant_id, after, limit, kind)
    return encode.json_response(
        {
            "events": [
                {
                    "seq": e.seq,
                    "id": e.id,
                    "kind": e.kind,
                    "campaignId": e.campaign_id,
                    "createdAt": iso_time(e.created_at),
                    "body": e.body,
                }
                for e in events
            ]
        }
    )


def _customer(view: tenants.CustomerView) -> dict[str, Any]:
    return {
        "customerId": view.customer_id,
        "index": view.index,
        "explicit": view.explicit,
        "attributes": view.attributes,
    }


@router.get("/customers/{customerId}", operation_id="get_customer", responses=ERRORS)
async def get_customer(rt: RuntimeDep, caller: AdminDep, customerId: Id) -> Response:
    """A customer's attributes: computed (generated), chosen (explicit), or computed with
    chosen ones laid over."""
    view = await call(rt, tenants.get_customer, caller.tenant_id, customerId)
    return encode.json_response(_customer(view))


@router.put(
    "/customers/{customerId}",
    operation_id="put_customer",
    responses={
        **ERRORS,
        201: {"description": "A new explicit customer"},
        409: {"model": ErrorResponse, "description": "`too_many_customers` (100,000 explicit)"},
    },
    description=getdoc(tenants.put_customer),
)
async def put_customer(
    rt: RuntimeDep, caller: AdminDep, customerId: Id, body: PutCustomerRequest
) -> Response:
    view, created = await call(
        rt, tenants.put_customer, caller.tenant_id, customerId, body.attributes
    )
    return encode.json_response(_customer(view), 201 if created else 200)
