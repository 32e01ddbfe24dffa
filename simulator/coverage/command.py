"""`optisim coverage`: exit 0 when the requirements hold, 1 when they do not, 2 when the
simulator could not be read."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from simulator.control_client import ControlClient, ControlError


@click.command("coverage")
@click.option(
    "--simulator-url",
    envvar="OPTISIM_URL",
    default="http://127.0.0.1:8900",
    show_default=True,
    help="the simulator the integrator called [env OPTISIM_URL]",
)
@click.option(
    "--admin-key",
    envvar="OPTISIM_ADMIN_KEY",
    default="demo-admin-key",
    show_default=True,
    help="an admin key of the tenant [env OPTISIM_ADMIN_KEY]",
)
@click.option(
    "--campaign",
    "campaign_id",
    type=click.IntRange(1),
    default=None,
    help="only what happened on this campaign",
)
@click.option(
    "--min",
    "min_ratio",
    type=click.FloatRange(0, 1),
    default=None,
    help="fail when fewer than this share of the rules were exercised (0.4 = 40 %)",
)
@click.option(
    "--require",
    multiple=True,
    metavar="RULE",
    help="fail unless RULE was exercised (repeatable; a glob: 'validate.*')",
)
@click.option("--all", "show_all", is_flag=True, help="list uncovered rules too")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the report as JSON",
)
@click.option(
    "--junit-xml",
    "junit_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="write JUnit XML (one testcase per rule, one for the verdict)",
)
def coverage(
    simulator_url: str,
    admin_key: str,
    campaign_id: int | None,
    min_ratio: float | None,
    require: tuple[str, ...],
    show_all: bool,
    json_path: str | None,
    junit_path: str | None,
) -> None:
    """Which of the simulator's business rules your integrator's traffic exercised: every
    validation reason, approval refusal, tier, lifecycle edge, injected fault and your
    answer to it (retried, reconciled, gave up), webhook deduplication and refusals."""
    from simulator.coverage.report import print_table, problems, write_json, write_junit

    out, err = Console(), Console(stderr=True)
    try:
        body = fetch(simulator_url, admin_key, campaign_id)
    except ControlError as exc:
        err.print(f"[red]could not read the coverage:[/red] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    failures = problems(body, min_ratio, list(require))
    print_table(body, out, show_all=show_all)
    if json_path:
        write_json(body, failures, json_path)
    if junit_path:
        write_junit(body, failures, junit_path)
    for problem in failures:
        out.print(f"[bold red]✗[/bold red] {escape(problem)}")
    raise SystemExit(1 if failures else 0)


def fetch(url: str, admin_key: str, campaign_id: int | None) -> dict[str, Any]:
    """The body of `GET /_sim/coverage` (`ControlError` when it cannot be read)."""
    with ControlClient(url, admin_key, timeout=30) as control:
        return control.get_coverage(campaign_id).model_dump()
