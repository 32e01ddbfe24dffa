"""http.py: retries (429 + Retry-After, 5xx, dropped connections, cut bodies), giving up,
and both error-body shapes, against httpx.MockTransport handlers defined in each test."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest

from reference_client.http import (
    ApiError,
    ApiTransportError,
    OptimoveApi,
    PromotionsApi,
    retry_after_seconds,
)

T = TypeVar("T")
Handler = Callable[[httpx.Request], httpx.Response]
BASE = "http://optimove.test"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Recorder:
    """Collects the sleeps and retry notifications of one client."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.retries: list[tuple[str, int, str]] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def on_retry(self, operation: str, attempt: int, reason: str) -> None:
        self.retries.append((operation, attempt, reason))


def optimove(handler: Handler, rec: Recorder, max_retries: int = 3) -> OptimoveApi:
    return OptimoveApi(
        BASE,
        "key-1",
        transport=httpx.MockTransport(handler),
        max_retries=max_retries,
        sleep=rec.sleep,
        on_retry=rec.on_retry,
        rng=random.Random(7),
    )


def promotions(handler: Handler, rec: Recorder, max_retries: int = 3) -> PromotionsApi:
    return PromotionsApi(
        BASE,
        "key-1",
        transport=httpx.MockTransport(handler),
        max_retries=max_retries,
        sleep=rec.sleep,
        on_retry=rec.on_retry,
    )


def scripted(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with `steps` in order (an exception is raised), then the last."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen


ROWS = [{"CustomerID": "C1", "ActionID": 17, "PromoCode": "WELCOME50"}]


def test_429_waits_exactly_retry_after_then_succeeds() -> None:
    envelope = {"status": 429, "error": "too_many_requests", "message": "slow down"}
    handler, seen = scripted(
        httpx.Response(429, json=envelope, headers={"Retry-After": "3"}),
        httpx.Response(200, json=ROWS),
    )
    rec = Recorder()

    async def go() -> Any:
        api = optimove(handler, rec)
        try:
            return await api.get_processed_campaign_customers(48213, 10, 0)
        finally:
            await api.aclose()

    rows = run(go())
    assert [r["CustomerID"] for r in rows] == ["C1"]
    assert len(seen) == 2
    assert rec.sleeps == [3.0]
    assert rec.retries == [("get_processed_campaign_customers", 1, "HTTP 429 too_many_requests")]


def test_5xx_is_retried_with_full_jitter_backoff() -> None:
    handler, seen = scripted(
        httpx.Response(503, text="unavailable"),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, json=ROWS),
    )
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec)
        try:
            await api.get_processed_campaign_customers(48213)
        finally:
            await api.aclose()

    run(go())
    assert len(seen) == 3
    assert len(rec.sleeps) == 2
    # full jitter: attempt n sleeps a uniform draw in [0, base * 2**n] (base 0.25 s)
    assert 0 <= rec.sleeps[0] <= 0.25
    assert 0 <= rec.sleeps[1] <= 0.5


def test_backoff_is_capped() -> None:
    api = OptimoveApi(BASE, "k", backoff_base_s=1.0, backoff_cap_s=5.0, rng=random.Random(1))
    try:
        assert all(0 <= api.backoff(n) <= 5.0 for n in range(20))
        assert max(api.backoff(10) for _ in range(200)) > 2.5  # the cap, not the base
    finally:
        run(api.aclose())


@pytest.mark.parametrize(
    "failure",
    [
        httpx.RemoteProtocolError("peer closed connection without sending complete message"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
    ],
    ids=["dropped", "refused", "timeout"],
)
def test_transport_failure_then_success(failure: Exception) -> None:
    handler, seen = scripted(failure, httpx.Response(200))
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec)
        try:
            await api.update_customer_promotion_status(48213, [("C1", True)])
        finally:
            await api.aclose()

    run(go())
    assert len(seen) == 2
    assert seen[0].content == seen[1].content  # the very same body is sent again
    assert rec.retries[0][0] == "update_customer_promotion_status"


def test_incomplete_success_body_is_retried() -> None:
    handler, seen = scripted(
        httpx.Response(200, content=b'[{"CustomerID": "C1", "Act'),
        httpx.Response(200, json=ROWS),
    )
    rec = Recorder()

    async def go() -> Any:
        api = optimove(handler, rec)
        try:
            return await api.get_processed_campaign_customers(48213)
        finally:
            await api.aclose()

    assert len(run(go())) == 1
    assert len(seen) == 2
    assert "invalid JSON" in rec.retries[0][2]


