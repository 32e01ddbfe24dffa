"""Processes that behave: `serve --port 0 --ready-file`, a port in use, and SIGTERM to the
commands that start a simulator of their own (demo, contract listener) leaves nothing."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.support import (
    holding_port,
    optisim,
    port_free,
    read_until,
    run,
    stop,
    wait_for_file,
    wait_gone,
)


def test_serve_on_port_0_prints_the_real_url_and_writes_the_ready_file(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = optisim("serve", "--port", "0", "--ready-file", str(ready))
    try:
        info = wait_for_file(ready, proc)
        assert set(info) == {"url", "admin_key", "integrations_key", "webhook_secret", "pid"}
        assert info["admin_key"] == "demo-admin-key"
        assert info["integrations_key"] == "demo-integrations-key"
        assert info["webhook_secret"].startswith("whsec_")
        assert info["pid"] == proc.pid
        port = int(info["url"].rsplit(":", 1)[1])
        assert port != 0
        assert httpx.get(f"{info['url']}/_sim/health", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert proc.stderr is not None
        banner = proc.stderr.read()
        assert f"serving at {info['url']}" in banner
        assert not ready.exists(), "a stopped server leaves no ready file behind"
        wait_gone(port)
    finally:
        stop(proc)


def test_serve_on_a_port_in_use_fails_before_claiming_to_serve() -> None:
    with holding_port() as port:
        done = run("serve", "--port", str(port), timeout=30)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "serving at" not in done.stderr


def test_contract_listener_refuses_a_simulator_port_in_use() -> None:
    with holding_port() as port:
        done = run(
            "contract", "listener", "--url", "http://127.0.0.1:9/hooks",
            "--simulator-port", str(port), timeout=30,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"port {port} on 127.0.0.1 is already in use" in done.stderr
    assert "cleared, not scheduled" not in done.stderr + done.stdout


def _simulator_port(text: str) -> int:
    match = re.search(r"http://127\.0\.0\.1:(\d+)", text)
    assert match, text
    return int(match.group(1))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_to_the_demo_stops_its_simulator(sig: signal.Signals) -> None:
    proc = optisim("demo", "--customers", "1000", "--events", "20000", "--rate", "100")
    err: list[tuple[float, str]] = []  # stderr lines with the time they came
    assert proc.stderr is not None
    reader = threading.Thread(
        target=lambda: err.extend((time.monotonic(), line) for line in proc.stderr or ()),
        daemon=True,
    )
    reader.start()
    try:
        assert proc.stdout is not None
        seen = read_until(proc.stdout, "executing campaign", 90)
        port = _simulator_port(seen)
        signalled = time.monotonic()
        proc.send_signal(sig)
        assert proc.wait(20) == 130
        reader.join(10)
        after = [line for at, line in err if at >= signalled]
        assert "demo interrupted" in after[-1]
        # a short ending, not a wall of retries against a simulator already gone
        assert sum("retrying" in line for line in after) < 5, after
        wait_gone(port)
    finally:
        stop(proc)


def test_sigterm_to_the_listener_check_stops_its_simulator() -> None:
    with holding_port() as listener:  # accepts connections, never answers: the check waits
        proc = optisim(
            "contract", "listener", "--url", f"http://127.0.0.1:{listener}/hooks",
            "--with-simulator", "--timeout", "30",
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            seen = read_until(proc.stderr, "simulator ready", 90)
            port = _simulator_port(seen)
            assert not port_free(port)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 130
            wait_gone(port)
        finally:
            stop(proc)


def test_the_ready_file_is_json_a_shell_can_read(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    proc = optisim("serve", "--port", "0", "--ready-file", str(ready), "--scenario", "demo")
    try:
        info = wait_for_file(ready, proc)
        assert json.loads(ready.read_text("utf-8")) == info
        done = run("wait", info["url"], "--timeout", "10")
        assert done.returncode == 0, done.stderr
    finally:
        stop(proc)


def test_settings_errors_read_as_sentences() -> None:
    done = run("serve", "--workers", "2", timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: workers > 1 needs store=sqlite (memory state is per process)"
    )
    done = run("serve", "--port", "0", env={"SIM_JOURNAL_SIZE": "lots"}, timeout=30)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --journal-size (SIM_JOURNAL_SIZE): Input should be")
    for boilerplate in ("pydantic", "For further information", "validation error"):
        assert boilerplate not in done.stderr


def test_a_sigkilled_demo_leaves_no_simulator_behind() -> None:
    proc = optisim("demo", "--customers", "1000", "--events", "20000", "--rate", "100")
    try:
        assert proc.stdout is not None
        port = _simulator_port(read_until(proc.stdout, "executing campaign", 90))
        proc.kill()  # no handler runs: the child notices by itself
        proc.wait(10)
        wait_gone(port)
    finally:
        stop(proc)
