"""`optisim clock show|set|advance 2h`."""

from __future__ import annotations

import click

from simulator.control_client.calls import parse_duration
from simulator.control_models import Clock
from simulator.verbs.common import Target, group_settings, option, out, print_json, target_options


def _seconds(text: str) -> float:
    """DURATION as the control client reads it (`parse_duration`: 90, 90s, 5m, 2h, 1d)."""
    try:
        return parse_duration(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="DURATION") from None


def _say(target: Target, clock: Clock, what: str) -> None:
    if target.as_json:
        print_json(clock)
        return
    ran = f"; {clock.ran} execution(s)/clearance(s) ran" if clock.ran else ""
    out.print(f"{what}{clock.now} ({clock.mode} clock){ran}")


@click.group(context_settings=group_settings("clock"))
def clock() -> None:
    """The tenant's simulator clock."""


@clock.command()
@target_options
def show(target: Target) -> None:
    """The clock's time and mode."""
    with target.client() as sim:
        _say(target, sim.get_clock(), "now ")


@clock.command("set")
@click.argument("mode", type=click.Choice(["manual", "realtime"]))
@option(
    "--at",
    default=None,
    help="jump to this time (ISO 8601 with a time zone, e.g. 2026-12-01T09:00:00Z)",
)
@target_options
def set_(target: Target, mode: str, at: str | None) -> None:
    """Switch the clock to MODE (manual: time moves only by `advance`), optionally jumping
    to --at; due executions and clearances run right after."""
    with target.client() as sim:
        _say(target, sim.set_clock("manual" if mode == "manual" else "realtime", at), "now ")


@clock.command()
@click.argument("duration")
@target_options
def advance(target: Target, duration: str) -> None:
    """Move the clock forward by DURATION (2h, 90m, 45s, 1d or seconds) and run
    whatever falls due (clearances at ClearanceRequiredBy, executions at executeAt)."""
    seconds = _seconds(duration)
    with target.client() as sim:
        _say(target, sim.advance_clock(seconds), "now ")
