"""Domain records of the simulated services. Money is an int in minor units (cents).

All records are frozen: a rule function builds a new record instead of changing one, so a
store that hands out its own objects can never be corrupted by a refused operation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

RewardKind = Literal["amount", "units"]
CampaignType = Literal["scheduled", "triggered"]
Role = Literal["admin", "integrations"]
ClockMode = Literal["realtime", "manual"]
# What an outbox event announces: EventTypeID 5, 4, 13 (per channel), or a CE v2 event.
WebhookKind = Literal["scheduled", "cancelled", "channel", "triggered"]
WEBHOOK_KINDS: tuple[WebhookKind, ...] = ("scheduled", "cancelled", "channel", "triggered")


class PromotionStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"
    ARCHIVED = "archived"


class CampaignStatus(StrEnum):
    SCHEDULED = "scheduled"  # scheduled campaign, not yet executed
    EXECUTED = "executed"  # processed list frozen, on hold until ClearanceRequiredBy
    CLEARED = "cleared"  # sent to the approved customers; open reservations released
    CANCELLED = "cancelled"
    ACTIVE = "active"  # triggered campaign accepting events


class AllocationStatus(StrEnum):
    RESERVED = "reserved"
    COMMITTED = "committed"
    RELEASED = "released"


# The members as plain names, for per-item loops: `AllocationStatus.RESERVED` is a lookup
# through the enum class costing ~150 ns on Python 3.11, paid per customer of a batch.
RESERVED_STATUS, RELEASED_STATUS = AllocationStatus.RESERVED, AllocationStatus.RELEASED


@dataclass(frozen=True, slots=True)
class Condition:
    """`{"field": "attributes.X" | "session.Y", "op": ..., "value": ...}` of a tier."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class RewardSpec:
    """A tier's reward as configured: amount, units, or percent of a session value."""

    type: Literal["amount", "units", "percent"]
    amount: int | None = None
    currency: str | None = None
    units: int | None = None
    percent: float | None = None
    of: str | None = None
    max: int | None = None


@dataclass(frozen=True, slots=True)
class Tier:
    id: str
    name: str
    when: tuple[Condition, ...]
    reward: RewardSpec


@dataclass(frozen=True, slots=True)
class Reward:
    """A computed reward: `value` is minor units for amount rewards, items for units."""

    type: RewardKind
    value: int
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class PeriodCaps:
    daily: int | None = None
    weekly: int | None = None
    monthly: int | None = None


@dataclass(frozen=True, slots=True)
class Promotion:
    id: str
    name: str
    promocodes: tuple[str, ...]
    reward_kind: RewardKind
    currency: str | None
    budget: int
    audience_cap: int
    per_customer_limit: int
    period_caps: PeriodCaps
    tiers: tuple[Tier, ...]
    status: PromotionStatus
    ever_active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Usage:
    """A promotion's running totals. Invariant: reserved + committed <= budget."""

    budget_reserved: int = 0
    budget_committed: int = 0
    budget_released: int = 0
    audience_reserved: int = 0
    audience_committed: int = 0
    redemptions: int = 0
    redeemed_amount: int = 0


@dataclass(slots=True)
class Holding:
    """What one customer holds of one promotion: live reservations and commitments.

    Treated as immutable (stores share one record per distinct count), but not `frozen`,
    for the reason given at `Allocation`: built twice per customer of a batch.
    """

    reserved: int = 0
    committed: int = 0

    @property
    def live(self) -> int:
        return self.reserved + self.committed


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """Which population customers a scheduled campaign targets.

    The first `size` customers from index `offset` on whose attributes satisfy every
    condition in `where` (none: a contiguous slice of the population); or, when `ids` is
    given, exactly those customers (`size` is then their number).
    """

    size: int
    offset: int = 0
    where: tuple[Condition, ...] = ()
    ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    type: CampaignType
    promo_code: str
    action_id: int
    action_name: str
    status: CampaignStatus
    created_at: datetime
    target: TargetGroup | None = None
    clearance_window_s: int = 1800
    execute_at: datetime | None = None
    series_id: int | None = None
    trigger: str | None = None
    executed_at: datetime | None = None
    # ChannelIDs the campaign is sent on: one EventTypeID 13 webhook each at clearance
    channels: tuple[int, ...] = ()
    clearance_required_by: datetime | None = None
    finished_at: datetime | None = None


