"""`optisim proxy`: the click command."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from simulator.proxy.app import ProxyApp, ProxyConfig, ProxyStats


def summary(stats: ProxyStats, console: Console) -> None:
    """The exit summary: exchanges, webhooks and contract violations by operation."""
    console.print(
        f"optisim proxy: {stats.exchanges} exchanges, {stats.webhooks} webhooks, "
        f"{sum(stats.violations.values())} contract violations, {stats.refused} refused "
        f"(--strict), {stats.upstream_errors} upstream errors"
    )
    if stats.violations:
        table = Table(title="Contract violations")
        table.add_column("operation")
        table.add_column("count", justify="right")
        table.add_column("first")
        for name, count in stats.violations.most_common():
            table.add_row(name, str(count), stats.examples[name])
        console.print(table)


@click.command()
@click.option("--upstream-optimove", required=True, help="the real Optimove API base URL")
@click.option("--upstream-promotions", required=True, help="the real Promotions API base URL")
@click.option("--listen", default="127.0.0.1:8990", show_default=True, help="HOST:PORT")
@click.option("--record", "record", required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="answer a contract violation with a 502")
@click.option(
    "--forward-webhooks-to",
    default=None,
    help="the integrator's listener base URL; register <proxy>/_proxy/webhooks/<path>",
)
@click.option(
    "--redact-field",
    multiple=True,
    help="a JSON field or header to replace by placeholders (e.g. CustomerID); repeatable",
)
def proxy(
    upstream_optimove: str,
    upstream_promotions: str,
    listen: str,
    record: Path,
    strict: bool,
    forward_webhooks_to: str | None,
    redact_field: tuple[str, ...],
) -> None:
    """A validating, recording proxy in front of the real Optimove and Promotions services.

    Forwards every request unchanged, records each exchange (secrets redacted) to the
    JSONL file and checks both directions against optisim's published contracts; the
    summary is printed at exit (Ctrl-C). Exit status 1 when any violation was seen."""
    import uvicorn

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--listen")
    config = ProxyConfig(
        upstream_optimove=upstream_optimove,
        upstream_promotions=upstream_promotions,
        record=record,
        strict=strict,
        forward_webhooks_to=forward_webhooks_to,
        redact_fields=redact_field,
    )
    app = ProxyApp(config)
    console = Console(stderr=True)
    console.print(
        f"optisim proxy on http://{host}:{port} → {upstream_optimove}, {upstream_promotions}; "
        f"recording to {record}"
        + (f"; webhooks at /_proxy/webhooks → {forward_webhooks_to}" if forward_webhooks_to else "")
    )
    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False)
    summary(app.stats, console)
    sys.exit(1 if app.stats.violations else 0)
