"""Input specifications shared by wire bodies and scenario files (pydantic).

Field names are the wire's camelCase. Limits follow wire-contract §8: ids ≤ 128
characters, other strings ≤ 1024, amounts are non-negative integers in minor units.
Validation errors name the field (pydantic's `loc`), which the API turns into messages.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from simulator.domain.models import (
    Condition,
    PeriodCaps,
    RewardSpec,
    TargetGroup,
    Tier,
)
from simulator.faults import FaultRule
from simulator.population import ATTRIBUTE_TYPES, Population, canonical_attribute
from simulator.wire import EXACT_KEYS, IsoTime, WireModel

Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(max_length=1024)]
Currency = Annotated[str, StringConstraints(min_length=3, max_length=3, pattern=r"^[A-Z]{3}$")]
MAX_MONEY = 2**53  # exact in JSON numbers everywhere; far above any real budget
Money = Annotated[int, Field(ge=0, le=MAX_MONEY)]
CampaignId = Annotated[int, Field(ge=1, le=2**31 - 1)]
ChannelId = Annotated[int, Field(ge=0, le=2**31 - 1)]  # as RegisterEventListener's ChannelID
# The integer `TenantID` of webhooks a scenario may fix; the store numbers other tenants
# from 100000 up (`Tx.next_tenant_number`), so the two never meet.
NumericTenantId = Annotated[int, Field(ge=1, le=99_999)]

# An http(s) URL whose host every URL parser reads alike: printable ASCII without `#/?[]`
# (no IPv6 literals; punycode for international names), then anything but tabs and line
# breaks. Or such a URL percent-encoded whole, as the PyPI client sends it (`quote_plus`:
# `http%3A%2F%2Fhost%3A9000%2Fhook%3Fa%3D1`): unreserved characters and the escapes of
# `:/?#=&@%+`, so it always decodes to the first form. One grammar for the server
# (`HttpUrl`) and the contract documents (`simulator.contracts.HTTP_URL`).
_PLAIN_URL = r'[Hh][Tt][Tt][Pp][Ss]?://[!-"$-.0->@-Z\\^-~]+(?:[/?#][^\t\n\r]*)?'
_ENCODED_URL = (
    r"[Hh][Tt][Tt][Pp][Ss]?%3[Aa]%2[Ff]%2[Ff][A-Za-z0-9_.~+-]"
    r"(?:[A-Za-z0-9_.~+-]|%(?:2[356BbFf]|3[AaDdFf]|40))*"
)
HTTP_URL_PATTERN = f"^(?:{_PLAIN_URL}|{_ENCODED_URL})$"
_HTTP_URL = re.compile(HTTP_URL_PATTERN)


def _http_url(value: str) -> str:
    if not _HTTP_URL.fullmatch(value):  # fullmatch: `$` alone would allow a final newline
        raise ValueError("must be an http(s) URL")
    return value


HttpUrl = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_http_url)]
Op = Literal["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"]
MAX_DEPTH = 16


def plain_json(value: Any, depth: int = 0) -> Any:
    """Free-form JSON (sessions, event contexts, condition values) must survive a round
    trip: integers within 64 bits (`1e20` too: an integer by value), finite numbers, bounded
    nesting. Python's JSON parser
    accepts `1e400` (infinity) and 400-digit integers, which no encoder can send back."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError("integer outside the 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("number is not finite")
        # JSON has one number type: `1e20` is the integer 10^20 to JSON Schema (and to the
        # contract's FreeJson), so the 64-bit range holds however an integer is spelled.
        if value.is_integer() and not -(2.0**63) <= value < 2.0**63:
            raise ValueError("integer outside the 64-bit range")
        return value
    if isinstance(value, list):
        return [plain_json(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: plain_json(v, depth + 1) for k, v in value.items()}
    raise ValueError(f"not a JSON value: {type(value).__name__}")


JsonValue = Annotated[Any, AfterValidator(plain_json)]
JsonObject = Annotated[dict[str, Any], AfterValidator(plain_json)]


class Spec(WireModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ConditionSpec(Spec):
    field: Annotated[
        str,
        StringConstraints(max_length=256, pattern=r"^(attributes|session)\.[^.\s]+(\.[^.\s]+)*$"),
    ] = Field(description="`attributes.X` (population attribute) or `session.Y` (context value)")
    op: Op
    value: JsonValue = Field(description="A JSON value; a list for `in` / `not_in`")

    @model_validator(mode="after")
    def _list_for_membership(self) -> ConditionSpec:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"value must be a list for op '{self.op}'")
        return self

    def to_domain(self) -> Condition:
        value = tuple(self.value) if isinstance(self.value, list) else self.value
        return Condition(self.field, self.op, value)


class RewardSpecModel(Spec):
    """`amount` (minor units), `units` (items such as free spins) or `percent` of a
    session value in minor units, rounded down and capped by `max`."""

    type: Literal["amount", "units", "percent"]
    amount: Money | None = None
    currency: Currency | None = None
    units: Money | None = None
    percent: Annotated[float, Field(gt=0, le=100)] | None = None
    of: (
        Annotated[str, StringConstraints(pattern=r"^session\.[^.\s]+(\.[^.\s]+)*$", max_length=256)]
        | None
    ) = None
    max: Money | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> RewardSpecModel:
        needed = {"amount": ("amount",), "units": ("units",), "percent": ("percent", "of")}
        for name in needed[self.type]:
            if getattr(self, name) is None:
                raise ValueError(f"a {self.type} reward needs '{name}'")
        return self

    def to_domain(self) -> RewardSpec:
        return RewardSpec(
            self.type, self.amount, self.currency, self.units, self.percent, self.of, self.max
        )


class TierSpec(Spec):
    id: Id
    name: Text
    when: Annotated[list[ConditionSpec], Field(max_length=50)] = []
    reward: RewardSpecModel

    def to_domain(self) -> Tier:
        return Tier(
            self.id, self.name, tuple(c.to_domain() for c in self.when), self.reward.to_domain()
        )


class PeriodCapsSpec(Spec):
    daily: Annotated[int, Field(ge=1, le=MAX_MONEY)] | None = None
    weekly: Annotated[int, Field(ge=1, le=MAX_MONEY)] | None = None
    monthly: Annotated[int, Field(ge=1, le=MAX_MONEY)] | None = None

    def to_domain(self) -> PeriodCaps:
        return PeriodCaps(self.daily, self.weekly, self.monthly)


Tiers = Annotated[list[TierSpec], Field(max_length=100)]


class PromotionCreate(Spec):
    """A new promotion (created as `draft`)."""

    id: Id
    name: Text
    promocodes: Annotated[list[Id], Field(min_length=1, max_length=100)]
    rewardKind: Literal["amount", "units"]
    currency: Currency | None = None
    budget: Money
    audienceCap: Money
    perCustomerLimit: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    periodCaps: PeriodCapsSpec | None = None
    tiers: Tiers


class TiersUpdate(Spec):
    tiers: Tiers


class ScenarioPromotion(PromotionCreate):
    """A promotion in a scenario file; `status: active` activates it on load."""

    status: Literal["draft", "active"] = "active"


MAX_TARGET_IDS = 100_000


class TargetGroupSpec(Spec):
    """`size` customers from `offset` on (those matching `where`), or exactly the
    customers listed in `ids` (wire-contract §7, rev 2)."""

    size: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    offset: Annotated[int, Field(ge=0, le=10_000_000)] = 0
    where: Annotated[list[ConditionSpec], Field(max_length=20)] = []
    ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_TARGET_IDS)] | None = Field(
        None, description="Exactly these customers (generated or explicit ids)"
    )

    @model_validator(mode="after")
    def _attributes_only(self) -> TargetGroupSpec:
        for cond in self.where:
            if not cond.field.startswith("attributes."):
                raise ValueError("target group conditions may only use attributes.X")
        if self.ids is None:
            if self.size is None:
                raise ValueError("a target group needs 'size' or 'ids'")
            return self
        if self.size is not None or self.offset or self.where:
            raise ValueError("a target group of 'ids' takes no 'size', 'offset' or 'where'")
        seen: set[str] = set()
        for i, cid in enumerate(self.ids):
            if cid in seen:
                raise ValueError(f"ids[{i}]: {cid!r} is listed twice")
            seen.add(cid)
        return self

    def to_domain(self) -> TargetGroup:
        if self.ids is not None:
            return TargetGroup(len(self.ids), ids=tuple(self.ids))
        return TargetGroup(self.size or 0, self.offset, tuple(c.to_domain() for c in self.where))


