"""`reference-client run`: serve the webhook listener, register it, work until Ctrl-C, then
print what happened per campaign.

Every `ClientConfig` setting is also an option (`--api-key`, `--store-path`, ...); options
beat `ACF_*` environment variables, which beat the `--config` file.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, get_args, get_origin

import click
import uvicorn
from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reference_client.config import ClientConfig
from reference_client.http import ApiError, ApiTransportError
from reference_client.integrator import Integrator
from reference_client.listener import create_listener_app
from reference_client.logs import configure_logging
from reference_client.loop import run as run_loop
from reference_client.summary import CampaignSummary


def _metavar(annotation: Any, name: str) -> str:
    """The option's value in user terms (the type as the user writes it)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return "|".join(str(a) for a in get_args(annotation))
    if args and get_origin(annotation) is not list and len(args) == 1:
        return _metavar(args[0], name)
    if name.endswith("_s"):
        return "SECONDS"
    if name.endswith("_url"):
        return "URL"
    if annotation is Path or Path in args:
        return "FILE"
    if annotation is int:
        return "INTEGER"
    if annotation is float:
        return "NUMBER"
    if get_origin(annotation) is list or get_origin(annotation) is Annotated:
        return "A,B,..."
    return "TEXT"


def _help(field: FieldInfo) -> str:
    """The field's description, with its default in user terms when it has a plain one."""
    text = field.description or ""
    default = field.default
    if default is PydanticUndefined:
        if field.default_factory is not None:
            made = field.default_factory()  # type: ignore[call-arg]
            default = ",".join(made) if isinstance(made, list) else made
        else:
            return f"{text} (required)".strip()
    if default is None or "default:" in text:
        return text
    return f"{text}  [default: {default}]".strip()


def _config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """One `--option` per ClientConfig field, typed as text: pydantic does the parsing."""
    for name, field in reversed(list(ClientConfig.model_fields.items())):
        command = click.option(
            "--" + name.replace("_", "-"),
            name,
            default=None,
            metavar=_metavar(field.annotation, name),
            help=_help(field),
        )(command)
    return command


def _sentences(exc: ValidationError) -> str:
    """A settings error as sentences naming the options (no pydantic boilerplate)."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if where:
            parts.append(f"--{where.replace('_', '-')}: {message}")
        else:
            parts.append(message)
    return "; ".join(parts)


def _port_taken(host: str, port: int) -> bool:
    """Whether something already listens on host:port (checked before anything starts,
    so a taken port is one line, not a traceback after the integrator started)."""
    if port == 0:
        return False
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


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
        raise click.UsageError(_sentences(exc)) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed --config file
        raise click.UsageError(f"--config: {exc}") from None
    if _port_taken(config.listener_host, config.listener_port):
        _fail(
            f"port {config.listener_port} on {config.listener_host} is already in use "
            "(--listener-port)"
        )
    url = public_url or f"http://{config.listener_host}:{config.listener_port}"
    integrator = Integrator(config, show_progress=progress)
    try:
        run_loop(serve(integrator, url))
    except ApiTransportError as exc:
        _fail(f"cannot reach {config.optimove_url}: {exc}")
    except ApiError as exc:
        if exc.status in (401, 403):
            _fail(f"the API key was refused ({exc.status} {exc.code}): check --api-key")
        _fail(str(exc))
    print_summaries(integrator.summaries())


def _fail(message: str) -> NoReturn:
    """One line naming the cause; exit status 2."""
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error:[/red] {escape(message)}", highlight=False
    )
    sys.exit(2)


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
