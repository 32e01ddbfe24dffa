"""Request-head limits and timeouts on a real server process (`optisim serve`), spoken to
with raw sockets on 127.0.0.1: oversized heads get 431 in the error envelope, a head that
arrives slowly (slowloris) or never is closed, normal heads and keep-alive still work.
Every wait is bounded; the server is stopped after each test."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.server_process import SimulatorProcess, demo_scenario, free_port

ROOT = Path(__file__).resolve().parents[1]
HEAD_TIMEOUT = 1.0
LIMITS = {
    "SIM_MAX_HEAD_BYTES": "16384",
    "SIM_MAX_HEADERS": "50",
    "SIM_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT),
    "SIM_KEEP_ALIVE_SECONDS": "1",
}


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log = tmp_path_factory.mktemp("heads") / "server.log"
    env = {**os.environ, **LIMITS, "SIM_WEBHOOKS": "false", "SIM_JOURNAL": "false"}
    command = [sys.executable, "-c", "from simulator.cli import main; main()", "serve"]
    with log.open("w") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/health", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the simulator did not start in 30 s"
                time.sleep(0.1)
        yield port
    finally:
        _stop(process)


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def read_all(sock: socket.socket, limit_s: float = 5.0) -> bytes:
    """Everything until the server closes (bounded)."""
    data = b""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and a content-length body) on a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def readable(sock: socket.socket, timeout_s: float) -> bool:
    """Whether the socket has something to read within `timeout_s` (poll, not select:
    select() refuses descriptors above 1023, which a long test session can reach)."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout_s * 1000))


def send_head_in_chunks(sock: socket.socket, head: bytes) -> bytes:
    """Send a head 16 KB at a time, stopping at the server's first answer (it refuses
    before reading it all); returns the answer."""
    for start in range(0, len(head), 16384):
        if readable(sock, 0):
            break
        try:
            sock.sendall(head[start : start + 16384])
        except (BrokenPipeError, ConnectionResetError):
            break
        time.sleep(0.002)
    return read_all(sock)


def status_and_body(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), answer[:200]
    return int(head.split()[1]), json.loads(body)


def health(port: int, extra: bytes = b"") -> bytes:
    return b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n" + extra


@pytest.mark.parametrize(
    ("name", "extra", "needle"),
    [
        ("one 100 KB header", b"X-Big: " + b"a" * 100_000 + b"\r\n\r\n", "SIM_MAX_HEAD_BYTES"),
        (
            "2,000 headers",
            b"".join(b"X-%d: 1\r\n" % i for i in range(2000)) + b"\r\n",
            "SIM_MAX_HEADERS",
        ),
        (
            "8 MB of headers",
            b"".join(b"X-%d: %s\r\n" % (i, b"b" * 8000) for i in range(1000)) + b"\r\n",
            "SIM_MAX_HEAD_BYTES",
        ),
    ],
)
def test_an_oversized_head_is_431_in_the_envelope(
    server: int, name: str, extra: bytes, needle: str
) -> None:
    with connect(server) as sock:
        answer = send_head_in_chunks(sock, health(server, extra))
    status, body = status_and_body(answer)
    assert status == 431, name
    assert body["status"] == 431 and body["error"] == "request_header_fields_too_large"
    assert needle in str(body["message"])
    assert b"connection: close" in answer.lower()


def test_a_head_within_the_limits_is_served_and_kept_alive(server: int) -> None:
    extra = b"".join(b"X-%d: %s\r\n" % (i, b"c" * 100) for i in range(40)) + b"\r\n"
    with connect(server) as sock:
        for _ in range(2):  # two requests on one kept-alive connection
            sock.sendall(health(server, extra))
            answer = read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
            assert b'"status":"ok"' in answer


def test_a_slow_head_is_closed(server: int) -> None:
    """Slowloris: a header byte every 0.2 s never completes the head; the server answers
    408 and closes within the head timeout (plus slack), however long the client goes on."""
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(b"GET /_sim/health HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        while time.monotonic() - started < HEAD_TIMEOUT + 5:
            try:
                sock.sendall(b"X")
            except (BrokenPipeError, ConnectionResetError):
                break
            if readable(sock, 0.2):
                answer = read_all(sock)
                break
    elapsed = time.monotonic() - started
    assert elapsed < HEAD_TIMEOUT + 4, elapsed
    status, body = status_and_body(answer)
    assert status == 408 and body["error"] == "request_timeout"
    assert "SIM_HEAD_TIMEOUT_SECONDS" in str(body["message"])


def test_silent_and_idle_connections_are_closed(server: int) -> None:
    """Many connections that never send a byte, and one idle after a response: all closed
    within the head timeout and the keep-alive timeout, and the server still answers."""
    silent = [connect(server) for _ in range(50)]
    with connect(server) as idle:
        idle.sendall(health(server, b"\r\n"))
        assert read_response(idle).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        try:
            assert read_all(idle, limit_s=6) == b""  # closed quietly by the keep-alive timeout
            for sock in silent:  # each told 408, then closed
                status, _ = status_and_body(read_all(sock, limit_s=HEAD_TIMEOUT + 4))
                assert status == 408
            assert time.monotonic() - started < HEAD_TIMEOUT + 5
        finally:
            for sock in silent:
                sock.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{server}/_sim/health", timeout=5) as response:
        assert response.status == 200


def test_the_server_process_of_the_demo_and_listener_check_has_the_limits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SimulatorProcess` (used by `optisim demo` and the listener check) starts uvicorn
    with the same protocol and limits."""
    monkeypatch.setenv("SIM_MAX_HEAD_BYTES", "16384")
    process = SimulatorProcess(demo_scenario(100), tmp_path)
    try:
        asyncio.run(process.wait_ready(30))
        with connect(process.port) as sock:
            extra = b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n"
            status, body = status_and_body(send_head_in_chunks(sock, health(0, extra)))
        assert status == 431 and "16,384 bytes" in str(body["message"])
    finally:
        process.stop()