def _unique(channels: list[int]) -> list[int]:
    if len(set(channels)) != len(channels):
        raise ValueError("channels must not repeat a ChannelID")
    return channels


class CampaignCreate(Spec):
    """A scheduled campaign (target group, clearance window, optional execution time) or a
    triggered one (series and trigger); both name the promo code they reward with."""

    id: CampaignId
    type: Literal["scheduled", "triggered"]
    promoCode: Id
    actionId: Annotated[int, Field(ge=0, le=2**31 - 1)] = 1
    actionName: Text = ""
    targetGroup: TargetGroupSpec | None = None
    clearanceWindowMinutes: Annotated[float, Field(gt=0, le=60 * 24 * 30)] = 30
    executeAt: IsoTime | None = None
    seriesId: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    trigger: Text | None = None
    channels: Annotated[list[ChannelId], Field(max_length=50), AfterValidator(_unique)] = Field(
        default_factory=list,
        description="ChannelIDs the campaign is sent on: a scheduled campaign sends one "
        "EventTypeID 13 webhook per channel at ClearanceRequiredBy",
        json_schema_extra={"uniqueItems": True},
    )

    @model_validator(mode="after")
    def _shape_of_type(self) -> CampaignCreate:
        if self.type == "scheduled" and self.targetGroup is None:
            raise ValueError("a scheduled campaign needs 'targetGroup'")
        if self.type == "triggered" and self.targetGroup is not None:
            raise ValueError("a triggered campaign takes no 'targetGroup'")
        if self.executeAt is not None and self.executeAt.tzinfo is None:
            raise ValueError("executeAt needs a time zone (use Z for UTC)")
        return self


