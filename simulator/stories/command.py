"""`optisim story list` and `optisim story run`: exit 0 when every expectation holds, 1
when one does not, 2 when a story could not run (a bad story file, the simulator could not
be started or driven)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape


@click.group("story")
def story() -> None:
    """Executable stories: a world, steps and expectations, run against your integrator."""


@story.command("list")
def list_stories() -> None:
    """The shipped stories (run them with `optisim story run --builtin NAME`)."""
    from simulator.stories.library import builtin, names

    shipped = names()
    width = max(len(n) for n in shipped) + 2
    for name in shipped:
        found, _ = builtin(name)
        first = found.description.strip().splitlines()[0] if found.description else ""
        click.echo(f"{name:{width}}{first}")


@story.command("run")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--builtin",
    "builtins",
    multiple=True,
    metavar="NAME",
    help="a shipped story (repeatable), or `all`",
)
@click.option(
    "--integrator-url", required=True, help="base URL of your integrator's webhook listeners"
)
@click.option(
    "--scheduled-path",
    default="/optimove/events",
    show_default=True,
    help="path of your EventTypeID 5/4/13 listener",
)
@click.option(
    "--triggered-path",
    default="/optimove/triggered",
    show_default=True,
    help="path of your CE v2 (triggered) webhook",
)
@click.option(
    "--secret",
    envvar="OPTISIM_WEBHOOK_SECRET",
    default=None,
    help="the whsec_ secret your listener verifies with [env OPTISIM_WEBHOOK_SECRET]; "
    "default: the world's",
)
@click.option(
    "--simulator-url",
    default=None,
    help="a running simulator your integrator calls (default: start one)",
)
@click.option(
    "--simulator-port",
    default=None,
    type=click.IntRange(1, 65535),
    help="start the simulator on this port (your app is configured with it)",
)
@click.option(
    "--admin-key",
    envvar="OPTISIM_ADMIN_KEY",
    default="demo-admin-key",
    show_default=True,
    help="admin key of --simulator-url",
)
@click.option(
    "--timeout",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.1, 300),
    help="seconds your listener may take to answer",
)
@click.option(
    "--junit-xml",
    "junit_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="write JUnit XML (a testsuite per story, a testcase per expectation)",
)
@click.option(
    "--json",
    "json_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="write the results as JSON",
)
def run(
    files: tuple[str, ...],
    builtins: tuple[str, ...],
    integrator_url: str,
    scheduled_path: str,
    triggered_path: str,
    secret: str | None,
    simulator_url: str | None,
    simulator_port: int | None,
    admin_key: str,
    timeout: float,
    junit_path: str | None,
    json_path: str | None,
) -> None:
    """Run story FILES (and --builtin stories), each in a fresh world, against your
    integrator. Your integrator calls the simulator's URL with the world's keys (the
    built-in world: X-API-KEY demo-integrations-key) and verifies webhooks with --secret."""
    from simulator.listener_check.admin import CheckAborted
    from simulator.listener_check.runner import checked_simulator
    from simulator.server_process import ADMIN, demo_scenario
    from simulator.stories.library import builtin, names
    from simulator.stories.model import StoryError, load_story
    from simulator.stories.output import print_results, write_json, write_junit
    from simulator.stories.runner import StoryResult, Target, run_stories

    out, err = Console(), Console(stderr=True)
    try:
        wanted = [n for b in builtins for n in (names() if b == "all" else [b])]
        stories = [builtin(n) for n in wanted] + [load_story(f) for f in files]
    except StoryError as exc:
        err.print(f"[red]could not run:[/red] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    if not stories:
        err.print("[red]could not run:[/red] give story FILES or --builtin NAME (or all)")
        raise SystemExit(2)
    target = Target(integrator_url, scheduled_path, triggered_path, secret, timeout)

    def say(line: str) -> None:
        err.print(line, markup=False, highlight=False, soft_wrap=True)

    async def go() -> list[StoryResult]:
        if simulator_url:
            return await run_stories(stories, target, simulator_url, admin_key, say)
        with tempfile.TemporaryDirectory(prefix="optisim-stories-") as tmp:
            world = demo_scenario(200)
            async with checked_simulator(world, Path(tmp), simulator_port, say) as process:
                return await run_stories(stories, target, process.url, ADMIN, say)

    try:
        results = asyncio.run(go())
    except CheckAborted as exc:
        err.print(f"[red]could not run the stories:[/red] {escape(str(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
    print_results(results, out)
    if junit_path:
        write_junit(results, junit_path)
    if json_path:
        write_json(results, json_path)
    if any(r.error is not None for r in results):
        raise SystemExit(2)
    raise SystemExit(0 if all(r.ok for r in results) else 1)
