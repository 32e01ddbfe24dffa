"""The control client: `ControlClient` (sync) and `AsyncControlClient`, over httpx.

One method per `/_sim` route, named as the route's `operation_id`, taking keyword
arguments (snake_case) and returning the answer models of `simulator.control_models`;
errors raise `ControlError` subclasses carrying the error envelope. Both classes run the
same builders (`calls.py`). A client is bound to a base URL and a tenant's admin key;
`new_tenant` creates a fresh tenant and `with_key` gives a client bound to another one.

    with ControlClient("http://127.0.0.1:8080", "demo-admin-key") as sim:
        sim.wait_until_healthy()
        tenant = sim.new_tenant(builtin="demo")
        with sim.with_key(tenant.admin_key) as mine:
            mine.execute_campaign(48213)
            print(mine.get_campaign_report(48213).violations)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

import httpx

from simulator.control_client import calls
from simulator.control_client.calls import Call, FaultInput, ScenarioInput
from simulator.control_client.errors import (
    ControlError,
    HttpResponse,
    Unreachable,
    from_response,
    unreachable,
)
from simulator.control_models import (
    Attempt,
    Campaign,
    CampaignReport,
    CeWebhook,
    Clock,
    Coverage,
    CreatedTenant,
    Delivery,
    DeliveryDetail,
    DeliveryStatus,
    DeliverySummary,
    EmittedEvents,
    EventCustomer,
    Faults,
    Health,
    Journal,
    JournalEntry,
    JournalSwitch,
    OutboxEvent,
    PopulationCustomer,
    Resent,
    RotatedSecret,
    Tenant,
    Verification,
    WebhookConfig,
)
from simulator.domain.models import WebhookKind
from simulator.specs import CampaignCreate, Scenario

T = TypeVar("T")
PAGE = 10_000  # the control API's largest page


class SyncHttp(Protocol):
    """An HTTP client `ControlClient` can send through: httpx.Client, or a look-alike such
    as Starlette's TestClient (built on an httpx fork)."""

    def request(
        self, method: str, url: str, *, params: Any, json: Any, content: Any, headers: Any
    ) -> HttpResponse: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class TenantAccess:
    """What a new tenant's user needs: where it is, its keys and its webhook secret."""

    url: str
    tenant_id: str
    numeric_id: int
    name: str
    admin_key: str
    integrations_key: str
    webhook_secret: str


def _scenario_secret(scenario: ScenarioInput | None) -> str | None:
    if isinstance(scenario, Scenario):
        return scenario.tenant.webhookSecret
    if isinstance(scenario, Mapping):
        tenant = scenario.get("tenant")
        if isinstance(tenant, Mapping) and isinstance(tenant.get("webhookSecret"), str):
            return str(tenant["webhookSecret"])
    return None


def _settled(summary: DeliverySummary, written: int) -> bool:
    """Every webhook written so far is in the delivery log and none is still pending."""
    return summary.total >= written and summary.pending == 0


def _request_args(client_url: str, key: str | None, call: Call[Any]) -> dict[str, Any]:
    headers: dict[str, str] = {}
    if call.authenticated and key is not None:
        headers["X-API-KEY"] = key
    if call.content_type is not None:
        headers["Content-Type"] = call.content_type
    return {
        "method": call.method,
        "url": client_url + call.path,
        "params": call.params,
        "json": call.json,
        "content": call.content,
        "headers": headers,
    }


def _read(call: Call[T], response: HttpResponse) -> T:
    if response.is_error:
        raise from_response(response, call.method, call.path)
    if call.text:
        return call.read(response.text)
    return call.read(response.json() if response.content else None)


