"""The `Store` protocol: everything services and the dispatcher may ask of storage.

One `transaction(tenant_id)` is one atomic unit: a `Tx` sees one tenant's state, and its
writes land together when the block exits normally, or not at all when it raises. Every
implementation must pass `tests/store` identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import (
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

    def close(self) -> None: ...


class DeliveryLog(Protocol):
    """Webhook delivery state, kept beside the store: the relay tails each tenant's outbox
    from a cursor into pending deliveries, which survive a restart on the SQLite store.

    Claims are exclusive across processes: a claimed delivery's `next_at` moves one lease
    ahead, so two dispatchers never send it at the same time."""

    blocking: bool

    def cursor(self, tenant_id: str) -> int: ...

    def ingest(self, tenant_id: str, deliveries: Sequence[Delivery], cursor: int) -> None: ...

    def claim(self, now: float, limit: int, lease: float) -> list[Delivery]: ...

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

    def config(self, tenant_id: str) -> WebhookConfig: ...

    def set_config(self, tenant_id: str, config: WebhookConfig) -> None: ...

    def reset(self, tenant_id: str) -> None: ...

    def drop(self, tenant_id: str) -> None:
        """The tenant was deleted: forget its deliveries, attempts, cursor and config."""
        ...

    def close(self) -> None: ...
