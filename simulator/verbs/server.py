"""`optisim wait` (until a simulator answers) and `optisim collect` (everything a CI run
should keep, as JSON files)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from simulator.control_client import ControlClient, ControlError
from simulator.control_models import Attempt
from simulator.verbs.common import (
    DEFAULT_URL,
    Target,
    err,
    group_settings,
    jsonable,
    option,
    out,
    print_json,
    target_options,
)

PAGE = 1000


def _read_ready(path: Path, deadline: float) -> dict[str, Any] | None:
    """The ready file `optisim serve --ready-file` writes, once it is there."""
    while True:
        try:
            data: dict[str, Any] = json.loads(path.read_text("utf-8"))
            return data
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


def _outputs(url: str, ready: dict[str, Any], style: str) -> list[str]:
    values = {
        "url": url,
        "admin-key": ready.get("admin_key"),
        "integrations-key": ready.get("integrations_key"),
        "webhook-secret": ready.get("webhook_secret"),
    }
    if style == "env":
        names = {"url": "OPTISIM_URL", "admin-key": "OPTISIM_ADMIN_KEY"}
        return [f"{names[k]}={v}" for k, v in values.items() if k in names and v is not None]
    return [f"{k}={v if v is not None else ''}" for k, v in values.items()]


@click.command(context_settings=group_settings("wait"))
@click.argument("url", required=False)
@option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="wait for this file (optisim serve --ready-file) and for the URL it names",
)
@option("--timeout", type=click.FloatRange(0), default=60.0, help="seconds")
@option(
    "--print",
    "print_as",
    type=click.Choice(["url", "json", "github-output", "env"]),
    default="url",
    help="what to print once it answers: the URL; the ready file's JSON; "
    "url=, admin-key=, integrations-key=, webhook-secret= lines (append to "
    "$GITHUB_OUTPUT); or OPTISIM_URL= and OPTISIM_ADMIN_KEY= lines (append to $GITHUB_ENV)",
)
@option(
    "--json",
    "as_json",
    envvar="OPTISIM_JSON",
    is_flag=True,
    default=False,
    help="the same as --print json",
)
def wait(
    url: str | None, ready_file: str | None, timeout: float, print_as: str, as_json: bool
) -> None:
    """Wait until the simulator at URL (default: $OPTISIM_URL, else the ready file's URL,
    else http://127.0.0.1:8900) answers /_sim/health. Exit status 0 once it does, 1 when
    --timeout passes first."""
    import os

    deadline = time.monotonic() + timeout
    ready: dict[str, Any] = {}
    if ready_file:
        found = _read_ready(Path(ready_file), deadline)
        if found is None:
            err.print(f"[red]timed out[/red]: {ready_file} not written within {timeout:g} s")
            sys.exit(1)
        ready = found
    url = (url or ready.get("url") or os.environ.get("OPTISIM_URL") or DEFAULT_URL).rstrip("/")
    with ControlClient(url) as sim:
        try:
            health = sim.wait_until_healthy(timeout=max(0.0, deadline - time.monotonic()))
        except ControlError as error:
            err.print(f"[red]timed out[/red]: {error.message}")
            sys.exit(1)
    if print_as == "json" or as_json:
        print_json({"url": url, **ready, "health": health})
    elif print_as in ("github-output", "env"):
        print("\n".join(_outputs(url, ready, print_as)))
    else:
        print(url)


def _attempts(sim: ControlClient) -> list[Attempt]:
    found: list[Attempt] = []
    after = 0.0
    while True:
        page = sim.list_attempts(after=after, limit=PAGE)
        found += page
        if len(page) < PAGE:
            return found
        after = page[-1].at


@click.command(context_settings=group_settings("collect"))
@option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    required=True,
    help="the directory to write to (made if missing)",
)
@target_options
def collect(target: Target, out_dir: str) -> None:
    """Save the tenant's journal, deliveries, delivery attempts, fault rules and every
    campaign's audit as JSON files under --out (for CI artefacts)."""
    root = Path(out_dir)
    (root / "campaigns").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(name: str, value: Any) -> None:
        path = root / name
        path.write_text(json.dumps(jsonable(value), indent=2) + "\n", "utf-8")
        written.append(path)

    with target.client() as sim:
        save("tenant.json", sim.get_tenant())
        save("journal.json", list(sim.iter_journal()))
        save("deliveries.json", list(sim.iter_deliveries()))
        save("attempts.json", _attempts(sim))
        save("deliveries-summary.json", sim.summarize_deliveries())
        save("faults.json", sim.get_faults())
        for campaign in sim.list_campaigns():
            save(f"campaigns/{campaign.id}.json", sim.get_campaign_report(campaign.id))
    if target.as_json:
        print_json({"out": str(root), "files": [str(p) for p in written]})
    else:
        out.print(f"wrote {len(written)} files to {root}:")
        for path in written:
            out.print(f"  {path}", highlight=False)
