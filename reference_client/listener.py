"""The webhook receiver: a small Starlette app in front of the integrator.

Business rules (wire-contract §6):
- `POST {scheduled_path}` takes the core events (EventTypeID 5: campaign executed;
  4: campaign cancelled), `POST {triggered_path}` takes CE v2 events.
- With a secret configured, the Standard Webhooks signature is verified on the RAW body
  (before any parsing; re-encoded JSON would not match) → 401 when it fails. The scheduled
  path uses the tenant's secret; the triggered path the CE v2 registration's own secret
  when there is one, else the tenant's (§8).
- A body that is not JSON, or not the expected event, is a 400 (never a 500).
- Deduplicate on `webhook-id` (stable across retries and re-sends): a seen id answers
  200 `duplicate` and runs nothing.
- Acknowledge fast: the event is recorded, 202 is sent, and only then is the work handed
  to the integrator (a background task after the response). Slow work would otherwise
  make the sender time out and redeliver (default timeout 10 s).
- Other core event types (1, 2, 3, 11, 13) are acknowledged and ignored, so the sender
  stops retrying them.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from pydantic import ValidationError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reference_client.config import ClientConfig
from reference_client.models import CancelledEvent, ScheduledEvent, TriggeredEvent

LOG = logging.getLogger(__name__)
MAX_BODY = 1024 * 1024  # webhook bodies are tiny; refuse anything absurd
WebhookEvent = ScheduledEvent | CancelledEvent | TriggeredEvent


class WebhookReceiver(Protocol):
    """What the listener needs from the integrator (tests may pass a fake)."""

    @property
    def config(self) -> ClientConfig: ...

    def accept_webhook(self, webhook_id: str, event: WebhookEvent, body: bytes) -> bool:
        """Record the webhook; False when its id was seen before."""
        ...

    def dispatch_webhook(self, webhook_id: str, event: WebhookEvent) -> None:
        """Start the event's work in the background (called after the 202 is sent)."""
        ...

    def in_flight(self) -> int: ...


def _problem(status: int, error: str, message: str) -> JSONResponse:
    return JSONResponse({"status": status, "error": error, "message": message}, status)


def parse_event(kind: str, payload: Any) -> WebhookEvent | None:
    """The event, or None for a core event type we do not handle."""
    if kind == "triggered":
        return TriggeredEvent.model_validate(payload)
    event_type = payload.get("EventTypeID") if isinstance(payload, dict) else None
    if event_type == 5:
        return ScheduledEvent.model_validate(payload)
    if event_type == 4:
        return CancelledEvent.model_validate(payload)
    if isinstance(event_type, int) and not isinstance(event_type, bool):
        return None
    raise ValueError("EventTypeID must be an integer")


def create_listener_app(integrator: WebhookReceiver) -> Starlette:
    """The ASGI app: POST the two webhook paths, GET /health."""
    config = integrator.config
    verifiers = {
        "scheduled": Webhook(config.webhook_secret) if config.webhook_secret else None,
        "triggered": (
            Webhook(config.triggered_signing_secret) if config.triggered_signing_secret else None
        ),
    }
    for kind, verifier in verifiers.items():
        if verifier is None:
            LOG.warning("%s webhooks are NOT verified: no secret configured", kind)

    async def receive(request: Request, kind: str) -> JSONResponse:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return _problem(413, "payload_too_large", f"body over {MAX_BODY} bytes")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _problem(413, "payload_too_large", f"body over {MAX_BODY} bytes")
        verifier = verifiers[kind]
        if verifier is not None:
            try:
                verifier.verify(body, dict(request.headers), json_parse=False)
            except (WebhookVerificationError, ValueError) as exc:
                LOG.warning("rejected a %s webhook: %s", kind, exc, extra={"kind": kind})
                return _problem(401, "invalid_signature", "webhook signature verification failed")
        webhook_id = request.headers.get("webhook-id", "").strip()
        if not webhook_id:
            return _problem(400, "missing_webhook_id", "the webhook-id header is required")
        try:
            event = parse_event(kind, json.loads(body))
        except (ValueError, ValidationError) as exc:  # JSONDecodeError is a ValueError
            return _problem(400, "invalid_event", f"not a valid {kind} event: {exc}"[:500])
        if event is None:
            return JSONResponse({"status": "ignored"}, 202)
        if not integrator.accept_webhook(webhook_id, event, body):
            LOG.info("duplicate webhook %s skipped", webhook_id, extra={"webhook_id": webhook_id})
            return JSONResponse({"status": "duplicate"}, 200)
        task = BackgroundTask(dispatch, webhook_id, event)
        return JSONResponse({"status": "accepted"}, 202, background=task)

    async def dispatch(webhook_id: str, event: WebhookEvent) -> None:
        # Async on purpose: Starlette runs a sync background function in a worker thread,
        # where there is no event loop to start the integrator's task on.
        integrator.dispatch_webhook(webhook_id, event)

    async def scheduled(request: Request) -> JSONResponse:
        return await receive(request, "scheduled")

    async def triggered(request: Request) -> JSONResponse:
        return await receive(request, "triggered")

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "inFlight": integrator.in_flight()})

    return Starlette(
        routes=[
            Route(config.scheduled_path, scheduled, methods=["POST"]),
            Route(config.triggered_path, triggered, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
