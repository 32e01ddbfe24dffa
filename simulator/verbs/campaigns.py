"""`optisim campaigns list|show|execute|cancel|clear`."""

from __future__ import annotations

import click

from simulator.control_models import Campaign
from simulator.verbs.common import (
    Target,
    fields,
    group_settings,
    out,
    print_json,
    table,
    target_options,
)

COLUMNS = ["id", "type", "status", "promo code", "target group", "executed", "clearance by"]


def _row(c: Campaign) -> list[object]:
    size = c.targetGroup.size if c.targetGroup is not None else None
    return [str(c.id), c.type, c.status, c.promoCode, size, c.executedAt, c.clearanceRequiredBy]


@click.group(context_settings=group_settings("campaigns"))
def campaigns() -> None:
    """The tenant's campaigns: list, show, execute, cancel, clear."""


@campaigns.command("list")
@target_options
def list_(target: Target) -> None:
    """Every campaign of the tenant."""
    with target.client() as sim:
        found = sim.list_campaigns()
    if target.as_json:
        print_json(found)
    else:
        out.print(table("Campaigns", COLUMNS, [_row(c) for c in found]))


def _one(name: str, doc: str) -> click.Command:
    @click.argument("campaign", type=int)
    @target_options
    def command(target: Target, campaign: int) -> None:
        with target.client() as sim:
            answer = getattr(sim, name)(campaign)
        if target.as_json:
            print_json(answer)
        else:
            out.print(fields(answer, f"Campaign {campaign}"))

    command.__doc__ = doc
    return click.command(name.removesuffix("_campaign").replace("get", "show"))(command)


for _name, _doc in (
    ("get_campaign", "Show CAMPAIGN: its state and the size of its processed list."),
    (
        "execute_campaign",
        "Execute scheduled CAMPAIGN now: freeze its processed list, set ClearanceRequiredBy "
        "and send the EventTypeID 5 webhook.",
    ),
    (
        "cancel_campaign",
        "Cancel CAMPAIGN: release open reservations (an executed one also sends EventTypeID 4).",
    ),
    (
        "clear_campaign",
        "Clear executed CAMPAIGN now, as if its ClearanceRequiredBy had come (EventTypeID 13 "
        "per channel).",
    ),
):
    campaigns.add_command(_one(_name, _doc))
