"""The control client against the real app: every method, on both stores, and errors that
carry the envelope. The sync client runs over the FastAPI TestClient (an httpx.Client),
the async one over httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from simulator.control_client import (
    AsyncControlClient,
    Conflict,
    ControlClient,
    ControlError,
    InvalidInput,
    NotFound,
    Unauthorized,
    Unreachable,
    calls,
)
from simulator.control_models import Answer
from simulator.scenario import builtin_scenario
from simulator.server_process import free_port
from tests.helpers import ADMIN, SCHEDULED, TRIGGERED, Sim
from tests.webhooks.support import Listener, register

URL = "http://testserver"


def no_unknown_fields(model: Any) -> None:
    """The answer models know every field the server sends (no silent drift)."""
    if isinstance(model, list):
        for item in model:
            no_unknown_fields(item)
        return
    if isinstance(model, BaseModel):
        if isinstance(model, Answer):
            assert not model.model_extra, f"{type(model).__name__} misses {model.model_extra}"
        for name in type(model).model_fields:
            no_unknown_fields(getattr(model, name))


@pytest.fixture
def control(sim: Sim) -> ControlClient:
    return ControlClient(URL, ADMIN, http=sim.client)


def test_health_needs_no_key(sim: Sim) -> None:
    health = ControlClient(URL, http=sim.client).health()
    no_unknown_fields(health)
    assert health.status == "ok"
    assert health.store in {"MemoryStore", "SqliteStore"}


def test_tenant_scenario_and_reset(control: ControlClient) -> None:
    tenant = control.get_tenant()
    no_unknown_fields(tenant)
    assert tenant.id == "demo" and tenant.signed
    assert tenant.population.size == 100_000

    reset = control.reset_tenant()
    no_unknown_fields(reset)
    assert reset.id == "demo"

    as_yaml = "population: {seed: 1, size: 500}\n"
    assert control.load_scenario(as_yaml).population.size == 500
    assert control.load_scenario(builtin="demo").population.size == 100_000
    scenario = builtin_scenario("demo").model_dump(mode="json", exclude_none=True)
    scenario["population"]["size"] = 60_000
    assert control.load_scenario(scenario).population.size == 60_000
    assert control.load_scenario(builtin_scenario("demo")).population.size == 100_000


def test_new_tenant_gives_keys_secret_and_a_bound_client(control: ControlClient) -> None:
    created = control.create_tenant(name="bare")
    no_unknown_fields(created)
    copied = control.create_tenant(builtin="demo")
    no_unknown_fields(copied)
    assert copied.users and copied.users[0].username
    assert created.name == "bare" and created.admin_key != ADMIN
    with control.with_key(created.admin_key) as bare:
        assert bare.get_tenant().id == created.tenantId
        assert bare.list_campaigns() == []

    fresh = control.new_tenant(builtin="demo")
    mine = control.with_key(fresh.admin_key)
    assert mine.get_tenant().id == fresh.tenant_id
    assert mine.get_tenant().numericId == fresh.numeric_id
    assert fresh.webhook_secret.startswith("whsec_")
    assert fresh.url == URL
    assert fresh.integrations_key not in (fresh.admin_key, ADMIN)

    demo = builtin_scenario("demo")  # its legacy username is the demo tenant's: left out
    scenario = demo.model_copy(update={"tenant": demo.tenant.model_copy(update={"users": []})})
    own = control.new_tenant(scenario=scenario)
    assert own.webhook_secret == scenario.tenant.webhookSecret
    chosen = "whsec_" + "Y2hvc2VuLXNlY3JldC0wMDAwMDAx"
    assert control.new_tenant(webhook_secret=chosen).webhook_secret == chosen


def test_a_tenant_is_deleted_by_its_own_admin_key(control: ControlClient) -> None:
    fresh = control.new_tenant(builtin="demo")
    mine = control.with_key(fresh.admin_key)
    mine.execute_campaign(SCHEDULED)
    with pytest.raises(NotFound) as other:  # another tenant's key cannot delete it
        control.delete_tenant(fresh.tenant_id)
    assert other.value.error == "unknown_tenant"
    mine.delete_tenant(fresh.tenant_id)
    with pytest.raises(Unauthorized):  # its keys went with it
        mine.get_tenant()
    assert control.get_tenant().id == "demo"  # the others stay


def test_clock(control: ControlClient) -> None:
    clock = control.get_clock()
    no_unknown_fields(clock)
    assert clock.mode == "manual"
    start = datetime(2027, 1, 1, 9, tzinfo=UTC)
    assert control.set_clock("manual", start).now == "2027-01-01T09:00:00.000Z"
    moved = control.advance_clock(timedelta(hours=2))
    assert moved.now == "2027-01-01T11:00:00.000Z" and moved.ran == 0
    assert control.advance_clock(60).now == "2027-01-01T11:01:00.000Z"
    assert control.advance_clock("1m").now == "2027-01-01T11:02:00.000Z"
    with pytest.raises(InvalidInput, match="seconds: 'soon' is not a duration"):
        control.advance_clock("soon")
    assert control.set_clock("manual", "2027-02-01T00:00:00Z").now == "2027-02-01T00:00:00.000Z"


def test_campaigns_events_and_report(control: ControlClient) -> None:
    listed = control.list_campaigns()
    no_unknown_fields(listed)
    assert SCHEDULED in {c.id for c in listed}

    executed = control.execute_campaign(SCHEDULED)
    assert executed.status == "executed"
    shown = control.get_campaign(SCHEDULED)
    no_unknown_fields(shown)
    assert shown.processedCustomers == 10_000
    assert control.clear_campaign(SCHEDULED).status == "cleared"

    created = control.create_campaign(
        {"id": 90_001, "type": "scheduled", "promoCode": "WELCOME50", "targetGroup": {"size": 5}}
    )
    assert created.id == 90_001 and created.targetGroup is not None
    assert control.cancel_campaign(90_001).status == "cancelled"

    emitted = control.emit_events(TRIGGERED, count=3, context={"amount": 10})
    no_unknown_fields(emitted)
    assert emitted.count == 3 and len(emitted.eventIds) == 3
    chosen = control.emit_events(TRIGGERED, customers=["C0000001", {"customerId": "C0000002"}])
    assert chosen.count == 2

    report = control.get_campaign_report(TRIGGERED)
    no_unknown_fields(report)
    assert report.eventsEmitted == 5 and report.violationCount == 0
    outbox = control.list_outbox(kind="triggered")
    no_unknown_fields(outbox)
    assert len(outbox) == 5 and all(e.campaignId == TRIGGERED for e in outbox)


def test_customers(control: ControlClient) -> None:
    computed = control.get_customer("C0000007")
    no_unknown_fields(computed)
    assert computed.index == 7 and not computed.explicit
    chosen = control.put_customer("vip-1", {"VIPLevel": "Gold", "Age": 40})
    assert chosen.explicit and chosen.attributes["VIPLevel"] == "Gold"
    assert control.get_customer("vip-1").attributes["Age"] == 40


def test_journal(control: ControlClient) -> None:
    control.get_clock()
    journal = control.get_journal(path="/_sim/clock")
    no_unknown_fields(journal)
    assert journal.enabled and journal.entries[-1].path == "/_sim/clock"
    assert [e.path for e in control.iter_journal(path="clock")][-1] == "/_sim/clock"
    assert control.set_journal(False).enabled is False
    assert control.set_journal(True).enabled is True
    control.clear_journal()
    assert control.get_journal(path="/_sim/clock").entries == []


def test_faults(control: ControlClient) -> None:
    empty = control.get_faults()
    no_unknown_fields(empty)
    assert empty.rules == []
    rule = {"target": "api", "operation": "validate_customers", "action": "error", "nth": 2}
    armed = control.set_faults([rule], seed=7)
    assert armed.seed == 7 and armed.rules[0].operation == "validate_customers"
    control.clear_faults()
    assert control.get_faults().rules == []


def test_webhook_config_secret_and_verify(control: ControlClient) -> None:
    config = control.set_webhook_config(retry_delays=[0.1, 0.2], concurrency=4)
    no_unknown_fields(config)
    assert config.retryDelays == [0.1, 0.2] and config.concurrency == 4
    assert control.get_webhook_config().concurrency == 4
    rotated = control.rotate_webhook_secret(overlap_seconds=60)
    no_unknown_fields(rotated)
    assert rotated.secret.startswith("whsec_")
    assert control.get_webhook_config().secretsInOverlap == 1
    verdict = control.verify_webhook(b"{}", {"webhook-id": "nope"})
    no_unknown_fields(verdict)
    assert verdict.valid is False and verdict.problem


def test_deliveries_attempts_and_resends(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim()
    control = ControlClient(URL, ADMIN, http=sim.client)
    listener = Listener().start()
    try:
        register(sim, listener.url())
        control.set_webhook_config(retry_delays=[0.05], time_scale=1)
        control.execute_campaign(SCHEDULED)
        summary = control.wait_for_deliveries(campaign_id=SCHEDULED, timeout=10)
        no_unknown_fields(summary)
        assert summary.pending == 0 and summary.byStatus == {"delivered": 1}

        delivered = control.list_deliveries(campaign_id=SCHEDULED)
        no_unknown_fields(delivered)
        assert [d.status for d in delivered] == ["delivered"]
        assert list(control.iter_deliveries(status="delivered")) == delivered
        event_id = delivered[0].eventId
        detail = control.get_delivery(event_id)
        no_unknown_fields(detail)
        assert detail.attemptLog[0].status == 200 and '"EventTypeID"' in detail.body
        attempts = control.list_attempts(event_id=event_id)
        no_unknown_fields(attempts)
        assert len(attempts) == 1

        assert control.resend_delivery(event_id).resent == 1
        listener.wait_for(2)
        assert control.resend_failed().resent == 0
    finally:
        listener.stop()


def test_errors_carry_the_envelope(control: ControlClient, sim: Sim) -> None:
    with pytest.raises(NotFound) as missing:
        control.get_campaign(999_999)
    assert missing.value.status == 404 and missing.value.error == "unknown_campaign"
    assert missing.value.path == "/_sim/campaigns/999999"
    assert missing.value.envelope["error"] == "unknown_campaign"

    with pytest.raises(Unauthorized) as wrong_key:
        ControlClient(URL, "no-such-key", http=sim.client).get_tenant()
    assert wrong_key.value.status == 401

    with pytest.raises(Unauthorized) as not_admin:
        ControlClient(URL, "demo-integrations-key", http=sim.client).get_tenant()
    assert not_admin.value.status == 403

    control.execute_campaign(SCHEDULED)
    with pytest.raises(Conflict) as twice:
        control.execute_campaign(SCHEDULED)
    assert twice.value.status == 409 and twice.value.message

    with pytest.raises(InvalidInput) as both:  # the model passes it, the route refuses it
        control.emit_events(TRIGGERED)
    assert both.value.status == 400 and both.value.details == {"field": "customers"}

    with pytest.raises(InvalidInput) as unsent:  # the request model refuses it unsent
        control.advance_clock(-1)
    assert unsent.value.details == {"field": "seconds", "checkedBy": "client"}

    with pytest.raises(ControlError) as unknown:
        control.get_delivery("no-such-id")
    assert unknown.value.error == "unknown_delivery"


def test_an_unreachable_simulator_is_one_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with ControlClient(url, ADMIN, timeout=2) as control:
        with pytest.raises(Unreachable) as down:
            control.health()
        assert down.value.status == 0 and url in down.value.message
        with pytest.raises(Unreachable) as never:
            control.wait_until_healthy(timeout=0.3)
        assert "did not answer /_sim/health within 0.3 s" in never.value.message


def test_the_async_client_runs_the_same_calls(sim: Sim) -> None:
    app = sim.client.app

    async def scenario() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        async with http, AsyncControlClient(URL, ADMIN, http=http) as control:
            assert (await control.wait_until_healthy(timeout=5)).status == "ok"
            assert (await control.get_tenant()).id == "demo"
            assert (await control.execute_campaign(SCHEDULED)).status == "executed"
            assert (await control.advance_clock(1)).mode == "manual"
            report = await control.get_campaign_report(SCHEDULED)
            assert report.targeted == 10_000
            entries = [e async for e in control.iter_journal(path="/_sim/campaigns")]
            assert entries and entries[-1].method == "GET"
            fresh = await control.new_tenant(builtin="demo")
            assert (await control.with_key(fresh.admin_key).get_tenant()).id == fresh.tenant_id
            with pytest.raises(NotFound):
                await control.get_customer("nobody-at-all")
            assert [d async for d in control.iter_deliveries(kind="triggered")] == []

    asyncio.run(scenario())


def test_there_is_a_method_for_every_control_operation() -> None:
    """One name per operation: every operation of contracts/control.json is a method of
    both clients (and a builder of `calls`), named as its operation id."""
    document = json.loads((Path(__file__).parents[2] / "contracts" / "control.json").read_text())
    operations = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert "execute_campaign" in operations
    for cls in (ControlClient, AsyncControlClient):
        assert operations <= set(dir(cls)), operations - set(dir(cls))
    assert operations <= set(dir(calls))