# A chosen attribute: a name a condition can address (`attributes.X`: no dots, spaces or
# the `;` that joins CustomerAttributes) and a string, number or boolean value.
AttributeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")]
AttributeValue = Annotated[
    Annotated[str, StringConstraints(max_length=1024)] | bool | int | float,
    AfterValidator(plain_json),
]
MAX_CHOSEN_CUSTOMERS = 100_000


def chosen_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """Chosen attributes with generated names in their canonical spelling (`viplevel` is
    `VIPLevel`) and values of the generated attribute's type; raises ValueError."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        canonical = canonical_attribute(name) or name
        if canonical.lower() in {n.lower() for n in out}:
            raise ValueError(f"attribute {name!r} is given twice (names ignore case)")
        wanted = ATTRIBUTE_TYPES.get(canonical)
        if wanted is not None and not (
            type(value) is wanted or (wanted is float and type(value) is int)
        ):
            raise ValueError(f"attribute {canonical!r} must be {_TYPE_NAMES[wanted]}")
        out[canonical] = value
    return out


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Field(max_length=100, description="Strings, numbers or booleans"),
    AfterValidator(chosen_attributes),
]


class CustomerSpec(Spec):
    """A chosen customer: an explicit one (any id) or, with a generated id, attributes laid
    over that generated customer's computed ones."""

    id: Id
    attributes: Attributes = {}


class PopulationSpecModel(Spec):
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 42
    size: Annotated[int, Field(ge=0, le=10_000_000)] = 100_000
    idPrefix: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_-]{0,16}$")] = "C"
    idWidth: Annotated[int, Field(ge=1, le=12)] = 7
    selfExcludedPerMille: Annotated[int, Field(ge=0, le=1000)] = 20
    customers: Annotated[list[CustomerSpec], Field(max_length=MAX_CHOSEN_CUSTOMERS)] = Field(
        [], description="Explicit customers (any id), or chosen attributes of generated ones"
    )

    @model_validator(mode="after")
    def _ids_fit(self) -> PopulationSpecModel:
        if self.size > 10**self.idWidth:
            raise ValueError(f"size {self.size} does not fit idWidth {self.idWidth}")
        seen: set[str] = set()
        for i, customer in enumerate(self.customers):
            if customer.id in seen:
                raise ValueError(f"customers[{i}].id {customer.id!r} is listed twice")
            seen.add(customer.id)
        return self

    def generated(self) -> Population:
        return Population(self.seed, self.size, self.idPrefix, self.idWidth)

    def count(self) -> int:
        """Every customer: the generated ones and the explicit ones."""
        generated = self.generated()
        return self.size + sum(1 for c in self.customers if generated.generated_index(c.id) is None)


Secret = Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")]


class KeySpec(Spec):
    key: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    role: Literal["admin", "integrations"]


