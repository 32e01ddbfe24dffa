"""The webhook receiver: a plain ASGI app in front of the integrator (serve it with uvicorn
or any ASGI server).

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
  to the integrator (a task started after the response). Slow work would otherwise
  make the sender time out and redeliver (default timeout 10 s).
- EventTypeID 13 (the campaign was sent on a channel, at `ClearanceRequiredBy`) is
  informational: it is checked, logged and acknowledged (202), and runs nothing.
- Other core event types (1, 2, 3, 11) are acknowledged and ignored, so the sender
  stops retrying them.

Why no web framework: a triggered campaign delivers one webhook per customer event, so the
receiver's cost per request bounds the integrator's event rate. Measured in
`loadtests/bench_e2e.py`, the same receiver on Starlette cost the reference client ~15 %
more CPU per event; it has two routes, and this is all of them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

import orjson
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from reference_client import tracing
from reference_client.config import ClientConfig
from reference_client.models import CancelledEvent, ChannelEvent, ScheduledEvent, TriggeredEvent

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


def parse_event(kind: str, body: bytes) -> WebhookEvent | ChannelEvent | None:
    """The event in a raw body, or None for a core event type we do not handle. Raises
    `ValueError` (`pydantic.ValidationError` is one) for a body that is not such an event."""
    if kind == "triggered":  # one pass from bytes: the hot path, one webhook per event
        return TriggeredEvent.model_validate_json(body)
    payload = json.loads(body)
    event_type = payload.get("EventTypeID") if isinstance(payload, dict) else None
    if event_type == 5:
        return ScheduledEvent.model_validate(payload)
    if event_type == 4:
        return CancelledEvent.model_validate(payload)
    if event_type == 13:
        return ChannelEvent.model_validate(payload)
    if isinstance(event_type, int) and not isinstance(event_type, bool):
        return None
    raise ValueError("EventTypeID must be an integer")


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Reply:
    """A JSON answer, and what to do once it is sent."""

    __slots__ = ("after", "body", "status")

    def __init__(
        self, status: int, body: dict[str, Any], after: Callable[[], None] | None = None
    ) -> None:
        self.status = status
        self.body = orjson.dumps(body)
        self.after = after

    async def send(self, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        if self.after is not None:
            self.after()


def _problem(status: int, error: str, message: str) -> Reply:
    return Reply(status, {"status": status, "error": error, "message": message})


class TooLarge(Exception):
    """The body grew past MAX_BODY while it was read."""


class Disconnected(Exception):
    """The sender went away before the whole body arrived: nothing to answer or run."""


class ListenerApp:
    """The ASGI app: POST the two webhook paths, GET /health."""

    def __init__(self, integrator: WebhookReceiver) -> None:
        config = integrator.config
        self.integrator = integrator
        self.paths = {config.scheduled_path: "scheduled", config.triggered_path: "triggered"}
        self.verifiers = {
            "scheduled": Webhook(config.webhook_secret) if config.webhook_secret else None,
            "triggered": (
                Webhook(config.triggered_signing_secret)
                if config.triggered_signing_secret
                else None
            ),
        }
        for kind, verifier in self.verifiers.items():
            if verifier is None:
                LOG.warning("%s webhooks are NOT verified: no secret configured", kind)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here
        try:
            reply = await self.route(scope, receive)
        except Disconnected:
            return  # a partial body is never verified, parsed or recorded
        await reply.send(send)

    async def route(self, scope: Scope, receive: Receive) -> Reply:
        path, method = scope["path"], scope["method"]
        kind = self.paths.get(path)
        if kind is not None and method == "POST":
            headers = _headers(scope)
            try:
                body = await _body(receive, headers.get("content-length", ""))
            except TooLarge:
                return _problem(413, "payload_too_large", f"body over {MAX_BODY} bytes")
            return self.receive(kind, headers, body)
        if path == "/health" and method in ("GET", "HEAD"):
            return Reply(200, {"status": "ok", "inFlight": self.integrator.in_flight()})
        if kind is not None or path == "/health":
            return _problem(405, "method_not_allowed", f"{method} is not allowed on {path}")
        return _problem(404, "not_found", f"no route {path}")

    def receive(self, kind: str, headers: dict[str, str], body: bytes) -> Reply:
        """One webhook: verify, parse, deduplicate, acknowledge, then hand it over."""
        verifier = self.verifiers[kind]
        if verifier is not None:
            try:
                verifier.verify(body, headers, json_parse=False)
            except (WebhookVerificationError, ValueError) as exc:
                LOG.warning("rejected a %s webhook: %s", kind, exc, extra={"kind": kind})
                return _problem(401, "invalid_signature", "webhook signature verification failed")
        webhook_id = headers.get("webhook-id", "").strip()
        if not webhook_id:
            return _problem(400, "missing_webhook_id", "the webhook-id header is required")
        try:
            event = parse_event(kind, body)
        except ValueError as exc:  # JSONDecodeError and ValidationError are ValueErrors
            return _problem(400, "invalid_event", f"not a valid {kind} event: {exc}"[:500])
        if event is None:
            return Reply(202, {"status": "ignored"})
        if isinstance(event, ChannelEvent):  # nothing to do, so no dedupe needed either
            LOG.info(
                "campaign %s was sent on channel %s",
                event.CampaignID,
                event.ChannelID,
                extra={"campaign_id": event.CampaignID, "channel_id": event.ChannelID},
            )
            return Reply(202, {"status": "noted"})
        if not self.integrator.accept_webhook(webhook_id, event, body):
            LOG.info("duplicate webhook %s skipped", webhook_id, extra={"webhook_id": webhook_id})
            return Reply(200, {"status": "duplicate"})
        dispatch = self.integrator.dispatch_webhook
        # The webhook's trace goes on with the calls its work makes (reference_client.tracing).
        trace = tracing.received(headers.get("traceparent"))
        return Reply(
            202, {"status": "accepted"}, lambda: tracing.within(trace, dispatch, webhook_id, event)
        )


def create_listener_app(integrator: WebhookReceiver) -> ListenerApp:
    """The listener for `integrator` (an ASGI app)."""
    return ListenerApp(integrator)


def _headers(scope: Scope) -> dict[str, str]:
    """Header names are lower case in ASGI; a repeated header keeps its first value."""
    out: dict[str, str] = {}
    for key, value in scope["headers"]:
        out.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return out


async def _body(receive: Receive, declared: str) -> bytes:
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    """Nothing to start or stop: the integrator's own lifecycle is its caller's."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
