"""`optisim report CAMPAIGN`: the campaign's audit; exit status 1 when it lists protocol
violations (a CI step fails on them)."""

from __future__ import annotations

import sys
from typing import Any

import click

from simulator.verbs.common import (
    Target,
    fmt,
    group_settings,
    out,
    print_json,
    table,
    target_options,
)


@click.command(context_settings=group_settings("report"))
@click.argument("campaign", type=int)
@target_options
def report(target: Target, campaign: int) -> None:
    """The audit of CAMPAIGN: targeted, fetched, validated, approved, released, redeemed,
    and every protocol violation seen so far. Exit status 1 when there is any."""
    with target.client() as sim:
        audit = sim.get_campaign_report(campaign)
    if target.as_json:
        print_json(audit)
    else:
        c = audit.campaign
        rows: list[list[Any]] = [
            ["targeted", audit.targeted],
            ["fetched", f"{fmt(audit.fetched)} in {fmt(audit.fetchCalls)} call(s)"],
            ["validated (valid)", audit.validated],
            ["ineligible by reason", audit.invalid],
            ["approved", audit.approved],
            ["approvals refused", audit.approvalsRefused],
            ["duplicate approvals refused", audit.duplicatesRefused],
            ["released", audit.released],
            ["redeemed", audit.redeemed],
            ["redemptions refused", audit.redemptionsRefused],
            ["events emitted", audit.eventsEmitted],
            ["sent at clearance", audit.sent],
        ]
        title = f"Campaign {c.id} ({c.type}, {c.status}, promo code {c.promoCode})"
        out.print(table(title, ["", "count"], rows))
        if audit.violationCount:
            out.print(
                table(
                    f"Protocol violations: {audit.violationCount:,}",
                    ["violation", "count"],
                    [[code, n] for code, n in sorted(audit.violations.items())],
                )
            )
            examples = [[e.code, e.at, e.detail] for e in audit.violationExamples]
            if examples:
                out.print(table("Examples", ["violation", "at", "detail"], examples, numbers=False))
        else:
            out.print("[green]no protocol violations[/green]")
    sys.exit(1 if audit.violationCount else 0)
