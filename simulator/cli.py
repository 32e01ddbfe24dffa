"""The `optisim` console script."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from rich.console import Console

from simulator import __version__
from simulator.domain.errors import DomainError
from simulator.listener_check.command import listener as contract_listener
from simulator.load.command import load as load_command
from simulator.parity.command import parity
from simulator.proxy.command import proxy

console = Console(stderr=True)


@click.group()
@click.version_option(__version__, prog_name="optisim")
def main() -> None:
    """optisim: an offline Optimove + Promotions simulator for the Advanced Control Flow."""


@main.command()
@click.option("--host", envvar="SIM_HOST", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="SIM_PORT", default=8900, show_default=True, type=int)
@click.option(
    "--store",
    envvar="SIM_STORE",
    default="memory",
    show_default=True,
    type=click.Choice(["memory", "sqlite"]),
)
@click.option(
    "--sqlite-path", envvar="SIM_SQLITE_PATH", default="optisim.sqlite", show_default=True
)
@click.option(
    "--scenario",
    envvar="SIM_SCENARIO",
    default="demo",
    show_default=True,
    help="built-in name (demo, large) or a YAML/JSON file",
)
@click.option(
    "--clock",
    envvar="SIM_CLOCK",
    default=None,
    type=click.Choice(["realtime", "manual"]),
    help="override the scenario's clock mode",
)
@click.option("--seed", envvar="SIM_SEED", default=None, type=int, help="replayable ids")
@click.option(
    "--duplicate-approvals",
    envvar="SIM_DUPLICATE_APPROVALS",
    default="reject",
    show_default=True,
    type=click.Choice(["reject", "ignore"]),
)
@click.option(
    "--workers",
    envvar="SIM_WORKERS",
    default=1,
    show_default=True,
    type=int,
    help="server processes (needs --store sqlite)",
)
@click.option("--journal/--no-journal", envvar="SIM_JOURNAL", default=True, show_default=True)
@click.option(
    "--access-log/--no-access-log", envvar="SIM_ACCESS_LOG", default=False, show_default=True
)
def serve(**options: Any) -> None:
    """Run the simulator (Optimove core, CE v2, Promotions and the /_sim control API)."""
    import uvicorn

    from simulator.serving import uvicorn_options
    from simulator.settings import SimSettings

    try:
        settings = SimSettings(**options)
        from simulator.app import startup_scenario

        scenario = startup_scenario(settings)
    except (DomainError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(2)
    base = f"http://{settings.host}:{settings.port}"
    admin = next((k.key for k in scenario.tenant.keys if k.role == "admin"), None)
    console.print(f"[bold]optisim {__version__}[/bold] serving at [cyan]{base}[/cyan]")
    console.print(
        f"  tenant [bold]{scenario.tenant.id}[/bold], scenario {settings.scenario!r}, "
        f"store {settings.store}"
    )
    for key in scenario.tenant.keys:
        console.print(f"  X-API-KEY ({key.role}): [green]{key.key}[/green]")
    if admin:
        console.print(f"  try: curl -H 'X-API-KEY: {admin}' {base}/_sim/campaigns")
    # Settings travel to worker processes through the environment (app factory below).
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"SIM_{name.upper()}"] = str(value)
    uvicorn.run(
        "simulator.cli:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level="warning",
        **uvicorn_options(settings),
    )


def app_from_env() -> Any:
    """uvicorn factory: an app built from `SIM_*` environment variables."""
    from simulator.app import create_app
    from simulator.settings import SimSettings

    return create_app(SimSettings())


@main.group()
def scenario() -> None:
    """Scenario files."""


@scenario.command("check")
@click.argument("path")
def scenario_check(path: str) -> None:
    """Validate a scenario file (or a built-in name) and summarise it."""
    from simulator.scenario import load_scenario_file

    try:
        loaded = load_scenario_file(path)
    except DomainError as error:
        console.print(f"[red]invalid:[/red] {error.message}")
        sys.exit(1)
    codes = len(loaded.promoCodes)  # added as with AddPromotions: no Promotions promotion
    plain = f"{codes} promo code{'s' * (codes != 1)} without a promotion, " if codes else ""
    console.print(
        f"[green]ok[/green]: tenant {loaded.tenant.id!r}, {loaded.population.count():,} customers "
        f"({len(loaded.population.customers):,} chosen), "
        f"{len(loaded.promotions)} promotions, {plain}{len(loaded.campaigns)} campaigns"
    )


@main.command()
@click.option(
    "--customers",
    default=10_000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="customers targeted by the scheduled campaign",
)
@click.option(
    "--events",
    default=1_000,
    show_default=True,
    type=click.IntRange(0, 100_000),
    help="triggered events fired at the listener",
)
@click.option(
    "--rate",
    default=1_000.0,
    show_default=True,
    type=click.FloatRange(1, 100_000),
    help="triggered events per second",
)
@click.option("--timeout", default=600.0, show_default=True, type=float, help="seconds")
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="also write the report as JSON",
)
@click.option("--quiet", is_flag=True, help="print only problems")
def demo(
    customers: int, events: int, rate: float, timeout: float, json_path: str | None, quiet: bool
) -> None:
    """Run the simulator and the reference client together, both flows end to end."""
    from pathlib import Path

    import orjson

    from simulator.demo import DemoOptions
    from simulator.demo import demo as run_demo

    options = DemoOptions(customers, events, rate, timeout, quiet)
    out = Console()
    try:
        result = run_demo(options, out)
    except (RuntimeError, TimeoutError) as error:
        console.print(f"[red]demo failed:[/red] {error}")
        sys.exit(1)
    if json_path:
        Path(json_path).write_bytes(orjson.dumps(result.report, option=orjson.OPT_INDENT_2))
    for problem in result.problems if quiet else ():
        console.print(f"[red]problem:[/red] {problem}")
    sys.exit(0 if result.ok else 1)


@main.group()
def contract() -> None:
    """Contract checks for your CI (README: "Use optisim in your CI")."""


contract.add_command(contract_listener)


main.add_command(load_command)  # `optisim load`: simulator/load/
main.add_command(proxy)  # `optisim proxy`: simulator/proxy/
main.add_command(parity)  # `optisim parity check`: simulator/parity/

from simulator.coverage.command import coverage as coverage_command  # noqa: E402

main.add_command(coverage_command)  # `optisim coverage`: simulator/coverage/

from simulator.stories.command import story as story_command  # noqa: E402

main.add_command(story_command)  # `optisim story list|run`: simulator/stories/
