"""One `optisim load` run: start what is missing, run locust, judge, summarise.

Exit status: 0 when every threshold holds and the scenario's checks pass, 1 when one is
broken (or locust reported an error), 2 when the run could not be set up.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from simulator.load.processes import (
    Child,
    StartError,
    start_reference_client,
    start_simulator,
    wait_registered,
)
from simulator.load.reports import Thresholds, judge, print_summary, read_stats
from simulator.load.scenarios import DEMO_SECRET, INTEGRATIONS, Plan

GRACE_S = 120.0  # locust's own start, the settle time and the audit, beyond --run-time


@dataclass(frozen=True)
class Integrator:
    """Where the run's simulator and integrator are, or how to start them."""

    simulator_url: str | None = None
    store: str = "memory"
    api_key: str = INTEGRATIONS
    webhook_secret: str = DEMO_SECRET


def run(plan: Plan, where: Integrator, limits: Thresholds, console: Console, wrk: bool) -> int:
    plan.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    scenario = plan.scenario
    children: list[Child] = []
    try:
        url = where.simulator_url
        if url is None:
            simulator, url = start_simulator(plan.out, where.store)
            children.append(simulator)
            console.print(f"simulator started at {url} (log: {simulator.log})")
        if scenario.listener is not None and plan.listener_url is None:
            client, listener = start_reference_client(
                plan.out, url, where.api_key, where.webhook_secret
            )
            children.append(client)
            wait_registered(url, plan.admin_key, listener, 30.0)
            console.print(f"reference client listening at {listener} (log: {client.log})")
        console.print(
            f"running [bold]{scenario.name}[/bold] against {url}: {plan.users} users, "
            f"{plan.run_time_s:g} s{f' ({plan.shape} shape)' if scenario.shaped else ''}; "
            f"locust log: {plan.out / 'locust.log'}"
        )
        locust = Child("locust", plan.argv(url), plan.out / "locust.log", {})
        children.append(locust)  # stopped too if this process is interrupted
        try:
            code = locust.wait(plan.run_time_s + plan.settle_s + GRACE_S)
        except subprocess.TimeoutExpired:
            console.print("[red]locust did not finish in time: stopped[/red]")
            code = -1
        ceiling = wrk_rate(url, plan.users, plan.run_time_s) if wrk else None
        if wrk and ceiling is None:
            console.print("wrk: skipped (not installed, or it gave no figure)")
    except StartError as error:
        console.print(f"[red]could not start:[/red] {error}")
        return 2
    finally:
        for child in reversed(children):
            child.stop()
    return judge_run(plan, code, limits, console, ceiling, started)


def judge_run(
    plan: Plan,
    code: int,
    limits: Thresholds,
    console: Console,
    wrk: float | None = None,
    started: float = 0.0,
) -> int:
    """Read what locust wrote, print the summary, and say how the run went."""
    stats = plan.out / "locust_stats.csv"
    if not stats.exists():
        tail = (plan.out / "locust.log").read_text("utf-8", errors="replace")[-3000:]
        console.print(f"[red]locust wrote no statistics (exit {code}):[/red]\n{tail}")
        return 2
    rows = read_stats(stats)
    results: dict[str, Any] | None = None
    if plan.results.exists():
        results = json.loads(plan.results.read_text("utf-8"))
    if wrk is not None:  # the same route, the same connections, right after locust
        total = next((r for r in rows if r.total), None)
        results = {**(results or {}), "wrk": {"requestsPerSecond": wrk}}
        if total is not None and total.rps:
            results["wrk"]["locustShareOfWrk"] = round(total.rps / wrk, 3)
        plan.results.write_text(json.dumps(results, indent=2), "utf-8")
    verdicts = judge(rows, limits)
    problems = []
    if results is not None and "error" in results:
        problems.append(f"the scenario's setup failed: {results['error']}")
    if code not in (0, 1):
        problems.append(f"locust exited with {code} (see {plan.out / 'locust.log'})")
    raised = _exceptions(plan.out / "locust_exceptions.csv")
    if raised:
        problems.append(f"the locustfile raised {raised} exception(s) (locust_exceptions.csv)")
    print_summary(console, plan.scenario.name, rows, results, verdicts)
    for problem in problems:
        console.print(f"[red]problem:[/red] {problem}")
    # Only what this run wrote (a reused --out may hold an earlier run's files).
    written = [
        p
        for p in (plan.html, plan.out / "locust_stats.csv", plan.results)
        if p.exists() and p.stat().st_mtime >= started - 1
    ]
    console.print(f"reports: {', '.join(str(p) for p in written) or 'none written'}")
    broken = [v for v in verdicts if not v.ok]
    if problems and results is not None and "error" in results:
        return 2
    if broken or problems:
        console.print(f"[red]FAILED[/red]: {len(broken)} threshold(s) broken")
        return 1
    console.print("[green]passed[/green]")
    return 0


def _exceptions(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open(newline="", encoding="utf-8") as f:
        return sum(int(row.get("Count") or 0) for row in csv.DictReader(f))


def wrk_rate(url: str, connections: int, seconds: float) -> float | None:
    """wrk's requests per second on the health route (None when wrk is not installed)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    argv = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"{url}/_sim/health"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    except subprocess.TimeoutExpired:
        return None
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None
