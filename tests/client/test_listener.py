"""listener.py over Starlette's TestClient: signatures on the raw body, fast 202, dedupe on
webhook-id, 400 (never 500) for bad bodies. The receiver is a fake implementing the
listener's `WebhookReceiver` protocol, backed by the real MemoryJournal."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from reference_client import ClientConfig, Integrator, MemoryJournal, create_listener_app
from reference_client.listener import MAX_BODY, WebhookEvent
from reference_client.models import CancelledEvent, ScheduledEvent, TriggeredEvent
from tests.client.support import DEMO_SECRET, TRIGGERED_SECRET, client_config

SCHEDULED = {
    "EventTypeID": 5,
    "TimeStamp": "2026-11-27 10:00:00",
    "CampaignID": 48213,
    "ClearanceRequiredBy": "2026-11-27 10:30:00",
    "TenantID": 28209,
}
TRIGGERED = {
    "eventId": "EV_1",
    "eventTime": "2026-11-27T10:00:00.000Z",
    "user": {"user_id": "C0000042", "is_visitor": False},
    "campaign": {
        "id": 7001,
        "series_id": 900,
        "action": {"id": 21, "name": "Deposit match", "promo_codes": ["DEPOSIT10"], "channels": []},
    },
    "context": {"depositAmount": 12000},
}


class FakeReceiver:
    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self.journal = MemoryJournal()
        self.dispatched: list[tuple[str, WebhookEvent]] = []

    @property
    def config(self) -> ClientConfig:
        return self._config

    def accept_webhook(self, webhook_id: str, event: WebhookEvent, body: bytes) -> bool:
        kind = "triggered" if isinstance(event, TriggeredEvent) else "scheduled"
        return self.journal.accept(webhook_id, kind, body)

    def dispatch_webhook(self, webhook_id: str, event: WebhookEvent) -> None:
        self.dispatched.append((webhook_id, event))

    def in_flight(self) -> int:
        return len(self.dispatched)


def signed(
    body: bytes, secret: str = DEMO_SECRET, msg_id: str = "msg_1", at: datetime | None = None
) -> dict[str, str]:
    stamp = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, stamp, body.decode()),
    }


def encode(payload: Any) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def receiver() -> FakeReceiver:
    return FakeReceiver(client_config())


@pytest.fixture
def client(receiver: FakeReceiver) -> Iterator[TestClient]:
    with TestClient(create_listener_app(receiver)) as found:
        yield found


def test_a_good_signature_is_acknowledged_with_202_and_handed_over(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode(SCHEDULED)
    response = client.post("/optimove/events", content=body, headers=signed(body))
    assert (response.status_code, response.json()) == (202, {"status": "accepted"})
    [(webhook_id, event)] = receiver.dispatched
    assert webhook_id == "msg_1"
    assert isinstance(event, ScheduledEvent)
    assert event.deadline == datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


def test_a_bad_signature_is_401_and_nothing_is_recorded(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode(SCHEDULED)
    headers = signed(body, secret="whsec_" + "d3Jvbmctc2VjcmV0")  # another secret
    assert client.post("/optimove/events", content=body, headers=headers).status_code == 401
    assert receiver.dispatched == [] and receiver.journal.pending() == []


def test_the_signature_covers_the_raw_bytes(client: TestClient, receiver: FakeReceiver) -> None:
    body = encode(SCHEDULED)
    headers = signed(body)
    respaced = body.replace(b'"EventTypeID": 5', b'"EventTypeID":5')  # same JSON, other bytes
    assert client.post("/optimove/events", content=respaced, headers=headers).status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"webhook-id": "msg_1", "webhook-timestamp": "1"},  # no signature
        {"webhook-id": "msg_1", "webhook-timestamp": "x", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "garbage"},
    ],
    ids=["missing", "bad-timestamp", "malformed-signature"],
)
def test_missing_or_malformed_signature_headers_are_401(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post("/optimove/events", content=encode(SCHEDULED), headers=headers)
    assert response.status_code == 401


def test_a_stale_timestamp_is_401(client: TestClient) -> None:
    body = encode(SCHEDULED)
    headers = signed(body, at=datetime.now(UTC) - timedelta(minutes=6))
    assert client.post("/optimove/events", content=body, headers=headers).status_code == 401


def test_a_duplicate_webhook_id_is_not_processed_twice(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode(SCHEDULED)
    first = client.post("/optimove/events", content=body, headers=signed(body))
    again = client.post("/optimove/events", content=body, headers=signed(body))
    assert first.status_code == 202
    assert (again.status_code, again.json()) == (200, {"status": "duplicate"})
    assert len(receiver.dispatched) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"EventTypeID": "five", "CampaignID": 1}',
        b'{"EventTypeID": 5}',
    ],
    ids=["syntax", "not-utf8", "array", "type-not-int", "no-campaign"],
)
def test_a_malformed_body_is_400_never_500(receiver: FakeReceiver, body: bytes) -> None:
    unsigned = FakeReceiver(client_config(webhook_secret=None))
    with TestClient(create_listener_app(unsigned)) as client:
        response = client.post("/optimove/events", content=body, headers={"webhook-id": "m"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_event"
    assert unsigned.dispatched == []


def test_a_signed_but_malformed_body_is_400(client: TestClient) -> None:
    body = b'{"EventTypeID": 5, "CampaignID": '
    assert client.post("/optimove/events", content=body, headers=signed(body)).status_code == 400


def test_the_webhook_id_is_required(receiver: FakeReceiver) -> None:
    unsigned = FakeReceiver(client_config(webhook_secret=None))
    with TestClient(create_listener_app(unsigned)) as client:
        response = client.post("/optimove/events", content=encode(SCHEDULED))
    assert response.status_code == 400
    assert response.json()["error"] == "missing_webhook_id"


def test_cancellations_arrive_on_the_scheduled_path(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode({"EventTypeID": 4, "TimeStamp": "2026-11-27 10:05:00", "CampaignID": 48213})
    assert client.post("/optimove/events", content=body, headers=signed(body)).status_code == 202
    assert isinstance(receiver.dispatched[0][1], CancelledEvent)


def test_other_core_event_types_are_acknowledged_and_ignored(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode({"EventTypeID": 11, "CampaignID": 48213})
    response = client.post("/optimove/events", content=body, headers=signed(body))
    assert (response.status_code, response.json()) == (202, {"status": "ignored"})
    assert receiver.dispatched == []


def test_a_campaign_sent_on_a_channel_is_acknowledged_logged_and_runs_nothing(
    client: TestClient, receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    event = {
        "EventTypeID": 13,
        "TimeStamp": "2026-11-27 10:30:00",
        "CampaignID": 48213,
        "ChannelID": 15,
        "TenantID": 28209,
    }
    body = encode(event)
    with caplog.at_level(logging.INFO, logger="reference_client.listener"):
        response = client.post("/optimove/events", content=body, headers=signed(body))
    assert (response.status_code, response.json()) == (202, {"status": "noted"})
    assert receiver.dispatched == [] and receiver.journal.pending() == []
    assert "campaign 48213 was sent on channel 15" in caplog.text
    # a body that claims to be EventTypeID 13 but is not one is refused, never a 5xx
    bad = encode({**event, "CampaignID": "not-a-number"})
    refused = client.post("/optimove/events", content=bad, headers=signed(bad, msg_id="msg_2"))
    assert refused.status_code == 400


def test_an_integer_tenant_id_is_read_and_a_string_one_still_accepted(
    client: TestClient, receiver: FakeReceiver
) -> None:
    for n, tenant in enumerate((28209, "demo")):
        body = encode({**SCHEDULED, "TenantID": tenant})
        headers = signed(body, msg_id=f"msg_{n}")
        assert client.post("/optimove/events", content=body, headers=headers).status_code == 202
    events = [e for _, e in receiver.dispatched if isinstance(e, ScheduledEvent)]
    assert [e.TenantID for e in events] == [28209, "demo"]


def test_triggered_events_use_the_ce_v2_secret_when_there_is_one() -> None:
    receiver = FakeReceiver(client_config(triggered_secret=TRIGGERED_SECRET))
    body = encode(TRIGGERED)
    with TestClient(create_listener_app(receiver)) as client:
        wrong = client.post("/optimove/triggered", content=body, headers=signed(body))
        right = client.post(
            "/optimove/triggered", content=body, headers=signed(body, TRIGGERED_SECRET)
        )
    assert (wrong.status_code, right.status_code) == (401, 202)
    [(_, event)] = receiver.dispatched
    assert isinstance(event, TriggeredEvent)
    assert event.context == {"depositAmount": 12000}


def test_triggered_events_fall_back_to_the_tenant_secret(
    client: TestClient, receiver: FakeReceiver
) -> None:
    body = encode(TRIGGERED)
    assert client.post("/optimove/triggered", content=body, headers=signed(body)).status_code == 202


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "inFlight": 0}


def test_other_paths_and_methods_are_404_and_405(client: TestClient) -> None:
    assert client.get("/optimove/elsewhere").status_code == 404
    wrong = client.get("/optimove/events")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert client.post("/health").status_code == 405


def test_a_body_over_the_limit_is_413_declared_or_streamed(
    client: TestClient, receiver: FakeReceiver
) -> None:
    big = b"x" * (MAX_BODY + 1)
    declared = client.post("/optimove/events", content=big, headers=signed(big))
    streamed = client.post(
        "/optimove/events", content=iter([big[:1000], big[1000:]]), headers=signed(big)
    )
    assert [r.status_code for r in (declared, streamed)] == [413, 413]
    assert declared.json()["error"] == "payload_too_large"
    assert receiver.dispatched == []


class SlowTransport(httpx.AsyncBaseTransport):
    """Answers every call after `delay` seconds with a core-API 404."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        await asyncio.sleep(self.delay)
        return httpx.Response(404, content=b'"campaign 48213 has no processed customers"')


