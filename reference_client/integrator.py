"""`Integrator`: wires config, the two API clients, the wallet, the journal, the scrubbing
rules and the redemption reporter, and runs each received webhook as a background task.

Lifecycle: `await start()` (resumes unfinished work recorded in the journal), serve the
listener app (`create_listener_app(integrator)`), `await register_listeners(url)` once,
... `await stop()` (drains in-flight work, flushes redemptions, closes clients).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import TypedDict, TypeVar

import httpx

from reference_client.config import ClientConfig
from reference_client.flows.coalesce import ValidationCoalescer
from reference_client.flows.common import FlowContext, Kind
from reference_client.flows.scheduled import run_scheduled
from reference_client.flows.triggered import run_triggered
from reference_client.http import OptimoveApi, PromotionsApi, RetryHook
from reference_client.listener import WebhookEvent, parse_event
from reference_client.models import CancelledEvent, ChannelEvent, ScheduledEvent, TriggeredEvent
from reference_client.platform.journal import Journal, MemoryJournal, SqliteJournal
from reference_client.platform.wallet import MemoryWallet, SqliteWallet, Wallet
from reference_client.redemption import RedemptionItem, RedemptionOutcome, Redemptions
from reference_client.scrubbing import Rule, default_rules
from reference_client.summary import CURRENT_CAMPAIGN, CampaignSummary

LOG = logging.getLogger(__name__)
T = TypeVar("T", SqliteWallet, SqliteJournal)


class HttpOptions(TypedDict):
    api_key: str
    timeout_s: float
    max_retries: int
    transport: httpx.AsyncBaseTransport | None
    max_connections: int
    on_retry: RetryHook


class Integrator:
    """The reference integrator of the Advanced Control Flow.

    Arguments:
    - `config`: the `ClientConfig`.
    - `wallet`: our platform (default: SQLite at `store_path`, else in memory).
    - `rules`: scrubbing rules (default: `default_rules` from the config).
    - `transport`: an httpx transport for both APIs (tests: MockTransport, ASGITransport).
    - `journal`: webhook dedupe and progress (default: beside the wallet).
    - `show_progress`: a rich progress bar for scheduled campaigns of at least
      `progress_threshold` customers.
    """

    def __init__(
        self,
        config: ClientConfig,
        wallet: Wallet | None = None,
        rules: Iterable[Rule] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        journal: Journal | None = None,
        show_progress: bool = False,
        progress_threshold: int = 50_000,
        drain_timeout_s: float = 10.0,
    ) -> None:
        self._config = config
        path = config.store_path
        self._owned: list[SqliteWallet | SqliteJournal] = []  # what stop() must close
        if wallet is None:
            wallet = MemoryWallet() if path is None else self._own(SqliteWallet(path))
        if journal is None:
            journal = MemoryJournal() if path is None else self._own(SqliteJournal(path))
        self.wallet: Wallet = wallet
        self.journal: Journal = journal
        self.rules = (
            list(rules)
            if rules is not None
            else default_rules(config.blocked_countries, config.min_balance)
        )
        self.optimove = OptimoveApi(config.optimove_url, **self._http_options(transport))
        self.promotions = PromotionsApi(config.promotions_base_url, **self._http_options(transport))
        self.redemptions = Redemptions(
            self.promotions,
            config.redemption_mode,
            config.redemption_interval_s,
            self._on_redemptions,
            concurrency=config.concurrency,
        )
        self.drain_timeout_s = drain_timeout_s
        self.retries = 0
        self._summaries: dict[int, CampaignSummary] = {}
        self._cancelled: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._triggered_limit = asyncio.Semaphore(config.triggered_concurrency)
        self._context = FlowContext(
            config=config,
            optimove=self.optimove,
            promotions=self.promotions,
            wallet=self.wallet,
            journal=self.journal,
            rules=self.rules,
            redemptions=self.redemptions,
            summary=self.summary,
            is_cancelled=self.is_cancelled,
            triggered_validations=ValidationCoalescer(
                self.promotions, max_batch=config.validate_batch, in_flight=2
            ),
            show_progress=show_progress,
            progress_threshold=progress_threshold,
        )

    def _own(self, resource: T) -> T:
        self._owned.append(resource)
        return resource

    @property
    def config(self) -> ClientConfig:
        return self._config

    def _http_options(self, transport: httpx.AsyncBaseTransport | None) -> HttpOptions:
        config = self._config
        return {
            "api_key": config.api_key,
            "timeout_s": config.request_timeout_s,
            "max_retries": config.max_retries,
            "transport": transport,
            "max_connections": config.connection_limit,
            "on_retry": self._count_retry,
        }

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the redemption reporter and resume what the journal says is unfinished:
        approved rewards not yet reported, and webhooks accepted but not done."""
        await self.redemptions.start()
        leftovers = [RedemptionItem(c, p, a) for c, p, a in self.journal.unredeemed()]
        await self.redemptions.add(leftovers)
        for pending in self.journal.pending():
            try:
                event = parse_event(pending.kind, pending.body)
            except ValueError:
                LOG.error("dropping unreadable journal entry %s", pending.webhook_id)
                self.journal.done(pending.webhook_id)
                continue
            # EventTypeID 13 is never journaled (it asks for no work), nor is an ignored type.
            if event is not None and not isinstance(event, ChannelEvent):
                LOG.info("resuming webhook %s", pending.webhook_id)
                self.dispatch_webhook(pending.webhook_id, event)

    async def stop(self) -> None:
        """Let in-flight work finish (up to `drain_timeout_s`; what is cut off stays
        pending in the journal and resumes at the next start), flush redemptions, close."""
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=self.drain_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self.redemptions.stop()
        await self.optimove.aclose()
        await self.promotions.aclose()
        for resource in self._owned:  # a wallet or journal passed in is the caller's
            resource.close()
        self._owned.clear()

    async def __aenter__(self) -> Integrator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def register_listeners(self, public_base_url: str) -> None:
        """One-time setup: RegisterEventListener for EventTypeID 5 (executed) and 4
        (cancelled) on the scheduled path, and the CE v2 webhook on the triggered path
        (with `triggered_secret`, when configured)."""
        base = public_base_url.rstrip("/")
        scheduled = base + self._config.scheduled_path
        await self.optimove.register_event_listener(5, scheduled)
        await self.optimove.register_event_listener(4, scheduled)
        await self.optimove.register_triggered_webhook(
            base + self._config.triggered_path, self._config.triggered_secret
        )
        LOG.info("listeners registered at %s", base, extra={"public_base_url": base})

    async def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no flow work is in progress and buffered redemptions are sent;
        TimeoutError after `timeout` seconds (the work itself goes on)."""
        async with asyncio.timeout(timeout):
            while True:
                if self._tasks:
                    await asyncio.wait(set(self._tasks))
                    continue
                await self.redemptions.flush()
                if not self._tasks:
                    return

    # -- state ----------------------------------------------------------------------------
    def summaries(self) -> dict[int, CampaignSummary]:
        return dict(self._summaries)

    def summary(self, campaign_id: int, kind: Kind) -> CampaignSummary:
        found = self._summaries.get(campaign_id)
        if found is None:
            found = self._summaries[campaign_id] = CampaignSummary(campaign_id, kind)
        return found

    def is_cancelled(self, campaign_id: int) -> bool:
        return campaign_id in self._cancelled or self.journal.cancelled(campaign_id)

    def in_flight(self) -> int:
        return len(self._tasks)

    # -- the listener's side (WebhookReceiver) --------------------------------------------
    def accept_webhook(self, webhook_id: str, event: WebhookEvent, body: bytes) -> bool:
        kind: Kind = "triggered" if isinstance(event, TriggeredEvent) else "scheduled"
        if self.journal.accept(webhook_id, kind, body):
            return True
        campaign_id = event.campaign.id if isinstance(event, TriggeredEvent) else event.CampaignID
        self.summary(campaign_id, kind).duplicates_skipped += 1
        return False

    def dispatch_webhook(self, webhook_id: str, event: WebhookEvent) -> None:
        task = asyncio.create_task(self._run(webhook_id, event), name=f"webhook {webhook_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, webhook_id: str, event: WebhookEvent) -> None:
        try:
            if isinstance(event, ScheduledEvent):
                if self.is_cancelled(event.CampaignID):
                    self.summary(event.CampaignID, "scheduled").cancelled = True
                else:
                    await run_scheduled(self._context, event)
            elif isinstance(event, CancelledEvent):
                self._cancel(event)
            else:
                async with self._triggered_limit:
                    await run_triggered(self._context, event)
        except Exception:
            # Left pending in the journal: the next start runs it again (safely: every
            # step is idempotent). One broken event must not stop the listener.
            LOG.exception("webhook %s failed", webhook_id, extra={"webhook_id": webhook_id})
            return
        self.journal.done(webhook_id)

    def _cancel(self, event: CancelledEvent) -> None:
        """EventTypeID 4: stop the campaign's work and approve nobody else. Nothing to
        release: Optimove releases a cancelled campaign's reservations (§5)."""
        self._cancelled.add(event.CampaignID)
        self.journal.mark_cancelled(event.CampaignID)
        found = self._summaries.get(event.CampaignID)
        (found or self.summary(event.CampaignID, "scheduled")).cancelled = True
        LOG.warning("campaign %d cancelled", event.CampaignID)

    def _count_retry(self, operation: str, attempt: int, reason: str) -> None:
        self.retries += 1
        campaign_id = CURRENT_CAMPAIGN.get()
        if campaign_id is not None and campaign_id in self._summaries:
            self._summaries[campaign_id].retries += 1

    def _on_redemptions(self, outcome: RedemptionOutcome) -> None:
        for item in outcome.accepted:
            self.summary(item.campaign_id, "scheduled").redeemed += 1
        self.journal.mark_redeemed(item.allocation_id for item in outcome.accepted)
        for item, reason in outcome.rejected:
            self.summary(item.campaign_id, "scheduled").error(f"redemption_{reason}")
        for item in outcome.failed:
            self.summary(item.campaign_id, "scheduled").error("redemption_failed")
