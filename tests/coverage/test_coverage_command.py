"""`optisim coverage` against a simulator process: the table, JSON, JUnit and exit codes."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.server_process import ADMIN, INTEGRATIONS, SimulatorProcess, demo_scenario, free_port
from tests.api.support import cid


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = SimulatorProcess(demo_scenario(100), tmp_path_factory.mktemp("sim"), journal=True)
    try:
        asyncio.run(process.wait_ready())
        with httpx.Client(base_url=process.url, timeout=10) as http:
            admin = {"X-API-KEY": ADMIN}
            assert http.post("/_sim/campaigns/48213/execute", headers=admin).status_code == 200
            body = {"campaignData": {"campaignId": 48213}, "contexts": [{"customerId": cid(1)}]}
            key = {"X-API-KEY": INTEGRATIONS}
            url = "/v1/promocodes/WELCOME50/validateCustomers"
            assert http.post(url, json=body, headers=key).status_code == 200
        yield process.url
    finally:
        process.stop()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["coverage", *args])
    return result.exit_code, result.output


def test_the_table_lists_what_was_exercised_and_passes_without_requirements(sim_url: str) -> None:
    code, output = run("--simulator-url", sim_url)
    assert code == 0, output
    assert "validate.valid" in output
    assert "lifecycle.executed" in output
    assert "rules covered" in output


def test_min_and_require_fail_the_run_with_reasons_in_junit_and_json(
    sim_url: str, tmp_path: Path
) -> None:
    junit, report = tmp_path / "cov.xml", tmp_path / "cov.json"
    code, output = run(
        "--simulator-url",
        sim_url,
        "--min",
        "0.9",
        "--require",
        "approve.*",
        "--require",
        "validate.valid",
        "--junit-xml",
        str(junit),
        "--json",
        str(report),
    )
    assert code == 1, output
    assert "below --min 90.0%" in output
    assert "'approve.*' was never exercised" in output
    root = ET.parse(junit).getroot()
    verdict = root.find("./testsuite/testcase[@name='verdict']/failure")
    assert verdict is not None and "below --min" in verdict.get("message", "")
    valid = root.find("./testsuite/testcase[@name='validate.valid']")
    assert valid is not None and valid.find("skipped") is None
    budget = root.find("./testsuite/testcase[@name='validate.budget_exhausted']/skipped")
    assert budget is not None
    body = json.loads(report.read_text())
    assert body["ok"] is False and len(body["problems"]) == 2
    assert {r["id"]: r["count"] for r in body["rules"]}["validate.valid"] == 1


def test_a_required_rule_that_was_exercised_passes(sim_url: str) -> None:
    code, output = run(
        "--simulator-url", sim_url, "--require", "validate.valid", "--campaign", "48213", "--all"
    )
    assert code == 0, output
    assert "validate.budget_exhausted" in output  # --all lists uncovered rules


def test_nothing_listening_is_could_not_run() -> None:
    code, output = run("--simulator-url", f"http://127.0.0.1:{free_port()}")
    assert code == 2
    assert "could not read the coverage" in output
