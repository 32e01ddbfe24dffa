"""`reference-client run` as a new user meets it: a wrong key, a dead URL or a port in use
ends with one line naming the cause (exit status 2), settings errors read as sentences,
`--help` speaks in user terms, and the shipped example config loads with option spellings."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from reference_client import ClientConfig
from reference_client.cli import cli
from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import DEMO_SECRET, INTEGRATIONS, ThreadServer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "reference_client" / "examples" / "client.yaml"


@pytest.fixture(scope="module")
def simulator() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server


def run(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "reference_client.cli", "run", "--log-format", "text",
               "--no-progress", "--listener-port", "0", *args]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Traceback" in line or "error" in line]


def test_a_wrong_key_is_one_line(simulator: ThreadServer) -> None:
    done = run("--optimove-url", simulator.url, "--api-key", "wrong")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: the API key was refused (401")


def test_a_dead_url_is_one_line_with_the_retry_count_stated_once(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        done = run("--optimove-url", dead, "--api-key", "k", "--max-retries", "2")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert [line.split(" in ")[0].split("(")[1] for line in lines if "retrying" in line] == [
        "retry 1 of 2)",
        "retry 2 of 2)",
    ]
    assert lines[-1].startswith(f"error: cannot reach {dead}: ")
    assert "no answer after 3 attempts (the first and 2 retries)" in lines[-1]


def test_a_port_in_use_is_one_line(simulator: ThreadServer) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        command = [sys.executable, "-m", "reference_client.cli", "run", "--optimove-url",
                   simulator.url, "--api-key", INTEGRATIONS,
                   "--listener-port", str(port)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: port {port} on 127.0.0.1 is already in use (--listener-port)"
    )


def test_settings_errors_are_sentences_naming_the_option() -> None:
    args = ["run", "--optimove-url", "ftp://x", "--api-key", "k", "--validate-batch", "5000"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "--optimove-url: must be an http(s) URL" in result.output
    assert "--validate-batch: Input should be less than or equal to 1000" in result.output
    assert "pydantic" not in result.output and "https://errors" not in result.output


def test_help_speaks_in_user_terms() -> None:
    text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    assert "None keeps" not in text and "connection_limit" not in text
    assert "--store-path FILE" in text and "default: kept in memory" in text
    assert "--request-timeout-s SECONDS" in text and "[default: 10.0]" in text
    assert "--redemption-mode per_event|batched|off" in text
    assert "--optimove-url URL" in text


def test_the_example_config_loads_with_option_spellings() -> None:
    config = ClientConfig.from_file(EXAMPLE)
    assert config.optimove_url == "http://127.0.0.1:8900"
    assert config.api_key == INTEGRATIONS and config.webhook_secret == DEMO_SECRET
    assert config.listener_port == 8901 and config.blocked_countries == ["FR"]