class ControlClient:
    """The simulator's control API, synchronously.

    `url`: the simulator's base URL; `admin_key`: the tenant's admin key (`health` needs
    none); `timeout`: seconds per request; `http`: an httpx.Client to use instead of a new
    one (e.g. a FastAPI TestClient; the caller closes it). Use as a context manager, or
    call `close()`."""

    def __init__(
        self,
        url: str,
        admin_key: str | None = None,
        *,
        timeout: float = 30.0,
        http: SyncHttp | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self._owns_http = http is None
        self.http: SyncHttp = http if http is not None else httpx.Client(timeout=timeout)

    def close(self) -> None:
        """Close the connection pool (unless it was given, or shared by `with_key`)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def with_key(self, admin_key: str) -> ControlClient:
        """A client bound to another tenant's admin key, sharing this one's connections
        (closing it leaves them open; close this client last)."""
        return ControlClient(self.url, admin_key, http=self.http)

    def call(self, call: Call[T]) -> T:
        """Send one built call (`simulator.control_client.calls`) and read its answer."""
        try:
            response = self.http.request(**_request_args(self.url, self.admin_key, call))
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc, call.method, call.path) from exc
        return _read(call, response)

    # -- helpers ---------------------------------------------------------------------------
    def wait_until_healthy(self, timeout: float = 30.0, interval: float = 0.1) -> Health:
        """Poll `/_sim/health` until the simulator answers; `Unreachable` after `timeout`
        seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.health()
            except ControlError as exc:
                if time.monotonic() >= deadline:
                    raise Unreachable(
                        exc.status,
                        "not_ready",
                        f"the simulator at {self.url} did not answer /_sim/health within "
                        f"{timeout:g} s ({exc.message})",
                        method="GET",
                        path="/_sim/health",
                    ) from exc
            time.sleep(interval)

    def new_tenant(
        self,
        *,
        name: str | None = None,
        scenario: ScenarioInput | None = None,
        builtin: Literal["demo", "large"] | None = None,
        webhook_secret: str | None = None,
    ) -> TenantAccess:
        """Create a fresh tenant (as `create_tenant`) and return its URL, keys and webhook
        secret: `webhook_secret` if given, else the scenario's own, else a fresh one (the
        secret is then set by `rotate_webhook_secret` without overlap, so the tenant signs
        its webhooks)."""
        created = self.create_tenant(name=name, scenario=scenario, builtin=builtin)
        secret = webhook_secret or _scenario_secret(scenario)
        if secret is None or webhook_secret is not None:
            tenant = self.with_key(created.admin_key)
            secret = tenant.rotate_webhook_secret(webhook_secret, overlap_seconds=0).secret
        return TenantAccess(
            url=self.url,
            tenant_id=created.tenantId,
            numeric_id=created.numericId,
            name=created.name,
            admin_key=created.admin_key,
            integrations_key=created.integrations_key,
            webhook_secret=secret,
        )

    def iter_journal(
        self, *, after: int = 0, path: str | None = None, status: int | None = None
    ) -> Iterator[JournalEntry]:
        """Every journal entry after `after` (paged), oldest first."""
        while True:
            entries = self.get_journal(after=after, limit=PAGE, path=path, status=status).entries
            yield from entries
            if len(entries) < PAGE:
                return
            after = entries[-1].seq

    def iter_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        kind: WebhookKind | None = None,
        campaign_id: int | None = None,
    ) -> Iterator[Delivery]:
        """Every delivery (paged), in outbox order."""
        after = 0
        while True:
            page = self.list_deliveries(
                status=status, kind=kind, campaign_id=campaign_id, after=after, limit=PAGE
            )
            yield from page
            if len(page) < PAGE:
                return
            after = page[-1].seq

    def wait_for_deliveries(
        self,
        *,
        campaign_id: int | None = None,
        kind: WebhookKind | None = None,
        timeout: float = 30.0,
        interval: float = 0.05,
    ) -> DeliverySummary:
        """Wait until deliveries settle: every webhook written to the outbox so far (of the
        campaign, of the kind) has reached the delivery log and none is pending (each was
        delivered, failed for good, or skipped). `TimeoutError` names what is pending."""
        deadline = time.monotonic() + timeout
        after, written = 0, 0
        while True:
            while True:
                page = self.list_outbox(after=after, limit=PAGE, kind=kind)
                written += sum(1 for e in page if campaign_id in (None, e.campaignId))
                if page:
                    after = page[-1].seq
                if len(page) < PAGE:
                    break
            summary = self.summarize_deliveries(campaign_id=campaign_id, kind=kind)
            if _settled(summary, written):
                return summary
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"deliveries did not settle within {timeout:g} s: {written} written, "
                    f"{summary.total} in the log, by status {summary.byStatus}"
                )
            time.sleep(interval)

    # -- one method per route (named as its operation_id) ----------------------------------
    def health(self) -> Health:
        """`GET /_sim/health`: liveness (no key needed): status, version, store."""
        return self.call(calls.health())

    def get_metrics(self) -> str:
        """`GET /_sim/metrics`: the server process's Prometheus metrics, as text (no key
        needed; simulators that serve metrics only)."""
        return self.call(calls.get_metrics())

    def create_tenant(
        self,
        *,
        name: str | None = None,
        scenario: ScenarioInput | None = None,
        builtin: Literal["demo", "large"] | None = None,
    ) -> CreatedTenant:
        """`POST /_sim/tenants`: a new isolated tenant with fresh keys and the scenario's world
        (an inline `scenario`, a `builtin` one, or an empty world); its keys by role."""
        return self.call(calls.create_tenant(name=name, scenario=scenario, builtin=builtin))

    def delete_tenant(self, tenant_id: str) -> None:
        """`DELETE /_sim/tenants/{tenantId}`: the tenant and everything of it go (keys, world,
        campaigns, deliveries, journal, faults). Only the tenant's own admin key may delete it
        (another tenant's id is `NotFound`, `unknown_tenant`)."""
        return self.call(calls.delete_tenant(tenant_id))

    def get_tenant(self) -> Tenant:
        """`GET /_sim/tenant`: the key's tenant: clock, population, registered listeners."""
        return self.call(calls.get_tenant())

    def load_scenario(
        self,
        scenario: ScenarioInput | str | bytes | None = None,
        *,
        builtin: Literal["demo", "large"] | None = None,
    ) -> Tenant:
        """`POST /_sim/scenario`: replace the tenant's world with a scenario (a `Scenario`, a
        mapping in its JSON form, or YAML/JSON text) or a `builtin` one."""
        return self.call(calls.load_scenario(scenario, builtin=builtin))

    def reset_tenant(self) -> Tenant:
        """`POST /_sim/reset`: the tenant back to its scenario (state, journal and deliveries)."""
        return self.call(calls.reset_tenant())

    def point_triggered_webhook(self, url: str) -> CeWebhook:
        """`PUT /_sim/ce-webhook`: point the CE v2 registration at `url`, keeping its id and
        signing secret (404 without a registration)."""
        return self.call(calls.point_triggered_webhook(url))

    def get_clock(self) -> Clock:
        """`GET /_sim/clock`: the tenant's simulator clock."""
        return self.call(calls.get_clock())

    def set_clock(
        self, mode: Literal["realtime", "manual"], now: datetime | str | None = None
    ) -> Clock:
        """`PUT /_sim/clock`: switch the clock's mode and optionally jump to `now` (with a time
        zone); due executions and clearances run (`ran` counts them)."""
        return self.call(calls.set_clock(mode, now))

    def advance_clock(self, seconds: float | timedelta | str) -> Clock:
        """`POST /_sim/clock/advance`: move a manual clock forward (seconds, a timedelta, or
        text such as `2h`); due work runs."""
        return self.call(calls.advance_clock(seconds))

    def list_campaigns(self) -> list[Campaign]:
        """`GET /_sim/campaigns`: the tenant's campaigns."""
        return self.call(calls.list_campaigns())

    def create_campaign(self, campaign: CampaignCreate | Mapping[str, Any]) -> Campaign:
        """`POST /_sim/campaigns`: a scheduled or triggered campaign (`CampaignCreate`)."""
        return self.call(calls.create_campaign(campaign))

    def get_campaign(self, campaign_id: int) -> Campaign:
        """`GET /_sim/campaigns/{id}`: the campaign, its state and its processed list's size."""
        return self.call(calls.get_campaign(campaign_id))

    def execute_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/execute`: run a scheduled campaign now (its processed
        list is built and the scheduled webhook goes out)."""
        return self.call(calls.execute_campaign(campaign_id))

    def cancel_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/cancel`: cancel a campaign (the cancelled webhook)."""
        return self.call(calls.cancel_campaign(campaign_id))

    def clear_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/clear`: clear an executed campaign now."""
        return self.call(calls.clear_campaign(campaign_id))

    def emit_events(
        self,
        campaign_id: int,
        *,
        count: int | None = None,
        customers: Sequence[str | EventCustomer | Mapping[str, Any]] | None = None,
        context: Mapping[str, Any] | None = None,
        rate: float | None = None,
    ) -> EmittedEvents:
        """`POST /_sim/campaigns/{id}/events`: emit triggered events, for `count` generated
        customers or for the given `customers` (ids, or `{customerId, context}`); `context` is
        added to every event's context; `rate` paces their webhooks (events/s)."""
        return self.call(
            calls.emit_events(
                campaign_id, count=count, customers=customers, context=context, rate=rate
            )
        )

    def get_campaign_report(self, campaign_id: int) -> CampaignReport:
        """`GET /_sim/campaigns/{id}/report`: the campaign's audit and protocol violations."""
        return self.call(calls.get_campaign_report(campaign_id))

    def get_customer(self, customer_id: str) -> PopulationCustomer:
        """`GET /_sim/customers/{id}`: a customer's attributes (computed, chosen, or both)."""
        return self.call(calls.get_customer(customer_id))

    def put_customer(self, customer_id: str, attributes: Mapping[str, Any]) -> PopulationCustomer:
        """`PUT /_sim/customers/{id}`: choose a customer's attributes (a new explicit customer,
        or chosen attributes laid over a computed one)."""
        return self.call(calls.put_customer(customer_id, attributes))

    def get_journal(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        path: str | None = None,
        status: int | None = None,
    ) -> Journal:
        """`GET /_sim/journal`: the tenant's recent requests, oldest first (after `seq`
        `after`; `path`: a case-insensitive substring; `status`: an exact status)."""
        return self.call(calls.get_journal(after=after, limit=limit, path=path, status=status))

    def set_journal(self, enabled: bool) -> JournalSwitch:
        """`PUT /_sim/journal`: switch the journal on or off for the whole server process."""
        return self.call(calls.set_journal(enabled))

    def clear_journal(self) -> None:
        """`DELETE /_sim/journal`: forget the tenant's journal entries."""
        return self.call(calls.clear_journal())

    def list_outbox(
        self, *, after: int = 0, limit: int = 100, kind: WebhookKind | None = None
    ) -> list[OutboxEvent]:
        """`GET /_sim/outbox`: webhook events written so far, in `seq` order."""
        return self.call(calls.list_outbox(after=after, limit=limit, kind=kind))

    def list_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        kind: WebhookKind | None = None,
        campaign_id: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        """`GET /_sim/deliveries`: webhook deliveries in outbox order with their state (page
        with `after`, a `seq`)."""
        return self.call(
            calls.list_deliveries(
                status=status, kind=kind, campaign_id=campaign_id, after=after, limit=limit
            )
        )

    def summarize_deliveries(
        self, *, campaign_id: int | None = None, kind: WebhookKind | None = None
    ) -> DeliverySummary:
        """`GET /_sim/deliveries/summary`: counts by status, retries, lag percentiles, rate."""
        return self.call(calls.summarize_deliveries(campaign_id=campaign_id, kind=kind))

    def get_delivery(self, event_id: str) -> DeliveryDetail:
        """`GET /_sim/deliveries/{webhook-id}`: one delivery, its body and all its attempts."""
        return self.call(calls.get_delivery(event_id))

    def list_attempts(
        self,
        *,
        event_id: str | None = None,
        failed_only: bool = False,
        after: float = 0,
        limit: int = 100,
    ) -> list[Attempt]:
        """`GET /_sim/attempts`: delivery attempts (URL, number, status, latency, error, fault);
        `after` is a unix time."""
        return self.call(
            calls.list_attempts(
                event_id=event_id, failed_only=failed_only, after=after, limit=limit
            )
        )

    def resend_delivery(self, event_id: str) -> Resent:
        """`POST /_sim/deliveries/{webhook-id}/resend`: send an event again now (same id)."""
        return self.call(calls.resend_delivery(event_id))

    def resend_failed(self, since: float = 0) -> Resent:
        """`POST /_sim/deliveries/resend-failed`: re-send every failed event created since
        `since` (unix seconds)."""
        return self.call(calls.resend_failed(since))

    def get_webhook_config(self) -> WebhookConfig:
        """`GET /_sim/webhooks/config`: retry delays, time scale, timeout, concurrency."""
        return self.call(calls.get_webhook_config())

    def set_webhook_config(
        self,
        *,
        retry_delays: Sequence[float] | None = None,
        time_scale: float | None = None,
        timeout_seconds: float | None = None,
        concurrency: int | None = None,
    ) -> WebhookConfig:
        """`PUT /_sim/webhooks/config`: change the delivery settings given (others are kept)."""
        return self.call(
            calls.set_webhook_config(
                retry_delays=retry_delays,
                time_scale=time_scale,
                timeout_seconds=timeout_seconds,
                concurrency=concurrency,
            )
        )

    def rotate_webhook_secret(
        self, secret: str | None = None, *, overlap_seconds: float | None = None
    ) -> RotatedSecret:
        """`POST /_sim/webhooks/secret/rotate`: switch to a new secret (`secret`, or a fresh
        one); during `overlap_seconds` (server default 3600) webhooks carry both signatures."""
        return self.call(calls.rotate_webhook_secret(secret, overlap_seconds=overlap_seconds))

    def verify_webhook(self, body: str | bytes, headers: Mapping[str, str]) -> Verification:
        """`POST /_sim/webhooks/verify`: whether a webhook you received verifies, and if not,
        why (give the raw body and the headers exactly as received)."""
        return self.call(calls.verify_webhook(body, headers))

    def get_faults(self) -> Faults:
        """`GET /_sim/faults`: the tenant's fault rules and their seed."""
        return self.call(calls.get_faults())

    def set_faults(self, rules: Sequence[FaultInput], *, seed: int | None = None) -> Faults:
        """`PUT /_sim/faults`: replace the tenant's fault rules (seeded: the same seed and
        requests give the same faults)."""
        return self.call(calls.set_faults(rules, seed=seed))

    def clear_faults(self) -> None:
        """`DELETE /_sim/faults`: remove the tenant's fault rules."""
        return self.call(calls.clear_faults())

    def get_coverage(self, campaign_id: int | None = None) -> Coverage:
        """`GET /_sim/coverage`: which business rules the tenant's traffic exercised (one
        campaign's with `campaign_id`), how often, with an example journal entry."""
        return self.call(calls.get_coverage(campaign_id))

    def clear_coverage(self) -> None:
        """`DELETE /_sim/coverage`: forget what the tenant's traffic covered so far."""
        return self.call(calls.clear_coverage())


