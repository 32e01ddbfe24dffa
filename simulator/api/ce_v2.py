"""Conditional execution v2 (triggered campaigns): webhook registration and approval."""

from __future__ import annotations

from inspect import getdoc
from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from simulator.api import encode
from simulator.api.deps import CallerDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.api.schemas import (
    ErrorResponse,
    TriggeredApprovalRequest,
    TriggeredApprovalResponse,
    TriggeredWebhookRequest,
    TriggeredWebhookResponse,
)
from simulator.domain.approvals import approve_event
from simulator.services import campaigns, tenants

router = APIRouter(
    prefix="/conditional-execution/v2/triggered",
    tags=["conditional-execution"],
    route_class=WireRoute,
)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input (the message names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
}


@router.post(
    "/webhooks/",
    operation_id="register_triggered_webhook",
    status_code=201,
    response_model=TriggeredWebhookResponse,
    responses=ERRORS,
    description=getdoc(tenants.register_triggered_webhook),
)
async def register_triggered_webhook(
    rt: RuntimeDep, caller: CallerDep, body: TriggeredWebhookRequest
) -> Response:
    hook = await call(
        rt, tenants.register_triggered_webhook, caller.tenant_id, body.url, body.secret
    )
    return encode.json_response(encode.webhook(hook), 201)


@router.get(
    "/webhooks/",
    operation_id="get_triggered_webhook",
    response_model=TriggeredWebhookResponse,
    responses={**ERRORS, 404: {"model": ErrorResponse, "description": "None registered"}},
)
async def get_triggered_webhook(rt: RuntimeDep, caller: CallerDep) -> Response:
    hook = await call(rt, tenants.get_triggered_webhook, caller.tenant_id)
    return encode.json_response(encode.webhook(hook))


@router.delete(
    "/webhooks/",
    operation_id="delete_triggered_webhook",
    status_code=204,
    responses={**ERRORS, 404: {"model": ErrorResponse, "description": "None registered"}},
)
async def delete_triggered_webhook(rt: RuntimeDep, caller: CallerDep) -> Response:
    await call(rt, tenants.delete_triggered_webhook, caller.tenant_id)
    return Response(status_code=204)


@router.post(
    "/approval",
    operation_id="approve_triggered_event",
    response_model=TriggeredApprovalResponse,
    responses={
        **ERRORS,
        404: {"model": ErrorResponse, "description": "Unknown campaign or event"},
        409: {
            "model": ErrorResponse,
            "description": "`duplicate_approval`, `not_validated`, `already_approved`, "
            "`campaign_cancelled`",
        },
    },
    description=getdoc(approve_event),
)
async def approve_triggered_event(
    rt: RuntimeDep, caller: CallerDep, body: TriggeredApprovalRequest
) -> Response:
    status = await call(
        rt,
        campaigns.approve_triggered_event,
        caller.tenant_id,
        body.campaignId,
        body.customerId,
        body.eventId,
        body.approved,
    )
    return encode.json_response(
        {
            "campaignId": body.campaignId,
            "customerId": body.customerId,
            "eventId": body.eventId,
            "status": status,
        }
    )