class UserSpec(Spec):
    username: Id
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    role: Literal["admin", "integrations"] = "integrations"


class ClockSpec(Spec):
    mode: Literal["realtime", "manual"] = "realtime"
    start: IsoTime | None = None


class TenantSpec(Spec):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = "demo"
    name: Text = "Demo"
    keys: Annotated[list[KeySpec], Field(max_length=20)] = []
    users: Annotated[list[UserSpec], Field(max_length=20)] = []
    webhookSecret: Secret | None = None
    numericId: NumericTenantId | None = Field(
        None,
        description="The tenant's integer id, sent as `TenantID` in webhooks; absent: the "
        "store assigns one (from 100000 up) when the tenant is created",
    )


class PromoCodeSpec(Spec):
    """A promo code added with `integrations/AddPromotions`, with no Promotions promotion
    behind it: campaigns on it approve customers without validation (wire-contract §2.1)."""

    promoCode: Id
    promotionName: Text = ""


class FaultsSpec(Spec):
    """Fault rules armed when the scenario loads (see `simulator.faults.FaultRule`)."""

    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    rules: Annotated[list[FaultRule], Field(max_length=100)] = []


class Scenario(Spec):
    """A whole simulated account: tenant, population, promotions, campaigns, faults. Its
    keys are spelled exactly as shown, unlike request bodies' keys, which match in any
    case."""

    # Exact wherever the document comes from (a file, a built-in, the body of
    # `POST /_sim/scenario`, `scenario` in `POST /_sim/tenants`): validate it with
    # `context=EXACT_KEYS`, or as `ScenarioDocument` inside a body.

    tenant: TenantSpec = TenantSpec()
    clock: ClockSpec = ClockSpec()
    population: PopulationSpecModel = PopulationSpecModel()
    promotions: Annotated[list[ScenarioPromotion], Field(max_length=1000)] = []
    promoCodes: Annotated[list[PromoCodeSpec], Field(max_length=1000)] = Field(
        [], description="Codes as if added with AddPromotions (no Promotions promotion)"
    )
    campaigns: Annotated[list[CampaignCreate], Field(max_length=1000)] = []
    faults: FaultsSpec | None = None

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        codes = {code for p in self.promotions for code in p.promocodes}
        codes |= {c.promoCode for c in self.promoCodes}
        for i, campaign in enumerate(self.campaigns):
            if campaign.promoCode not in codes:
                raise ValueError(
                    f"campaigns[{i}].promoCode {campaign.promoCode!r} is not a promocode "
                    "of any promotion nor in promoCodes of this scenario"
                )
        ids = [c.id for c in self.campaigns]
        if len(ids) != len(set(ids)):
            raise ValueError("campaign ids must be unique")
        for i, campaign in enumerate(self.campaigns):
            if campaign.targetGroup is not None:
                target_group_fits(f"campaigns[{i}].targetGroup", campaign.targetGroup, self)
        return self


def _exact_keys(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    if info.context is not None and info.context.get("exact_keys"):
        return handler(value)
    # Validated again with the context every nested model reads; errors keep their places.
    return Scenario.model_validate(value, context={**(info.context or {}), **EXACT_KEYS})


# A scenario sent inside a request body: its keys bind exactly, as in a scenario file
# (a scenario is code its author maintains, so `audiencecap` is a typo to report, not a
# spelling to bind; docs/decisions.md, "Wire types"), while the body's own keys match in
# any case like every body's.
ScenarioDocument = Annotated[Scenario, WrapValidator(_exact_keys)]


def target_group_fits(where: str, target: TargetGroupSpec, scenario: Scenario) -> None:
    """A scenario's target group must fit its population: no more customers than there
    are, and only customers that exist (else the list would silently shrink)."""
    population = scenario.population
    if target.ids is not None:
        generated = population.generated()
        explicit = {c.id for c in population.customers}
        for k, cid in enumerate(target.ids):
            if generated.generated_index(cid) is None and cid not in explicit:
                raise ValueError(
                    f"{where}.ids[{k}]: customer {cid!r} is neither a generated customer "
                    "nor one of population.customers"
                )
        return
    count = population.count()
    if target.offset + (target.size or 0) > count:
        raise ValueError(
            f"{where}: offset {target.offset} + size {target.size} is more than the "
            f"{count:,} customers of the population"
        )
