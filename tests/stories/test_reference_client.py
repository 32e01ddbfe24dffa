"""Every shipped story passes against the reference client."""

from __future__ import annotations

import asyncio

import pytest
from rich.console import Console

from reference_client import Integrator, create_listener_app
from simulator.server_process import ADMIN
from simulator.stories.library import builtin, names
from simulator.stories.output import print_results
from simulator.stories.runner import StoryResult, Target, run_stories
from tests.client.support import DEMO_SECRET, ThreadServer, client_config, serve_here


def run_with_reference_client(sim_url: str, *stories: str) -> list[StoryResult]:
    async def scenario() -> list[StoryResult]:
        integrator = Integrator(client_config(sim_url, redemption_interval_s=0.1))
        async with integrator, serve_here(create_listener_app(integrator)) as url:
            loaded = [builtin(n) for n in stories]
            results = await run_stories(loaded, Target(url, secret=DEMO_SECRET), sim_url, ADMIN)
            await integrator.wait_idle(10)
            return results

    return asyncio.run(scenario())


@pytest.mark.parametrize("name", names())
def test_the_reference_client_passes_the_shipped_story(simulator: ThreadServer, name: str) -> None:
    [result] = run_with_reference_client(simulator.url, name)
    console = Console(width=200, record=True)
    print_results([result], console)
    assert result.ok, console.export_text()
    assert result.outcomes
