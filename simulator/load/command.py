"""The `optisim load` click command (registered in `simulator/cli.py`). Imports nothing
heavy until it runs, so `optisim --help` stays fast."""

from __future__ import annotations

import importlib.util
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from simulator.load.scenarios import ADMIN, DEMO_SECRET, INTEGRATIONS, SCENARIOS

SHAPES = ("spike", "step", "soak")
DEFAULT_SHAPE = {"webhook-burst": "spike", "api-capacity": "step"}


@click.command("load")
@click.argument("scenario", type=click.Choice(list(SCENARIOS)))
@click.option("--simulator-url", help="a running simulator (default: start one here)")
@click.option(
    "--listener-url",
    help="the integrator's webhook listener, registered on the simulator for the run "
    "(default: start the reference client here; it registers itself)",
)
@click.option("--admin-key", default=ADMIN, show_default=True, help="admin key of the tenant")
@click.option("--api-key", default=INTEGRATIONS, show_default=True, help="for the reference client")
@click.option("--webhook-secret", default=DEMO_SECRET, help="for the reference client")
@click.option(
    "--store",
    type=click.Choice(["memory", "sqlite"]),
    default="memory",
    show_default=True,
    help="store of the simulator started here",
)
@click.option("-u", "--users", type=click.IntRange(1), help="users (a shape's peak)")
@click.option("-t", "--run-time", type=click.FloatRange(1), help="seconds (a shape's length)")
@click.option("--shape", type=click.Choice(SHAPES), help="webhook-burst, api-capacity")
@click.option("--steps", type=click.IntRange(1, 100), default=4, show_default=True)
@click.option(
    "--events-per-call",
    type=click.IntRange(1, 10_000),
    default=10,
    show_default=True,
    help="webhook-burst: events each user asks for per second",
)
@click.option(
    "--customers",
    type=click.IntRange(100, 5_000_000),
    help="large-list (default 100,000), api-capacity (default 20,000)",
)
@click.option("--clearance-minutes", type=click.FloatRange(0.001), default=30.0, show_default=True)
@click.option("--batch", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option(
    "--settle-seconds",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="wait this long without progress before the final audit",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="report directory")
@click.option("--max-p99-ms", type=click.FloatRange(0), help="threshold: p99 of every request row")
@click.option(
    "--max-failure-ratio",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="threshold: failures / requests (audit failures count)",
)
@click.option(
    "--deadline-seconds",
    type=click.FloatRange(0, min_open=True),
    help="threshold: slowest end-to-end sample (webhook-burst, large-list)",
)
@click.option("--processes", type=int, help="locust worker processes here (-1: one per CPU)")
@click.option("--master", is_flag=True, help="be the master of workers on other machines")
@click.option("--expect-workers", type=click.IntRange(1), default=1, show_default=True)
@click.option("--master-bind-port", type=click.IntRange(1, 65535))
@click.option("--worker", is_flag=True, help="be a worker of --master-host (runs locust only)")
@click.option("--master-host", default="127.0.0.1", show_default=True)
@click.option("--master-port", type=click.IntRange(1, 65535))
@click.option("--wrk/--no-wrk", default=True, help="health-ceiling: also measure with wrk")
@click.option("--locust-arg", multiple=True, help="passed to locust as is (repeatable)")
def load(**o: Any) -> None:
    """Run a locust load scenario headless and judge it.

    \b
    webhook-burst   triggered events at the integrator's listener (spike/step/soak)
    large-list      a scheduled campaign of --customers against the integrator
    api-capacity    Optimove and Promotions routes under concurrent users
    health-ceiling  one locust process's request ceiling (and wrk's)

    Starts the simulator and the reference client unless --simulator-url and
    --listener-url are given; writes locust's CSV and HTML reports to --out; exits 1
    when a threshold is broken or the scenario's audit fails."""
    if importlib.util.find_spec("locust") is None:
        Console(stderr=True).print(
            "[red]locust is not installed[/red]: pip install 'optisim\\[load]'"
        )
        sys.exit(2)
    from simulator.load.reports import Thresholds
    from simulator.load.run import Integrator, run
    from simulator.load.scenarios import Plan, worker_argv

    scenario = SCENARIOS[o["scenario"]]
    _check(o, scenario.end_to_end, scenario.customers is not None)
    # SIGTERM (docker stop, CI cancel) unwinds like Ctrl-C: the processes started here stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    extra = list(o["locust_arg"])
    if o["worker"]:
        import subprocess

        argv = worker_argv(scenario, o["master_host"], o["master_port"], extra)
        sys.exit(subprocess.call(argv))
    clearance = float(o["clearance_minutes"])
    run_time = o["run_time"] or scenario.run_time_s or clearance * 60 + o["settle_seconds"] + 60
    stamp = time.strftime("%Y%m%d-%H%M%S")
    plan = Plan(
        scenario=scenario,
        out=o["out"] or Path("load-reports") / f"{scenario.name}-{stamp}",
        users=o["users"] or scenario.users,
        run_time_s=float(run_time),
        shape=o["shape"] or DEFAULT_SHAPE.get(scenario.name, "spike"),
        steps=o["steps"],
        events_per_call=o["events_per_call"],
        customers=o["customers"] or scenario.customers,
        clearance_minutes=clearance,
        batch=o["batch"],
        settle_s=o["settle_seconds"],
        admin_key=o["admin_key"],
        listener_url=o["listener_url"],
        processes=o["processes"],
        master=o["master"],
        expect_workers=o["expect_workers"],
        master_bind_port=o["master_bind_port"],
        extra=extra,
    )
    where = Integrator(o["simulator_url"], o["store"], o["api_key"], o["webhook_secret"])
    limits = Thresholds(o["max_p99_ms"], o["max_failure_ratio"], o["deadline_seconds"])
    wrk = o["wrk"] and scenario.name == "health-ceiling"
    console = Console()
    if not console.is_terminal:  # a CI log: room for the tables
        console = Console(width=160)
    if scenario.name == "health-ceiling" and not o["wrk"]:
        console.print("wrk: skipped (--no-wrk)")
    sys.exit(run(plan, where, limits, console, wrk))


def _check(o: dict[str, Any], end_to_end: bool, takes_customers: bool) -> None:
    if o["deadline_seconds"] is not None and not end_to_end:
        raise click.UsageError(f"--deadline-seconds does not apply to {o['scenario']}")
    if o["customers"] is not None and not takes_customers:
        raise click.UsageError(f"--customers does not apply to {o['scenario']}")
    if o["shape"] is not None and o["scenario"] not in DEFAULT_SHAPE:
        raise click.UsageError(f"--shape does not apply to {o['scenario']}")
    if o["worker"] and (o["master"] or o["processes"] is not None):
        raise click.UsageError("--worker cannot be combined with --master or --processes")
    if o["master"] and o["processes"] is not None:
        raise click.UsageError("--master cannot be combined with --processes (it is implied)")
