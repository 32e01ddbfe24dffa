"""The control API's wire models (`/_sim`), shared by the server and the control client.

Request models (`…Request`) are the bodies the control routes read: the routes in
`simulator/api/control.py` and `simulator/api/webhooks.py` declare them, and
`simulator.control_client` builds them, so a body the client sends is validated by the
same model on both sides. They derive from `WireModel` (strict JSON types, keys in any
case).

Answer models are what the routes answer, named as the schemas of
`contracts/control.json` (`Health`, `CreatedTenant`, `Tenant`, `Clock`, `Campaign`,
`EmittedEvents`, `CampaignReport`, `PopulationCustomer`) or, for answers the contract
documents as any JSON, after what they hold (`Journal`, `Delivery`, `Attempt`, …). The
server encodes its answers straight to bytes (`api/encode.py`); these models read them.
They allow fields they do not know (`extra="allow"`), so an older client keeps working
against a newer simulator; the client tests check that no answer carries a field the
models miss.

This module sits beside `specs.py` (below `api`): it imports no web framework, so the
client, the pytest plugin and locust scenarios can import it without FastAPI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from simulator.domain.models import WebhookKind
from simulator.faults import FaultRule
from simulator.specs import Attributes, HttpUrl, Id, JsonObject, ScenarioDocument
from simulator.wire import IsoTime, WireModel

Session = JsonObject  # a JSON object whose numbers survive a round trip
Secret = Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")]
DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]


class ControlModel(WireModel):
    """A control request body: unknown keys are refused (a misspelling is a 400)."""

    model_config = ConfigDict(extra="forbid")


# -- requests ------------------------------------------------------------------------------
class CreateTenantRequest(ControlModel):
    name: Annotated[str, Field(max_length=1024)] | None = None
    scenario: ScenarioDocument | None = Field(
        None, description="An inline scenario (JSON form); its keys are spelled exactly"
    )
    builtin: Literal["demo", "large"] | None = Field(None, description="A built-in scenario")


class ClockRequest(ControlModel):
    mode: Literal["realtime", "manual"]
    now: IsoTime | None = Field(None, description="Jump to this time (with a time zone)")


class AdvanceRequest(ControlModel):
    seconds: Annotated[float, Field(ge=0, le=10 * 365 * 86400)]


class JournalRequest(ControlModel):
    enabled: bool


class CeWebhookUrl(ControlModel):
    url: HttpUrl


class EventCustomer(ControlModel):
    customerId: Id
    context: Session = Field(default_factory=dict)


class EmitEventsRequest(ControlModel):
    customers: Annotated[list[EventCustomer], Field(max_length=100_000)] | None = None
    count: Annotated[int, Field(ge=1, le=100_000)] | None = None
    context: Session = Field(default_factory=dict, description="Added to every generated context")
    rate: Annotated[float, Field(gt=0, le=100_000)] | None = Field(
        None, description="Target delivery rate in events/s (used by webhook delivery)"
    )


class PutCustomerRequest(ControlModel):
    attributes: Attributes = Field(
        description="The customer's chosen attributes (≤ 100): strings, numbers or booleans. "
        "Generated attribute names (any case) need their type: `LifetimeDeposits`, "
        "`Balance` and `Age` integers, `SelfExcluded` a boolean, the others strings."
    )


class WebhookConfigRequest(ControlModel):
    retryDelays: (
        Annotated[list[Annotated[float, Field(ge=0, le=86_400)]], Field(max_length=20)] | None
    ) = None
    timeScale: Annotated[float, Field(gt=0, le=1000)] | None = None
    timeoutSeconds: Annotated[float, Field(gt=0, le=300)] | None = None
    concurrency: Annotated[int, Field(ge=1, le=1024)] | None = None


class RotateSecretRequest(ControlModel):
    secret: Secret | None = None
    overlapSeconds: Annotated[float, Field(ge=0, le=30 * 86_400)] = 3600


class VerifyRequest(ControlModel):
    body: Annotated[str, StringConstraints(max_length=10_000_000)]
    headers: dict[str, Annotated[str, StringConstraints(max_length=4096)]]


class ResendFailedRequest(ControlModel):
    since: Annotated[float, Field(ge=0)] = Field(0, description="unix seconds (wall clock)")


class FaultsRequest(ControlModel):
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    rules: Annotated[list[FaultRule], Field(max_length=100)]


# -- answers -------------------------------------------------------------------------------
class Answer(BaseModel):
    """An answer of the control API; fields it does not know are kept (`model_extra`)."""

    model_config = ConfigDict(extra="allow")


class Health(Answer):
    status: Literal["ok"]
    version: str
    store: str


class LegacyUser(Answer):
    """Legacy `general/login` credentials (generated for a copy of a built-in scenario)."""

    username: str
    password: str
    role: str


class CreatedTenant(Answer):
    """A new tenant, its API keys by role (`admin`, `integrations`) and its legacy login
    credentials."""

    tenantId: str
    numericId: int
    name: str
    keys: dict[str, str]
    users: list[LegacyUser] = Field(default_factory=list)

    @property
    def admin_key(self) -> str:
        return self.keys["admin"]

    @property
    def integrations_key(self) -> str:
        return self.keys["integrations"]


class Clock(Answer):
    mode: Literal["realtime", "manual"]
    now: str = Field(description="ISO 8601 with `Z`")
    ran: int | None = Field(None, description="Executions and clearances the change ran")


class PopulationInfo(Answer):
    seed: int
    size: int
    idPrefix: str
    idWidth: int


class CeWebhook(Answer):
    id: str
    url: str
    createdAt: str


class Tenant(Answer):
    id: str
    numericId: int
    name: str
    clock: Clock
    population: PopulationInfo
    listeners: dict[str, str]
    ceWebhook: CeWebhook | None
    signed: bool


class TargetGroup(Answer):
    size: int
    offset: int
    where: list[dict[str, Any]]


class Campaign(Answer):
    id: int
    type: Literal["scheduled", "triggered"]
    status: Literal["scheduled", "executed", "cleared", "cancelled", "active"]
    promoCode: str
    actionId: int
    actionName: str
    createdAt: str
    executeAt: str | None
    executedAt: str | None
    clearanceRequiredBy: str | None
    finishedAt: str | None
    clearanceWindowMinutes: float
    seriesId: int | None
    trigger: str | None
    channels: list[int]
    targetGroup: TargetGroup | None
    processedCustomers: int | None = Field(None, description="`get_campaign` only")


class EmittedEvents(Answer):
    campaignId: int
    count: int
    eventIds: list[str]


class ViolationExample(Answer):
    code: str
    at: str
    detail: str


class CampaignReport(Answer):
    """The campaign's audit: what the integrator fetched, validated, approved, released and
    redeemed, and the protocol violations the simulator saw (by code)."""

    campaign: Campaign
    targeted: int
    fetchCalls: int = 0
    fetched: int
    validated: int
    invalid: dict[str, int] = Field(default_factory=dict)
    approved: int
    released: int
    approvalsRefused: dict[str, int] = Field(default_factory=dict)
    duplicatesRefused: int
    redeemed: int
    redemptionsRefused: dict[str, int] = Field(default_factory=dict)
    eventsEmitted: int = 0
    sent: int = 0
    violations: dict[str, int]
    violationCount: int
    violationExamples: list[ViolationExample] = Field(default_factory=list)


class PopulationCustomer(Answer):
    customerId: str
    index: int | None
    explicit: bool = False
    attributes: dict[str, Any]


class JournalEntry(Answer):
    """One request the simulator answered (`error`: the error code it answered with;
    `fault`: the fault injected, if any; `traceparent`: the W3C trace context the request
    carried, when valid)."""

    seq: int
    at: float
    method: str
    path: str
    query: str
    status: int
    ms: float
    error: str | None = None
    fault: str | None = None
    traceparent: str | None = None


class Journal(Answer):
    enabled: bool
    entries: list[JournalEntry] = Field(default_factory=list)


class OutboxEvent(Answer):
    seq: int
    id: str
    kind: WebhookKind
    campaignId: int | None
    createdAt: str
    body: Any


class Delivery(Answer):
    """A webhook event's delivery state. Times are unix seconds (wall clock)."""

    eventId: str
    seq: int
    kind: WebhookKind
    campaignId: int | None
    status: DeliveryStatus
    attempts: int
    nextAt: float | None
    createdAt: float
    deliveredAt: float | None
    lastStatus: int | None
    lastError: str | None


