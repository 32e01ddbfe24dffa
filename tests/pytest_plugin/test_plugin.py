"""The pytest plugin as an integrator uses it: a small suite run under it (pytester, in
subprocesses: the plugin loads from its `pytest11` entry point), alone and under
pytest-xdist, a failing test whose report shows the tenant's evidence, `-p no:optisim`,
and `--optisim-url`."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from simulator.pytest_plugin.server import StartedServer

pytestmark = pytest.mark.slow

SUITE = """
import httpx
import pytest

def call(optisim, path):
    headers = {"X-API-KEY": optisim.integrations_key}
    return httpx.get(optisim.url + path, headers=headers, timeout=10)

def test_each_test_has_its_own_tenant(optisim):
    assert optisim.client.get_tenant().id == optisim.tenant_id
    assert optisim.webhook_secret.startswith("whsec_")
    optisim.execute(48213)
    page = call(optisim, "/current/customers/GetProcessedCampaignCustomers?CampaignID=48213&Top=3")
    assert page.status_code == 200 and len(page.json()) == 3
    assert optisim.find_requests("GetProcessedCampaignCustomers", method="GET", status=200)
    optisim.wait_for_deliveries(48213, timeout=10)
    optisim.assert_no_violations(48213)

@pytest.mark.optisim(clock="2027-01-01T09:00:00Z",
                     faults=[{"target": "api", "operation": "get_last_data_update",
                              "action": "error", "nth": 1}])
def test_the_marker_sets_clock_and_faults(optisim):
    assert optisim.client.get_clock().now.startswith("2027-01-01T09:00")
    assert call(optisim, "/current/general/GetLastDataUpdate").status_code == 503
    assert call(optisim, "/current/general/GetLastDataUpdate").status_code == 200
    assert optisim.advance("2h").now.startswith("2027-01-01T11:00")
    events = optisim.emit(7001, 2)
    assert events.count == 2 and optisim.report(7001).eventsEmitted == 2

def test_a_failure_shows_the_evidence(optisim):
    call(optisim, "/current/general/GetLastDataUpdate")
    optisim.find_requests("/v1/promocodes", method="POST")
"""


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_integration=SUITE)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=180)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_an_integrator_suite_runs_under_the_plugin(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    result = run_suite(pytester, *workers)
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()
    # The failure names the nearest request, and the report carries the tenant's evidence.
    assert "0 request(s) match 'POST /v1/promocodes'" in out
    assert "GET /current/general/GetLastDataUpdate -> 200" in out
    assert "optisim journal (tenant t-" in out
    assert "optisim deliveries" in out
    assert "optisim audit" in out
    assert "campaign 48213 (scheduled, scheduled)" in out


def test_no_optisim_turns_the_plugin_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(optisim):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:optisim", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'optisim' not found*"])


@pytest.fixture(scope="module")
def running_simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A simulator started outside the suite under test. (Module scope: started before
    pytester snapshots `sys.modules`, so no HTTP module is imported inside a pytester
    test and dropped after it; the checks that talk to it run in the inner suite.)"""
    server = StartedServer(tmp_path_factory.mktemp("external"))
    try:
        yield server.url
    finally:
        server.stop()


def test_optisim_url_uses_a_running_simulator(
    running_simulator: str, pytester: pytest.Pytester
) -> None:
    url = running_simulator
    pytester.makepyfile(
        f"""
        import pytest
        from simulator.control_client import ControlClient, Unauthorized

        KEYS = []

        def test_the_given_simulator_is_used(optisim_server, optisim):
            assert optisim_server == optisim.url == {url!r}
            assert optisim.client.get_tenant().id == optisim.tenant_id
            KEYS.append(optisim.admin_key)

        def test_the_tenant_was_deleted_after_the_test():
            with ControlClient({url!r}, KEYS[0]) as gone, pytest.raises(Unauthorized):
                gone.get_tenant()
        """
    )
    result = pytester.runpytest_subprocess(
        "--optisim-url", url, "-p", "no:cacheprovider", timeout=120
    )
    result.assert_outcomes(passed=2)


def test_importing_the_plugin_imports_nothing_heavy() -> None:
    probe = (
        "import sys, simulator.pytest_plugin.plugin\n"
        "heavy = ('httpx', 'pydantic', 'faker', 'yaml', 'simulator.control_client')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"
