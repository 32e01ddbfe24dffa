"""The optisim pytest plugin: a simulator per test session, a fresh tenant per test.

    def test_my_integration(optisim):
        app = MyApp(optimove_url=optisim.url, api_key=optisim.integrations_key,
                    webhook_secret=optisim.webhook_secret)
        app.register_listeners()
        optisim.execute(48213)
        optisim.wait_for_deliveries()
        optisim.assert_no_violations(48213)

`optisim_server` (session scope): the base URL of the simulator: the one given by
`--optisim-url` or `OPTISIM_URL` (tenants are created with `--optisim-admin-key` /
`OPTISIM_ADMIN_KEY`, default `demo-admin-key`), else one started in the background on a
free port and stopped at the end of the session (under pytest-xdist: one per worker).
`optisim` (function scope): an `OptisimTenant`, a fresh tenant (the built-in demo world
unless the marker says otherwise) deleted when the test ends. The marker
`@pytest.mark.optisim(scenario=..., clock=..., faults=...)` configures it. A failed test's
report carries the tenant's journal tail, deliveries and audit.

This module imports only pytest and the standard library: the client, pydantic and httpx
are imported when a fixture is first used, so installing optisim costs other test suites
nothing. `-p no:optisim` turns the plugin off.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from simulator.control_client import ControlClient
    from simulator.pytest_plugin.tenant import OptisimTenant

DEFAULT_ADMIN_KEY = "demo-admin-key"
TENANT = pytest.StashKey["OptisimTenant"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optisim", "optisim simulator")
    group.addoption(
        "--optisim-url",
        default=os.environ.get("OPTISIM_URL"),
        help="Use the optisim simulator at this base URL instead of starting one "
        "(env OPTISIM_URL).",
    )
    group.addoption(
        "--optisim-admin-key",
        default=os.environ.get("OPTISIM_ADMIN_KEY", DEFAULT_ADMIN_KEY),
        help="An admin key of the simulator at --optisim-url, used to create the tests' "
        f"tenants (env OPTISIM_ADMIN_KEY; default {DEFAULT_ADMIN_KEY}).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "optisim(scenario=None, clock=None, faults=None): configure the test's optisim "
        "tenant: scenario 'demo' (default), 'large', a scenario file path or a mapping; "
        "clock 'manual', 'realtime' or a time (a manual clock there); faults a list of "
        "fault rules or {seed, rules}.",
    )


@pytest.fixture(scope="session")
def optisim_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL of the simulator the session's tests use."""
    given = request.config.getoption("--optisim-url")
    if given:
        yield str(given).rstrip("/")
        return
    from simulator.pytest_plugin.server import StartedServer

    server = StartedServer(tmp_path_factory.mktemp("optisim"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def optisim_control(request: pytest.FixtureRequest, optisim_server: str) -> Iterator[ControlClient]:
    """A control client bound to the simulator's admin key (it creates the tenants)."""
    from simulator.control_client import ControlClient

    key = str(request.config.getoption("--optisim-admin-key"))
    with ControlClient(optisim_server, key) as client:
        client.wait_until_healthy(timeout=30)
        yield client


@pytest.fixture
def optisim(
    request: pytest.FixtureRequest, optisim_control: ControlClient
) -> Iterator[OptisimTenant]:
    """A fresh simulator tenant for the test (see `OptisimTenant`), deleted after it."""
    from simulator.pytest_plugin.tenant import OptisimTenant

    marker = request.node.get_closest_marker("optisim")
    options = dict(marker.kwargs) if marker is not None else {}
    unknown = set(options) - {"scenario", "clock", "faults", "name"}
    if unknown or (marker is not None and marker.args):
        raise pytest.UsageError(
            f"@pytest.mark.optisim takes scenario=, clock=, faults=, name= "
            f"(got {sorted(unknown) or list(marker.args if marker else [])})"
        )
    tenant = OptisimTenant.create(optisim_control, **options)
    request.node.stash[TENANT] = tenant
    try:
        yield tenant
    finally:
        del request.node.stash[TENANT]
        tenant.delete()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """A failed test that used `optisim` gets its tenant's evidence as report sections."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    tenant = item.stash.get(TENANT, None)
    if tenant is None or not report.failed or call.when == "teardown":
        return
    try:
        sections = tenant.evidence()
    except Exception as exc:  # the evidence must never hide the test's own failure
        sections = [("optisim evidence", f"could not be collected: {exc}")]
    for title, text in sections:
        report.sections.append((title, text))
