"""Webhook delivery benchmark: one simulator process delivering to a trivial listener.

    python -m loadtests.bench_webhooks [--quick]

The simulator (its dispatcher) runs pinned to one core, the listener
(`loadtests/trivial_listener.py`) to the other. Measured in the same run:
1. the listener's own ceiling: wrk POSTing a webhook-sized body with 64 connections;
2. a burst of N triggered events emitted at once: deliveries per second (first to last
   delivery) and delivery lag (event written → delivered) p50 / p99;
3. a paced burst (5,000 events at 2,000/s by default): the achieved rate and lag.
The ratio of (2) to (1) says how much of the listener's capacity one simulator process
can use. A benchmark, not a test: it prints figures; it exits non-zero only on errors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.table import Table

from loadtests.bench_core import HOST, BenchError, Pinning, Server, load_average

ADMIN = {"X-API-KEY": "demo-admin-key"}
BODY = (
    b'{"eventId":"EV_0123456789ab","eventTime":"2026-11-27T10:00:00.000Z","user":{"user_id":'
    b'"C0001234","is_visitor":false},"campaign":{"id":7001,"series_id":900,"action":{"id":21,'
    b'"name":"Deposit match","promo_codes":["DEPOSIT10"],"channels":[]}},"context":'
    b'{"depositAmount":12345}}'
)


@dataclass
class Burst:
    events: int
    seconds: float
    rate: float | None
    p50_ms: float | None
    p99_ms: float | None
    failed: int


def wrk_ceiling(port: int, seconds: float, cpu: int | None) -> float | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = [[{BODY.decode()}]]\n"
        )
    cmd = [wrk, "-t1", "-c64", f"-d{seconds:g}s", "-s", script.name, f"http://{HOST}:{port}/x"]
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30).stdout
    finally:
        os.unlink(script.name)
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise BenchError(f"wrk gave no rate:\n{out}")


def burst(
    client: httpx.Client, listener_url: str, events: int, rate: float | None, timeout_s: float
) -> Burst:
    """Reset the world, emit `events` triggered events (paced at `rate` if given) and wait
    until all are delivered; figures come from the simulator's own delivery log."""
    client.post("/_sim/scenario", params={"builtin": "demo"}).raise_for_status()
    client.post(
        "/conditional-execution/v2/triggered/webhooks/", json={"url": listener_url}
    ).raise_for_status()
    body: dict[str, float | int] = {"count": events}
    if rate is not None:
        body["rate"] = rate
    started = time.monotonic()
    client.post("/_sim/campaigns/7001/events", json=body).raise_for_status()
    while True:
        summary = client.get("/_sim/deliveries/summary", params={"kind": "triggered"}).json()
        done = summary["byStatus"].get("delivered", 0) + summary["byStatus"].get("failed", 0)
        if done >= events:
            break
        if time.monotonic() - started > timeout_s:
            raise BenchError(f"only {done} of {events} delivered after {timeout_s:.0f} s")
        time.sleep(0.05)
    seconds = time.monotonic() - started
    return Burst(
        events,
        seconds,
        summary["achievedRate"],
        summary["lagMs"]["p50"],
        summary["lagMs"]["p99"],
        summary["byStatus"].get("failed", 0),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small bursts (a smoke run)")
    parser.add_argument("--events", type=int, default=None, help="events in the open burst")
    parser.add_argument("--paced", type=int, default=None, help="events in the paced burst")
    parser.add_argument("--rate", type=float, default=2000.0, help="rate of the paced burst")
    args = parser.parse_args(argv)
    events = args.events or (1_000 if args.quick else 10_000)
    paced = args.paced or (500 if args.quick else 5_000)
    console = Console()
    pinning = Pinning.detect()
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu = cpus[0] if len(cpus) > 1 else None
    listener_cpu = cpus[-1] if len(cpus) > 1 else None
    taskset = pinning.taskset
    env = {"SIM_SCENARIO": "demo", "SIM_JOURNAL": "false"}
    sim = Server(
        "simulator",
        ["simulator.cli:app_from_env", "--factory"],
        env,
        Pinning(sim_cpu, None, taskset),
    )
    listener = Server(
        "listener", ["loadtests.trivial_listener:app"], {}, Pinning(listener_cpu, None, taskset)
    )
    try:
        sim.wait_ready("/_sim/health")
        listener.wait_ready("/health")
        ceiling = wrk_ceiling(listener.port, 2 if args.quick else 5, sim_cpu)
        url = f"http://{HOST}:{listener.port}/optimove/triggered"
        with httpx.Client(base_url=f"http://{HOST}:{sim.port}", headers=ADMIN, timeout=60) as c:
            burst(c, url, min(200, events), None, 60)  # warm-up: connections, code paths
            open_burst = burst(c, url, events, None, 300)
            paced_burst = burst(c, url, paced, args.rate, 300)
    finally:
        sim.stop()
        listener.stop()
    table = Table(title=f"webhook delivery (load average {load_average():.2f})")
    for col in (
        "burst",
        "events",
        "seconds",
        "deliveries/s",
        "lag p50 ms",
        "lag p99 ms",
        "failed",
        "vs listener ceiling",
    ):
        table.add_column(col, justify="right")
    for name, b in (("open", open_burst), (f"paced {args.rate:g}/s", paced_burst)):
        ratio = f"{b.rate / ceiling:.2f}x" if ceiling and b.rate else "-"
        table.add_row(
            name,
            f"{b.events:,}",
            f"{b.seconds:.2f}",
            f"{b.rate or 0:,.0f}",
            f"{b.p50_ms}",
            f"{b.p99_ms}",
            str(b.failed),
            ratio,
        )
    console.print(table)
    console.print(
        f"listener ceiling (wrk, 64 connections): "
        f"{f'{ceiling:,.0f} req/s' if ceiling else 'wrk not installed'}; "
        f"target: >= 2,000 deliveries/s from one simulator process"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"benchmark error: {error}", file=sys.stderr)
        sys.exit(1)