def test_the_real_integrator_acknowledges_before_doing_the_work() -> None:
    transport = SlowTransport(delay=1.0)
    integrator = Integrator(client_config(), transport=transport)
    body = encode(SCHEDULED)
    with TestClient(create_listener_app(integrator)) as client:
        started = time.perf_counter()
        response = client.post("/optimove/events", content=body, headers=signed(body))
        acked_in = time.perf_counter() - started
        assert response.status_code == 202
        assert acked_in < 0.5  # the 1 s fetch had not finished when we were answered
        assert client.get("/health").json()["inFlight"] == 1
        duplicate = client.post("/optimove/events", content=body, headers=signed(body))
        assert duplicate.status_code == 200
        assert client.portal is not None
        client.portal.call(integrator.wait_idle, 10)
        client.portal.call(integrator.stop)
    summary = integrator.summaries()[48213]
    assert transport.calls >= 1
    assert summary.duplicates_skipped == 1
    assert summary.errors["fetch_not_found"] == 1  # a 4xx answer: not retried
    assert summary.approved == 0


def test_a_sender_gone_before_the_whole_body_runs_nothing(receiver: FakeReceiver) -> None:
    """As Starlette's ClientDisconnect did: a partial body is not verified, parsed,
    recorded or answered."""
    unsigned = FakeReceiver(client_config(webhook_secret=None))
    app = create_listener_app(unsigned)
    messages = iter(
        [
            {"type": "http.request", "body": encode(SCHEDULED), "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[Any] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/optimove/events",
        "headers": [(b"webhook-id", b"msg_gone")],
    }
    asyncio.run(app(scope, receive, send))
    assert sent == [] and unsigned.dispatched == [] and unsigned.journal.pending() == []
