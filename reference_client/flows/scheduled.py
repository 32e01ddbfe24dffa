"""The scheduled-campaign flow (seed: "Scheduled Campaign Execution", steps 2-6).

Business rules, in order, all before `ClearanceRequiredBy`:
1. Page through GetProcessedCampaignCustomers (`page_size` rows, the next page fetched
   while this one is worked, and at most two pages worked at once; a short page is the
   last) with the attributes the scrubbing rules read (Country, SelfExcluded, Balance by
   default).
2. Scrub with the rules; nobody scrubbed is validated, so nothing is reserved for them.
3. Validate the kept customers in batches of `validate_batch` (≤ 1000), at most
   `concurrency` calls at once; a valid result reserves the reward. A promo code with no
   Promotions promotion behind it (404 `unknown_promocode`, `promotion_missing`) is not
   validated: its customers go on to activation and approval as they are (Optimove's
   plain Conditional Execution Bonus Flow). The run remembers such a code for itself
   only: each campaign run asks Promotions again with its first batch, so a promotion
   set up for the code later is seen by the next run.
4. Activate each valid reward on the wallet (keyed by allocationId: never twice); a
   customer of a code without a promotion gets the platform's own reward.
5. Approve activated customers (`Status: true`) in batches of ≤ `approve_batch`; release
   (`Status: false`) those validated but not activated, so their reservation frees up.
6. Report redemptions for approved rewards (per event or batched).

Resilience: a customer already approved (journal, after a restart) is skipped; lost
approval responses are reconciled as `flows/approvals.py` describes. A cancelled campaign
(EventTypeID 4, or 409 `campaign_cancelled`) stops at once and approves nobody else;
`clearance_closed` stops it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import datetime

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from reference_client.flows.approvals import Approvals, Decision
from reference_client.flows.common import (
    LOG,
    FlowContext,
    activate,
    own_reward,
    promotion_missing,
)
from reference_client.http import ApiError, ApiTransportError
from reference_client.models import Allocation, CampaignCustomerRow, Customer, ScheduledEvent
from reference_client.scrubbing import ScrubContext, required_attributes, scrub
from reference_client.summary import CURRENT_CAMPAIGN, CampaignSummary

BASE_ATTRIBUTES = ("Country", "SelfExcluded", "Balance")


async def run_scheduled(ctx: FlowContext, event: ScheduledEvent) -> CampaignSummary:
    """Run one executed campaign to the end; returns its summary."""
    summary = ctx.summary(event.CampaignID, "scheduled")
    summary.deadline = event.deadline
    token = CURRENT_CAMPAIGN.set(event.CampaignID)
    try:
        await _ScheduledRun(ctx, event.CampaignID, summary).run()
    finally:
        CURRENT_CAMPAIGN.reset(token)
        summary.finished_at = ctx.clock()
    return summary


class _ScheduledRun:
    def __init__(self, ctx: FlowContext, campaign_id: int, summary: CampaignSummary) -> None:
        self.ctx = ctx
        self.cfg = ctx.config
        self.campaign_id = campaign_id
        self.s = summary
        self.stopped: str | None = None
        self.already = ctx.journal.approved(campaign_id)
        self.approvals = Approvals(ctx, campaign_id, summary, self)
        self.limit = asyncio.Semaphore(self.cfg.concurrency)
        self.attributes = list(dict.fromkeys([*BASE_ATTRIBUTES, *required_attributes(ctx.rules)]))
        self.progress: Progress | None = None
        # Promo codes of this run that validateCustomers said have no Promotions promotion.
        self.without_promotion: set[str] = set()

    # -- the loop -------------------------------------------------------------------------
    async def run(self) -> None:
        self._check_deadline(0.0)
        skip, size = 0, self.cfg.page_size
        page = asyncio.create_task(self._fetch(skip))
        working: asyncio.Task[None] | None = None
        try:
            while True:
                rows = await page
                if rows is None or self.stopping():
                    break
                full = len(rows) == size
                if full:  # prefetch: the next page travels while this one is worked
                    page = asyncio.create_task(self._fetch(skip + size))
                started = time.perf_counter()
                # At most two pages in the works: this one is scrubbed and its first
                # validations go out while the previous one's last answers are activated,
                # so neither we nor Promotions sit idle at a page boundary.
                previous, working = working, asyncio.create_task(self._work(rows))
                if previous is not None:
                    await previous
                skip += len(rows)
                self._show(len(rows))
                self._check_deadline(time.perf_counter() - started if full else 0.0)
                if not full:
                    break
            if working is not None:
                await working
            await self.approvals.flush()
            await self.approvals.settle_unanswered()
        finally:
            await self.approvals.cancel_behind()
            for task in (page, working):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self.progress is not None:
                self.progress.stop()
        LOG.info(
            "campaign %d finished: %d approved, %d released",
            self.campaign_id,
            self.s.approved,
            self.s.released,
            extra={"campaign_id": self.campaign_id, "stopped": self.stopped},
        )

    def stopping(self) -> bool:
        if self.stopped is None and self.ctx.is_cancelled(self.campaign_id):
            self.stop("cancelled")
        return self.stopped is not None

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            self.s.cancelled = self.s.cancelled or why == "cancelled"
            LOG.warning(
                "campaign %d stops: %s",
                self.campaign_id,
                why,
                extra={"campaign_id": self.campaign_id, "reason": why},
            )

    async def _work(self, rows: list[CampaignCustomerRow]) -> None:
        customers = self._customers(rows)
        self.s.targeted += len(rows)
        fresh = [c for c in customers if c.customer_id not in self.already]
        self.s.resumed_skipped += len(customers) - len(fresh)
        with self.s.timed("scrub"):
            scrub_ctx = ScrubContext(self.campaign_id, self.ctx.wallet, self.ctx.clock())
            kept, counts = scrub(fresh, self.ctx.rules, scrub_ctx)
            for rule, n in counts.items():
                self.s.count(self.s.scrubbed_by_rule, rule, n)
        with self.s.timed("validate"):
            allocations = await self._validate(kept)
        if self.stopping():
            return  # a cancelled campaign's reservations are released by Optimove
        with self.s.timed("activate"):
            for i, allocation in enumerate(allocations):
                ok = activate(self.ctx.wallet, allocation, self.s)
                self.approvals.add(Decision(allocation.customer_id, ok, allocation))
                if i % 500 == 499:
                    await asyncio.sleep(0)  # let the listener acknowledge webhooks meanwhile
        # Approve each page's customers now: a reward on the wallet but not yet approved
        # is a reward Optimove may still cancel or clear away, so keep that window short
        # (one page: the approvals travel while the next page is validated).
        await self.approvals.send_behind()

    def _customers(self, rows: Sequence[CampaignCustomerRow]) -> list[Customer]:
        customers: list[Customer] = []
        balances: dict[str, int] = {}
        for row in rows:
            values = row.get("CustomerAttributes") or ()
            attributes = dict(zip(self.attributes, values, strict=False))
            customer_id = row["CustomerID"]
            balance = attributes.get("Balance")
            if balance is not None:
                with contextlib.suppress(ValueError):
                    balances[customer_id] = int(float(balance))
            customers.append(
                Customer(customer_id, row["PromoCode"], row.get("ActionID"), attributes)
            )
        self.ctx.wallet.seed_balances(balances)
        return customers

    # -- step 2: fetch --------------------------------------------------------------------
    async def _fetch(self, skip: int) -> list[CampaignCustomerRow] | None:
        with self.s.timed("fetch"):
            try:
                return await self.ctx.optimove.get_processed_campaign_customers(
                    self.campaign_id, self.cfg.page_size, skip, self.attributes
                )
            except (ApiError, ApiTransportError) as exc:
                code = exc.code if isinstance(exc, ApiError) else "unavailable"
                self.s.error(f"fetch_{code}")
                self.stop(f"fetching customers failed: {exc}")
                return None

    # -- step 3: validate -----------------------------------------------------------------
    async def _validate(self, customers: list[Customer]) -> list[Allocation]:
        batch = self.cfg.validate_batch
        groups: dict[tuple[str, int | None], list[Customer]] = {}
        for customer in customers:
            groups.setdefault((customer.promo_code, customer.action_id), []).append(customer)
        calls = [
            self._validate_batch(code, action, group[i : i + batch])
            for (code, action), group in groups.items()
            for i in range(0, len(group), batch)
        ]
        results = await asyncio.gather(*calls)
        return [allocation for result in results for allocation in result]

    async def _validate_batch(
        self, promocode: str, action_id: int | None, customers: list[Customer]
    ) -> list[Allocation]:
        async with self.limit:
            if self.stopping():
                return []
            if promocode in self.without_promotion:  # learned while this batch waited
                return [own_reward(c.customer_id) for c in customers]
            try:
                answer = await self.ctx.promotions.validate_customers(
                    promocode,
                    self.campaign_id,
                    "scheduled",
                    [{"customerId": c.customer_id} for c in customers],
                    action_id=action_id,
                )
            except (ApiError, ApiTransportError) as exc:
                if promotion_missing(exc):
                    self.without_promotion.add(promocode)
                    LOG.info(
                        "promo code %s has no Promotions promotion: approving as is", promocode
                    )
                    return [own_reward(c.customer_id) for c in customers]
                # No answer: any reservation made is released at clearance by Optimove.
                code = exc.code if isinstance(exc, ApiError) else "unavailable"
                self.s.error(f"validate_{code}", len(customers))
                LOG.error("validation failed for %d customers: %s", len(customers), exc)
                if code in ("campaign_cancelled", "campaign_not_executed", "not_found"):
                    self.stop(code)
                return []
        out: list[Allocation] = []
        promotion_id = answer.promotionId
        for result in answer.contexts:
            if result["valid"]:
                self.s.validated += 1
                effects = tuple(result.get("effects", ()))
                out.append(Allocation(result["customerId"], promotion_id, effects))
            else:
                reason = result.get("reason")
                self.s.count(self.s.ineligible_by_reason, reason or "unknown")
                if reason == "clearance_closed":
                    self.stop("clearance_closed")
        return out

    # -- deadline and progress ------------------------------------------------------------
    def _check_deadline(self, page_seconds: float) -> None:
        """Warn when less than `deadline_margin_s` is left, or when the next page, at
        this page's pace, would end after the deadline."""
        deadline: datetime | None = self.s.deadline
        if deadline is None or self.s.errors.get("deadline_at_risk"):
            return
        left = (deadline - self.ctx.clock()).total_seconds()
        margin = self.cfg.deadline_margin_s
        if left < margin or page_seconds > left - margin:
            self.s.error("deadline_at_risk")
            LOG.warning(
                "campaign %d: deadline at risk, %.0f s left (a page takes %.1f s)",
                self.campaign_id,
                left,
                page_seconds,
                extra={"campaign_id": self.campaign_id, "seconds_left": round(left, 1)},
            )

    def _show(self, rows: int) -> None:
        if not self.ctx.show_progress:
            return
        if self.progress is None:
            if self.s.targeted < self.ctx.progress_threshold:
                return
            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("campaign {task.fields[campaign]}"),
                TextColumn("{task.completed:,.0f} customers"),
                TextColumn("{task.fields[approved]:,} approved"),
                TimeElapsedColumn(),
            )
            self.progress.add_task("", total=None, campaign=self.campaign_id, approved=0)
            self.progress.start()
            rows = self.s.targeted
        self.progress.update(self.progress.task_ids[0], advance=rows, approved=self.s.approved)
