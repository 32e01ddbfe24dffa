"""The `Store` protocol: everything services and the dispatcher may ask of storage.

One `transaction(tenant_id)` is one atomic unit: a `Tx` sees one tenant's state, and its
writes land together when the block exits normally, or not at all when it raises. Every
implementation must pass `tests/store` identically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import (
    Allocation,
    Attempt,
    Campaign,
    CampaignStats,
    Delivery,
    OutboxEvent,
    Promotion,
    Role,
    Tenant,
    Token,
    TriggeredEvent,
    WebhookConfig,
)
from simulator.domain.state import LedgerState

# Tenants numbered by the store start here; scenarios may fix numbers below it
# (`simulator.specs.NumericTenantId`), so a fixed number never meets an assigned one.
FIRST_TENANT_NUMBER = 100_000


class Tx(LedgerState, Protocol):
    """One tenant's state inside one transaction (the ledger plus everything else)."""

    tenant_id: str

    def tenant(self) -> Tenant | None: ...

    def committed_allocations(self, campaign_id: int) -> Iterable[Allocation]:
        """A campaign's committed allocations (approved customers), in no set order. Read by
        the dashboard only (its ledger page's tiers), never on an API call."""
        ...

    def next_tenant_number(self) -> int:
        """A store-wide unique integer tenant id (`Tenant.numeric_id`): FIRST_TENANT_NUMBER,
        then one more each call. Unique, not gap-free (a rolled-back call may skip one)."""
        ...

    def tenant_count(self) -> int:
        """How many tenants the store holds (this one included once it is stored)."""
        ...

    def put_tenant(self, tenant: Tenant) -> None:
        """Store the tenant record; the legacy username index follows its `users`."""
        ...

    def add_key(self, key: str, role: Role) -> None: ...

    def keys(self) -> list[tuple[str, Role]]: ...

    def put_token(self, token: Token) -> None: ...

    def promotion(self, promotion_id: str) -> Promotion | None: ...

    def promotion_by_code(self, promocode: str) -> Promotion | None: ...

    def promotions(self) -> list[Promotion]: ...

    def put_promotion(self, promotion: Promotion) -> None: ...

    def campaign(self, campaign_id: int) -> Campaign | None: ...

    def campaigns(self) -> list[Campaign]: ...

    def put_campaign(self, campaign: Campaign) -> None: ...

    def processed(self, campaign_id: int) -> ProcessedList | None: ...

    def put_processed(self, campaign_id: int, processed: ProcessedList) -> None: ...

    def stats(self, campaign_id: int) -> CampaignStats: ...

    def put_stats(self, campaign_id: int, stats: CampaignStats) -> None: ...

    def put_event(self, event: TriggeredEvent) -> None: ...

    def append_outbox(self, event: OutboxEvent) -> OutboxEvent: ...

    def outbox(
        self, *, after: int = 0, limit: int = 100, kind: str | None = None
    ) -> Sequence[OutboxEvent]: ...

    def customers(self) -> list[tuple[str, dict[str, Any]]]:
        """The chosen customers (id, attributes), in the order each was first stored."""
        ...

    def put_customer(self, customer_id: str, attributes: Mapping[str, Any]) -> None:
        """Store a chosen customer's attributes (replacing them; its place stays)."""
        ...

    def clear_customers(self) -> None: ...

    def reset(self) -> None:
        """Forget everything but the tenant record, its keys and its chosen customers."""
        ...


class Store(Protocol):
    """Durable (or not) home of every tenant's state."""

    # True when calls block on I/O or locks held by other processes: services then run
    # them in a worker thread instead of on the event loop.
    blocking: bool

    def transaction(self, tenant_id: str) -> AbstractContextManager[Tx]: ...

    def lookup_key(self, key: str) -> tuple[str, Role] | None: ...

    def lookup_token(self, token: str) -> Token | None: ...

    def touch_token(self, token: str, last_used: float) -> None: ...

    def purge_tokens(self, used_before: float) -> int:
        """Delete the login tokens last used before `used_before`; returns how many. Reads
        only those (an index on last use), so it costs nothing when none expired."""
        ...

    def user_tenant(self, username: str) -> str | None:
        """The tenant holding a legacy username (an index, not a scan)."""
        ...

    def tenant_count(self) -> int: ...

    def delete_tenant(self, tenant_id: str) -> list[str] | None:
        """Forget the tenant entirely: its world, chosen customers, keys, tokens, usernames
        and record, atomically. Returns the API keys and tokens it had (so callers can drop
        what they keep per credential), or None when no such tenant exists."""
        ...

    def tenant_ids(self) -> list[str]: ...

    def outbox_since(self, mark: int) -> tuple[int, list[str]]:
        """The tenants whose outbox gained events since `mark` (0: since the start), and
        the mark to ask with next time; costs nothing per idle tenant, so the webhook
        relay wakes on new events instead of polling every tenant."""
        ...

    def close(self) -> None: ...


