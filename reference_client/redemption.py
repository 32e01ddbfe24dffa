"""Redemption reporting (the optional last step of both flows, wire-contract §4).

Business rules:
- Only approved rewards are reported (redeeming what was not approved is a protocol
  violation), one item per `allocationId`.
- `per_event`: one POST per activation, as soon as it is approved (the seed's "Triggered"
  form). `batched`: items are buffered and sent every `interval_s`, as soon as 10,000 are
  waiting (the per-call maximum), and on shutdown (the seed's "Scheduled" form). `off`:
  nothing is reported.
- Items are independent on the server: each is accepted or rejected alone. A
  `duplicate_redemption` answer means an earlier attempt (whose response was lost) was
  applied, so it counts as reported.
- A call that fails after the HTTP retries is tried again at the next flush (batched) up
  to `max_tries` times, then given up and reported as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from reference_client.http import ApiError, ApiTransportError, PromotionsApi
from reference_client.models import iso_z

LOG = logging.getLogger(__name__)
MAX_ITEMS = 10_000  # wire-contract §4: ≤ 10000 redemptions per call
Mode = Literal["per_event", "batched", "off"]


@dataclass(frozen=True, slots=True)
class RedemptionItem:
    campaign_id: int
    promotion_id: str
    allocation_id: str
    redeemed_at: datetime | None = None
    tries: int = 0

    def wire(self) -> dict[str, str]:
        item = {"allocationId": self.allocation_id}
        if self.redeemed_at is not None:
            item["redeemedAt"] = iso_z(self.redeemed_at)
        return item


@dataclass(slots=True)
class RedemptionOutcome:
    accepted: list[RedemptionItem] = field(default_factory=list)
    rejected: list[tuple[RedemptionItem, str]] = field(default_factory=list)
    failed: list[RedemptionItem] = field(default_factory=list)


class Redemptions:
    """Reports approved rewards per event or in batches; `on_outcome` hears every result."""

    def __init__(
        self,
        api: PromotionsApi,
        mode: Mode,
        interval_s: float,
        on_outcome: Callable[[RedemptionOutcome], None],
        *,
        concurrency: int = 8,
        max_tries: int = 3,
    ) -> None:
        self.api = api
        self.mode = mode
        self.interval_s = interval_s
        self.on_outcome = on_outcome
        self.max_tries = max_tries
        self._buffer: list[RedemptionItem] = []
        self._flushing = asyncio.Lock()
        self._limit = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def start(self) -> None:
        if self.mode == "batched" and self._task is None:
            self._task = asyncio.create_task(self._every_interval(), name="redemptions")

    async def stop(self) -> None:
        """Stop the interval loop and send what is still buffered. A flush in progress
        is let finish: cancelling it mid-call could lose the answer to a report the
        server applied, and the restarted client would then report it twice."""
        if self._task is not None:
            self._closing.set()
            await self._task
            self._task = None
        await self.flush()

    async def add(self, items: Sequence[RedemptionItem]) -> None:
        if not items or self.mode == "off":
            return
        if self.mode == "per_event":
            await asyncio.gather(*(self._send(item.promotion_id, [item]) for item in items))
            return
        self._buffer.extend(items)
        if len(self._buffer) >= MAX_ITEMS:
            await self.flush()

    async def flush(self) -> None:
        """Send everything buffered now (one call per promotion and 10,000 items)."""
        async with self._flushing:
            items, self._buffer = self._buffer, []
            groups: dict[str, list[RedemptionItem]] = {}
            for item in items:
                groups.setdefault(item.promotion_id, []).append(item)
            calls = [
                self._send(promotion_id, chunk[i : i + MAX_ITEMS])
                for promotion_id, chunk in groups.items()
                for i in range(0, len(chunk), MAX_ITEMS)
            ]
            await asyncio.gather(*calls)

    async def _every_interval(self) -> None:
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.interval_s)
            try:
                await self.flush()
            except Exception:  # the loop must outlive one bad flush
                LOG.exception("redemption flush failed")

    async def _send(self, promotion_id: str, items: list[RedemptionItem]) -> None:
        outcome = RedemptionOutcome()
        async with self._limit:
            try:
                report = await self.api.report_redemptions(
                    promotion_id, [item.wire() for item in items]
                )
            except (ApiError, ApiTransportError) as exc:
                self._retry_later(items, outcome, str(exc))
            else:
                rejected = {r.index: r.reason for r in report.rejected}
                for index, item in enumerate(items):
                    reason = rejected.get(index)
                    if reason is None or reason == "duplicate_redemption":
                        outcome.accepted.append(item)
                    else:
                        outcome.rejected.append((item, reason))
        if outcome.rejected:
            LOG.warning(
                "%d redemption(s) rejected for %s",
                len(outcome.rejected),
                promotion_id,
                extra={
                    "promotion_id": promotion_id,
                    "reasons": sorted({reason for _, reason in outcome.rejected}),
                },
            )
        self.on_outcome(outcome)

    def _retry_later(
        self, items: list[RedemptionItem], outcome: RedemptionOutcome, why: str
    ) -> None:
        again = [replace(item, tries=item.tries + 1) for item in items]
        if self.mode == "batched":
            self._buffer.extend(i for i in again if i.tries < self.max_tries)
        outcome.failed.extend(
            i for i in again if self.mode != "batched" or i.tries >= self.max_tries
        )
        LOG.error(
            "reporting %d redemption(s) failed: %s",
            len(items),
            why,
            extra={"items": len(items), "gave_up": len(outcome.failed)},
        )
