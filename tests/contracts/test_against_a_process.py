"""The schemathesis suite against a simulator started as a separate process, the way users
run it against their own deployment: `optisim serve` on a free port, then
`OPTISIM_CONTRACT_URL=… pytest tests/contracts/test_schemathesis.py` in another process,
narrowed to one operation of each surface (OPTISIM_CONTRACT_OPERATIONS), a few examples and
a short stateful run. The server's request journal shows they really went over HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One operation of each surface, each reaching the executed campaign 48213 or the clock.
SUBSET = (
    "get_processed_campaign_customers",
    "approve_triggered_event",
    "validate_customers",
    "set_clock",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`optisim serve` (demo scenario, no webhook delivery: the fuzzed listener URLs must not
    be called) in its own process group, output to a file; stopped and reaped after."""
    port = _free_port()
    log = tmp_path / "server.log"
    command = [sys.executable, "-c", "from simulator.cli import main; main()", "serve"]
    env = {**os.environ, "SIM_WEBHOOKS": "false", "COLUMNS": "200"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port), "--seed", "1"],  # replayable ids
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # one signal to the group reaches uvicorn's children too
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{url}/_sim/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the simulator did not start in 20 s"
                time.sleep(0.1)
        yield url, log
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL if it is still there after 10 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # already gone
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait(timeout=10)


def test_the_suite_runs_against_a_simulator_in_another_process(
    simulator: tuple[str, Path],
) -> None:
    url, log = simulator
    env = {
        # not this run's settings: no OPTISIM_* fuzzing options, no PYTEST_ADDOPTS
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPTISIM_", "PYTEST_"))},
        "OPTISIM_CONTRACT_URL": url,
        "OPTISIM_CONTRACT_OPERATIONS": ",".join(SUBSET),
        "OPTISIM_FUZZ_EXAMPLES": "2",
        "OPTISIM_FUZZ_SCENARIOS": "2",
        "OPTISIM_FUZZ_STEPS": "4",
    }
    # Plugins the contract tests do not use stay unloaded (a second off the start-up).
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:locust", "-p", "no:faker"]
    result = subprocess.run(
        [*command, "tests/contracts/test_schemathesis.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=80,  # with the start and the stop, within the 120 s test timeout
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # 4 operations, the core 401 test for each of the 9 secured core functions, the check
    # list, the stateful run, the Allow of every multi-method path.
    assert re.search(r"\b16 passed\b", result.stdout), result.stdout[-2000:]
    # Each operation test made its tenant with the demo admin key: the demo tenant's journal
    # holds those requests (the tenants' own journals hold the fuzzed ones).
    request = urllib.request.Request(
        f"{url}/_sim/journal?path=/_sim/tenants&status=201&limit=1000",
        headers={"X-API-KEY": "demo-admin-key"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        made = json.loads(response.read())["entries"]
    assert len(made) >= len(SUBSET), (made, log.read_text())


# The README's CI recipe ("Use optisim in your CI"): the schemathesis CLI with every check
# and the repository's schemathesis.toml, here on two documents and fewer examples (time);
# test_schemathesis.py runs the same checks on every document in process.
CLI_DOCUMENTS = ("ce-v2", "promotions")


def test_the_schemathesis_cli_passes_every_check(simulator: tuple[str, Path]) -> None:
    url, log = simulator
    cli = [sys.executable, "-c", "from schemathesis.cli import schemathesis; schemathesis()"]
    for name in CLI_DOCUMENTS:
        command = [*cli, "--config-file", str(ROOT / "schemathesis.toml"), "--no-color"]
        command += ["run", str(ROOT / "contracts" / f"{name}.json"), "--url", url]
        command += ["-H", "X-API-KEY: demo-admin-key", "--checks", "all"]
        command += ["--max-examples", "5", "--seed", "1"]
        result = subprocess.run(
            command,
            cwd=log.parent,  # its cache (.schemathesis/) goes to the test's directory
            env={**os.environ, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert result.returncode == 0, f"{name}:\n{result.stdout[-6000:]}{result.stderr[-2000:]}"
        assert "Configuration:" in result.stdout and "schemathesis.toml" in result.stdout
