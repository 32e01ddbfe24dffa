"""Wire models (what travels, wire-contract §2-§6) and the few plain records the flows pass
around. Wire models ignore unknown fields: the other side may add fields at any time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic needs this one, not typing's, on 3.11

CORE_TIME = "%Y-%m-%d %H:%M:%S"  # wire-contract §1: core API times, UTC


def parse_core_time(value: str) -> datetime:
    """A core-API time ("YYYY-MM-DD HH:MM:SS", UTC) as an aware datetime."""
    return datetime.strptime(value.strip(), CORE_TIME).replace(tzinfo=UTC)


def format_core_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime(CORE_TIME)


@lru_cache(maxsize=64)  # a page's redemptions share one timestamp
def iso_z(value: datetime) -> str:
    """ISO 8601 with `Z` (wire-contract §1: CE v2 and Promotions times)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- core API ---------------------------------------------------------------------------
class CampaignCustomerRow(TypedDict):
    """One row of GetProcessedCampaignCustomers; attributes come back as a list in the
    order they were asked for (wire-contract §2). A TypedDict, like the validation
    results below: a page holds 10,000 rows."""

    CustomerID: str
    ActionID: NotRequired[int | None]
    PromoCode: str
    CustomerAttributes: NotRequired[list[str] | None]


# -- Promotions ------------------------------------------------------------------------
# A validation answer has one result per customer, up to 1000 per call and a million per
# large campaign, so its parts are TypedDicts: pydantic validates them just as strictly
# but builds plain dicts, 2.5x faster than models here (docs/decisions.md). Unknown keys
# are ignored, like the models'.
class Reward(TypedDict):
    """`amount` (minor units + currency) or `units` (free spins); a percent reward arrives
    already computed as an amount (wire-contract §8)."""

    type: Literal["amount", "units"]
    amount: NotRequired[int | None]
    currency: NotRequired[str | None]
    units: NotRequired[int | None]


class Effect(TypedDict):
    tierId: str
    tierName: NotRequired[str | None]
    reward: Reward
    allocationId: NotRequired[str | None]  # absent only on dryRun


class ValidatedContext(TypedDict):
    customerId: str
    eventId: NotRequired[str | None]
    valid: bool
    reason: NotRequired[str | None]
    effects: NotRequired[list[Effect]]


class ValidateCustomersResponse(Wire):
    promocodeId: str
    promotionId: str
    contexts: list[ValidatedContext]


class RedemptionRejection(Wire):
    index: int
    allocationId: str | None = None
    reason: str


class RedemptionReport(Wire):
    accepted: int
    rejected: list[RedemptionRejection] = Field(default_factory=list)


# -- webhooks we receive (wire-contract §6) ---------------------------------------------
class ScheduledEvent(Wire):
    """EventTypeID 5: a scheduled campaign executed and must be cleared in time."""

    EventTypeID: Literal[5]
    CampaignID: int
    TimeStamp: str | None = None
    ClearanceRequiredBy: str | None = None
    # The tenant's integer id (wire-contract §6). Unused here, so a string id (as older
    # simulators sent) is accepted too rather than refusing the whole event.
    TenantID: int | str | None = None

    @property
    def deadline(self) -> datetime | None:
        return parse_core_time(self.ClearanceRequiredBy) if self.ClearanceRequiredBy else None


class CancelledEvent(Wire):
    """EventTypeID 4: the campaign was cancelled; its reservations are released."""

    EventTypeID: Literal[4]
    CampaignID: int
    TimeStamp: str | None = None


class ChannelEvent(Wire):
    """EventTypeID 13: a scheduled campaign was sent on the channel `ChannelID` at its
    `ClearanceRequiredBy`. Informational: nothing is left for the integrator to do."""

    EventTypeID: Literal[13]
    CampaignID: int
    ChannelID: int | None = None
    TimeStamp: str | None = None
    TenantID: int | None = None


class TriggeredUser(Wire):
    user_id: str
    is_visitor: bool = False


class TriggeredAction(Wire):
    id: int | None = None
    name: str | None = None
    promo_codes: list[str] = Field(default_factory=list)


class TriggeredCampaign(Wire):
    id: int
    series_id: int | None = None
    action: TriggeredAction


class TriggeredEvent(Wire):
    """A CE v2 webhook: one customer event of a triggered campaign."""

    eventId: str
    eventTime: str | None = None
    user: TriggeredUser
    campaign: TriggeredCampaign
    context: dict[str, Any] = Field(default_factory=dict)


# -- records of our own -----------------------------------------------------------------
@dataclass(slots=True)
class Customer:
    """A targeted customer as the scrubbing rules see them."""

    customer_id: str
    promo_code: str
    action_id: int | None = None
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Allocation:
    """A validated reward: what Promotions reserved for one customer."""

    customer_id: str
    promotion_id: str
    effects: tuple[Effect, ...]
    event_id: str | None = None
    # The reservation keys, read once (approval, journal and redemption all need them).
    allocation_ids: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(key for e in self.effects if (key := e.get("allocationId")))
        object.__setattr__(self, "allocation_ids", keys)
