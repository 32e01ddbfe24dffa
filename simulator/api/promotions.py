"""Promotions (`/v1`): validateCustomers, redemptions, promotion lifecycle (wire-contract §4)."""

from __future__ import annotations

from inspect import getdoc
from typing import Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from simulator.api import encode
from simulator.api.deps import AdminDep, CallerDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.api.schemas import (
    ErrorResponse,
    PromotionResponse,
    ReportRedemptionsRequest,
    ReportRedemptionsResponse,
    ValidateCustomersRequest,
    ValidateCustomersResponse,
)
from simulator.domain.redemptions import RedemptionItem, redeem
from simulator.domain.validation import NO_SESSION, Contexts, validate_contexts
from simulator.services import promotions as service
from simulator.specs import Id, PromotionCreate, TiersUpdate

router = APIRouter(prefix="/v1", tags=["promotions"], route_class=WireRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Invalid input (the message names the field)"},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key"},
    403: {"model": ErrorResponse, "description": "The key's role lacks the right"},
    404: {"model": ErrorResponse, "description": "Unknown promotion, promocode or campaign"},
    409: {"model": ErrorResponse, "description": "A business rule refused the call"},
}


@router.post(
    "/promocodes/{promocodeId}/validateCustomers",
    operation_id="validate_customers",
    response_model=ValidateCustomersResponse,
    responses=ERRORS,
    description=getdoc(validate_contexts),
)
async def validate_customers(
    rt: RuntimeDep,
    caller: CallerDep,
    promocodeId: Id,
    body: ValidateCustomersRequest,
    dryRun: bool = Query(False, description="Evaluate without reserving"),
) -> Response:
    given = body.contexts
    contexts = Contexts(
        [c["customerId"] for c in given],
        [c.get("eventId") for c in given],
        [c.get("session", NO_SESSION) for c in given],
    )
    promotion, results = await call(
        rt,
        service.validate_customers,
        caller.tenant_id,
        promocodeId,
        body.campaignData.campaignId,
        body.campaignData.campaignType,
        contexts,
        dry_run=dryRun,
    )
    return encode.json_response(
        {
            "promocodeId": promocodeId,
            "promotionId": promotion.id,
            "contexts": encode.context_results(results),
        }
    )


@router.post(
    "/promotions/{promotionId}/redemptions",
    operation_id="report_redemptions",
    response_model=ReportRedemptionsResponse,
    responses=ERRORS,
    description=getdoc(redeem),
)
async def report_redemptions(
    rt: RuntimeDep, caller: CallerDep, promotionId: Id, body: ReportRedemptionsRequest
) -> Response:
    items = [RedemptionItem(r.allocationId, r.amount) for r in body.redemptions]
    accepted, rejected = await call(
        rt, service.report_redemptions, caller.tenant_id, promotionId, items
    )
    return encode.json_response(
        {
            "accepted": accepted,
            "rejected": [
                {"index": r.index, "allocationId": r.allocation_id, "reason": r.reason}
                for r in rejected
            ],
        }
    )


@router.post(
    "/promotions",
    operation_id="create_promotion",
    status_code=201,
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.create_promotion),
)
async def create_promotion(rt: RuntimeDep, caller: AdminDep, body: PromotionCreate) -> Response:
    promotion, usage = await call(rt, service.create_promotion, caller.tenant_id, body)
    return encode.json_response(encode.promotion(promotion, usage), 201)


@router.get(
    "/promotions",
    operation_id="list_promotions",
    response_model=list[PromotionResponse],
    responses=ERRORS,
)
async def list_promotions(rt: RuntimeDep, caller: CallerDep) -> Response:
    found = await call(rt, service.list_promotions, caller.tenant_id)
    return encode.json_response([encode.promotion(p, u) for p, u in found])


@router.get(
    "/promotions/{promotionId}",
    operation_id="get_promotion",
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.get_promotion),
)
async def get_promotion(rt: RuntimeDep, caller: CallerDep, promotionId: Id) -> Response:
    promotion, usage = await call(rt, service.get_promotion, caller.tenant_id, promotionId)
    return encode.json_response(encode.promotion(promotion, usage))


@router.patch(
    "/promotions/{promotionId}/activate",
    operation_id="activate_promotion",
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.activate_promotion),
)
async def activate_promotion(rt: RuntimeDep, caller: AdminDep, promotionId: Id) -> Response:
    promotion, usage = await call(rt, service.activate_promotion, caller.tenant_id, promotionId)
    return encode.json_response(encode.promotion(promotion, usage))


@router.patch(
    "/promotions/{promotionId}/deactivate",
    operation_id="deactivate_promotion",
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.deactivate_promotion),
)
async def deactivate_promotion(rt: RuntimeDep, caller: AdminDep, promotionId: Id) -> Response:
    promotion, usage = await call(rt, service.deactivate_promotion, caller.tenant_id, promotionId)
    return encode.json_response(encode.promotion(promotion, usage))


@router.delete(
    "/promotions/{promotionId}",
    operation_id="archive_promotion",
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.archive_promotion),
)
async def archive_promotion(rt: RuntimeDep, caller: AdminDep, promotionId: Id) -> Response:
    promotion, usage = await call(rt, service.archive_promotion, caller.tenant_id, promotionId)
    return encode.json_response(encode.promotion(promotion, usage))


@router.put(
    "/promotions/{promotionId}/tiers",
    operation_id="set_promotion_tiers",
    response_model=PromotionResponse,
    responses=ERRORS,
    description=getdoc(service.set_promotion_tiers),
)
async def set_promotion_tiers(
    rt: RuntimeDep, caller: AdminDep, promotionId: Id, body: TiersUpdate
) -> Response:
    tiers = tuple(t.to_domain() for t in body.tiers)
    promotion, usage = await call(
        rt, service.set_promotion_tiers, caller.tenant_id, promotionId, tiers
    )
    return encode.json_response(encode.promotion(promotion, usage))
