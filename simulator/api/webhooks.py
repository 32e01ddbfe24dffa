"""Control routes for webhook delivery and fault injection (`/_sim`, admin keys).

Deliveries and attempts can be listed with filters, an event re-sent by id (it keeps its
`webhook-id`), all failed events since a time re-sent at once; the retry schedule, time
scale, timeout and concurrency set per tenant; the secret rotated with an overlap; and a
received webhook checked: `POST /_sim/webhooks/verify` explains why verification fails.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import StringConstraints
from starlette.responses import Response

from simulator.api import encode
from simulator.api.control import ERRORS
from simulator.api.deps import AdminDep, RuntimeDep, call
from simulator.api.routing import WireRoute
from simulator.control_models import (
    FaultsRequest,
    ResendFailedRequest,
    RotateSecretRequest,
    VerifyRequest,
    WebhookConfigRequest,
)
from simulator.domain.errors import DomainError
from simulator.domain.models import Attempt, Delivery, WebhookKind
from simulator.services import tenants
from simulator.services.runtime import Runtime
from simulator.store.base import DeliveryLog
from simulator.webhooks import signing
from simulator.webhooks.dispatcher import Dispatcher

router = APIRouter(prefix="/_sim", tags=["control"], route_class=WireRoute)
Secret = Annotated[str, StringConstraints(pattern=r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")]


def _log(request: Request) -> DeliveryLog:
    log: DeliveryLog = request.app.state.delivery_log
    return log


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def _delivery(d: Delivery) -> dict[str, Any]:
    return {
        "eventId": d.event_id,
        "seq": d.seq,
        "kind": d.kind,
        "campaignId": d.campaign_id,
        "status": d.status,
        "attempts": d.attempts,
        "nextAt": d.next_at if d.status == "pending" else None,
        "createdAt": d.created_at,
        "deliveredAt": d.delivered_at,
        "lastStatus": d.last_status,
        "lastError": d.last_error,
    }


def _attempt(a: Attempt) -> dict[str, Any]:
    return {
        "eventId": a.event_id,
        "attempt": a.number,
        "url": a.url,
        "at": a.at,
        "status": a.status,
        "latencyMs": a.latency_ms,
        "error": a.error,
        "fault": a.fault,
    }


@router.get("/deliveries", operation_id="list_deliveries", responses=ERRORS)
async def list_deliveries(
    caller: AdminDep,
    request: Request,
    status: Literal["pending", "delivered", "failed", "skipped"] | None = None,
    kind: WebhookKind | None = None,
    campaignId: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    """Webhook deliveries in outbox order, with their state; page with `after` (seq)."""
    found = _log(request).deliveries(
        caller.tenant_id,
        status=status,
        kind=kind,
        campaign_id=campaignId,
        after=after,
        limit=limit,
    )
    return encode.json_response({"deliveries": [_delivery(d) for d in found]})


@router.get("/deliveries/summary", operation_id="summarize_deliveries", responses=ERRORS)
async def summarize_deliveries(
    caller: AdminDep,
    request: Request,
    campaignId: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: WebhookKind | None = None,
) -> Response:
    """Counts by status, retries, delivery lag percentiles and the achieved rate. Counts,
    attempts, retries and the rate cover every delivery, also those the retention dropped
    (kept as counters); lag percentiles cover the deliveries still kept."""
    found = _log(request).summary(caller.tenant_id, kind=kind, campaign_id=campaignId)
    lag = found.lag_ms
    first, last = found.first_done, found.last_done
    span = last - first if first is not None and last is not None else 0.0
    return encode.json_response(
        {
            "total": found.total,
            "byStatus": found.by_status,
            "attempts": found.attempts,
            "retries": found.retries,
            "lagMs": {"p50": lag[0.5], "p99": lag[0.99], "max": lag[1.0]},
            "achievedRate": round((found.delivered - 1) / span, 1) if span > 0 else None,
        }
    )


@router.get("/deliveries/{eventId}", operation_id="get_delivery", responses=ERRORS)
async def get_delivery(caller: AdminDep, request: Request, eventId: str) -> Response:
    """One delivery (by `webhook-id`) and all its attempts."""
    d = _log(request).get(caller.tenant_id, eventId)
    if d is None:
        raise DomainError("unknown_delivery", f"no webhook with id {eventId!r}")
    attempts = _log(request).attempts(caller.tenant_id, event_id=eventId, limit=1000)
    return encode.json_response(
        {**_delivery(d), "body": d.body.decode(), "attemptLog": [_attempt(a) for a in attempts]}
    )


@router.get("/attempts", operation_id="list_attempts", responses=ERRORS)
async def list_attempts(
    caller: AdminDep,
    request: Request,
    eventId: Annotated[str | None, Query(max_length=128)] = None,
    failedOnly: bool = False,
    after: Annotated[float, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    """Every delivery attempt: URL, attempt number, status, latency, error, injected fault."""
    found = _log(request).attempts(
        caller.tenant_id, event_id=eventId, failed_only=failedOnly, after=after, limit=limit
    )
    return encode.json_response({"attempts": [_attempt(a) for a in found]})


@router.post("/deliveries/{eventId}/resend", operation_id="resend_delivery", responses=ERRORS)
async def resend_delivery(caller: AdminDep, request: Request, eventId: str) -> Response:
    """Send an event again now, with the same `webhook-id` (a new attempt)."""
    if _log(request).reschedule(caller.tenant_id, [eventId], time.time()) == 0:
        raise DomainError("unknown_delivery", f"no webhook with id {eventId!r}")
    _dispatcher(request).wake()
    return encode.json_response({"resent": 1})


@router.post("/deliveries/resend-failed", operation_id="resend_failed", responses=ERRORS)
async def resend_failed(caller: AdminDep, request: Request, body: ResendFailedRequest) -> Response:
    """Re-send every failed event created since `since` (unix seconds)."""
    log = _log(request)
    ids = log.failed_since(caller.tenant_id, body.since)
    resent = log.reschedule(caller.tenant_id, ids, time.time())
    _dispatcher(request).wake()
    return encode.json_response({"resent": resent})


@router.get("/webhooks/config", operation_id="get_webhook_config", responses=ERRORS)
async def get_webhook_config(caller: AdminDep, request: Request) -> Response:
    c = _log(request).config(caller.tenant_id)
    return encode.json_response(
        {
            "retryDelays": list(c.retry_delays),
            "timeScale": c.time_scale,
            "timeoutSeconds": c.timeout_s,
            "concurrency": c.concurrency,
            "secretsInOverlap": len(c.previous_secrets),
        }
    )


@router.put("/webhooks/config", operation_id="set_webhook_config", responses=ERRORS)
async def set_webhook_config(
    caller: AdminDep, request: Request, body: WebhookConfigRequest
) -> Response:
    """Set the retry schedule (delays after attempts 1, 2, …), a time scale for it (0.01 runs
    600 s in 6 s), the per-attempt timeout and the concurrency per listener."""
    log = _log(request)
    c = log.config(caller.tenant_id)
    c = replace(
        c,
        retry_delays=tuple(body.retryDelays) if body.retryDelays is not None else c.retry_delays,
        time_scale=body.timeScale if body.timeScale is not None else c.time_scale,
        timeout_s=body.timeoutSeconds if body.timeoutSeconds is not None else c.timeout_s,
        concurrency=body.concurrency if body.concurrency is not None else c.concurrency,
    )
    log.set_config(caller.tenant_id, c)
    return await get_webhook_config(caller, request)


@router.post("/webhooks/secret/rotate", operation_id="rotate_webhook_secret", responses=ERRORS)
async def rotate_webhook_secret(
    rt: RuntimeDep, caller: AdminDep, request: Request, body: RotateSecretRequest
) -> Response:
    """Switch to a new secret; during `overlapSeconds` webhooks carry a signature with each
    secret (`v1,<new> v1,<old>`), so receivers can move over without dropping any."""
    new, old = await call(rt, tenants.rotate_webhook_secret, caller.tenant_id, body.secret)
    log = _log(request)
    c = log.config(caller.tenant_id)
    now = time.time()
    kept = tuple((s, until) for s, until in c.previous_secrets if until > now)
    if old is not None and body.overlapSeconds > 0:
        kept = ((old, now + body.overlapSeconds), *kept)
    log.set_config(caller.tenant_id, replace(c, previous_secrets=kept))
    return encode.json_response({"secret": new, "overlapUntil": now + body.overlapSeconds})


@router.post("/webhooks/verify", operation_id="verify_webhook", responses=ERRORS)
async def verify_webhook(
    rt: RuntimeDep, caller: AdminDep, request: Request, body: VerifyRequest
) -> Response:
    """Explain a webhook you received: send the raw body and headers exactly as your
    framework gave them. Answers whether the signature verifies and, if not, why: a header
    missing or malformed, the timestamp out of tolerance, the body changed (and where,
    compared with what was sent), or the wrong secret."""
    result = await explain_received(
        rt, _log(request), caller.tenant_id, body.body.encode(), body.headers
    )
    return encode.json_response(
        {"valid": result.valid, "problem": result.problem, "explanation": result.detail}
    )


async def explain_received(
    rt: Runtime, log: DeliveryLog, tenant_id: str, body: bytes, given: dict[str, str]
) -> signing.Explanation:
    """The signature explainer behind `POST /_sim/webhooks/verify` (and the dashboard's
    paste box): which secrets the webhook could carry and what was sent with its id."""
    tenant, _ = await call(rt, tenants.get_tenant, tenant_id)
    headers = {k.lower(): v for k, v in given.items()}
    sent = log.get(tenant_id, headers.get("webhook-id", ""))
    config = log.config(tenant_id)
    now = time.time()
    secrets = [s for s in (tenant.webhook_secret,) if s]
    secrets += [s for s, until in config.previous_secrets if until > now]
    if (
        sent is not None
        and sent.kind == "triggered"
        and tenant.ce_webhook
        and tenant.ce_webhook.secret
    ):
        secrets = [tenant.ce_webhook.secret]
    return signing.explain(body, headers, secrets, now, sent.body if sent is not None else None)


@router.get("/faults", operation_id="get_faults", responses=ERRORS)
async def get_faults(caller: AdminDep, request: Request) -> Response:
    seed, rules = request.app.state.faults.rules(caller.tenant_id)
    return encode.json_response(
        {"seed": seed, "rules": [r.model_dump(exclude_none=True) for r in rules]}
    )


@router.put("/faults", operation_id="set_faults", responses=ERRORS)
async def set_faults(caller: AdminDep, request: Request, body: FaultsRequest) -> Response:
    """Replace the tenant's fault rules (seeded: the same seed and requests give the same
    faults). Every injected fault is marked in the journal and in the attempt log."""
    request.app.state.faults.set_rules(caller.tenant_id, body.rules, body.seed)
    return await get_faults(caller, request)


@router.delete("/faults", operation_id="clear_faults", status_code=204, responses=ERRORS)
async def clear_faults(caller: AdminDep, request: Request) -> Response:
    request.app.state.faults.clear(caller.tenant_id)
    return Response(status_code=204)
