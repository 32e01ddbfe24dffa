"""flows/coalesce.py: concurrent triggered validations share calls, each event gets its
own result, failures reach every event of the call, and the in-flight cap holds."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from reference_client.flows.coalesce import ValidationCoalescer
from reference_client.http import ApiError, PromotionsApi
from reference_client.models import ValidateCustomersResponse


class FakePromotions:
    """validateCustomers that answers after `gate` opens: valid for even customer numbers."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[list[Mapping[str, Any]]] = []
        self.keys: list[tuple[str, int, int | None]] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.gate = asyncio.Event()
        self.fail = fail

    async def validate_customers(
        self,
        promocode: str,
        campaign_id: int,
        campaign_type: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        action_id: int | None = None,
    ) -> ValidateCustomersResponse:
        assert campaign_type == "triggered"
        self.calls.append(list(contexts))
        self.keys.append((promocode, campaign_id, action_id))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        if self.fail is not None:
            raise self.fail
        results = [
            {
                "customerId": c["customerId"],
                "eventId": c["eventId"],
                "valid": int(c["customerId"][1:]) % 2 == 0,
                "reason": None if int(c["customerId"][1:]) % 2 == 0 else "no_tier_matched",
            }
            for c in reversed(contexts)  # order must not matter: results match by ids
        ]
        return ValidateCustomersResponse.model_validate(
            {"promocodeId": promocode, "promotionId": f"PR-{promocode}", "contexts": results}
        )


def coalescer(fake: FakePromotions, in_flight: int = 2, max_batch: int = 1000) -> Any:
    api = cast(PromotionsApi, fake)
    return ValidationCoalescer(api, max_batch=max_batch, in_flight=in_flight)


def context(n: int) -> dict[str, Any]:
    return {"customerId": f"C{n}", "eventId": f"EV_{n}", "session": {}}


async def _burst(c: ValidationCoalescer, fake: FakePromotions, n: int) -> list[Any]:
    tasks = [asyncio.create_task(c.validate("DEP10", 7001, 21, context(i))) for i in range(n)]
    for _ in range(3):  # every event is queued and the first calls are out
        await asyncio.sleep(0)
    fake.gate.set()
    return await asyncio.gather(*tasks)


def test_a_burst_shares_calls_and_each_event_gets_its_own_result() -> None:
    async def scenario() -> None:
        fake = FakePromotions()
        outcomes = await _burst(coalescer(fake, in_flight=2), fake, 50)
        # The first two events go at once (in-flight cap 2), the other 48 share one call.
        assert [len(call) for call in fake.calls] == [1, 1, 48]
        assert fake.most_in_flight == 2
        for i, (promotion_id, result) in enumerate(outcomes):
            assert promotion_id == "PR-DEP10"
            assert result is not None
            assert (result["customerId"], result["eventId"]) == (f"C{i}", f"EV_{i}")
            assert result["valid"] is (i % 2 == 0)

    asyncio.run(scenario())


def test_batches_never_exceed_max_batch() -> None:
    async def scenario() -> None:
        fake = FakePromotions()
        await _burst(coalescer(fake, in_flight=1, max_batch=10), fake, 35)
        assert [len(call) for call in fake.calls] == [1, 10, 10, 10, 4]
        assert fake.most_in_flight == 1

    asyncio.run(scenario())


def test_different_promo_codes_are_never_mixed() -> None:
    async def scenario() -> None:
        fake = FakePromotions()
        c = coalescer(fake, in_flight=1)
        tasks = [
            asyncio.create_task(c.validate(code, 7001, None, context(i)))
            for i, code in enumerate(["A", "B", "A", "B", "A"])
        ]
        await asyncio.sleep(0)
        fake.gate.set()
        await asyncio.gather(*tasks)
        for key, call in zip(fake.keys, fake.calls, strict=True):
            expected = {"A": {0, 2, 4}, "B": {1, 3}}[key[0]]
            assert {int(ctx["customerId"][1:]) for ctx in call} <= expected

    asyncio.run(scenario())


def test_a_failed_call_fails_every_event_that_shared_it() -> None:
    async def scenario() -> None:
        fake = FakePromotions(fail=ApiError(404, "not_found", "unknown promocode"))
        c = coalescer(fake, in_flight=1)
        tasks = [asyncio.create_task(c.validate("NOPE", 1, None, context(i))) for i in range(5)]
        await asyncio.sleep(0)
        fake.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, ApiError) and r.code == "not_found" for r in results)

    asyncio.run(scenario())


def test_a_cancelled_event_does_not_break_the_others() -> None:
    async def scenario() -> None:
        fake = FakePromotions()
        c = coalescer(fake, in_flight=1)
        tasks = [asyncio.create_task(c.validate("A", 1, None, context(i))) for i in range(4)]
        await asyncio.sleep(0)
        tasks[2].cancel()
        fake.gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[2], asyncio.CancelledError)
        served = [r for i, r in enumerate(results) if i != 2]
        assert [r[1]["customerId"] for r in served if isinstance(r, tuple)] == ["C0", "C1", "C3"]

    asyncio.run(scenario())


@pytest.mark.parametrize("in_flight", [1, 4])
def test_a_quiet_stream_is_sent_at_once(in_flight: int) -> None:
    """One event at a time: each goes in its own call, without waiting for company."""

    async def scenario() -> None:
        fake = FakePromotions()
        fake.gate.set()
        c = coalescer(fake, in_flight=in_flight)
        for i in range(3):
            await asyncio.wait_for(c.validate("A", 1, None, context(i)), timeout=5)
        assert [len(call) for call in fake.calls] == [1, 1, 1]

    asyncio.run(scenario())
