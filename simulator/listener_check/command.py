"""The click command `optisim contract listener` (registered in `simulator.cli`).

Exit status: 0 every check passed (skipped ones aside), 1 a check failed, 2 the check
could not run (bad options, the simulator could not be started or driven).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from simulator.listener_check.model import Report

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{16,}={0,2}$")  # the simulator's own secret rule


def _secret(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not SECRET.match(value):
        raise click.BadParameter("expected a Standard Webhooks secret: whsec_<base64>")
    return value


def _kinds(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from simulator.listener_check.probes import KINDS

    kinds = tuple(k.strip() for k in value.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise click.BadParameter(f"a comma-separated subset of {','.join(KINDS)}")
    return kinds


@click.command("listener")
@click.option("--url", required=True, help="base URL of your webhook listener")
@click.option(
    "--scheduled-path",
    default="/optimove/events",
    show_default=True,
    help="path of your EventTypeID 5 listener (scheduled campaign executed)",
)
@click.option(
    "--cancelled-path",
    default=None,
    help="path of your EventTypeID 4 listener  [default: --scheduled-path]",
)
@click.option(
    "--channel-path",
    default=None,
    help="path of your EventTypeID 13 listener (campaign sent on a channel; registered "
    "for each channel of the scheduled campaign)  [default: --scheduled-path]",
)
@click.option(
    "--triggered-path",
    default="/optimove/triggered",
    show_default=True,
    help="path of your CE v2 (triggered) webhook",
)
@click.option(
    "--kinds",
    default="scheduled,cancelled,channel,triggered",
    show_default=True,
    callback=_kinds,
    help="webhook kinds to check",
)
@click.option(
    "--secret",
    envvar="OPTISIM_WEBHOOK_SECRET",
    default=None,
    callback=_secret,
    help="the whsec_ secret your listener verifies with; enables the signature "
    "checks [env OPTISIM_WEBHOOK_SECRET]",
)
@click.option(
    "--triggered-secret",
    envvar="OPTISIM_TRIGGERED_SECRET",
    default=None,
    callback=_secret,
    help="the CE v2 registration's own secret, if it has one",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="seconds a listener may take to answer (the sender's timeout)",
)
@click.option(
    "--with-simulator",
    is_flag=True,
    help="also run both flows against a simulator and audit the integrator",
)
@click.option(
    "--simulator-url", default=None, help="use this running simulator (implies --with-simulator)"
)
@click.option(
    "--simulator-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="start the simulator on this port (implies --with-simulator)",
)
@click.option(
    "--admin-key",
    envvar="OPTISIM_ADMIN_KEY",
    default="demo-admin-key",
    show_default=True,
    help="admin key of --simulator-url",
)
@click.option(
    "--customers",
    default=200,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="customers in the scheduled campaign",
)
@click.option(
    "--events",
    default=20,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="triggered events fired",
)
@click.option(
    "--wait",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="seconds to wait for the integrator to settle",
)
@click.option(
    "--settle",
    default=2.0,
    show_default=True,
    type=click.FloatRange(0.1, 120),
    help="seconds without a request from the integrator that count as settled",
)
@click.option(
    "--junit-xml",
    "junit_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="write a JUnit XML report (one testcase per check)",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="write the report as JSON",
)
@click.option("--quiet", is_flag=True, help="print only the findings and the verdict")
def listener(
    url: str,
    scheduled_path: str,
    cancelled_path: str | None,
    channel_path: str | None,
    triggered_path: str,
    kinds: tuple[str, ...],
    secret: str | None,
    triggered_secret: str | None,
    timeout: float,
    with_simulator: bool,
    simulator_url: str | None,
    simulator_port: int | None,
    admin_key: str,
    customers: int,
    events: int,
    wait: float,
    settle: float,
    junit_path: str | None,
    json_path: str | None,
    quiet: bool,
) -> None:
    """Check your webhook listener at URL against the listener contract; with
    --with-simulator, also run a scheduled campaign and triggered events against your
    integration and audit what it did. Exit status 0 passed, 1 failed, 2 could not run."""
    import asyncio

    from rich.console import Console
    from rich.markup import escape

    from simulator.listener_check.output import print_report, write_json, write_junit
    from simulator.listener_check.runner import (
        CheckAborted,
        ListenerCheckOptions,
        run_listener_check,
    )

    if simulator_url and simulator_port:
        raise click.UsageError("give --simulator-url or --simulator-port, not both")
    for name, value in (("--url", url), ("--simulator-url", simulator_url)):
        if value is not None and not value.startswith(("http://", "https://")):
            raise click.BadParameter("must be an http(s) URL", param_hint=name)
    options = ListenerCheckOptions(
        url=url,
        scheduled_path=scheduled_path,
        cancelled_path=cancelled_path,
        channel_path=channel_path,
        triggered_path=triggered_path,
        kinds=kinds,
        secret=secret,
        triggered_secret=triggered_secret,
        timeout_s=timeout,
        with_simulator=with_simulator or bool(simulator_url or simulator_port),
        simulator_url=simulator_url,
        simulator_port=simulator_port,
        admin_key=admin_key,
        customers=customers,
        events=events,
        wait_s=wait,
        settle_s=settle,
    )
    out = Console()
    err = Console(stderr=True)

    def say(message: str) -> None:
        if not quiet:
            err.print(message, markup=False, highlight=False, soft_wrap=True)

    from simulator.server_process import stop_on_signals

    try:
        with stop_on_signals():
            report = asyncio.run(run_listener_check(options, say))
    except KeyboardInterrupt:
        err.print("interrupted: the simulator this check started is stopped")
        sys.exit(130)
    except CheckAborted as exc:
        err.print(f"[red]could not run the check:[/red] {escape(str(exc))}", soft_wrap=True)
        sys.exit(2)
    if junit_path:
        write_junit(report, junit_path)
    if json_path:
        write_json(report, json_path)
    if quiet:
        _print_quiet(report)
    else:
        print_report(report, out)
    sys.exit(0 if report.ok else 1)


def _print_quiet(report: Report) -> None:
    """Plain lines, never wrapped: CI logs are searched and copied from."""
    for c in report.failed:
        click.echo(f"FAIL {c.id}: {c.detail}")
        for line in c.evidence:
            click.echo(f"    {line}")
    click.echo("passed" if report.ok else "failed")
