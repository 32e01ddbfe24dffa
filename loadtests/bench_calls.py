"""Per-call benchmark: the one-request paths in process, per call.

    python -m loadtests.bench_calls [--calls N] [--events N]

Two loops straight into the ASGI app (no sockets, so only the simulator's own cost is
measured), each on a fresh app:

1. validateCustomers with one context per call, distinct customers of the `large`
   scenario's executed campaign (the integrator that validates customer by customer);
2. a triggered event's path in the `demo` scenario: validateCustomers for the event, then
   its CE v2 approval (the per-event cost that bounds a triggered campaign's rate).

Prints calls/s and events/s. Run it from a checkout to measure that checkout (`python -m`
puts the working directory first on the import path), so two checkouts can be compared in
turn. A benchmark, not a test: it exits non-zero only when an answer is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from loadtests import bench_ledger
from loadtests.bench_ledger import CAMPAIGN, VALIDATE_PATH, call

TRIGGERED = 7001
TRIGGERED_VALIDATE = "/v1/promocodes/DEPOSIT10/validateCustomers"
APPROVAL_PATH = "/conditional-execution/v2/triggered/approval"
WARM_UP = 200


@asynccontextmanager
async def app_for(scenario: str) -> AsyncIterator[Any]:
    os.environ.update(SIM_SCENARIO=scenario, SIM_JOURNAL="false", SIM_STORE="memory")
    from simulator.cli import app_from_env

    app = app_from_env()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    if (await outbox.get())["type"] != "lifespan.startup.complete":
        raise RuntimeError("startup failed")
    try:
        yield app
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await lifespan


def expect(status: int, data: bytes, what: str) -> None:
    if status not in (200, 201):
        raise RuntimeError(f"{what}: {status} {data[:300]!r}")


async def single_validations(calls: int) -> float:
    async with app_for("large") as app:
        bench_ledger.KEY = b"large-admin-key"
        status, data = await call(app, "POST", f"/_sim/campaigns/{CAMPAIGN}/execute")
        expect(status, data, "execute")
        bodies = [
            orjson.dumps(
                {
                    "campaignData": {"campaignId": CAMPAIGN},
                    "contexts": [{"customerId": f"C{i:07d}"}],
                }
            )
            for i in range(300_000, 300_000 + WARM_UP + calls)
        ]
        for body in bodies[:WARM_UP]:
            await call(app, "POST", VALIDATE_PATH, body)
        started = time.perf_counter()
        for body in bodies[WARM_UP:]:
            status, data = await call(app, "POST", VALIDATE_PATH, body)
            if status != 200 or b'"valid":true' not in data:
                raise RuntimeError(f"validate: {status} {data[:300]!r}")
        return calls / (time.perf_counter() - started)


async def triggered_events(events: int) -> float:
    async with app_for("demo") as app:
        bench_ledger.KEY = b"demo-admin-key"
        customers = [f"C{i:07d}" for i in range(events)]
        body = orjson.dumps(
            {
                "customers": [
                    {"customerId": c, "context": {"depositAmount": 5000}} for c in customers
                ]
            }
        )
        status, data = await call(app, "POST", f"/_sim/campaigns/{TRIGGERED}/events", body)
        expect(status, data, "events")
        status, data = await call(
            app, "GET", "/_sim/outbox", query=f"kind=triggered&limit={events}".encode()
        )
        expect(status, data, "outbox")
        found = orjson.loads(data)
        rows = found["events"] if isinstance(found, dict) else found
        ids = [row["body"]["eventId"] for row in rows]
        bench_ledger.KEY = b"demo-integrations-key"
        started = time.perf_counter()
        for customer, event in zip(customers, ids, strict=True):
            context = {"customerId": customer, "eventId": event, "session": {"depositAmount": 5000}}
            body = orjson.dumps(
                {
                    "campaignData": {"campaignId": TRIGGERED, "campaignType": "triggered"},
                    "contexts": [context],
                }
            )
            status, data = await call(app, "POST", TRIGGERED_VALIDATE, body)
            expect(status, data, "validate")
            approval = {"campaignId": TRIGGERED, "customerId": customer, "eventId": event}
            body = orjson.dumps(approval | {"approved": True})
            status, data = await call(app, "POST", APPROVAL_PATH, body)
            expect(status, data, "approval")
        return events / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_calls", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--calls", type=int, default=10_000, help="one-context validations")
    parser.add_argument("--events", type=int, default=5_000, help="triggered events")
    args = parser.parse_args(argv)
    import simulator

    print(f"simulator from {os.path.dirname(simulator.__file__)}, memory store")
    rate = asyncio.run(single_validations(args.calls))
    print(f"validateCustomers x1: {rate:,.0f} calls/s")
    rate = asyncio.run(triggered_events(args.events))
    print(f"triggered event (validate + CE v2 approval): {rate:,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