class AsyncControlClient:
    """The simulator's control API, for asyncio: the same methods as `ControlClient`
    (awaitable), over an httpx.AsyncClient (`http`: one to use instead of a new one; the
    caller closes it). Use with `async with`, or call `await aclose()`."""

    def __init__(
        self,
        url: str,
        admin_key: str | None = None,
        *,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.admin_key = admin_key
        self._owns_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool (unless it was given, or shared by `with_key`)."""
        if self._owns_http:
            await self.http.aclose()

    async def __aenter__(self) -> AsyncControlClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def with_key(self, admin_key: str) -> AsyncControlClient:
        """A client bound to another tenant's admin key, sharing this one's connections."""
        return AsyncControlClient(self.url, admin_key, http=self.http)

    async def call(self, call: Call[T]) -> T:
        """Send one built call (`simulator.control_client.calls`) and read its answer."""
        try:
            response = await self.http.request(**_request_args(self.url, self.admin_key, call))
        except httpx.HTTPError as exc:
            raise unreachable(self.url, exc, call.method, call.path) from exc
        return _read(call, response)

    # -- helpers ---------------------------------------------------------------------------
    async def wait_until_healthy(self, timeout: float = 30.0, interval: float = 0.1) -> Health:
        """Poll `/_sim/health` until the simulator answers; `Unreachable` after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.health()
            except ControlError as exc:
                if time.monotonic() >= deadline:
                    raise Unreachable(
                        exc.status,
                        "not_ready",
                        f"the simulator at {self.url} did not answer /_sim/health within "
                        f"{timeout:g} s ({exc.message})",
                        method="GET",
                        path="/_sim/health",
                    ) from exc
            await asyncio.sleep(interval)

    async def new_tenant(
        self,
        *,
        name: str | None = None,
        scenario: ScenarioInput | None = None,
        builtin: Literal["demo", "large"] | None = None,
        webhook_secret: str | None = None,
    ) -> TenantAccess:
        """As `ControlClient.new_tenant`."""
        created = await self.create_tenant(name=name, scenario=scenario, builtin=builtin)
        secret = webhook_secret or _scenario_secret(scenario)
        if secret is None or webhook_secret is not None:
            tenant = self.with_key(created.admin_key)
            rotated = await tenant.rotate_webhook_secret(webhook_secret, overlap_seconds=0)
            secret = rotated.secret
        return TenantAccess(
            url=self.url,
            tenant_id=created.tenantId,
            numeric_id=created.numericId,
            name=created.name,
            admin_key=created.admin_key,
            integrations_key=created.integrations_key,
            webhook_secret=secret,
        )

    async def iter_journal(
        self, *, after: int = 0, path: str | None = None, status: int | None = None
    ) -> AsyncIterator[JournalEntry]:
        """Every journal entry after `after` (paged), oldest first."""
        while True:
            page = await self.get_journal(after=after, limit=PAGE, path=path, status=status)
            for entry in page.entries:
                yield entry
            if len(page.entries) < PAGE:
                return
            after = page.entries[-1].seq

    async def iter_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        kind: WebhookKind | None = None,
        campaign_id: int | None = None,
    ) -> AsyncIterator[Delivery]:
        """Every delivery (paged), in outbox order."""
        after = 0
        while True:
            page = await self.list_deliveries(
                status=status, kind=kind, campaign_id=campaign_id, after=after, limit=PAGE
            )
            for delivery in page:
                yield delivery
            if len(page) < PAGE:
                return
            after = page[-1].seq

    async def wait_for_deliveries(
        self,
        *,
        campaign_id: int | None = None,
        kind: WebhookKind | None = None,
        timeout: float = 30.0,
        interval: float = 0.05,
    ) -> DeliverySummary:
        """As `ControlClient.wait_for_deliveries`."""
        deadline = time.monotonic() + timeout
        after, written = 0, 0
        while True:
            while True:
                page = await self.list_outbox(after=after, limit=PAGE, kind=kind)
                written += sum(1 for e in page if campaign_id in (None, e.campaignId))
                if page:
                    after = page[-1].seq
                if len(page) < PAGE:
                    break
            summary = await self.summarize_deliveries(campaign_id=campaign_id, kind=kind)
            if _settled(summary, written):
                return summary
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"deliveries did not settle within {timeout:g} s: {written} written, "
                    f"{summary.total} in the log, by status {summary.byStatus}"
                )
            await asyncio.sleep(interval)

    # -- one method per route (named as its operation_id) ----------------------------------
    async def health(self) -> Health:
        """`GET /_sim/health`: liveness (no key needed): status, version, store."""
        return await self.call(calls.health())

    async def get_metrics(self) -> str:
        """`GET /_sim/metrics`: the server process's Prometheus metrics, as text (no key
        needed; simulators that serve metrics only)."""
        return await self.call(calls.get_metrics())

    async def create_tenant(
        self,
        *,
        name: str | None = None,
        scenario: ScenarioInput | None = None,
        builtin: Literal["demo", "large"] | None = None,
    ) -> CreatedTenant:
        """`POST /_sim/tenants`: a new isolated tenant with fresh keys and the scenario's world
        (an inline `scenario`, a `builtin` one, or an empty world); its keys by role."""
        return await self.call(calls.create_tenant(name=name, scenario=scenario, builtin=builtin))

    async def delete_tenant(self, tenant_id: str) -> None:
        """`DELETE /_sim/tenants/{tenantId}`: the tenant and everything of it go (keys, world,
        campaigns, deliveries, journal, faults). Only the tenant's own admin key may delete it
        (another tenant's id is `NotFound`, `unknown_tenant`)."""
        return await self.call(calls.delete_tenant(tenant_id))

    async def get_tenant(self) -> Tenant:
        """`GET /_sim/tenant`: the key's tenant: clock, population, registered listeners."""
        return await self.call(calls.get_tenant())

    async def load_scenario(
        self,
        scenario: ScenarioInput | str | bytes | None = None,
        *,
        builtin: Literal["demo", "large"] | None = None,
    ) -> Tenant:
        """`POST /_sim/scenario`: replace the tenant's world with a scenario (a `Scenario`, a
        mapping in its JSON form, or YAML/JSON text) or a `builtin` one."""
        return await self.call(calls.load_scenario(scenario, builtin=builtin))

    async def reset_tenant(self) -> Tenant:
        """`POST /_sim/reset`: the tenant back to its scenario (state, journal and deliveries)."""
        return await self.call(calls.reset_tenant())

    async def point_triggered_webhook(self, url: str) -> CeWebhook:
        """`PUT /_sim/ce-webhook`: point the CE v2 registration at `url`, keeping its id and
        signing secret (404 without a registration)."""
        return await self.call(calls.point_triggered_webhook(url))

    async def get_clock(self) -> Clock:
        """`GET /_sim/clock`: the tenant's simulator clock."""
        return await self.call(calls.get_clock())

    async def set_clock(
        self, mode: Literal["realtime", "manual"], now: datetime | str | None = None
    ) -> Clock:
        """`PUT /_sim/clock`: switch the clock's mode and optionally jump to `now` (with a time
        zone); due executions and clearances run (`ran` counts them)."""
        return await self.call(calls.set_clock(mode, now))

    async def advance_clock(self, seconds: float | timedelta | str) -> Clock:
        """`POST /_sim/clock/advance`: move a manual clock forward (seconds, a timedelta, or
        text such as `2h`); due work runs."""
        return await self.call(calls.advance_clock(seconds))

    async def list_campaigns(self) -> list[Campaign]:
        """`GET /_sim/campaigns`: the tenant's campaigns."""
        return await self.call(calls.list_campaigns())

    async def create_campaign(self, campaign: CampaignCreate | Mapping[str, Any]) -> Campaign:
        """`POST /_sim/campaigns`: a scheduled or triggered campaign (`CampaignCreate`)."""
        return await self.call(calls.create_campaign(campaign))

    async def get_campaign(self, campaign_id: int) -> Campaign:
        """`GET /_sim/campaigns/{id}`: the campaign, its state and its processed list's size."""
        return await self.call(calls.get_campaign(campaign_id))

    async def execute_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/execute`: run a scheduled campaign now (its processed
        list is built and the scheduled webhook goes out)."""
        return await self.call(calls.execute_campaign(campaign_id))

    async def cancel_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/cancel`: cancel a campaign (the cancelled webhook)."""
        return await self.call(calls.cancel_campaign(campaign_id))

    async def clear_campaign(self, campaign_id: int) -> Campaign:
        """`POST /_sim/campaigns/{id}/clear`: clear an executed campaign now."""
        return await self.call(calls.clear_campaign(campaign_id))

    async def emit_events(
        self,
        campaign_id: int,
        *,
        count: int | None = None,
        customers: Sequence[str | EventCustomer | Mapping[str, Any]] | None = None,
        context: Mapping[str, Any] | None = None,
        rate: float | None = None,
    ) -> EmittedEvents:
        """`POST /_sim/campaigns/{id}/events`: emit triggered events, for `count` generated
        customers or for the given `customers` (ids, or `{customerId, context}`); `context` is
        added to every event's context; `rate` paces their webhooks (events/s)."""
        return await self.call(
            calls.emit_events(
                campaign_id, count=count, customers=customers, context=context, rate=rate
            )
        )

    async def get_campaign_report(self, campaign_id: int) -> CampaignReport:
        """`GET /_sim/campaigns/{id}/report`: the campaign's audit and protocol violations."""
        return await self.call(calls.get_campaign_report(campaign_id))

    async def get_customer(self, customer_id: str) -> PopulationCustomer:
        """`GET /_sim/customers/{id}`: a customer's attributes (computed, chosen, or both)."""
        return await self.call(calls.get_customer(customer_id))

    async def put_customer(
        self, customer_id: str, attributes: Mapping[str, Any]
    ) -> PopulationCustomer:
        """`PUT /_sim/customers/{id}`: choose a customer's attributes (a new explicit customer,
        or chosen attributes laid over a computed one)."""
        return await self.call(calls.put_customer(customer_id, attributes))

    async def get_journal(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        path: str | None = None,
        status: int | None = None,
    ) -> Journal:
        """`GET /_sim/journal`: the tenant's recent requests, oldest first (after `seq`
        `after`; `path`: a case-insensitive substring; `status`: an exact status)."""
        return await self.call(
            calls.get_journal(after=after, limit=limit, path=path, status=status)
        )

    async def set_journal(self, enabled: bool) -> JournalSwitch:
        """`PUT /_sim/journal`: switch the journal on or off for the whole server process."""
        return await self.call(calls.set_journal(enabled))

    async def clear_journal(self) -> None:
        """`DELETE /_sim/journal`: forget the tenant's journal entries."""
        return await self.call(calls.clear_journal())

    async def list_outbox(
        self, *, after: int = 0, limit: int = 100, kind: WebhookKind | None = None
    ) -> list[OutboxEvent]:
        """`GET /_sim/outbox`: webhook events written so far, in `seq` order."""
        return await self.call(calls.list_outbox(after=after, limit=limit, kind=kind))

    async def list_deliveries(
        self,
        *,
        status: DeliveryStatus | None = None,
        kind: WebhookKind | None = None,
        campaign_id: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[Delivery]:
        """`GET /_sim/deliveries`: webhook deliveries in outbox order with their state (page
        with `after`, a `seq`)."""
        return await self.call(
            calls.list_deliveries(
                status=status, kind=kind, campaign_id=campaign_id, after=after, limit=limit
            )
        )

    async def summarize_deliveries(
        self, *, campaign_id: int | None = None, kind: WebhookKind | None = None
    ) -> DeliverySummary:
        """`GET /_sim/deliveries/summary`: counts by status, retries, lag percentiles, rate."""
        return await self.call(calls.summarize_deliveries(campaign_id=campaign_id, kind=kind))

    async def get_delivery(self, event_id: str) -> DeliveryDetail:
        """`GET /_sim/deliveries/{webhook-id}`: one delivery, its body and all its attempts."""
        return await self.call(calls.get_delivery(event_id))

    async def list_attempts(
        self,
        *,
        event_id: str | None = None,
        failed_only: bool = False,
        after: float = 0,
        limit: int = 100,
    ) -> list[Attempt]:
        """`GET /_sim/attempts`: delivery attempts (URL, number, status, latency, error, fault);
        `after` is a unix time."""
        return await self.call(
            calls.list_attempts(
                event_id=event_id, failed_only=failed_only, after=after, limit=limit
            )
        )

    async def resend_delivery(self, event_id: str) -> Resent:
        """`POST /_sim/deliveries/{webhook-id}/resend`: send an event again now (same id)."""
        return await self.call(calls.resend_delivery(event_id))

    async def resend_failed(self, since: float = 0) -> Resent:
        """`POST /_sim/deliveries/resend-failed`: re-send every failed event created since
        `since` (unix seconds)."""
        return await self.call(calls.resend_failed(since))

    async def get_webhook_config(self) -> WebhookConfig:
        """`GET /_sim/webhooks/config`: retry delays, time scale, timeout, concurrency."""
        return await self.call(calls.get_webhook_config())

    async def set_webhook_config(
        self,
        *,
        retry_delays: Sequence[float] | None = None,
        time_scale: float | None = None,
        timeout_seconds: float | None = None,
        concurrency: int | None = None,
    ) -> WebhookConfig:
        """`PUT /_sim/webhooks/config`: change the delivery settings given (others are kept)."""
        return await self.call(
            calls.set_webhook_config(
                retry_delays=retry_delays,
                time_scale=time_scale,
                timeout_seconds=timeout_seconds,
                concurrency=concurrency,
            )
        )

    async def rotate_webhook_secret(
        self, secret: str | None = None, *, overlap_seconds: float | None = None
    ) -> RotatedSecret:
        """`POST /_sim/webhooks/secret/rotate`: switch to a new secret (`secret`, or a fresh
        one); during `overlap_seconds` (server default 3600) webhooks carry both signatures."""
        return await self.call(calls.rotate_webhook_secret(secret, overlap_seconds=overlap_seconds))

    async def verify_webhook(self, body: str | bytes, headers: Mapping[str, str]) -> Verification:
        """`POST /_sim/webhooks/verify`: whether a webhook you received verifies, and if not,
        why (give the raw body and the headers exactly as received)."""
        return await self.call(calls.verify_webhook(body, headers))

    async def get_faults(self) -> Faults:
        """`GET /_sim/faults`: the tenant's fault rules and their seed."""
        return await self.call(calls.get_faults())

    async def set_faults(self, rules: Sequence[FaultInput], *, seed: int | None = None) -> Faults:
        """`PUT /_sim/faults`: replace the tenant's fault rules (seeded: the same seed and
        requests give the same faults)."""
        return await self.call(calls.set_faults(rules, seed=seed))

    async def clear_faults(self) -> None:
        """`DELETE /_sim/faults`: remove the tenant's fault rules."""
        return await self.call(calls.clear_faults())

    async def get_coverage(self, campaign_id: int | None = None) -> Coverage:
        """`GET /_sim/coverage`: which business rules the tenant's traffic exercised (one
        campaign's with `campaign_id`), how often, with an example journal entry."""
        return await self.call(calls.get_coverage(campaign_id))

    async def clear_coverage(self) -> None:
        """`DELETE /_sim/coverage`: forget what the tenant's traffic covered so far."""
        return await self.call(calls.clear_coverage())
