"""End-to-end benchmark: the simulator and the reference client, both flows.

    python -m loadtests.bench_e2e [--customers 100000] [--events 10000] [--quick] [--json]

The simulator runs as a server process pinned to one core (in-memory store, journal off,
as in `optisim demo`); the reference client (its listener and both flows) runs in this
process, pinned to the other core. Measured, one after the other so they do not share
the cores:
1. a scheduled campaign of N customers: from the execute call (which emits the
   EventTypeID 5 webhook) to the client's last approval, with the client's time split per
   step (fetch, scrub, validate, activate, approve, redeem: the wall time during which the
   step was in progress; steps overlap, the next page is fetched while this one is worked);
2. a burst of E triggered events emitted at once: events fully handled per second (first
   emission to the last event's approval), with the webhook delivery lag the simulator saw.
Then the campaign is cleared on the clock and the simulator's audit must show no
violation. Targets (issue 4): 100,000 customers ≤ 10 s, 1,000,000 ≤ 90 s, 10,000 events
at ≥ 1,000/s. A benchmark, not a test: it exits non-zero only on errors or violations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from loadtests.bench_core import BenchError, Pinning, Server, load_average
from reference_client.loop import run as run_loop
from reference_client.summary import STEPS
from simulator.demo import ClientBeside, reference_client_beside
from simulator.server_process import SCHEDULED, TRIGGERED, demo_scenario

console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass
class Phase:
    name: str
    items: int
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


async def _until(check: Any, timeout_s: float, what: str, poll_s: float = 0.005) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(poll_s)
    raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def start_simulator(customers: int, pinning: Pinning, workdir: Path) -> Server:
    """The demo world sized to `customers`, served by a pinned process (journal off)."""
    path = workdir / "bench-scenario.yaml"
    path.write_text(yaml.safe_dump(demo_scenario(customers), sort_keys=False), "utf-8")
    env = {"SIM_SCENARIO": str(path), "SIM_STORE": "memory", "SIM_JOURNAL": "false"}
    return Server("simulator", ["simulator.cli:app_from_env", "--factory"], env, pinning)


class Harness:
    """Measures the flows of the reference client (wired as in the demo) against `sim`."""

    def __init__(self, sim: Server, side: ClientBeside) -> None:
        self.sim = sim
        self.integrator = side.integrator
        self.admin = side.admin

    async def scheduled(self, customers: int, timeout_s: float) -> Phase:
        cpu = self.sim.cpu_seconds(), time.process_time()
        started = time.time()
        (await self.admin.post(f"/_sim/campaigns/{SCHEDULED}/execute")).raise_for_status()
        summaries = self.integrator.summaries

        def done() -> bool:
            s = summaries().get(SCHEDULED)
            return s is not None and s.finished_at is not None

        await _until(done, timeout_s, "the scheduled campaign", poll_s=0.02)
        s = summaries()[SCHEDULED]
        assert s.finished_at is not None
        phase = Phase("scheduled", customers, s.finished_at.timestamp() - started)
        phase.steps = dict(s.timings)
        phase.server_cpu = self.sim.cpu_seconds() - cpu[0]
        phase.client_cpu = time.process_time() - cpu[1]
        phase.extra = {
            "targeted": s.targeted,
            "scrubbed": s.scrubbed,
            "validated": s.validated,
            "ineligible": s.ineligible,
            "approved": s.approved,
            "released": s.released,
            "errors": dict(s.errors),
        }
        if s.targeted != customers:
            raise BenchError(f"the client saw {s.targeted} of {customers} customers")
        return phase

    async def triggered(self, events: int, timeout_s: float) -> Phase:
        cpu = self.sim.cpu_seconds(), time.process_time()
        summaries = self.integrator.summaries
        started = time.perf_counter()
        body = {"count": events}
        (await self.admin.post(f"/_sim/campaigns/{TRIGGERED}/events", json=body)).raise_for_status()

        def settled() -> bool:
            s = summaries().get(TRIGGERED)
            return s is not None and s.events_processed >= events

        await _until(settled, timeout_s, "every event handled")
        seconds = time.perf_counter() - started
        s = summaries()[TRIGGERED]
        phase = Phase("triggered", events, seconds, dict(s.timings))
        phase.server_cpu = self.sim.cpu_seconds() - cpu[0]
        phase.client_cpu = time.process_time() - cpu[1]
        delivery = (await self.admin.get("/_sim/deliveries/summary")).json()
        phase.extra = {
            "approved": s.approved,
            "ineligible": s.ineligible,
            "released": s.released,
            "errors": dict(s.errors),
            "deliveries": delivery,
        }
        return phase

    async def audit(self) -> dict[int, Any]:
        await self.integrator.wait_idle(120)
        window = (await self.admin.get(f"/_sim/campaigns/{SCHEDULED}")).json()
        minutes = window["clearanceWindowMinutes"]
        await self.admin.post("/_sim/clock/advance", json={"seconds": minutes * 60 + 1})
        reports = {}
        for cid in (SCHEDULED, TRIGGERED):
            reports[cid] = (await self.admin.get(f"/_sim/campaigns/{cid}/report")).json()
        return reports


async def run(args: argparse.Namespace) -> list[Phase]:
    pinning = Pinning.detect()
    pinning.pin_client()
    console.print(
        f"[bold]bench_e2e[/bold]: {args.customers:,} customers, {args.events:,} events; "
        f"{pinning.describe()}; load average {load_average():.2f}"
    )
    with tempfile.TemporaryDirectory(prefix="optisim-bench-") as tmp:
        sim = start_simulator(args.customers, pinning, Path(tmp))
        try:
            await asyncio.to_thread(sim.wait_ready, "/_sim/health", 120.0)
            url = f"http://127.0.0.1:{sim.port}"
            async with reference_client_beside(url) as side:
                harness = Harness(sim, side)
                phases = []
                if args.customers:
                    phases.append(await harness.scheduled(args.customers, args.timeout))
                if args.events:
                    phases.append(await harness.triggered(args.events, args.timeout))
                reports = await harness.audit()
        finally:
            sim.stop()
    violations = {cid: r.get("violations") for cid, r in reports.items() if r.get("violations")}
    if violations:
        raise BenchError(f"the audit found violations: {violations}")
    return phases


def show(phases: list[Phase], load: float) -> None:
    table = Table(title=f"end to end (load average at the end {load:.2f})")
    for column in ("flow", "items", "wall s", "items/s", "sim CPU s", "client CPU s"):
        table.add_column(column, justify="right" if column != "flow" else "left")
    for p in phases:
        table.add_row(
            p.name,
            f"{p.items:,}",
            f"{p.seconds:.2f}",
            f"{p.rate:,.0f}",
            f"{p.server_cpu:.1f}",
            f"{p.client_cpu:.1f}",
        )
    console.print(table)
    steps = Table(title="client time per step (wall seconds the step was in progress)")
    steps.add_column("flow")
    for step in STEPS:
        steps.add_column(step, justify="right")
    for p in phases:
        steps.add_row(p.name, *(f"{p.steps.get(step, 0.0):.2f}" for step in STEPS))
    console.print(steps)
    for p in phases:
        console.print(f"{p.name}: {json.dumps(p.extra, default=str)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="10,000 customers, 1,000 events")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers, args.events = 10_000, 1_000
    try:
        phases = run_loop(run(args))
    except BenchError as exc:
        console.print(f"[red]error:[/red] {exc}")
        return 1
    if args.json:
        print(json.dumps([p.__dict__ | {"rate": p.rate} for p in phases], default=str))
    else:
        show(phases, load_average())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