class Attempt(Answer):
    eventId: str
    attempt: int
    url: str
    at: float
    status: int | None
    latencyMs: float | None
    error: str | None
    fault: str | None


class DeliveryDetail(Delivery):
    """A delivery with the body it sends and every attempt so far."""

    body: str
    attemptLog: list[Attempt]


class LagMs(Answer):
    p50: float | None
    p99: float | None
    max: float | None


class DeliverySummary(Answer):
    total: int
    byStatus: dict[str, int]
    attempts: int
    retries: int
    lagMs: LagMs
    achievedRate: float | None

    @property
    def pending(self) -> int:
        return self.byStatus.get("pending", 0)


class Resent(Answer):
    resent: int


class WebhookConfig(Answer):
    retryDelays: list[float]
    timeScale: float
    timeoutSeconds: float
    concurrency: int
    secretsInOverlap: int


class RotatedSecret(Answer):
    secret: str
    overlapUntil: float


class Verification(Answer):
    valid: bool
    problem: str | None
    explanation: str | None


class Faults(Answer):
    seed: int | None
    rules: list[FaultRule]


class JournalSwitch(Answer):
    enabled: bool


class CoverageRule(Answer):
    """One catalogued business rule and how often the tenant's traffic exercised it
    (`example`: the `seq` of a journal entry that did)."""

    id: str
    group: str
    summary: str
    count: int
    example: int | None = None


class Coverage(Answer):
    """`GET /_sim/coverage`: every rule, covered or not (`ratio` = covered / total)."""

    campaignId: int | None = None
    covered: int
    total: int
    ratio: float
    rules: list[CoverageRule]
