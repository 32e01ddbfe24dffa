"""`optisim clock show|set|advance 2h`."""

from __future__ import annotations

import re
from datetime import timedelta

import click

from simulator.control_models import Clock
from simulator.verbs.common import Target, group_settings, option, out, print_json, target_options

_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """`2h`, `90m`, `1h30m`, `45s`, `1d`, or plain seconds (`120`, `0.5`)."""
    text = text.strip().lower()
    try:
        return timedelta(seconds=float(text))
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(
            f"{text!r} is not a duration: use e.g. 2h, 90m, 1h30m, 45s, 1d or seconds"
        )
    return timedelta(seconds=sum(float(n) * _UNIT[u] for n, u in parts))


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
    """Move the clock forward by DURATION (2h, 90m, 1h30m, 45s, 1d or seconds) and run
    whatever falls due (clearances at ClearanceRequiredBy, executions at executeAt)."""
    seconds = parse_duration(duration)
    with target.client() as sim:
        _say(target, sim.advance_clock(seconds), "now ")
