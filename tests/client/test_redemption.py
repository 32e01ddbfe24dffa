"""redemption.py: per-event and batched reporting, the 10,000-item ceiling, flush on stop,
duplicates counted as reported, failed calls retried at the next flush then given up."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

from reference_client import PromotionsApi, Redemptions
from reference_client.redemption import MAX_ITEMS, Mode, RedemptionItem, RedemptionOutcome


class Promotions:
    """A fake Promotions redemption endpoint: records calls, answers per `reasons`."""

    def __init__(self, reasons: dict[str, str] | None = None, fail: int = 0) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.reasons = reasons or {}
        self.fail = fail

    def __call__(self, request: httpx.Request) -> httpx.Response:
        promotion = request.url.path.split("/")[3]
        ids = [i["allocationId"] for i in json.loads(request.content)["redemptions"]]
        self.calls.append((promotion, ids))
        if self.fail:
            self.fail -= 1
            return httpx.Response(503, json={"status": 503, "error": "down", "message": "x"})
        rejected = [
            {"index": n, "allocationId": a, "reason": self.reasons[a]}
            for n, a in enumerate(ids)
            if a in self.reasons
        ]
        return httpx.Response(
            200, json={"accepted": len(ids) - len(rejected), "rejected": rejected}
        )


def items(n: int, promotion: str = "PR-W", start: int = 0) -> list[RedemptionItem]:
    return [RedemptionItem(48213, promotion, f"AL-{i}") for i in range(start, start + n)]


def run_with(
    fake: Promotions,
    mode: Mode,
    body: Callable[[Redemptions], Any],
    interval: float = 60.0,
) -> list[RedemptionOutcome]:
    outcomes: list[RedemptionOutcome] = []

    async def go() -> None:
        api = PromotionsApi(
            "http://promo.test", "k", transport=httpx.MockTransport(fake), max_retries=0
        )
        reporter = Redemptions(api, mode, interval, outcomes.append)
        await reporter.start()
        try:
            await body(reporter)
        finally:
            await reporter.stop()
            await api.aclose()

    asyncio.run(go())
    return outcomes


def test_per_event_sends_one_call_per_activation() -> None:
    fake = Promotions()
    outcomes = run_with(fake, "per_event", lambda r: r.add(items(3)))
    assert fake.calls == [("PR-W", ["AL-0"]), ("PR-W", ["AL-1"]), ("PR-W", ["AL-2"])]
    assert sum(len(o.accepted) for o in outcomes) == 3


def test_batched_waits_for_the_interval() -> None:
    fake = Promotions()

    async def body(reporter: Redemptions) -> None:
        await reporter.add(items(3))
        assert fake.calls == [] and reporter.pending == 3
        await asyncio.sleep(0.3)  # a few intervals of 0.05 s
        assert fake.calls == [("PR-W", ["AL-0", "AL-1", "AL-2"])]

    run_with(fake, "batched", body, interval=0.05)
    assert len(fake.calls) == 1


def test_batched_sends_at_10000_items_without_waiting() -> None:
    fake = Promotions()

    async def body(reporter: Redemptions) -> None:
        await reporter.add(items(MAX_ITEMS - 1))
        assert fake.calls == []
        await reporter.add(items(2, start=MAX_ITEMS - 1))
        assert [len(ids) for _, ids in fake.calls] == [MAX_ITEMS, 1]

    run_with(fake, "batched", body)


def test_batched_flushes_on_stop_one_call_per_promotion() -> None:
    fake = Promotions()
    run_with(fake, "batched", lambda r: r.add([*items(2, "PR-A"), *items(1, "PR-B", 5)]))
    assert sorted(fake.calls) == [("PR-A", ["AL-0", "AL-1"]), ("PR-B", ["AL-5"])]


def test_off_reports_nothing() -> None:
    fake = Promotions()
    run_with(fake, "off", lambda r: r.add(items(3)))
    assert fake.calls == []


def test_a_duplicate_counts_as_reported_other_rejections_do_not() -> None:
    fake = Promotions({"AL-0": "duplicate_redemption", "AL-1": "not_approved"})
    outcomes = run_with(fake, "batched", lambda r: r.add(items(3)))
    [outcome] = outcomes
    assert [i.allocation_id for i in outcome.accepted] == ["AL-0", "AL-2"]
    assert [(i.allocation_id, why) for i, why in outcome.rejected] == [("AL-1", "not_approved")]


def test_a_failed_call_is_retried_at_the_next_flush_then_given_up() -> None:
    fake = Promotions(fail=10)

    async def body(reporter: Redemptions) -> None:
        await reporter.add(items(2))
        await reporter.flush()
        await reporter.flush()
        await reporter.flush()
        await reporter.flush()  # nothing left: given up after three tries

    outcomes = run_with(fake, "batched", body)
    assert len(fake.calls) == 3
    assert sum(len(o.failed) for o in outcomes) == 2
    assert all(not o.accepted for o in outcomes)
