"""`optisim secret show|rotate`: the tenant's webhook signing secret."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from simulator.verbs.common import Target, group_settings, option, out, print_json, target_options


@click.group(context_settings=group_settings("secret"))
def secret() -> None:
    """The webhook signing secret (Standard Webhooks, whsec_…)."""


@secret.command()
@target_options
def show(target: Target) -> None:
    """Whether webhooks are signed, and how many old secrets are still honoured. The
    control API never gives a secret back: `rotate` prints the one it sets, and
    `optisim serve --ready-file` writes the scenario's."""
    with target.client() as sim:
        tenant = sim.get_tenant()
        config = sim.get_webhook_config()
    data = {
        "tenant": tenant.id,
        "signed": tenant.signed,
        "secretsInOverlap": config.secretsInOverlap,
    }
    if target.as_json:
        print_json(data)
    else:
        signed = "signed" if tenant.signed else "not signed (no secret)"
        out.print(
            f"tenant {tenant.id}: webhooks {signed}; "
            f"old secrets still honoured: {config.secretsInOverlap}"
        )


@secret.command()
@option(
    "--secret",
    "new_secret",
    default=None,
    help="the new secret (whsec_ + base64); default: a fresh one",
)
@option(
    "--overlap",
    type=click.FloatRange(0, 30 * 86_400),
    default=3600.0,
    help="seconds during which webhooks carry a signature with the old secret too",
)
@target_options
def rotate(target: Target, new_secret: str | None, overlap: float) -> None:
    """Switch to a new webhook secret and print it."""
    with target.client() as sim:
        rotated = sim.rotate_webhook_secret(new_secret, overlap_seconds=overlap)
    if target.as_json:
        print_json(rotated)
    else:
        until = datetime.fromtimestamp(rotated.overlapUntil, UTC).isoformat(timespec="seconds")
        out.print(f"new secret: {rotated.secret}")
        out.print(f"the old one is honoured until {until}")
