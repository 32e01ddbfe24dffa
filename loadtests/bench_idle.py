"""Idle cost benchmark (issue 17): one simulator process holding N idle tenants.

    python -m loadtests.bench_idle [--tenants 10000] [--store memory|sqlite] [--window 10]

Creates N tenants over the control API (an empty scenario each; 16 requests at a time),
reporting the creation time per tenant at the start and at the end (flat when creation is
O(1)); waits a few seconds; then measures, with nobody calling, the server process's CPU
over `--window` seconds (from /proc: targets under 5 % of a core), and then `/_sim/health`
latency (sequential calls spread over another window: target p99 under 20 ms). The
server runs pinned to one core, this client to the other. A benchmark, not a test: it
prints figures, and exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from loadtests.bench_core import HOST, BenchError, Pinning, Server, load_average

ADMIN = {"X-API-KEY": "demo-admin-key"}


async def create_tenants(url: str, n: int, concurrency: int = 16) -> list[float]:
    """Create `n` tenants; returns each creation's latency (seconds) in creation order."""
    latencies: list[float] = [0.0] * n
    next_index = 0
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=ADMIN, limits=limits, timeout=60) as c:

        async def worker() -> None:
            nonlocal next_index
            while next_index < n:
                i = next_index
                next_index += 1
                t0 = time.perf_counter()
                r = await c.post("/_sim/tenants", json={"name": f"idle-{i}"})
                if r.status_code != 201:
                    raise BenchError(f"tenant {i}: {r.status_code} {r.text[:200]}")
                latencies[i] = time.perf_counter() - t0
                if (i + 1) % 1000 == 0:
                    print(f"  {i + 1} tenants", flush=True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def health_latencies(url: str, seconds: float, rate: float = 20.0) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as c:
        c.get("/_sim/health")  # connect first
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t0 = time.perf_counter()
            if c.get("/_sim/health").status_code != 200:
                raise BenchError("health check failed")
            out.append(time.perf_counter() - t0)
            time.sleep(max(0.0, 1 / rate - out[-1]))
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    ap.add_argument("--window", type=float, default=10.0, help="seconds measured, each phase")
    ap.add_argument("--settle", type=float, default=3.0)
    args = ap.parse_args()
    pinning = Pinning.detect()
    pinning.pin_client()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SIM_STORE": args.store, "SIM_SQLITE_PATH": str(Path(tmp) / "idle.sqlite")}
        server = Server("simulator", ["simulator.cli:app_from_env", "--factory"], env, pinning)
        try:
            server.wait_ready("/_sim/health")
            url = f"http://{HOST}:{server.port}"
            t0 = time.perf_counter()
            latencies = asyncio.run(create_tenants(url, args.tenants))
            created_s = time.perf_counter() - t0
            time.sleep(args.settle)
            cpu0, w0 = server.cpu_seconds(), time.monotonic()
            time.sleep(args.window)
            idle_cpu = (server.cpu_seconds() - cpu0) / (time.monotonic() - w0)
            health = health_latencies(url, args.window)
            rss = server.rss_mb()
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            server.stop()
    k = min(1000, max(1, len(latencies) // 10))
    print(f"store {args.store}, {args.tenants} idle tenants; {pinning.describe()}")
    print(f"load average (other processes): {load_average():.2f}")
    print(
        f"tenant creation: {created_s:.1f} s in all; mean of the first {k}: "
        f"{statistics.mean(latencies[:k]) * 1000:.1f} ms, of the last {k}: "
        f"{statistics.mean(latencies[-k:]) * 1000:.1f} ms (16 at a time)"
    )
    print(f"idle CPU over {args.window:g} s: {idle_cpu * 100:.2f} % of a core (target < 5 %)")
    print(
        f"/_sim/health over {args.window:g} s ({len(health)} calls): "
        f"p50 {pct(health, 0.5) * 1000:.2f} ms, p99 {pct(health, 0.99) * 1000:.2f} ms, "
        f"max {max(health) * 1000:.2f} ms (target p99 < 20 ms)"
    )
    print(f"server RSS: {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
