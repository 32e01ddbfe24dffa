"""`optisim deliveries list|resend ID|resend-failed`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import click

from simulator.control_models import Delivery, DeliveryStatus
from simulator.domain.models import WebhookKind
from simulator.verbs.common import (
    Target,
    group_settings,
    option,
    out,
    print_json,
    table,
    target_options,
)

COLUMNS = [
    "webhook-id",
    "kind",
    "campaign",
    "status",
    "attempts",
    "last status",
    "last error",
    "created",
]


def when(unix: float | None) -> str | None:
    if unix is None:
        return None
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S.%f")[:-3]


def _row(d: Delivery) -> list[object]:
    return [
        d.eventId,
        d.kind,
        d.campaignId,
        d.status,
        d.attempts,
        d.lastStatus,
        d.lastError,
        when(d.createdAt),
    ]


@click.group(context_settings=group_settings("deliveries"))
def deliveries() -> None:
    """Webhook deliveries: list them, re-send one, re-send the failed ones."""


@deliveries.command("list")
@option(
    "--status",
    type=click.Choice(list(get_args(DeliveryStatus))),
    default=None,
    help="only deliveries in this state",
)
@option(
    "--kind",
    type=click.Choice(list(get_args(WebhookKind))),
    default=None,
    help="only webhooks of this kind",
)
@option("--campaign", type=int, default=None, help="only webhooks of this campaign")
@option(
    "--limit",
    type=click.IntRange(1, 1_000_000),
    default=100,
    help="at most this many (oldest first)",
)
@target_options
def list_(
    target: Target, status: str | None, kind: str | None, campaign: int | None, limit: int
) -> None:
    """Webhook deliveries in outbox order, with their state."""
    found: list[Delivery] = []
    with target.client() as sim:
        for d in sim.iter_deliveries(status=status, kind=kind, campaign_id=campaign):  # type: ignore[arg-type]
            found.append(d)
            if len(found) >= limit:
                break
    if target.as_json:
        print_json(found)
    else:
        out.print(
            table(f"Deliveries ({len(found):,})", COLUMNS, [_row(d) for d in found], numbers=False)
        )


@deliveries.command()
@click.argument("webhook_id")
@target_options
def resend(target: Target, webhook_id: str) -> None:
    """Send the webhook WEBHOOK_ID again now, with the same webhook-id (a new attempt)."""
    with target.client() as sim:
        answer = sim.resend_delivery(webhook_id)
    if target.as_json:
        print_json(answer)
    else:
        out.print(f"re-sent {webhook_id} ({answer.resent} event)")


@deliveries.command("resend-failed")
@option(
    "--since", type=float, default=0.0, help="only events created since this unix time (seconds)"
)
@target_options
def resend_failed(target: Target, since: float) -> None:
    """Re-send every failed webhook (created since --since)."""
    with target.client() as sim:
        answer = sim.resend_failed(since)
    if target.as_json:
        print_json(answer)
    else:
        out.print(f"re-sent {answer.resent:,} failed event(s)")
