"""`optisim contract listener` passes against the reference client: its listener keeps the
contract (signatures, duplicates, malformed bodies), and with a simulator its flows keep
the protocol (the audit finds nothing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rich.console import Console

from reference_client import Integrator, create_listener_app
from simulator.listener_check.output import print_report
from simulator.listener_check.runner import ListenerCheckOptions, run_listener_check
from simulator.server_process import free_port
from tests.client.support import DEMO_SECRET, ThreadServer, client_config, serve_here

FLOW_CHECKS = {
    "flow.simulator_called",
    "flow.settled",
    "flow.scheduled_delivered",
    "flow.channel_delivered",
    "flow.customers_fetched",
    "flow.triggered_delivered",
    "flow.triggered_approved",
    "flow.only_validated_approved",
    "flow.no_duplicate_approvals",
    "flow.approvals_before_clearance",
    "flow.redemptions_only_approved",
    "flow.no_other_violations",
}


def _check(sim_url: str, **options: Any) -> Any:
    """Serve the reference client (calling `sim_url`) and run the checker against it."""

    async def scenario() -> Any:
        integrator = Integrator(client_config(sim_url, redemption_interval_s=0.1))
        async with integrator, serve_here(create_listener_app(integrator)) as url:
            report = await run_listener_check(
                ListenerCheckOptions(url=url, secret=DEMO_SECRET, **options)
            )
            await integrator.wait_idle(10)
            return report, integrator.summaries()

    return asyncio.run(scenario())


def _assert_all_pass(report: Any) -> None:
    console = Console(width=200, record=True)
    print_report(report, console)
    assert report.ok, console.export_text()
    assert all(c.status == "pass" for c in report.checks), console.export_text()


def test_the_reference_listener_keeps_the_listener_contract(simulator: ThreadServer) -> None:
    report, summaries = _check(simulator.url, timeout_s=5)
    _assert_all_pass(report)
    assert len(report.checks) == 4 * 7  # 4 kinds x (accepted, duplicate, 4 signature, malformed)
    assert {c.id for c in report.checks if c.id.startswith("channel.")} >= {
        "channel.accepted",
        "channel.duplicate_accepted",
        "channel.malformed_no_5xx",
    }
    # the duplicate probe was recognised as a duplicate, not run twice
    assert summaries[990_005].duplicates_skipped == 1
    assert summaries[990_007].duplicates_skipped == 1


@pytest.mark.slow
def test_the_reference_client_passes_the_flow_checks_on_a_simulator_of_its_own() -> None:
    port = free_port()  # the documented flow: the app is configured before the simulator runs
    report, summaries = _check(
        f"http://127.0.0.1:{port}",
        simulator_port=port,
        with_simulator=True,
        customers=200,
        events=10,
        settle_s=0.5,
        wait_s=30,
    )
    _assert_all_pass(report)
    assert {c.id for c in report.checks if c.group == "flow"} == FLOW_CHECKS
    assert report.simulator_url == f"http://127.0.0.1:{port}"
    scheduled = summaries[48213]
    assert scheduled.approved > 0 and scheduled.duplicates_skipped == 1  # the re-sent webhook
    assert summaries[7001].approved > 0
