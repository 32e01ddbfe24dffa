"""The `optisim` console script."""

from __future__ import annotations

import os
import signal
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
@click.option("--host", show_envvar=True, envvar="SIM_HOST", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    show_envvar=True,
    envvar="SIM_PORT",
    default=8900,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port (the banner and --ready-file give the real URL)",
)
@click.option(
    "--store",
    show_envvar=True,
    envvar="SIM_STORE",
    default="memory",
    show_default=True,
    type=click.Choice(["memory", "sqlite"]),
)
@click.option(
    "--sqlite-path",
    show_envvar=True,
    envvar="SIM_SQLITE_PATH",
    default="optisim.sqlite",
    show_default=True,
)
@click.option(
    "--scenario",
    show_envvar=True,
    envvar="SIM_SCENARIO",
    default="demo",
    show_default=True,
    help="built-in name (demo, large) or a YAML/JSON file",
)
@click.option(
    "--clock",
    show_envvar=True,
    envvar="SIM_CLOCK",
    default=None,
    type=click.Choice(["realtime", "manual"]),
    help="override the scenario's clock mode",
)
@click.option(
    "--seed", show_envvar=True, envvar="SIM_SEED", default=None, type=int, help="replayable ids"
)
@click.option(
    "--duplicate-approvals",
    show_envvar=True,
    envvar="SIM_DUPLICATE_APPROVALS",
    default="reject",
    show_default=True,
    type=click.Choice(["reject", "ignore"]),
)
@click.option(
    "--workers",
    show_envvar=True,
    envvar="SIM_WORKERS",
    default=1,
    show_default=True,
    type=int,
    help="server processes (needs --store sqlite)",
)
@click.option(
    "--journal/--no-journal",
    show_envvar=True,
    envvar="SIM_JOURNAL",
    default=True,
    show_default=True,
)
@click.option(
    "--access-log/--no-access-log",
    show_envvar=True,
    envvar="SIM_ACCESS_LOG",
    default=False,
    show_default=True,
)
@click.option(
    "--ready-file",
    show_envvar=True,
    envvar="OPTISIM_READY_FILE",
    default=None,
    type=click.Path(dir_okay=False, writable=True),
    help="once the server answers, write {url, admin_key, integrations_key, "
    "webhook_secret, pid} to this JSON file (removed when the server stops)",
)
@click.option(
    "--quiet",
    show_envvar=True,
    envvar="OPTISIM_QUIET",
    is_flag=True,
    help="no banner (for processes optisim starts)",
)
def serve(ready_file: str | None, quiet: bool, **options: Any) -> None:
    """Run the simulator (Optimove core, CE v2, Promotions and the /_sim control API)."""
    import uvicorn
    from pydantic import ValidationError
    from uvicorn.supervisors import Multiprocess

    from simulator.server_process import StartError, bind_socket, watch_parent
    from simulator.serving import uvicorn_options
    from simulator.settings import SimSettings, explain

    try:
        settings = SimSettings(**options)
        from simulator.app import startup_scenario

        scenario = startup_scenario(settings)
    except ValidationError as error:
        console.print(f"[red]error:[/red] {explain(error)}", soft_wrap=True, markup=True)
        sys.exit(2)
    except (DomainError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        sys.exit(2)
    try:  # bound before the banner: a port in use is an error, not "serving at"
        sock = bind_socket(settings.host, settings.port)
    except (StartError, OSError) as error:
        console.print(f"[red]error:[/red] {error}", soft_wrap=True)
        sys.exit(2)
    port = sock.getsockname()[1]
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    base = f"http://{host}:{port}"
    keys = {key.role: key.key for key in scenario.tenant.keys}
    admin = keys.get("admin")
    if not quiet:
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
    os.environ["SIM_PORT"] = str(port)
    watch_parent()
    if ready_file:
        ready = {
            "url": base,
            "admin_key": admin,
            "integrations_key": keys.get("integrations"),
            "webhook_secret": scenario.tenant.webhookSecret,
            "pid": os.getpid(),
        }
        _write_when_ready(f"{base}/_sim/health", ready_file, ready)
    config = uvicorn.Config(
        "simulator.cli:app_from_env",
        factory=True,
        host=settings.host,
        port=port,
        workers=settings.workers,
        access_log=settings.access_log,
        log_level="warning",
        **uvicorn_options(settings),
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the
    # handler found at start: make that one an exit that runs the `finally` below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if settings.workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            config.load_app()
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if ready_file:
            from pathlib import Path

            Path(ready_file).unlink(missing_ok=True)


def _write_when_ready(health_url: str, path: str, ready: dict[str, Any]) -> None:
    """A thread that writes `ready` to `path` (atomically) once `health_url` answers 200."""
    import json
    import threading
    import time
    from pathlib import Path

    import httpx

    def poll() -> None:
        for _ in range(1200):  # two minutes
            try:
                if httpx.get(health_url, timeout=2.0).status_code == 200:
                    target = Path(path)
                    partial = target.with_name(target.name + ".partial")
                    partial.write_text(json.dumps(ready, indent=2) + "\n", "utf-8")
                    partial.replace(target)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    threading.Thread(target=poll, name="optisim-ready-file", daemon=True).start()


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
    import time
    from pathlib import Path

    import orjson

    from simulator.demo import DemoOptions
    from simulator.demo import demo as run_demo
    from simulator.server_process import stop_on_signals

    options = DemoOptions(customers, events, rate, timeout, quiet)
    out = Console(width=None if sys.stdout.isatty() else 200)  # a log keeps numbers whole
    started = time.monotonic()
    try:
        with stop_on_signals():
            result = run_demo(options, out)
    except KeyboardInterrupt:
        console.print(
            f"[yellow]demo interrupted[/yellow] after {time.monotonic() - started:.1f} s: "
            "the simulator and the reference client are stopped; no report"
        )
        sys.exit(130)
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


from simulator.verbs.command import VERBS  # noqa: E402  (the verbs: simulator/verbs/)

for verb in VERBS:
    main.add_command(verb)


def _show_envvars(command: click.Command) -> None:
    """Every option's help names its environment variable: its own (`SIM_PORT`,
    `OPTISIM_URL`) or click's automatic `OPTISIM_<COMMAND>_<OPTION>`."""
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in ("help", "version"):
            param.show_envvar = True
    for sub in getattr(command, "commands", {}).values():
        _show_envvars(sub)


main.context_settings["auto_envvar_prefix"] = "OPTISIM"
_show_envvars(main)
