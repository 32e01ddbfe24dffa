"""One event followed end to end: the simulator's webhook carries a `traceparent`, the
reference client passes its trace on with the calls it makes about the event, and the
simulator's journal records them, so each approval is found in its webhook's trace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from simulator import tracing
from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import ThreadServer, eventually
from tests.client.test_end_to_end import TRIGGERED, world


@pytest.fixture
def simulator() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server


def test_each_approval_is_in_the_trace_of_its_events_webhook(simulator: ThreadServer) -> None:
    async def scenario() -> None:
        async with world(simulator.url) as w:
            events = [
                {"customerId": f"C000000{i}", "context": {"depositAmount": 12_000}}
                for i in range(1, 4)
            ]
            await w.ok("POST", f"/_sim/campaigns/{TRIGGERED}/events", json={"customers": events})
            await eventually(
                lambda: (
                    TRIGGERED in w.integrator.summaries()
                    and w.integrator.summaries()[TRIGGERED].events_processed == 3
                ),
                what="three events",
            )
            await w.integrator.wait_idle(30)
            found = await w.ok("GET", "/_sim/deliveries", params={"kind": "triggered"})
            journal = await w.ok("GET", "/_sim/journal", params={"limit": 1000})
            outbox = await w.ok("GET", "/_sim/outbox", params={"kind": "triggered"})

        # webhook id → the customer event it carried
        event_of = {o["id"]: o["body"]["eventId"] for o in outbox["events"]}
        trace_of = {  # the trace id of each event's webhook
            event_of[d["eventId"]]: tracing.trace_id("demo", d["eventId"])
            for d in found["deliveries"]
        }
        assert len(trace_of) == 3
        approvals = [e for e in journal["entries"] if e["path"].endswith("/triggered/approval")]
        assert len(approvals) == 3
        traced = [tracing.parse(e["traceparent"] or "") for e in approvals]
        assert all(t is not None for t in traced), approvals
        assert {t[0] for t in traced if t is not None} == set(trace_of.values())
        validations = [e for e in journal["entries"] if e["path"].endswith("/validateCustomers")]
        assert validations and all(
            (tracing.parse(e["traceparent"] or "") or ("",))[0] in trace_of.values()
            for e in validations
        )

    asyncio.run(scenario())
