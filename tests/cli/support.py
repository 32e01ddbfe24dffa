"""Commands run as a user runs them: `optisim …` as a process, with bounded waits."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

OPTISIM = [sys.executable, "-c", "from simulator.cli import main; main()"]


def optisim(*args: str, **kw: Any) -> subprocess.Popen[str]:
    """`optisim ARGS` started in the background, its stderr and stdout readable."""
    return subprocess.Popen(
        [*OPTISIM, *args],
        stdout=kw.pop("stdout", subprocess.PIPE),
        stderr=kw.pop("stderr", subprocess.PIPE),
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "200", **kw.pop("env", {})},
        **kw,
    )


def run(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None) -> Any:
    """`optisim ARGS` to completion: the CompletedProcess."""
    return subprocess.run(
        [*OPTISIM, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Stop a process this test started, whatever state it is in."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def read_until(stream: IO[str], needle: str, timeout_s: float) -> str:
    """Lines from `stream` until one contains `needle` (AssertionError after the timeout).
    A thread reads (a select() on the pipe would miss lines already in the stream's
    buffer); it stops at the needle or at the end of the stream."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in stream:
            seen.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(timeout_s):
        raise AssertionError(f"{needle!r} not seen in {timeout_s} s; got:\n{''.join(seen)}")
    return "".join(seen)


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text("utf-8"))
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"exited with {proc.returncode}: {err}")
        time.sleep(0.05)
    raise AssertionError(f"{path} not written in {timeout_s} s")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def processes_with(fragment: str) -> list[int]:
    """Pids of live processes whose command line contains `fragment` (Linux /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if fragment in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_gone(port: int, timeout_s: float = 15.0) -> None:
    """Until nothing listens on `port` and no process names it on its command line."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if port_free(port) and not processes_with(f"--port {port} "):
            return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still held by {processes_with(f'--port {port} ')}")


@contextmanager
def holding_port() -> Iterator[int]:
    """A port something listens on for the duration."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]
