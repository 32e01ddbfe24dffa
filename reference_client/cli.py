"""`reference-client run`: serve the webhook listener, register it, work until Ctrl-C, then
print what happened per campaign.

Every `ClientConfig` setting is also an option (`--api-key`, `--store-path`, ...); options
beat `ACF_*` environment variables, which beat the `--config` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import uvicorn
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from reference_client.config import ClientConfig
from reference_client.integrator import Integrator
from reference_client.listener import create_listener_app
from reference_client.logs import configure_logging
from reference_client.loop import run as run_loop
from reference_client.summary import CampaignSummary


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One `--option` per ClientConfig field, typed as text: pydantic does the parsing."""
    for name, field in reversed(list(ClientConfig.model_fields.items())):
        command = click.option(
            "--" + name.replace("_", "-"), name, default=None, help=field.description
        )(command)
    return command


@click.group()
def cli() -> None:
    """The reference integrator of the Optimove Advanced Control Flow."""


@cli.command()
@click.option("--config", "config_file", type=click.Path(exists=True, path_type=Path))
@click.option("--public-url", help="URL the sender reaches us at (default: host:port)")
@click.option("--progress/--no-progress", default=True, help="progress bar for big campaigns")
@click.option("--log-level", default="INFO", show_default=True)
@click.option("--log-format", type=click.Choice(["json", "text"]), default="json")
@_config_options
def run(
    config_file: Path | None,
    public_url: str | None,
    progress: bool,
    log_level: str,
    log_format: str,
    **options: str | None,
) -> None:
    """Listen for webhooks and run both flows until Ctrl-C."""
    configure_logging(log_level, log_format)
    given: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    try:
        config = (
            ClientConfig.from_file(config_file, **given) if config_file else ClientConfig(**given)
        )
    except ValidationError as exc:
        raise click.UsageError(str(exc)) from None
    url = public_url or f"http://{config.listener_host}:{config.listener_port}"
    integrator = Integrator(config, show_progress=progress)
    try:
        run_loop(serve(integrator, url))
    finally:
        print_summaries(integrator.summaries())


async def serve(integrator: Integrator, public_url: str) -> None:
    """Serve the listener until SIGINT/SIGTERM, with the integrator started around it."""
    config = integrator.config
    server = uvicorn.Server(
        uvicorn.Config(
            create_listener_app(integrator),
            host=config.listener_host,
            port=config.listener_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    await integrator.start()
    try:
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                await serving  # it failed to start (port taken, ...): raise that
                return
            await asyncio.sleep(0.05)
        await integrator.register_listeners(public_url)
        await serving
    finally:
        await integrator.stop()


ROWS: tuple[tuple[str, Callable[[CampaignSummary], object]], ...] = (
    ("kind", lambda s: s.kind + (" (cancelled)" if s.cancelled else "")),
    ("targeted", lambda s: s.targeted),
    ("events processed", lambda s: s.events_processed),
    ("scrubbed", lambda s: s.scrubbed),
    ("validated", lambda s: s.validated),
    ("ineligible", lambda s: s.ineligible),
    ("activated", lambda s: s.activated),
    ("approved", lambda s: s.approved),
    ("released", lambda s: s.released),
    ("redeemed", lambda s: s.redeemed),
    ("duplicate webhooks", lambda s: s.duplicates_skipped),
    ("approvals reconciled", lambda s: s.approvals_reconciled),
    ("HTTP retries", lambda s: s.retries),
    ("resumed (skipped)", lambda s: s.resumed_skipped),
    ("scrubbed by rule", lambda s: _pairs(s.scrubbed_by_rule)),
    ("ineligible by reason", lambda s: _pairs(s.ineligible_by_reason)),
    ("rewards by tier", lambda s: _tiers(s)),
    ("errors", lambda s: _pairs(s.errors)),
    ("deadline", lambda s: f"{s.deadline:%Y-%m-%d %H:%M:%S}" if s.deadline else "-"),
    ("finished", lambda s: f"{s.finished_at:%Y-%m-%d %H:%M:%S}" if s.finished_at else "-"),
    ("timings (s)", lambda s: _timings(s)),
)


def _pairs(counts: dict[str, int]) -> str:
    return "\n".join(f"{k}: {v:,}" for k, v in sorted(counts.items())) or "-"


def _timings(s: CampaignSummary) -> str:
    return "\n".join(f"{k} {v:.2f}" for k, v in s.timings.items() if v) or "-"


def _tiers(s: CampaignSummary) -> str:
    lines = []
    for tier, t in sorted(s.rewards_by_tier.items()):
        what = f"{t.amount:,} minor units" if t.amount else f"{t.units:,} units"
        lines.append(f"{tier}: {t.count:,} ({what})")
    return "\n".join(lines) or "-"


def print_summaries(summaries: dict[int, CampaignSummary], console: Console | None = None) -> None:
    """One column per campaign, one row per counter (fits a narrow terminal)."""
    console = console or Console()
    if not summaries:
        console.print("No campaign work was done.")
        return
    ordered = sorted(summaries.values(), key=lambda s: s.campaign_id)
    table = Table(title="Campaigns")
    table.add_column("campaign")
    for s in ordered:
        table.add_column(str(s.campaign_id), justify="right")
    for label, value in ROWS:
        cells = [value(s) for s in ordered]
        table.add_row(label, *(f"{c:,}" if isinstance(c, int) else str(c) for c in cells))
    console.print(table)


def main() -> None:
    """Console-script entry point (`reference-client = "reference_client.cli:main"`)."""
    cli()


if __name__ == "__main__":
    main()
