"""Each load scenario, small and fast, through `optisim load` as a process, with real
processes on 127.0.0.1: the statistics, results and exit status must reflect the run.

One run starts everything itself (the webhook burst, with two locust worker processes);
the others share a simulator and a reference client started here and given by URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from simulator.load.processes import start_reference_client, start_simulator, wait_registered
from simulator.load.scenarios import DEMO_SECRET, INTEGRATIONS
from tests.loadtests.support import run_load

pytestmark = pytest.mark.slow


@dataclass
class Stack:
    simulator: str
    listener: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    simulator, url = start_simulator(workdir, "memory")
    try:
        client, listener = start_reference_client(workdir, url, INTEGRATIONS, DEMO_SECRET)
        try:
            # its registrations done: a test that moves them must not race the client's own
            wait_registered(url, "demo-admin-key", listener, 60)
            yield Stack(url, listener)
        finally:
            client.stop()
    finally:
        simulator.stop()


def test_a_webhook_burst_starts_everything_and_every_event_is_approved_once(
    tmp_path: Path,
) -> None:
    run = run_load(
        [
            "webhook-burst", "-u", "4", "-t", "3", "--events-per-call", "5",
            "--settle-seconds", "3", "--processes", "2", "--max-p99-ms", "20000",
        ],
        tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.output
    rows, results = run.rows, run.results
    emitted = results["eventsEmitted"]
    # Every emit call the simulator served emitted its five events, and all were delivered.
    # Locust's own row may undercount: a call still in flight when a user stops is served
    # but never counted (locust 2.47), so the count is the simulator's journal.
    emits = rows[("POST", "emit_events")]
    assert emits.failures == 0 and 0 < emits.requests <= results["emitCalls"]
    assert emitted == results["emitCalls"] * 5
    assert results["deliveries"] == {"delivered": emitted}
    # ... each acknowledged once, each approved once, each timed end to end.
    assert rows[("WEBHOOK", "listener acknowledgement")].requests == emitted
    assert rows[("E2E", "event to approval")].requests == emitted
    audit = rows[("AUDIT", "every event decided once")]
    assert (audit.requests, audit.failures) == (emitted, 0)
    assert results["audit"]["approved"] == emitted and results["audit"]["missing"] == 0
    assert (tmp_path / "report.html").stat().st_size > 10_000
    assert "passed" in run.output
    # the simulator and the reference client it started are gone
    started = re.search(r"simulator started at (\S+)", run.output)
    assert started is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{started.group(1)}/_sim/health", timeout=2)


def test_a_burst_given_a_listener_url_moves_the_registration_and_puts_it_back(
    stack: Stack, tmp_path: Path
) -> None:
    # The integrator's CE v2 registration may sign with a secret of its own: the run moves
    # it to --listener-url and back (the same registration, so the same secret; see
    # tests/webhooks/test_delivery.py for the secret itself), never re-registers it.
    admin = {"X-API-KEY": "demo-admin-key"}
    tenant_url = f"{stack.simulator}/_sim/tenant"
    register = f"{stack.simulator}/conditional-execution/v2/triggered/webhooks/"
    before = httpx.get(tenant_url, headers=admin, timeout=10).json()["ceWebhook"]
    # its own secret: the one the stack's integrator verifies with
    own = {"url": "http://127.0.0.1:9/elsewhere", "secret": DEMO_SECRET}
    assert httpx.post(register, json=own, headers=admin, timeout=10).status_code == 201
    mine = httpx.get(tenant_url, headers=admin, timeout=10).json()["ceWebhook"]
    try:
        run = run_load(
            [
                "webhook-burst", "--simulator-url", stack.simulator,
                "--listener-url", f"{stack.listener}/optimove/triggered",
                "-u", "2", "-t", "2", "--events-per-call", "2", "--settle-seconds", "2",
                "--max-p99-ms", "20000",
            ],
            tmp_path,
        )  # fmt: skip
        assert run.code == 0, run.output
        assert run.results["audit"]["approved"] == run.results["eventsEmitted"] > 0
        after = httpx.get(tenant_url, headers=admin, timeout=10).json()["ceWebhook"]
        assert after == mine  # the same registration (id, time), at its own URL again
        assert DEMO_SECRET not in run.output and DEMO_SECRET not in str(run.results)
    finally:  # the stack's integrator registration, as it was
        back = {"url": before["url"]}
        assert httpx.post(register, json=back, headers=admin, timeout=10).status_code == 201


def test_a_large_list_is_followed_step_by_step_to_the_last_approval(
    stack: Stack, tmp_path: Path
) -> None:
    # Another registration first: --listener-url replaces it for the run, then restores it.
    admin = {"X-API-KEY": "demo-admin-key"}
    elsewhere = {"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9/elsewhere"}
    register = f"{stack.simulator}/current/general/RegisterEventListener"
    assert httpx.post(register, json=elsewhere, headers=admin, timeout=10).status_code == 200
    run = run_load(
        [
            "large-list", "--simulator-url", stack.simulator,
            "--listener-url", f"{stack.listener}/optimove/events",
            "--customers", "5000", "--deadline-seconds", "60",
        ],
        tmp_path,
    )  # fmt: skip
    assert run.code == 0, run.output
    rows, results = run.rows, run.results
    assert results["clearanceMet"] is True and results["clearanceMarginSeconds"] > 60
    audit, steps = results["audit"], results["steps"]
    assert audit["targeted"] == audit["fetched"] == steps["fetch"]["customers"] == 5000
    assert audit["approved"] + audit["released"] == audit["validated"] > 0
    assert steps["validate"]["customers"] == audit["validated"] + sum(audit["ineligible"].values())
    for step, name in (
        ("fetch", "get_processed_campaign_customers"),
        ("validate", "validate_customers"),
        ("approve", "approve"),
    ):
        assert rows[("INTEGRATOR", name)].requests == steps[step]["calls"] > 0
        assert steps[step]["customersPerSecond"] > 0
    e2e = rows[("E2E", "webhook to last approval")]
    assert e2e.requests == 1 and e2e.max == pytest.approx(results["wallSeconds"] * 1000, abs=1)
    assert rows[("AUDIT", "ClearanceRequiredBy met")].failures == 0
    assert "deadline webhook to last approval" in run.output
    listed = f"{stack.simulator}/current/general/GetRegisteredEventListeners"
    rows_now = httpx.get(listed, headers=admin, timeout=10).json()
    assert [r["ListenerURL"] for r in rows_now if r["EventTypeID"] == 5] == [
        elsewhere["ListenerURL"]
    ]
    back = {"EventTypeID": 5, "ListenerURL": f"{stack.listener}/optimove/events"}
    assert httpx.post(register, json=back, headers=admin, timeout=10).status_code == 200


def test_a_large_list_that_misses_clearance_required_by_fails(stack: Stack, tmp_path: Path) -> None:
    run = run_load(
        [
            "large-list", "--simulator-url", stack.simulator,
            "--listener-url", f"{stack.listener}/optimove/events",
            "--customers", "10000", "--clearance-minutes", "0.001", "--settle-seconds", "1",
        ],
        tmp_path,
    )  # fmt: skip
    assert run.code == 1, run.output
    assert run.results["clearanceMet"] is False
    assert run.rows[("AUDIT", "ClearanceRequiredBy met")].failures >= 1
    assert "the campaign cleared before the integrator finished" in run.failures
    assert "FAILED" in run.output


def test_api_capacity_keeps_the_ledger_sound_and_a_p99_it_cannot_meet_fails(
    stack: Stack, tmp_path: Path
) -> None:
    run = run_load(
        [
            "api-capacity", "--simulator-url", stack.simulator, "-u", "6", "-t", "3",
            "--customers", "2000", "--steps", "2", "--max-p99-ms", "0.01",
        ],
        tmp_path,
    )  # fmt: skip
    assert run.code == 1, run.output  # the threshold, and only it
    assert re.search(r"p99 POST validate_customers\s.*BROKEN", run.output)
    rows, results = run.rows, run.results
    invariants = [row for (kind, _), row in rows.items() if kind == "AUDIT"]
    assert sum(r.requests for r in invariants) == 7 and sum(r.failures for r in invariants) == 0
    assert all(check["ok"] for check in results["invariants"])
    assert rows[("", "Aggregated")].failures == 0
    for name in ("validate_customers", "update_customer_promotion_status", "emit_events"):
        assert sum(r.requests for (_, n), r in rows.items() if n == name) > 0


def test_the_health_ceiling_is_measured(stack: Stack, tmp_path: Path) -> None:
    run = run_load(
        ["health-ceiling", "--simulator-url", stack.simulator, "-u", "4", "-t", "2", "--no-wrk"],
        tmp_path,
    )
    assert run.code == 0, run.output
    assert "wrk: skipped (--no-wrk)" in run.output
    reports = next(line for line in run.output.splitlines() if line.startswith("reports: "))
    for listed in reports.removeprefix("reports: ").split(", "):
        assert Path(listed).exists(), listed  # only files it wrote
    health = run.rows[("GET", "health")]
    assert health.requests > 0 and health.failures == 0 and health.rps > 0
