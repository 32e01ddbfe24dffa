"""The reference client passes a webhook's W3C `traceparent` on (same trace id, a new span
id per call) with the API calls its work makes (reference_client/tracing.py)."""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.testclient import TestClient

from reference_client import create_listener_app, tracing
from reference_client.http import OptimoveApi
from reference_client.listener import WebhookEvent
from tests.client.support import client_config
from tests.client.test_listener import TRIGGERED, FakeReceiver, encode, signed

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class TraceSeeing(FakeReceiver):
    """Records the trace its dispatched work would carry."""

    def __init__(self) -> None:
        super().__init__(client_config())
        self.traces: list[str | None] = []

    def dispatch_webhook(self, webhook_id: str, event: WebhookEvent) -> None:
        super().dispatch_webhook(webhook_id, event)
        self.traces.append(tracing.outgoing())


def deliver(headers: dict[str, str], msg_id: str) -> list[str | None]:
    receiver = TraceSeeing()
    body = encode(TRIGGERED)
    with TestClient(create_listener_app(receiver)) as client:
        secret = receiver.config.triggered_signing_secret
        assert secret is not None
        sent = signed(body, msg_id=msg_id, secret=secret)
        response = client.post(receiver.config.triggered_path, content=body, headers=sent | headers)
        assert response.status_code == 202, response.text
    return receiver.traces


def test_the_work_of_a_webhook_continues_its_trace() -> None:
    [trace] = deliver({"traceparent": PARENT}, "msg_t1")
    assert trace is not None
    version, trace_id, span, flags = trace.split("-")
    assert (version, trace_id, flags) == ("00", PARENT.split("-")[1], "01")
    assert span != PARENT.split("-")[2] and len(span) == 16


def test_no_or_an_invalid_traceparent_starts_no_trace() -> None:
    assert deliver({}, "msg_t2") == [None]
    invalid = "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
    assert deliver({"traceparent": invalid}, "msg_t3") == [None]
    assert deliver({"traceparent": "garbage"}, "msg_t4") == [None]


def test_api_calls_made_within_a_webhooks_work_carry_its_trace() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "approved"})

    api = OptimoveApi("http://optimove.test", "key-1", transport=httpx.MockTransport(handler))

    async def calls() -> None:
        await api.approve_triggered_event(7001, "C1", "EV_1")  # outside: no header
        task = tracing.within(PARENT, asyncio.create_task, work())
        await task

    async def work() -> None:  # a task started inside keeps the trace
        await api.approve_triggered_event(7001, "C1", "EV_1")
        await api.approve_triggered_event(7001, "C2", "EV_2")

    asyncio.run(calls())
    assert "traceparent" not in seen[0].headers
    traced = [r.headers["traceparent"] for r in seen[1:]]
    assert [t.split("-")[1] for t in traced] == [PARENT.split("-")[1]] * 2
    assert len({t.split("-")[2] for t in traced}) == 2  # a span per call
    assert json.loads(seen[1].content)["eventId"] == "EV_1"
