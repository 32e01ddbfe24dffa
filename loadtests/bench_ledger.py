"""Ledger benchmark: the two batch routes in process, per customer, and memory held.

    python -m loadtests.bench_ledger [--customers N] [--only validate|update]

Loads the `large` scenario into one app (memory store by default, `--store sqlite` for the
SQLite one), executes campaign 9001 and then, in blocks of 10,000 customers, validates each
block in 10 calls of 1,000 contexts and approves it in one call of 10,000 items, through the
ASGI app itself (no sockets, so only the simulator's own cost is measured). Prints
customers/s of each route and the RSS the process gained per allocation held (validated
and approved), after a garbage collection.

Run it from a checkout to measure that checkout (`python -m` puts the working directory
first on the import path), so two checkouts can be compared with the same interpreter.
A benchmark, not a test: it exits non-zero only when an answer is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from typing import Any

import orjson

KEY = b"large-admin-key"
CAMPAIGN = 9001
VALIDATE_PATH = "/v1/promocodes/MEGA10/validateCustomers"
UPDATE_PATH = "/current/integrations/UpdateCustomerPromotionStatus"
BLOCK = 10_000
BATCH = 1_000


def customer_id(index: int) -> str:
    return f"C{index:07d}"


def validate_body(indices: range) -> bytes:
    contexts = [{"customerId": customer_id(i)} for i in indices]
    return orjson.dumps({"campaignData": {"campaignId": CAMPAIGN}, "contexts": contexts})


def update_body(indices: range) -> bytes:
    items = [{"CustomerID": customer_id(i), "Status": True} for i in indices]
    return orjson.dumps(
        {"TimeStamp": "2026-11-27 10:00:00", "CampaignID": CAMPAIGN, "PromosUpdated": items}
    )


async def call(
    app: Any, method: str, path: str, body: bytes = b"", query: bytes = b""
) -> tuple[int, bytes]:
    """One request straight into the ASGI app."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: the app answers first
        raise AssertionError("unreachable")

    status = 0
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    headers = [(b"host", b"bench"), (b"x-api-key", KEY), (b"content-type", b"application/json")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return status, b"".join(chunks)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def run(customers: int, only: str | None) -> None:
    from simulator.cli import app_from_env

    app = app_from_env()
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(app({"type": "lifespan"}, inbox.get, outbox.put))
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"startup failed: {started}")
    status, data = await call(app, "POST", f"/_sim/campaigns/{CAMPAIGN}/execute")
    if status != 200:
        raise RuntimeError(f"execute: {status} {data[:300]!r}")
    # warm-up (the population's name pools, the routes), reserving nothing
    warm = validate_body(range(BATCH))
    status, data = await call(app, "POST", VALIDATE_PATH, warm, b"dryRun=true")
    if status != 200:
        raise RuntimeError(f"warm-up: {status} {data[:300]!r}")
    gc.collect()
    rss0 = rss_bytes()
    validate_s = update_s = 0.0
    for start in range(0, customers, BLOCK):
        bodies = [validate_body(range(b, b + BATCH)) for b in range(start, start + BLOCK, BATCH)]
        approve = update_body(range(start, start + BLOCK))
        t0 = time.perf_counter()
        for body in bodies:
            status, data = await call(app, "POST", VALIDATE_PATH, body)
            if status != 200 or data.count(b'"valid":true') != BATCH:
                raise RuntimeError(f"validate: {status} {data[:300]!r}")
        validate_s += time.perf_counter() - t0
        if only == "validate":
            continue
        t0 = time.perf_counter()
        status, data = await call(app, "POST", UPDATE_PATH, approve)
        update_s += time.perf_counter() - t0
        if status != 200:
            raise RuntimeError(f"update: {status} {data[:300]!r}")
    gc.collect()
    held = rss_bytes() - rss0
    print(f"validateCustomers x{BATCH:,}: {customers / validate_s:,.0f} customers/s")
    if update_s:
        print(f"UpdateCustomerPromotionStatus x{BLOCK:,}: {customers / update_s:,.0f} customers/s")
    print(
        f"RSS gained holding {customers:,} allocations: {held / 1e6:,.1f} MB, "
        f"{held / customers:,.0f} bytes per allocation (RSS now {rss_bytes() / 1e6:,.1f} MB)"
    )
    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await lifespan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_ledger", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--customers", type=int, default=100_000, help="a multiple of 10,000, at most 1,000,000"
    )
    parser.add_argument("--only", choices=("validate", "update"), default=None)
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    args = parser.parse_args(argv)
    customers = min(1_000_000, max(BLOCK, args.customers // BLOCK * BLOCK))
    os.environ.update(SIM_SCENARIO="large", SIM_JOURNAL="false", SIM_STORE=args.store)
    if args.store == "sqlite":
        import tempfile

        os.environ["SIM_SQLITE_PATH"] = os.path.join(tempfile.mkdtemp(), "bench.db")
    import simulator

    print(f"simulator from {os.path.dirname(simulator.__file__)}, {args.store} store")
    asyncio.run(run(customers, args.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
