"""`optisim faults list|add|clear`."""

from __future__ import annotations

from typing import Any, get_args

import click
from pydantic import ValidationError

from simulator.faults import FaultRule
from simulator.verbs.common import (
    Target,
    group_settings,
    option,
    out,
    print_json,
    table,
    target_options,
)

ACTIONS = list(get_args(FaultRule.model_fields["action"].annotation))


@click.group(context_settings=group_settings("faults"))
def faults() -> None:
    """The tenant's fault rules (API errors, latency, rate limits; webhook drops, delays,
    duplicates, ...), seeded: the same seed and requests give the same faults."""


def _show(target: Target, rules: list[FaultRule], seed: int | None) -> None:
    if target.as_json:
        print_json({"seed": seed, "rules": rules})
        return
    rows = [
        [
            r.target,
            r.operation,
            r.action,
            r.probability,
            r.nth,
            r.model_dump(
                mode="json",
                exclude={"target", "operation", "action", "probability", "nth"},
                exclude_defaults=True,
            ),
        ]
        for r in rules
    ]
    out.print(
        table(
            f"Fault rules (seed {seed})",
            ["target", "operation", "action", "probability", "nth", "more"],
            rows,
            numbers=False,
        )
    )


@faults.command("list")
@target_options
def list_(target: Target) -> None:
    """The fault rules in force."""
    with target.client() as sim:
        found = sim.get_faults()
    _show(target, found.rules, found.seed)


@faults.command()
@click.argument("where", type=click.Choice(["api", "webhook"]))
@click.argument("action", type=click.Choice(ACTIONS))
@option(
    "--operation",
    default="*",
    help="API: an operation id such as validate_customers; webhook: scheduled, "
    "cancelled, channel or triggered; * for all",
)
@option(
    "--probability", type=click.FloatRange(0, 1), default=None, help="fire on this share of matches"
)
@option("--nth", type=click.IntRange(1), default=None, help="fire on the Nth match only")
@option(
    "--status",
    type=click.Choice(["500", "502", "503", "504"]),
    default=None,
    help="the status an error answers with (503)",
)
@option(
    "--latency-ms",
    type=click.FloatRange(0, 60_000),
    default=None,
    help="added latency (latency, delay)",
)
@option("--seed", type=int, default=None, help="the rules' seed (keeps the current one)")
@target_options
def add(
    target: Target,
    where: str,
    action: str,
    operation: str,
    probability: float | None,
    nth: int | None,
    status: str | None,
    latency_ms: float | None,
    seed: int | None,
) -> None:
    """Add a rule: on WHERE (api or webhook), do ACTION (the rules in force stay)."""
    data: dict[str, Any] = {"target": where, "action": action, "operation": operation}
    for key, value in (("probability", probability), ("nth", nth), ("latencyMs", latency_ms)):
        if value is not None:
            data[key] = value
    if status is not None:
        data["status"] = int(status)
    try:
        rule = FaultRule.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        raise click.UsageError(
            f"{'.'.join(map(str, first['loc'])) or 'rule'}: {first['msg']}"
        ) from None
    with target.client() as sim:
        current = sim.get_faults()
        answer = sim.set_faults(
            [*current.rules, rule], seed=seed if seed is not None else current.seed
        )
    _show(target, answer.rules, answer.seed)


@faults.command()
@target_options
def clear(target: Target) -> None:
    """Remove every fault rule."""
    with target.client() as sim:
        sim.clear_faults()
    if target.as_json:
        print_json({"cleared": True})
    else:
        out.print("fault rules cleared")
