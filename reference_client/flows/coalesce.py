"""Triggered validations, coalesced: one validateCustomers call for many events.

Each CE v2 webhook carries one customer event, and validating each alone costs one HTTP
round trip per event on both sides. validateCustomers takes up to 1000 contexts, each
judged and reserved on its own (wire-contract §4: validity, reason and allocation are
per context), so events of the same promo code, campaign and action can share a call.

Adaptive, never timed: a context is sent at once when fewer than `in_flight` calls are
out for its key; otherwise it waits for the next call, which takes everything queued
(up to `max_batch`). A quiet stream therefore sees no added latency, and a burst is
validated in batches as large as the burst needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reference_client.http import PromotionsApi
from reference_client.models import ValidatedContext

Key = tuple[str, int, int | None]  # (promo code, campaign id, action id)
Outcome = tuple[str, ValidatedContext | None]  # (promotion id, this context's result)


@dataclass
class _Queue:
    waiting: list[tuple[Mapping[str, Any], asyncio.Future[Outcome]]] = field(default_factory=list)
    in_flight: int = 0


class ValidationCoalescer:
    """`await validate(promocode, campaign_id, action_id, context)` → (promotion id,
    the context's result, or None when the answer did not list it). A failed call
    raises its `ApiError` / `ApiTransportError` in every event that shared it."""

    def __init__(self, promotions: PromotionsApi, *, max_batch: int, in_flight: int) -> None:
        self._promotions = promotions
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._queues: dict[Key, _Queue] = {}
        self._calls: set[asyncio.Task[None]] = set()

    async def validate(
        self, promocode: str, campaign_id: int, action_id: int | None, context: Mapping[str, Any]
    ) -> Outcome:
        key = (promocode, campaign_id, action_id)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        queue = self._queues.setdefault(key, _Queue())
        queue.waiting.append((context, future))
        self._pump(key, queue)
        return await future

    def _pump(self, key: Key, queue: _Queue) -> None:
        while queue.waiting and queue.in_flight < self._in_flight:
            batch = queue.waiting[: self._max_batch]
            del queue.waiting[: self._max_batch]
            queue.in_flight += 1
            call = asyncio.create_task(self._send(key, queue, batch))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        if not queue.waiting and not queue.in_flight:
            self._queues.pop(key, None)

    async def _send(
        self,
        key: Key,
        queue: _Queue,
        batch: list[tuple[Mapping[str, Any], asyncio.Future[Outcome]]],
    ) -> None:
        promocode, campaign_id, action_id = key
        try:
            answer = await self._promotions.validate_customers(
                promocode,
                campaign_id,
                "triggered",
                [context for context, _ in batch],
                action_id=action_id,
            )
        except Exception as exc:
            for _, future in batch:
                if not future.done():  # the waiting flow may have been cancelled
                    future.set_exception(exc)
        else:
            results = {(r["customerId"], r.get("eventId")): r for r in answer.contexts}
            for context, future in batch:
                if not future.done():
                    found = results.get((context["customerId"], context.get("eventId")))
                    future.set_result((answer.promotionId, found))
        finally:
            queue.in_flight -= 1
            self._pump(key, queue)