# The promotion id of an approval record: an approval on a campaign whose promo code
# reaches no Promotions promotion (wire-contract §2.1, rev 2; `approvals.approval_record`).
NO_PROMOTION = ""
# Id prefixes: a reservation (allocation proper) and an approval record.
RESERVATION, APPROVAL_RECORD = "AL", "AP"


def allocation_id(prefix: str, campaign_id: int, number: int) -> str:
    """`AL-<campaign>-<n>`: the n-th allocation recorded for the campaign (from 1; `AP-…`
    for an approval record). Opaque to integrators (wire-contract §4 shows only `AL-…`);
    numbered per campaign so a store can keep a campaign's allocations as rows and find
    one by its id without an index of ids (docs/decisions.md, "Ledger in columns")."""
    return allocation_stem(prefix, campaign_id) + str(number)


def allocation_stem(prefix: str, campaign_id: int) -> str:
    """What every `allocation_id` of this kind and campaign starts with: `AL-<campaign>-`
    (a store reading many rows builds each id as the stem plus the number)."""
    return f"{prefix}-{campaign_id}-"


def allocation_number(allocation_id_: str) -> tuple[str, int, int] | None:
    """(prefix, campaign id, n) of an id `allocation_id` made, else None (any other
    string, including a different spelling of the same numbers)."""
    prefix, _, rest = allocation_id_.partition("-")
    campaign, _, number = rest.partition("-")
    # the one spelling: ASCII digits (isdigit takes other scripts' too), no leading zero
    if (
        prefix in _PREFIXES
        and campaign.isascii()
        and campaign.isdigit()
        and number.isascii()
        and number.isdigit()
        and campaign[0] != "0"
        and number[0] != "0"
    ):
        return prefix, int(campaign), int(number)
    return None


_PREFIXES = frozenset((RESERVATION, APPROVAL_RECORD))


@dataclass(slots=True)
class Allocation:
    """A reward reserved for a customer by validateCustomers; keyed by
    (campaign, customer, eventId-or-none) so validation is idempotent. An *approval
    record* (`promotion_id == NO_PROMOTION`) is the committed allocation that marks a
    customer approved on a campaign without a ledger: it holds no budget or cap.

    Treated as immutable like every record here, but not `frozen`: a frozen dataclass sets
    each field through `object.__setattr__`, which made building one cost 4.3 µs instead
    of 0.9 µs — paid per customer in a 1,000-context validation and per item in a
    10,000-item approval. Changes go through `with_status` / `with_redemption`, which
    build a new record; nothing assigns to a field.
    """

    id: str
    promotion_id: str
    campaign_id: int
    customer_id: str
    event_id: str | None
    tier_id: str
    tier_name: str
    reward: Reward
    status: AllocationStatus
    reserved_at: datetime
    period_keys: tuple[str, ...]
    redeemed: bool = False
    redeemed_amount: int = 0

    @property
    def key(self) -> tuple[int, str, str | None]:
        return (self.campaign_id, self.customer_id, self.event_id)

    @property
    def is_approval_record(self) -> bool:
        return self.promotion_id == NO_PROMOTION

    def with_status(self, status: AllocationStatus) -> Allocation:
        return Allocation(
            self.id,
            self.promotion_id,
            self.campaign_id,
            self.customer_id,
            self.event_id,
            self.tier_id,
            self.tier_name,
            self.reward,
            status,
            self.reserved_at,
            self.period_keys,
            self.redeemed,
            self.redeemed_amount,
        )

    def with_redemption(self, amount: int) -> Allocation:
        return Allocation(
            self.id,
            self.promotion_id,
            self.campaign_id,
            self.customer_id,
            self.event_id,
            self.tier_id,
            self.tier_name,
            self.reward,
            self.status,
            self.reserved_at,
            self.period_keys,
            True,
            amount,
        )


@dataclass(frozen=True, slots=True)
class NewReservations:
    """A call's new reservations (`records`, in order), as one batch: all of one campaign
    and one promotion, reserved at one moment with one set of period keys, unredeemed, and
    numbered in order from `first` (`allocation_id(RESERVATION, campaign, first)`, then
    `first + 1`, …).

    `choices[i]` is the (tier, reward) the i-th record was reserved with, as the tier
    chooser answered it: records given the same object share their tier and reward (the
    chooser hands one object to most records of a choice, not always to all of them).
    What lets a store write a batch's tier and reward per choice object, not per record
    (`columns.Book.extend`)."""

    records: Sequence[Allocation]
    first: int
    choices: Sequence[tuple[Tier, Reward]]


