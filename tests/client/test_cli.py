"""cli.py: options mirror ClientConfig, summaries print as a table, and a real run: the
CLI as a process against the simulator, stopped with Ctrl-C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console

from reference_client import CampaignSummary, ClientConfig, TierTotal
from reference_client.cli import cli, print_summaries
from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import ADMIN, DEMO_SECRET, INTEGRATIONS, ThreadServer, bound_socket

ROOT = Path(__file__).resolve().parents[2]


def test_every_config_setting_is_an_option() -> None:
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert result.exit_code == 0
    for name in ClientConfig.model_fields:
        assert "--" + name.replace("_", "-") in result.output
    assert "--public-url" in result.output and "--config" in result.output


def test_an_invalid_setting_is_a_usage_error() -> None:
    args = ["run", "--optimove-url", "http://x", "--api-key", "k", "--validate-batch", "5000"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "--validate-batch" in result.output  # named as the option


def test_the_config_file_is_read_and_options_beat_it(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text("optimove_url: http://x\napi_key: k\nvalidate_batch: 5000\n")
    result = CliRunner().invoke(cli, ["run", "--config", str(path)])
    assert result.exit_code == 2 and "validate-batch" in result.output  # from the file
    fixed = ["run", "--config", str(path), "--validate-batch", "500", "--page-size", "0"]
    result = CliRunner().invoke(cli, fixed)
    assert result.exit_code == 2 and "--page-size" in result.output
    assert "validate-batch" not in result.output  # the option replaced the file's value


def test_summaries_print_as_a_table() -> None:
    summary = CampaignSummary(48213, "scheduled", targeted=10_000, validated=9_000, approved=8_990)
    summary.rewards_by_tier["T-VIP"] = TierTotal(count=3, amount=15_000)
    summary.finished_at = datetime.now(UTC)
    console = Console(record=True, width=200)
    print_summaries({48213: summary}, console)
    text = console.export_text()
    assert "Campaigns" in text and "48213" in text and "10,000" in text and "8,990" in text
    assert "T-VIP: 3 (15,000 minor units)" in text


@pytest.fixture
def simulator() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server


def test_a_real_run_until_ctrl_c_prints_the_summaries(simulator: ThreadServer) -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # the CLI binds it itself
    command = [
        sys.executable, "-m", "reference_client.cli", "run",
        "--optimove-url", simulator.url,
        "--api-key", INTEGRATIONS,
        "--webhook-secret", DEMO_SECRET,
        "--listener-port", str(port),
        "--redemption-interval-s", "0.2",
        "--log-format", "text",
        "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        with httpx.Client(base_url=simulator.url, headers={"X-API-KEY": ADMIN}) as sim:
            deadline = time.monotonic() + 30
            while len(sim.get("/current/general/GetRegisteredEventListeners").json()) < 2:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the CLI never registered its listeners"
                time.sleep(0.1)
            assert sim.post("/_sim/campaigns/48214/execute").status_code == 200
            report: dict[str, int] = {}
            while not (report.get("approved") and report.get("redeemed") == report["approved"]):
                assert time.monotonic() < deadline + 30, report
                time.sleep(0.2)
                report = sim.get("/_sim/campaigns/48214/report").json()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "Campaigns" in out and "48214" in out
    assert f"{report['approved']:,}" in out
    assert "listeners registered" in err
