"""Wire models of the envelope surfaces (Promotions, CE v2, control API).

Request models end in `Request`, response models in `Response`; domain classes carry no
suffix. Responses are encoded straight to bytes (see `encode.py`); these models document
them in the OpenAPI documents and are checked against real responses by the contract tests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, with_config
from typing_extensions import TypedDict

from simulator.specs import CampaignId, HttpUrl, Id, JsonObject, Money
from simulator.wire import IsoTime, WireItems, WireModel

Session = JsonObject  # a JSON object whose numbers survive a round trip


class Wire(WireModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """The error envelope (wire-contract §1)."""

    status: int
    error: str = Field(description="Stable snake_case code, e.g. `duplicate_approval`")
    message: str
    details: dict[str, Any] | None = None


# -- Promotions ---------------------------------------------------------------------------
class CampaignData(WireModel):
    model_config = ConfigDict(extra="allow")
    campaignId: CampaignId
    campaignType: Literal["scheduled", "triggered"] | None = None
    actionId: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    channelId: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


@with_config(ConfigDict(strict=True, extra="forbid"))  # Wire's, for an item of a list
class ValidateContext(TypedDict):
    customerId: Id
    eventId: NotRequired[Id | None]
    session: NotRequired[Session]


class ValidateCustomersRequest(Wire):
    campaignData: CampaignData
    contexts: Annotated[list[ValidateContext], WireItems(min_length=1, max_length=1000)]


class RewardOut(BaseModel):
    type: Literal["amount", "units"]
    amount: int | None = None
    currency: str | None = None
    units: int | None = None


class Effect(BaseModel):
    tierId: str
    tierName: str
    reward: RewardOut
    allocationId: str | None = None


class ContextResultOut(BaseModel):
    customerId: str
    eventId: str | None
    valid: bool
    reason: str | None
    effects: list[Effect]


class ValidateCustomersResponse(BaseModel):
    promocodeId: str
    promotionId: str
    contexts: list[ContextResultOut]


class RedemptionIn(Wire):
    allocationId: Id
    redeemedAt: IsoTime | None = None
    amount: Money | None = None


class ReportRedemptionsRequest(Wire):
    redemptions: Annotated[list[RedemptionIn], Field(min_length=1, max_length=10_000)]


class RedemptionRejectionOut(BaseModel):
    index: int
    allocationId: str
    reason: Literal["unknown_allocation", "not_approved", "duplicate_redemption", "wrong_promotion"]


class ReportRedemptionsResponse(BaseModel):
    accepted: int
    rejected: list[RedemptionRejectionOut]


class UsageOut(BaseModel):
    budgetTotal: int
    budgetReserved: int
    budgetCommitted: int
    budgetReleased: int
    audienceCap: int
    audienceReserved: int
    audienceCommitted: int
    redemptions: int
    redeemedAmount: int


class PromotionResponse(BaseModel):
    id: str
    name: str
    promocodes: list[str]
    rewardKind: Literal["amount", "units"]
    currency: str | None
    budget: int
    audienceCap: int
    perCustomerLimit: int
    periodCaps: dict[str, int | None]
    tiers: list[dict[str, Any]]
    status: Literal["draft", "active", "deactivated", "archived"]
    createdAt: str
    usage: UsageOut


# -- CE v2 --------------------------------------------------------------------------------
class TriggeredWebhookRequest(Wire):
    url: HttpUrl
    secret: (
        Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")] | None
    ) = None


class TriggeredWebhookResponse(BaseModel):
    id: str
    url: str
    createdAt: str


class TriggeredApprovalRequest(Wire):
    campaignId: CampaignId
    customerId: Id
    eventId: Id
    approved: bool


class TriggeredApprovalResponse(BaseModel):
    campaignId: int
    customerId: str
    eventId: str
    status: Literal["approved", "declined"]
