"""A broken integrator fails the stories that should catch its bugs, and the evidence
says why in words a reader understands; the JUnit file says the same."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

from simulator.server_process import ADMIN
from simulator.stories.library import builtin
from simulator.stories.output import write_junit
from simulator.stories.runner import StoryResult, Target, run_stories
from tests.client.support import ThreadServer, serve_here
from tests.stories.broken_integrator import Broken


def run_broken(sim_url: str, story: str, **bugs: bool) -> StoryResult:
    async def scenario() -> StoryResult:
        app = Broken(sim_url, **bugs)
        try:
            async with serve_here(app) as url:
                [result] = await run_stories([builtin(story)], Target(url), sim_url, ADMIN)
                return result
        finally:
            await app.aclose()

    return asyncio.run(scenario())


def failed(result: StoryResult) -> dict[str, tuple[str, list[str]]]:
    return {o.id: (o.detail, o.evidence) for o in result.outcomes if not o.passed}


def test_approving_before_validating_fails_the_happy_path_with_the_violation(
    simulator: ThreadServer, tmp_path: Path
) -> None:
    result = run_broken(simulator.url, "happy-path-scheduled", approve_first=True)
    assert result.error is None and not result.ok
    detail, evidence = failed(result)["expect[0].campaign_48213"]
    assert "protocol violations: approved_without_validation" in detail
    assert any("violation approved_without_validation" in line for line in evidence)
    assert any("UpdateCustomerPromotionStatus → 409 not_validated" in line for line in evidence)
    junit = tmp_path / "stories.xml"
    write_junit([result], junit)
    suite = ET.parse(junit).getroot().find("testsuite[@name='happy-path-scheduled']")
    assert (
        suite is not None and suite.get("failures") == "2"
    )  # the audit, and approve.approved never covered
    failure = suite.find("testcase[@name='expect[0].campaign_48213']/failure")
    assert failure is not None
    assert "approved_without_validation" in failure.get("message", "")
    assert "not_validated" in (failure.text or "")


def test_a_clean_broken_integrator_still_passes_the_happy_path(simulator: ThreadServer) -> None:
    """The broken app without its bugs is a fair baseline: the failures are the bugs'."""
    assert run_broken(simulator.url, "happy-path-triggered").ok


def test_ignoring_webhook_id_fails_the_duplicated_webhooks_story(simulator: ThreadServer) -> None:
    result = run_broken(simulator.url, "duplicated-and-reordered-webhooks", ignore_webhook_id=True)
    assert not result.ok
    problems = failed(result)
    detail, evidence = problems["expect[0].campaign_7001"]
    assert any("409 duplicate_approval" in line for line in evidence)
    assert "approvals refused duplicate_approval" in detail
    assert "protocol violations: duplicate_approval" in detail
    assert "expect[1].campaign_48213" in problems  # the re-sent scheduled webhook too
    assert "expect[2].covered" in problems  # nothing was deduplicated
    assert "webhook.deduplicated" in problems["expect[2].covered"][0]


def test_retrying_without_reconciling_fails_the_dropped_responses_story(
    simulator: ThreadServer,
) -> None:
    result = run_broken(simulator.url, "dropped-and-truncated-responses", blind_retries=True)
    assert not result.ok
    detail, evidence = failed(result)["expect[0].campaign_48213"]
    assert "approvals refused duplicate_approval" in detail and "(expected at most 40)" in detail
    assert any("409 duplicate_approval" in line for line in evidence)