# How many more deliveries of a lane (tenant id, event kind) may be claimed now.
Room = Callable[[str, str], int]


@dataclass(frozen=True, slots=True)
class Retention:
    """How much finished delivery history each tenant keeps: `deliveries` finished
    deliveries and `attempts` attempts at most (0: no count limit), none older than
    `seconds` (0: no age limit). Pending deliveries are never dropped."""

    deliveries: int = 0
    attempts: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PrunedCount:
    """What retention dropped of one (kind, campaign, status): counted, so summaries stay
    exact after the rows are gone."""

    count: int = 0
    attempts: int = 0
    first_done: float | None = None
    last_done: float | None = None

    def plus(self, d: Delivery) -> PrunedCount:
        return self.merge(PrunedCount(1, d.attempts, d.delivered_at, d.delivered_at))

    def merge(self, other: PrunedCount) -> PrunedCount:
        firsts = [t for t in (self.first_done, other.first_done) if t is not None]
        lasts = [t for t in (self.last_done, other.last_done) if t is not None]
        return PrunedCount(
            self.count + other.count,
            self.attempts + other.attempts,
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
        )


# The lag percentiles the summary answers (of the kept deliveries that were delivered):
# p50, p99 and the maximum, each the value at rank min(n - 1, int(p * n)) of the sorted lags.
LAG_PERCENTILES = (0.5, 0.99, 1.0)


def lag_value(done: float, created: float) -> float:
    """A delivery's lag as the summary answers it: milliseconds, rounded to the microsecond.
    Rounding is monotonic, so a percentile of rounded lags is the rounded percentile."""
    return round((done - created) * 1000, 3)


def lag_bucket(value: float) -> int:
    """The coarse bucket of a lag (ms): one per millisecond below 10 s, then 100 per
    doubling. Monotonic, so counts per bucket locate any rank; only the one bucket holding
    it is then read value by value."""
    if value < 10_000:
        return math.floor(value)
    return 10_000 + math.floor(math.log2(value / 10_000) * 100)


def lag_percentiles(
    buckets: Mapping[int, int], values: Callable[[int], Mapping[float, int]]
) -> dict[float, float | None]:
    """The exact LAG_PERCENTILES from counts per bucket and, for one bucket, counts per
    value: O(buckets + values of the buckets that hold a percentile), not O(deliveries)."""
    n = sum(buckets.values())
    out: dict[float, float | None] = {}
    if n == 0:
        return dict.fromkeys(LAG_PERCENTILES)
    ranks = {p: min(n - 1, int(p * n)) for p in LAG_PERCENTILES}
    seen = 0
    for bucket in sorted(buckets):
        count = buckets[bucket]
        inside = {p: r - seen for p, r in ranks.items() if p not in out and r < seen + count}
        if inside:
            within = values(bucket)
            acc = 0
            for value in sorted(within):
                acc += within[value]
                for p, r in list(inside.items()):
                    if r < acc:
                        out[p] = value
                        del inside[p]
        seen += count
        if len(out) == len(ranks):
            break
    return out


