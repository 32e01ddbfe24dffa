"""`optisim proxy` as the process users run: it serves, records, and prints the summary
of contract violations when stopped (exit status 1 when there was any)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from simulator.app import create_app
from simulator.cli import main
from simulator.server_process import free_port
from simulator.settings import SimSettings
from tests.client.support import INTEGRATIONS, ThreadServer

pytestmark = pytest.mark.timeout(60)


def test_the_command_records_and_summarises_at_exit(tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    port = free_port()
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as upstream:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from simulator.cli import main; main()",
                "proxy",
                "--upstream-optimove",
                upstream.url,
                "--upstream-promotions",
                upstream.url,
                "--listen",
                f"127.0.0.1:{port}",
                "--record",
                str(record),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = httpx.get(
                        url + "/v1/promotions/PR-WELCOME",
                        headers={"X-API-KEY": INTEGRATIONS},
                        timeout=5,
                    )
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, "no proxy"
                    time.sleep(0.1)
            bad = httpx.post(
                url + "/v1/promocodes/WELCOME50/validateCustomers",
                json={"contexts": "none"},
                headers={"X-API-KEY": INTEGRATIONS},
                timeout=5,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                _, err = proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate(timeout=10)
    assert answer.status_code == 200 and bad.status_code == 400
    assert proc.returncode == 1, err
    assert "2 exchanges" in err and "validate_customers" in err, err
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["operation"] for r in lines] == ["get_promotion", "validate_customers"]
    assert INTEGRATIONS not in record.read_text()


def test_parity_check_says_why_it_cannot_run(tmp_path: Path) -> None:
    record = tmp_path / "rec.jsonl"
    record.write_text("")
    missing = str(tmp_path / ("deep-" * 20) / "nope.yaml")  # longer than a terminal line
    run = CliRunner().invoke(main, ["parity", "check", str(record), "--scenario", missing])
    assert run.exit_code == 2
    assert "the replay could not run" in run.stderr and "nope.yaml" in run.stderr
