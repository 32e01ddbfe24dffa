"""HTTP client cost: the reason the reference client sends through aiohttp.

    python -m loadtests.bench_http_clients [--requests 4000] [--in-flight 16]

A trivial listener (`loadtests/trivial_listener.py`) runs pinned to one core; this
process, pinned to the other, POSTs a webhook-sized JSON body with N requests in flight
through (1) httpx's default pool, (2) httpx over the `httpx-aiohttp` transport when that
package is installed, (3) the reference client's own `AiohttpSender`, and prints
requests/s and client CPU per request. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from rich.console import Console
from rich.table import Table

from loadtests.bench_core import Pinning, Server, load_average
from reference_client.transport import AiohttpSender

BODY = b'{"campaignId":7001,"customerId":"C0000001","eventId":"EV_1","approved":true}'
JSON = {"Content-Type": "application/json"}


async def measure(
    send: Callable[[], Awaitable[None]], n: int, in_flight: int
) -> tuple[float, float]:
    limit = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with limit:
            await send()

    for _ in range(200):  # warm the pool
        await send()
    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(n)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return n / wall, cpu / n * 1e6


async def run(url: str, n: int, in_flight: int) -> list[tuple[str, float, float]]:
    rows = []
    async with httpx.AsyncClient(base_url=url, limits=httpx.Limits(max_connections=32)) as c:

        async def via_httpx() -> None:
            (await c.post("/x", content=BODY, headers=JSON)).raise_for_status()

        rows.append(("httpx (default pool)", *await measure(via_httpx, n, in_flight)))
    try:
        from httpx_aiohttp import AiohttpTransport  # optional: not a project dependency
    except ImportError:
        pass
    else:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=32))
        async with httpx.AsyncClient(base_url=url, transport=transport) as c:

            async def via_bridge() -> None:
                (await c.post("/x", content=BODY, headers=JSON)).raise_for_status()

            rows.append(("httpx over aiohttp", *await measure(via_bridge, n, in_flight)))
    sender = AiohttpSender(url, {}, timeout_s=10, max_connections=32)

    async def via_sender() -> None:
        reply = await sender.send("POST", "/x", None, BODY, JSON)
        assert reply.status == 200

    try:
        rows.append(("AiohttpSender (reference client)", *await measure(via_sender, n, in_flight)))
    finally:
        await sender.aclose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=16)
    args = parser.parse_args(argv)
    pinning = Pinning.detect()
    pinning.pin_client()
    listener = Server("listener", ["loadtests.trivial_listener:app"], {}, pinning)
    try:
        listener.wait_ready("/health")
        rows = asyncio.run(run(f"http://127.0.0.1:{listener.port}", args.requests, args.in_flight))
    finally:
        listener.stop()
    table = Table(
        title=f"{args.requests:,} POSTs, {args.in_flight} in flight; {pinning.describe()}"
    )
    table.add_column("client")
    table.add_column("requests/s", justify="right")
    table.add_column("client CPU µs/request", justify="right")
    for name, rate, cpu in rows:
        table.add_row(name, f"{rate:,.0f}", f"{cpu:,.0f}")
    Console().print(table)
    print(f"load average {load_average():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