@dataclass(frozen=True, slots=True)
class TriggeredEvent:
    """A customer event that fired a triggered campaign (one CE v2 webhook each)."""

    id: str
    campaign_id: int
    customer_id: str
    context: dict[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A webhook waiting to be delivered. `id` is the Standard Webhooks `webhook-id`."""

    id: str
    kind: WebhookKind
    campaign_id: int
    body: dict[str, Any]
    created_at: datetime
    seq: int = 0


@dataclass(frozen=True, slots=True)
class ClockState:
    """A tenant's simulator clock: wall time plus an offset, or frozen at `manual_now`."""

    mode: ClockMode = "realtime"
    offset_s: float = 0.0
    manual_now: datetime | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    at: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class CampaignStats:
    """The audit of one campaign: what the integrator did, counted as it happened."""

    targeted: int = 0
    fetch_calls: int = 0
    fetched: int = 0
    validated: int = 0
    invalid: dict[str, int] = field(default_factory=dict)
    approved: int = 0
    released: int = 0
    approvals_refused: dict[str, int] = field(default_factory=dict)
    redeemed: int = 0
    redemptions_refused: dict[str, int] = field(default_factory=dict)
    events_emitted: int = 0
    sent: int = 0
    violations: dict[str, int] = field(default_factory=dict)
    examples: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True)
class PopulationSpec:
    """How a tenant's population is generated (see `simulator.population`)."""

    seed: int = 42
    size: int = 100_000
    id_prefix: str = "C"
    id_width: int = 7
    self_excluded_per_mille: int = 20
    # The version of the tenant's chosen customers (explicit customers and chosen
    # attributes, kept in the store); None when it has none. A new value on every change,
    # so a cached copy is known to be current from the tenant record alone.
    chosen_version: str | None = None


@dataclass(frozen=True, slots=True)
class CeWebhook:
    """The tenant's CE v2 triggered-webhook registration (one per tenant)."""

    id: str
    url: str
    created_at: datetime
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    """One isolated simulated Optimove account. Keys live in the store's key table."""

    id: str
    name: str
    created_at: datetime
    # The integer id Optimove's webhooks carry as `TenantID` (wire-contract §6, rev 2);
    # `id` stays the key everywhere else. Unique per store.
    numeric_id: int = 0
    clock: ClockState = ClockState()
    population: PopulationSpec = PopulationSpec()
    webhook_secret: str | None = None
    # "5" or "13:7" (EventTypeID[:ChannelID]) → ListenerURL
    listeners: dict[str, str] = field(default_factory=dict)
    ce_webhook: CeWebhook | None = None
    # username → (password, role) for the legacy login
    users: dict[str, tuple[str, str]] = field(default_factory=dict)
    # promo code → promotion name, for the legacy AddPromotions / GetPromotions
    legacy_promotions: dict[str, str] = field(default_factory=dict)
    # username → (their latest login token, its login wall time): the login limits
    logins: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Token:
    """A legacy `Authorization-Token`; expires 20 minutes after its last use (wall clock)."""

    token: str
    tenant_id: str
    role: Role
    last_used: float


DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """Delivery state of one outbox event (one webhook-id). Times are wall-clock seconds:
    retries and deliveries run on real time even when the simulator clock is virtual."""

    tenant_id: str
    event_id: str
    seq: int
    kind: str
    campaign_id: int
    body: bytes
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_at: float = 0.0
    created_at: float = 0.0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt to deliver a webhook, as recorded in the attempt log."""

    tenant_id: str
    event_id: str
    number: int
    url: str
    at: float
    status: int | None
    latency_ms: float
    error: str | None = None
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """A tenant's delivery settings: the retry schedule (delays in seconds after attempts
    1, 2, ...), a time scale applied to it (0.01 makes 600 s last 6 s in tests), the
    per-attempt timeout, the concurrency per listener, and secrets still honoured during
    a rotation's overlap: (secret, valid-until wall time)."""

    retry_delays: tuple[float, ...] = (1, 5, 30, 120, 600)
    time_scale: float = 1.0
    timeout_s: float = 10.0
    concurrency: int = 64
    previous_secrets: tuple[tuple[str, float], ...] = ()
