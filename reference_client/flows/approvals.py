"""Approving a scheduled campaign's customers (seed step 5, wire-contract §2.1), and
reconciling what a lost response leaves unclear.

Business rules:
- Each page's decisions are sent right after activation, in calls of ≤ `approve_batch`
  items: `Status: true` for an activated customer (commits the reservation), `false` for
  one validated but not activated (releases it). A call is atomic: all or nothing. On a
  campaign whose promo code has no Promotions promotion nothing was reserved: `Status:
  true` approves the customer as is (wire-contract §2.1, rev 2), and every customer kept
  by scrubbing is activated, so none is released.
- A page's approvals travel while the next page is validated (`send_behind`), one call
  sequence at a time and in order: the wallet-to-approval window stays about a page long,
  and our CPU works on the next page instead of waiting for Optimove's answer.
- 409 with `details.rejected`: nothing was applied. A `duplicate_approval` for a customer
  we approve means an earlier attempt (whose response was lost) was applied: the customer
  counts as approved (`approvals_reconciled`). Any other reason is a real failure, logged
  and counted as `approval_<reason>`. The rest of the batch is sent again without them.
- A call that got no answer after every retry may or may not have been applied: it is
  sent once more when the campaign's other work is done; a duplicate then proves it was.
- 409 `campaign_cancelled` or `clearance_closed`, or a cancellation (EventTypeID 4), stop
  the campaign: nobody else is approved. Customers activated but left unapproved are
  counted (`activated_not_approved`) and logged for the platform team.
- Approved customers are written to the journal (so a restart never approves them again)
  and their rewards handed to the redemption reporter.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from reference_client.flows.common import LOG, FlowContext, redemption_items
from reference_client.http import ApiError, ApiTransportError
from reference_client.models import Allocation
from reference_client.platform.journal import Approved
from reference_client.summary import CampaignSummary


@dataclass(frozen=True, slots=True)
class Decision:
    """One line of an approval call: approve (activated) or release (not activated)."""

    customer_id: str
    approve: bool
    allocation: Allocation


class Stopper(Protocol):
    """The campaign run: whether it must stop, and how to stop it."""

    stopped: str | None

    def stopping(self) -> bool: ...
    def stop(self, why: str) -> None: ...


class Approvals:
    def __init__(
        self, ctx: FlowContext, campaign_id: int, summary: CampaignSummary, run: Stopper
    ) -> None:
        self.ctx = ctx
        self.campaign_id = campaign_id
        self.s = summary
        self.run = run
        self.pending: list[Decision] = []
        self.unanswered: list[list[Decision]] = []
        self._behind: asyncio.Task[None] | None = None
        self._turn = asyncio.Lock()  # two pages may finish at once: one sends, then the other

    def add(self, decision: Decision) -> None:
        self.pending.append(decision)

    async def flush(self) -> None:
        """Send every pending decision, `approve_batch` at a time, after the page being
        sent behind (if any) is done."""
        async with self._turn:
            await self._wait_behind()
            await self._flush(self._take())

    async def send_behind(self) -> None:
        """Wait for the previous page's approvals, then start sending this page's in the
        background (at most one page in flight, so pages are approved in order)."""
        async with self._turn:
            await self._wait_behind()
            batch = self._take()
            if batch:
                self._behind = asyncio.create_task(self._flush(batch))

    async def _wait_behind(self) -> None:
        if self._behind is not None:
            task, self._behind = self._behind, None
            await task

    async def cancel_behind(self) -> None:
        """On an error in the campaign run: stop the page in flight (its customers stay
        unapproved; a restart resumes them from the journal)."""
        task, self._behind = self._behind, None
        if task is not None:
            task.cancel()  # no effect on a task already done
            await asyncio.gather(task, return_exceptions=True)

    def _take(self) -> list[Decision]:
        taken, self.pending = self.pending, []
        return taken

    async def _flush(self, decisions: list[Decision]) -> None:
        size = self.ctx.config.approve_batch
        with self.s.timed("approve"):
            for i in range(0, len(decisions), size):
                await self._send(decisions[i : i + size])

    async def settle_unanswered(self) -> None:
        """One more try for the calls that got no answer at all."""
        with self.s.timed("approve"):
            while self.unanswered:
                await self._send(self.unanswered.pop(0), last_try=True)

    async def _send(self, batch: list[Decision], last_try: bool = False) -> None:
        remaining = batch
        while remaining:
            if self.run.stopping():
                self._unconfirmed(remaining)
                return
            try:
                await self.ctx.optimove.update_customer_promotion_status(
                    self.campaign_id, [(d.customer_id, d.approve) for d in remaining]
                )
            except ApiTransportError as exc:
                if not last_try:
                    self.unanswered.append(remaining)
                    return
                self.s.error("approval_unanswered", len(remaining))
                LOG.error("approval of %d customers unconfirmed: %s", len(remaining), exc)
                return
            except ApiError as exc:
                rejected = exc.details.get("rejected")
                if exc.status == 409 and isinstance(rejected, list) and rejected:
                    remaining = await self._reconcile(remaining, rejected)
                    continue
                self.s.error(f"approval_{exc.code}", len(remaining))
                LOG.error("approval of %d customers refused: %s", len(remaining), exc)
                if exc.code in ("campaign_cancelled", "clearance_closed"):
                    self.run.stop(exc.code)
                return
            await self._applied(remaining)
            return

    async def _reconcile(self, batch: list[Decision], rejected: list[object]) -> list[Decision]:
        """Split a refused batch: duplicates were applied before, others truly failed;
        returns what is left to send."""
        reasons: dict[str, str] = {}
        for item in rejected:
            if isinstance(item, dict):
                reasons[str(item.get("CustomerID"))] = str(item.get("reason"))
        applied = []
        for d in batch:
            reason = reasons.get(d.customer_id)
            if reason == "duplicate_approval" and d.approve:
                applied.append(d)
            elif reason is not None:
                self.s.error(f"approval_{reason}")
                LOG.error(
                    "approval of %s refused: %s",
                    d.customer_id,
                    reason,
                    extra={"campaign_id": self.campaign_id, "customer_id": d.customer_id},
                )
        if applied:
            self.s.approvals_reconciled += len(applied)
            await self._applied(applied)
        return [d for d in batch if d.customer_id not in reasons]

    async def _applied(self, decisions: list[Decision]) -> None:
        approved = [d for d in decisions if d.approve]
        self.s.approved += len(approved)
        self.s.released += len(decisions) - len(approved)
        self.ctx.journal.mark_approved(
            self.campaign_id,
            [
                Approved(d.customer_id, d.allocation.promotion_id, d.allocation.allocation_ids)
                for d in approved
            ],
        )
        now = self.ctx.clock()
        items = [i for d in approved for i in redemption_items(self.campaign_id, d.allocation, now)]
        with self.s.timed("redeem"):
            await self.ctx.redemptions.add(items)

    def _unconfirmed(self, decisions: list[Decision]) -> None:
        """Rewards on the wallet that Optimove will never see approved (the campaign
        stopped in between): counted and logged for the platform team to review."""
        activated = sum(1 for d in decisions if d.approve)
        if activated:
            self.s.error("activated_not_approved", activated)
            LOG.error(
                "campaign %d: %d activated reward(s) left unapproved (%s)",
                self.campaign_id,
                activated,
                self.run.stopped,
                extra={"campaign_id": self.campaign_id, "customers": activated},
            )
