"""Tenant lifecycle benchmark: creating, logging in to and deleting up to 10,000 tenants.

    .venv/bin/python -m loadtests.bench_tenants [--tenants 10000] [--store memory|sqlite]

Runs the simulator app in this process (httpx over ASGI: every request goes through the
middleware, auth, FastAPI and the store, without sockets or background tasks), creates
copies of the built-in demo (`POST /_sim/tenants {"builtin": "demo"}`) one thousand at a
time, logs in once to each new copy with its generated legacy credentials
(`/current/general/login`), and then deletes them all (`DELETE /_sim/tenants/{id}`), a
thousand at a time. Prints, per thousand, the mean milliseconds per creation, login and
deletion (flat means O(1): the 10,000th costs what the first did), with `--heap` the
Python heap the tenants hold (tracemalloc, which slows every call) before and after
deleting them, and the store's tenant count at the end.

A benchmark, not a test: it exits non-zero only when a request fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from simulator.app import create_app
from simulator.settings import SimSettings

ADMIN = {"X-API-KEY": "demo-admin-key"}
STEP = 1000


def _heap(on: bool) -> str:
    if not on:
        return "-"
    gc.collect()
    return f"{tracemalloc.get_traced_memory()[0] / 1e6:.1f}"


async def run(tenants: int, store: str, workdir: Path, heap: bool) -> Table:
    settings = SimSettings(
        store=store,
        sqlite_path=workdir / "bench.sqlite",
        journal=False,
        max_tenants=tenants + 1,
        login_limits=True,
    )
    app = create_app(settings)
    runtime = app.state.runtime
    table = Table(title=f"{tenants:,} tenants, {store} store (ms per operation, mean)")
    for column in ("tenants", "create", "login", "delete", "heap MB"):
        table.add_column(column, justify="right")
    created: list[tuple[str, str]] = []  # (tenant id, admin key)
    rows: dict[int, list[str]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        if heap:
            tracemalloc.start()
        for start in range(0, tenants, STEP):
            batch: list[tuple[str, str, str, str]] = []
            began = time.perf_counter()
            for _ in range(min(STEP, tenants - start)):
                answer = await client.post("/_sim/tenants", json={"builtin": "demo"}, headers=ADMIN)
                if answer.status_code != 201:
                    raise SystemExit(f"create: {answer.status_code} {answer.text}")
                body = answer.json()
                [user] = body["users"]
                batch.append(
                    (body["tenantId"], body["keys"]["admin"], user["username"], user["password"])
                )
            create_ms = (time.perf_counter() - began) * 1000 / len(batch)
            began = time.perf_counter()
            for _, _, username, password in batch:
                login = {"Username": username, "Password": password}
                answer = await client.post("/current/general/login", json=login)
                if answer.status_code != 200:
                    raise SystemExit(f"login: {answer.status_code} {answer.text}")
            login_ms = (time.perf_counter() - began) * 1000 / len(batch)
            created.extend((tenant_id, key) for tenant_id, key, _, _ in batch)
            rows[len(created)] = [f"{create_ms:.2f}", f"{login_ms:.2f}", "", _heap(heap)]
        for start in range(0, len(created), STEP):
            began = time.perf_counter()
            chunk = created[start : start + STEP]
            for tenant_id, key in chunk:
                answer = await client.delete(
                    f"/_sim/tenants/{tenant_id}", headers={"X-API-KEY": key}
                )
                if answer.status_code != 204:
                    raise SystemExit(f"delete: {answer.status_code} {answer.text}")
            rows[len(created) - start][2] = (
                f"{(time.perf_counter() - began) * 1000 / len(chunk):.2f}"
            )
        heap_after = _heap(heap)
        if heap:
            tracemalloc.stop()
    for count, cells in sorted(rows.items()):
        table.add_row(f"{count:,}", *cells)
    table.add_row("after deleting all", "", "", "", heap_after)
    table.caption = (
        f"delete column: the thousand deleted while that many existed; "
        f"tenants left in the store: {runtime.store.tenant_count()}"
    )
    runtime.store.close()
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument(
        "--heap", action="store_true", help="trace the Python heap too (slows every call)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as workdir:
        table = asyncio.run(run(args.tenants, args.store, Path(workdir), args.heap))
    Console(width=120).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
