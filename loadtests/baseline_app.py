"""The bare baseline for `bench_core`: plain FastAPI answering the simulator's hot route
shapes with no simulator logic (no auth, journal, middleware, store or domain rules).

Bodies are parsed with pydantic models of the same shape and responses are encoded with
orjson, as the simulator does, so a ratio against this app isolates the simulator's own
cost per request and per item. Run: `uvicorn loadtests.baseline_app:app`.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

POPULATION = 1_000_000
ACTION_ID = 40
PROMO_CODE = "MEGA10"
ID_PREFIX = "C"
ID_WIDTH = 7
MAX_PAGE = 10_000


class CampaignData(BaseModel):
    model_config = ConfigDict(extra="allow")
    campaignId: Annotated[int, Field(ge=1, le=2**31 - 1)]
    campaignType: Literal["scheduled", "triggered"] | None = None


class ValidateContext(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customerId: Annotated[str, Field(min_length=1, max_length=128)]
    eventId: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    session: dict[str, Any] = Field(default_factory=dict)


class ValidateCustomersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaignData: CampaignData
    contexts: Annotated[list[ValidateContext], Field(min_length=1, max_length=1000)]


class PromoUpdate(BaseModel):
    CustomerID: Annotated[str, Field(min_length=1, max_length=128)]
    Status: bool


class UpdateCustomerPromotionStatusRequest(BaseModel):
    TimeStamp: Annotated[str, Field(max_length=64)] | None = None
    CampaignID: Annotated[int, Field(ge=1, le=2**31 - 1)]
    PromosUpdated: Annotated[list[PromoUpdate], Field(max_length=10_000)]


def create_app() -> FastAPI:
    app = FastAPI(title="optisim bench baseline")
    allocation_ids = itertools.count(1)

    @app.get("/health")
    async def health() -> Response:
        return Response(b'{"status":"ok"}', 200, media_type="application/json")

    @app.get("/current/customers/GetProcessedCampaignCustomers")
    async def get_processed_campaign_customers(
        campaign_id: Annotated[int, Query(alias="CampaignID", ge=1)],
        top: Annotated[int, Query(alias="$top", ge=1, le=MAX_PAGE)] = MAX_PAGE,
        skip: Annotated[int, Query(alias="$skip", ge=0)] = 0,
    ) -> Response:
        # Built on demand per request (no prebuilt population), then encoded with orjson.
        rows = [
            {
                "CustomerID": f"{ID_PREFIX}{i:0{ID_WIDTH}d}",
                "ActionID": ACTION_ID,
                "PromoCode": PROMO_CODE,
            }
            for i in range(skip, min(skip + top, POPULATION))
        ]
        return Response(orjson.dumps(rows), 200, media_type="application/json")

    @app.post("/v1/promocodes/{promocodeId}/validateCustomers")
    async def validate_customers(promocodeId: str, body: ValidateCustomersRequest) -> Response:
        contexts = [
            {
                "customerId": c.customerId,
                "eventId": c.eventId,
                "valid": True,
                "reason": None,
                "effects": [
                    {
                        "tierId": "T-BASE",
                        "tierName": "Everyone",
                        "reward": {"type": "amount", "amount": 1000, "currency": "EUR"},
                        "allocationId": f"AL_{next(allocation_ids):016x}",
                    }
                ],
            }
            for c in body.contexts
        ]
        out = {"promocodeId": promocodeId, "promotionId": "PR-MEGA", "contexts": contexts}
        return Response(orjson.dumps(out), 200, media_type="application/json")

    @app.post("/current/integrations/UpdateCustomerPromotionStatus")
    async def update_customer_promotion_status(
        body: UpdateCustomerPromotionStatusRequest,
    ) -> Response:
        if not body.PromosUpdated:
            return Response(b'"PromosUpdated is empty"', 400, media_type="application/json")
        return Response(status_code=200)

    return app


app = create_app()
