"""One small async client per API, over `httpx.AsyncClient`, with retries and typed errors.

Retry rules (every operation of the flow is safe to repeat, see below):
- 429 (honouring `Retry-After`, wire-contract §1), any 5xx, timeouts, dropped connections
  and incomplete bodies (a 2xx whose JSON does not parse) are retried up to `max_retries`
  times, with exponential backoff and full jitter (AWS architecture blog, "Exponential
  Backoff And Jitter": sleep a uniform draw in [0, min(cap, base * 2**attempt)]).
- Other 4xx are answers, not accidents: raised at once as `ApiError`.
- When retries run out: `ApiError` for the last HTTP answer, `ApiTransportError` when there
  was none. A retried write may have been applied (its response was lost); the flows
  reconcile that (`duplicate_approval`, `duplicate_redemption`).

Why repeating is safe: validation is idempotent per allocation key (wire-contract §4), an
approval that was applied comes back as 409 `duplicate_approval` (§2.1, §3), and a
redemption that was applied comes back as `duplicate_redemption` (§4).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import orjson
from pydantic import TypeAdapter, ValidationError

from reference_client import tracing
from reference_client.models import (
    CampaignCustomerRow,
    RedemptionReport,
    ValidateCustomersResponse,
    format_core_time,
)
from reference_client.transport import AiohttpSender, HttpxSender, Reply, Sender, TransportFailure

LOG = logging.getLogger(__name__)
RetryHook = Callable[[str, int, str], None]  # (operation, attempt number, reason)
Sleep = Callable[[float], Awaitable[None]]
T = TypeVar("T")
_ROWS = TypeAdapter(list[CampaignCustomerRow])
_ANY: TypeAdapter[Any] = TypeAdapter(Any)
_VALIDATED = TypeAdapter(ValidateCustomersResponse)
_REDEEMED = TypeAdapter(RedemptionReport)
# Default codes for the core API's JSON-string error bodies, which carry no code (§1).
_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    429: "too_many_requests",
}


class ApiError(Exception):
    """The other side answered with an error status.

    Both error shapes of wire-contract §1 are parsed: the envelope
    `{"status", "error", "message", "details"}` and the core API's JSON-string body (whose
    code is derived from the status, e.g. 404 → `not_found`).
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        operation: str = "",
    ) -> None:
        super().__init__(f"{operation or 'request'}: {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.operation = operation

    @classmethod
    def from_response(cls, response: Reply, operation: str = "") -> ApiError:
        status = response.status
        fallback = _STATUS_CODES.get(status, "server_error" if status >= 500 else "http_error")
        try:
            body: Any = orjson.loads(response.body)
        except ValueError:
            body = response.body[:1000].decode("utf-8", "replace")
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            details = body.get("details")
            return cls(
                status,
                body["error"],
                str(body.get("message", "")),
                details if isinstance(details, dict) else None,
                operation=operation,
            )
        message = body if isinstance(body, str) else str(body)
        return cls(status, fallback, message, None, operation=operation)


class ApiTransportError(Exception):
    """No usable answer after every retry: the request may or may not have been applied."""

    def __init__(self, operation: str, attempts: int, reason: str) -> None:
        retries = attempts - 1
        super().__init__(
            f"{operation}: no answer after {attempts} attempt{'s' * (attempts != 1)} "
            f"(the first and {retries} retr{'ies' if retries != 1 else 'y'}): {reason}"
        )
        self.operation = operation
        self.attempts = attempts
        self.reason = reason


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _JsonApi:
    """A JSON-over-HTTP client with the retry rules of this module's docstring."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 6,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 32,
        on_retry: RetryHook | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        backoff_base_s: float = 0.25,
        backoff_cap_s: float = 20.0,
        retry_after_cap_s: float = 120.0,
    ) -> None:
        headers = {"X-API-KEY": api_key, "Accept": "application/json"}
        self._sender: Sender = (
            AiohttpSender(base_url, headers, timeout_s=timeout_s, max_connections=max_connections)
            if transport is None
            else HttpxSender(
                base_url,
                headers,
                timeout_s=timeout_s,
                max_connections=max_connections,
                transport=transport,
            )
        )
        self.max_retries = max_retries
        self.on_retry = on_retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._base = backoff_base_s
        self._cap = backoff_cap_s
        self._retry_after_cap = retry_after_cap_s

    async def aclose(self) -> None:
        await self._sender.aclose()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt from 0)."""
        return self._rng.uniform(0.0, min(self._cap, self._base * 2**attempt))

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """`_call_as` for a body read as plain JSON."""
        return await self._call_as(_ANY, operation, method, path, params=params, body=body)

    async def _call_as(
        self,
        parse: TypeAdapter[T],
        operation: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> T | None:
        """Send, retrying per the module rules; the body parsed straight from its bytes
        with `parse` (None when empty)."""
        content = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": "application/json"} if content is not None else None
        trace = tracing.outgoing()  # the webhook's trace, when this call is about one
        if trace is not None:
            headers = {**(headers or {}), "traceparent": trace}
        attempt = 0
        while True:
            last: ApiError | None = None
            wait: float | None = None
            try:
                response = await self._sender.send(method, path, params, content, headers)
            except TransportFailure as exc:
                reason = str(exc)
            else:
                status = response.status
                if 200 <= status < 300:
                    if not response.body:
                        return None
                    try:
                        return parse.validate_json(response.body)
                    except ValidationError as exc:
                        if not any(e["type"] == "json_invalid" for e in exc.errors()):
                            raise  # well-formed but not the contract: not an accident
                        # An incomplete body that still looked complete: retried.
                        reason = "invalid JSON in a success response"
                elif status == 429 or status >= 500:
                    last = ApiError.from_response(response, operation)
                    reason = f"HTTP {status} {last.code}"
                    if status == 429:
                        wait = retry_after_seconds(response.headers.get("Retry-After"))
                else:
                    raise ApiError.from_response(response, operation)
            if attempt >= self.max_retries:
                if last is not None:
                    raise last
                raise ApiTransportError(operation, attempt + 1, reason)
            delay = min(wait, self._retry_after_cap) if wait is not None else self.backoff(attempt)
            attempt += 1
            LOG.warning(
                "retrying %s (retry %d of %d) in %.2fs: %s",
                operation,
                attempt,
                self.max_retries,
                delay,
                reason,
                extra={"operation": operation, "attempt": attempt, "reason": reason},
            )
            if self.on_retry is not None:
                self.on_retry(operation, attempt, reason)
            await self._sleep(delay)


class OptimoveApi(_JsonApi):
    """The Optimove core API (function style, wire-contract §2) and CE v2 (§3)."""

    async def get_processed_campaign_customers(
        self, campaign_id: int, top: int = 10_000, skip: int = 0, attributes: Sequence[str] = ()
    ) -> list[CampaignCustomerRow]:
        """One page of the campaign's processed customers, in a stable order."""
        params: dict[str, Any] = {"CampaignID": campaign_id, "$top": top, "$skip": skip}
        if attributes:
            params["CustomerAttributes"] = ";".join(attributes)
        data = await self._call_as(
            _ROWS,
            "get_processed_campaign_customers",
            "GET",
            "/current/customers/GetProcessedCampaignCustomers",
            params=params,
        )
        return data or []

    async def update_customer_promotion_status(
        self, campaign_id: int, items: Sequence[tuple[str, bool]], *, now: datetime | None = None
    ) -> None:
        """Approve (`True`) or release (`False`) customers; atomic (wire-contract §2.1)."""
        body = {
            "TimeStamp": format_core_time(now or datetime.now(UTC)),
            "CampaignID": campaign_id,
            "PromosUpdated": [{"CustomerID": c, "Status": s} for c, s in items],
        }
        await self._call(
            "update_customer_promotion_status",
            "POST",
            "/current/integrations/UpdateCustomerPromotionStatus",
            body=body,
        )

    async def register_event_listener(
        self, event_type_id: int, url: str, channel_id: int | None = None
    ) -> None:
        """Register (or replace) the listener URL for an event type (5 = scheduled
        campaign executed, 4 = campaign cancelled)."""
        body: dict[str, Any] = {"EventTypeID": event_type_id, "ListenerURL": url}
        if channel_id is not None:
            body["ChannelID"] = channel_id
        await self._call(
            "register_event_listener", "POST", "/current/general/RegisterEventListener", body=body
        )

    async def register_triggered_webhook(
        self, url: str, secret: str | None = None
    ) -> dict[str, Any]:
        """The tenant's one CE v2 webhook; a new registration replaces the old (§3)."""
        body: dict[str, Any] = {"url": url}
        if secret:
            body["secret"] = secret
        data = await self._call(
            "register_triggered_webhook",
            "POST",
            "/conditional-execution/v2/triggered/webhooks/",
            body=body,
        )
        return dict(data or {})

    async def approve_triggered_event(
        self, campaign_id: int, customer_id: str, event_id: str, approved: bool = True
    ) -> str:
        """Commit (`approved`) or release one event's reservation; the resulting status."""
        body = {
            "campaignId": campaign_id,
            "customerId": customer_id,
            "eventId": event_id,
            "approved": approved,
        }
        data = await self._call(
            "approve_triggered_event",
            "POST",
            "/conditional-execution/v2/triggered/approval",
            body=body,
        )
        return str((data or {}).get("status", "approved" if approved else "declined"))


class PromotionsApi(_JsonApi):
    """The Promotions `/v1` API (wire-contract §4)."""

    async def validate_customers(
        self,
        promocode: str,
        campaign_id: int,
        campaign_type: str,
        contexts: Sequence[Mapping[str, Any]],
        *,
        action_id: int | None = None,
        dry_run: bool = False,
    ) -> ValidateCustomersResponse:
        """Eligibility, tier and reward per context (1-1000); a valid result reserves.

        404 `unknown_promocode` (an `ApiError`) when no Promotions promotion owns the code:
        the flows take it to mean the campaign needs no validation (a code added with
        `integrations/AddPromotions` only, wire-contract §2.1; `flows.common.promotion_missing`).
        """
        campaign: dict[str, Any] = {"campaignId": campaign_id, "campaignType": campaign_type}
        if action_id is not None:
            campaign["actionId"] = action_id
        data = await self._call_as(
            _VALIDATED,
            "validate_customers",
            "POST",
            f"/v1/promocodes/{quote(promocode, safe='')}/validateCustomers",
            params={"dryRun": "true" if dry_run else "false"},
            body={"campaignData": campaign, "contexts": list(contexts)},
        )
        return _expect(data, "validate_customers")

    async def report_redemptions(
        self, promotion_id: str, items: Sequence[Mapping[str, Any]]
    ) -> RedemptionReport:
        """Report reward activations (≤ 10000 items; each accepted or rejected alone)."""
        data = await self._call_as(
            _REDEEMED,
            "report_redemptions",
            "POST",
            f"/v1/promotions/{quote(promotion_id, safe='')}/redemptions",
            body={"redemptions": list(items)},
        )
        return _expect(data, "report_redemptions")

    async def get_promotion(self, promotion_id: str) -> dict[str, Any]:
        """The promotion with its usage counters."""
        data = await self._call(
            "get_promotion", "GET", f"/v1/promotions/{quote(promotion_id, safe='')}"
        )
        return dict(data or {})


def _expect(data: T | None, operation: str) -> T:
    """A success answer that must carry a body (an empty one is a broken answer)."""
    if data is None:
        raise ApiError(
            200, "empty_response", "a success answer without a body", None, operation=operation
        )
    return data
