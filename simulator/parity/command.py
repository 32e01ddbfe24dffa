"""`optisim parity check`: the click commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from simulator.control_client import ControlError
from simulator.domain.errors import DomainError
from simulator.parity.output import as_json, print_table, write_html, write_junit
from simulator.parity.replay import read_recording, replay, scenario_for, target


@click.group()
def parity() -> None:
    """Compare optisim with recordings of the real service (`optisim proxy`)."""


@parity.command("check")
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--scenario",
    default=None,
    help="the world the recording was made in (built-in name or file); default: derived "
    "from the recording over the demo world",
)
@click.option("--simulator", "simulator_url", default=None, help="replay on this optisim")
@click.option(
    "--admin-key",
    default="demo-admin-key",
    show_default=True,
    help="an admin key of that optisim (to create the fresh tenant)",
)
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="HTML report")
@click.option("--json", "as_json_flag", is_flag=True, help="print the result as JSON")
@click.option("--junit-xml", type=click.Path(dir_okay=False, path_type=Path))
def check(
    recording: Path,
    scenario: str | None,
    simulator_url: str | None,
    admin_key: str,
    report: Path | None,
    as_json_flag: bool,
    junit_xml: Path | None,
) -> None:
    """Replay RECORDING against a fresh optisim tenant and list every divergence.

    Exit status 1 when any divergence is found, 2 when the replay could not run."""
    console = Console(stderr=True)
    records = read_recording(recording)
    try:
        world, notes = scenario_for(records, scenario)
        for note in notes:
            console.print(f"derived: {note}", soft_wrap=True)
        with target(simulator_url) as url:
            result = replay(records, url, world, str(recording), admin_key)
    except (DomainError, ControlError) as exc:
        # soft_wrap: a path or id in the reason stays on one line, copyable
        console.print(f"[red]the replay could not run:[/red] {exc}", soft_wrap=True)
        sys.exit(2)
    if as_json_flag:
        click.echo(json.dumps(as_json(result), indent=2, default=str))
    else:
        print_table(result, console)
    if report is not None:
        write_html(result, report)
    if junit_xml is not None:
        write_junit(result, junit_xml)
    sys.exit(1 if result.divergences else 0)