def test_gives_up_after_max_retries_with_the_last_answer() -> None:
    envelope = {"status": 503, "error": "service_unavailable", "message": "injected"}
    handler, seen = scripted(httpx.Response(503, json=envelope))
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec, max_retries=4)
        try:
            await api.get_processed_campaign_customers(48213)
        finally:
            await api.aclose()

    with pytest.raises(ApiError) as caught:
        run(go())
    assert len(seen) == 5  # the first try and four retries
    assert len(rec.sleeps) == 4
    assert (caught.value.status, caught.value.code) == (503, "service_unavailable")


def test_gives_up_on_transport_errors_with_a_transport_error() -> None:
    handler, seen = scripted(httpx.ReadError("connection reset"))
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec, max_retries=2)
        try:
            await api.approve_triggered_event(7001, "C1", "EV1")
        finally:
            await api.aclose()

    with pytest.raises(ApiTransportError) as caught:
        run(go())
    assert len(seen) == 3
    assert caught.value.attempts == 3
    assert caught.value.operation == "approve_triggered_event"


def test_other_4xx_are_not_retried_and_envelope_is_parsed() -> None:
    body = {
        "status": 409,
        "error": "duplicate_approval",
        "message": "1 of 2 items refused; nothing was applied",
        "details": {"rejected": [{"CustomerID": "C1", "reason": "duplicate_approval"}]},
    }
    handler, seen = scripted(httpx.Response(409, json=body))
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec)
        try:
            await api.update_customer_promotion_status(48213, [("C1", True), ("C2", True)])
        finally:
            await api.aclose()

    with pytest.raises(ApiError) as caught:
        run(go())
    error = caught.value
    assert len(seen) == 1 and rec.sleeps == []
    assert (error.status, error.code) == (409, "duplicate_approval")
    assert error.message.startswith("1 of 2 items refused")
    assert error.details["rejected"] == [{"CustomerID": "C1", "reason": "duplicate_approval"}]
    assert error.operation == "update_customer_promotion_status"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "bad_request"), (401, "unauthorized"), (404, "not_found"), (405, "method_not_allowed")],
)
def test_core_json_string_error_body_is_parsed(status: int, code: str) -> None:
    handler, _ = scripted(httpx.Response(status, content=b'"CampaignID is required"'))
    rec = Recorder()

    async def go() -> None:
        api = optimove(handler, rec)
        try:
            await api.get_processed_campaign_customers(0)
        finally:
            await api.aclose()

    with pytest.raises(ApiError) as caught:
        run(go())
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.message == "CampaignID is required"
    assert caught.value.details == {}


def test_requests_follow_the_wire_contract() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("validateCustomers"):
            return httpx.Response(
                200,
                json={"promocodeId": "WELCOME50", "promotionId": "PR-W", "contexts": []},
            )
        if request.url.path.endswith("redemptions"):
            return httpx.Response(200, json={"accepted": 1, "rejected": []})
        if "webhooks" in request.url.path:
            return httpx.Response(201, json={"id": "wh1", "url": "http://x/t"})
        return httpx.Response(200, json=ROWS if request.method == "GET" else None)

    rec = Recorder()

    async def go() -> None:
        core, promo = optimove(handler, rec), promotions(handler, rec)
        try:
            await core.get_processed_campaign_customers(48213, 500, 1000, ["Country", "Balance"])
            await core.register_event_listener(5, "http://me/optimove/events")
            await core.register_triggered_webhook("http://me/t", "whsec_abc")
            await promo.validate_customers(
                "WELCOME50", 48213, "scheduled", [{"customerId": "C1"}], action_id=17
            )
            await promo.report_redemptions("PR-W", [{"allocationId": "AL1"}])
        finally:
            await core.aclose()
            await promo.aclose()

    run(go())
    fetch, register, webhook, validate, redeem = seen
    assert fetch.headers["X-API-KEY"] == "key-1"
    assert fetch.url.path == "/current/customers/GetProcessedCampaignCustomers"
    assert dict(fetch.url.params) == {
        "CampaignID": "48213",
        "$top": "500",
        "$skip": "1000",
        "CustomerAttributes": "Country;Balance",
    }
    assert json.loads(register.content) == {
        "EventTypeID": 5,
        "ListenerURL": "http://me/optimove/events",
    }
    assert webhook.url.path == "/conditional-execution/v2/triggered/webhooks/"
    assert json.loads(webhook.content) == {"url": "http://me/t", "secret": "whsec_abc"}
    assert validate.url.path == "/v1/promocodes/WELCOME50/validateCustomers"
    assert validate.url.params["dryRun"] == "false"
    assert json.loads(validate.content) == {
        "campaignData": {"campaignId": 48213, "campaignType": "scheduled", "actionId": 17},
        "contexts": [{"customerId": "C1"}],
    }
    assert json.loads(redeem.content) == {"redemptions": [{"allocationId": "AL1"}]}


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(later, now=now.timestamp()) == 30.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None