@dataclass
class DeliverySummary:
    """Counts by status, attempts and retries over every delivery (kept or pruned), and
    the delivery lag percentiles (`lag_ms`: LAG_PERCENTILES in ms) of the kept ones.

    Delivery logs keep these as aggregates updated with every row change, so a summary
    costs a handful of groups, not a read of every kept delivery."""

    by_status: dict[str, int] = field(default_factory=dict)
    total: int = 0
    attempts: int = 0
    retries: int = 0
    delivered: int = 0
    first_done: float | None = None
    last_done: float | None = None
    lag_ms: dict[float, float | None] = field(
        default_factory=lambda: dict.fromkeys(LAG_PERCENTILES)
    )

    def add_kept(self, status: str, count: int, attempts: int, retries: int) -> None:
        """Kept deliveries of one status: their count, attempts and retries (attempts
        beyond the first of each)."""
        self.by_status[status] = self.by_status.get(status, 0) + count
        self.total += count
        self.attempts += attempts
        self.retries += retries

    def add_done(self, count: int, first: float | None, last: float | None) -> None:
        """Kept deliveries with a delivery time: how many, the first and the last."""
        if count and first is not None and last is not None:
            self._done(count, first, last)

    def add(
        self, status: str, count: int, attempts: int, done: float | None, created: float
    ) -> None:
        """One kept delivery (a from-scratch summary; lags are the caller's)."""
        self.add_kept(status, count, attempts, max(0, attempts - 1))
        if done is not None:
            self._done(1, done, done)

    def add_pruned(self, status: str, c: PrunedCount) -> None:
        """Deliveries retention dropped (delivered and failed ones had one attempt at
        least, skipped ones none: retries are attempts beyond the first of each)."""
        self.by_status[status] = self.by_status.get(status, 0) + c.count
        self.total += c.count
        self.attempts += c.attempts
        self.retries += max(0, c.attempts - c.count)
        if c.first_done is not None and c.last_done is not None:
            self._done(c.count, c.first_done, c.last_done)

    def _done(self, count: int, first: float, last: float) -> None:
        self.delivered += count
        self.first_done = first if self.first_done is None else min(self.first_done, first)
        self.last_done = last if self.last_done is None else max(self.last_done, last)


class DeliveryLog(Protocol):
    """Webhook delivery state, kept beside the store: the relay tails each tenant's outbox
    from a cursor into pending deliveries, which survive a restart on the SQLite store.

    Claims are exclusive across processes: a claimed delivery's `next_at` moves one lease
    ahead, so two dispatchers never send it at the same time."""

    blocking: bool

    def cursor(self, tenant_id: str) -> int: ...

    def ingest(self, tenant_id: str, deliveries: Sequence[Delivery], cursor: int) -> None: ...

    def claim(
        self, now: float, limit: int, lease: float, room: Room | None = None
    ) -> list[Delivery]:
        """Up to `limit` due deliveries, fair across tenants: round robin over the lanes
        (tenant, kind) with due work, at most `room(tenant, kind)` of a lane."""
        ...

    def finish(self, results: Sequence[tuple[Delivery, Attempt | None]]) -> None: ...

    def get(self, tenant_id: str, event_id: str) -> Delivery | None: ...

    def deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        kind: str | None = None,
        campaign_id: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Delivery]: ...

    def counts(self, tenant_id: str, *, pruned: bool = False) -> dict[str, int]:
        """How many of the tenant's kept deliveries are in each status (pending, delivered,
        failed, skipped); a status with none is absent. With `pruned`, the finished ones
        retention dropped are counted too (the summary's `by_status`). Read from the
        aggregates, as `summary`: the cost follows the groups, not the deliveries."""
        ...

    def attempts(
        self,
        tenant_id: str,
        *,
        event_id: str | None = None,
        failed_only: bool = False,
        after: float = 0.0,
        limit: int = 100,
    ) -> list[Attempt]: ...

    def reschedule(self, tenant_id: str, event_ids: Sequence[str], now: float) -> int: ...

    def failed_since(self, tenant_id: str, since: float) -> list[str]: ...

    def summary(
        self, tenant_id: str, *, kind: str | None = None, campaign_id: int | None = None
    ) -> DeliverySummary:
        """From aggregates kept with every change of a delivery: the cost follows the
        (kind, campaign) groups and lag buckets in use, not the number of deliveries."""
        ...

    def prune(self, tenant_id: str, now: float, retention: Retention) -> int:
        """Drop the tenant's oldest finished deliveries and attempts beyond `retention`
        (counted in the summary); returns how many deliveries went."""
        ...

    def config(self, tenant_id: str) -> WebhookConfig: ...

    def set_config(self, tenant_id: str, config: WebhookConfig) -> None: ...

    def reset(self, tenant_id: str) -> None: ...

    def drop(self, tenant_id: str) -> None:
        """The tenant was deleted: forget its deliveries, attempts, cursor and config."""
        ...

    def close(self) -> None: ...
