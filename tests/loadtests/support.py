"""Running `optisim load` and locust as processes (locust monkey-patches the standard
library on import, so it never runs inside the test process), and reading what they wrote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.load.reports import Row, read_stats

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LoadRun:
    code: int
    output: str
    out: Path

    @property
    def rows(self) -> dict[tuple[str, str], Row]:
        return {(r.type, r.name): r for r in read_stats(self.out / "locust_stats.csv")}

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.out / "results.json").read_text())
        return data

    @property
    def failures(self) -> str:
        return (self.out / "locust_failures.csv").read_text()


def run_load(args: list[str], out: Path, timeout_s: float = 100.0) -> LoadRun:
    """`optisim load ARGS --out OUT` in its own process group; asserts that nothing it
    started is left running afterwards."""
    argv = [sys.executable, "-c", "from simulator.cli import main; main()", "load", *args]
    proc = subprocess.Popen(
        [*argv, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its children share the group: one kill reaches them all
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert_group_gone(proc.pid)
    return LoadRun(proc.returncode, output, out)


def assert_group_gone(pgid: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(pgid, signal.SIGKILL)
    raise AssertionError("a process started by `optisim load` was still running")
