"""`optisim events emit CAMPAIGN --count N [--rate R] [--customer ID ...]`."""

from __future__ import annotations

import click

from simulator.verbs.common import (
    Target,
    group_settings,
    option,
    out,
    print_json,
    target_options,
)


@click.group(context_settings=group_settings("events"))
def events() -> None:
    """Customer events of triggered campaigns."""


@events.command()
@click.argument("campaign", type=int)
@option("--count", type=click.IntRange(1, 100_000), default=None, help="generated customers")
@option(
    "--rate",
    type=click.FloatRange(0, 100_000, min_open=True),
    default=None,
    help="events per second (paces their webhooks); default: all at once",
)
@option(
    "--customer",
    "customers",
    multiple=True,
    help="a customer id (repeat for more); instead of --count",
)
@target_options
def emit(
    target: Target, campaign: int, count: int | None, rate: float | None, customers: tuple[str, ...]
) -> None:
    """Emit customer events for triggered CAMPAIGN: one CE v2 webhook each."""
    if count is None and not customers:
        raise click.UsageError("give --count N or --customer ID (one or more)")
    if count is not None and customers:
        raise click.UsageError("give --count or --customer, not both")
    with target.client() as sim:
        emitted = sim.emit_events(
            campaign, count=count, customers=list(customers) or None, rate=rate
        )
    if target.as_json:
        print_json(emitted)
    else:
        pace = f" at {rate:,g}/s" if rate else ""
        out.print(f"emitted {emitted.count:,} events for campaign {campaign}{pace}")
