"""Test doubles and helpers for the webhook suite.

- `Listener`: a real HTTP receiver (a small ASGI app run by uvicorn in a background thread
  on 127.0.0.1) that records every request and answers from a programmable script of
  (status, delay) steps.
- `ServerProcess`: the simulator itself as a subprocess (`uvicorn simulator.cli:app_from_env
  --factory`), for what needs a real server and a real process (cut connections, restart).
- Small wire helpers over `Sim`, and `wait_until`, the one bounded polling loop.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from tests.helpers import ADMIN, Sim

T = TypeVar("T")
DEMO_SECRET = "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"
HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
# For rules that do not involve the store (signing, API fault injection), one store is
# enough: it overrides the `store_kind` fixture's (memory, sqlite) parameters.
memory_only = pytest.mark.parametrize("store_kind", ["memory"])


# -- waiting -------------------------------------------------------------------------------
def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll `check` until it returns something truthy (returned), at most `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last={last!r}")
        time.sleep(interval)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


class ClosedPort:
    """A port that refuses connections: bound (so nobody else takes it) but not listening.
    A `Listener` can later be started on the very same socket."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.port: int = self.sock.getsockname()[1]

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def close(self) -> None:
        self.sock.close()


# -- the listener ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # wall clock (time.time()) when the request had been read

    @property
    def id(self) -> str:
        return self.headers.get("webhook-id", "")


class Listener:
    """A webhook receiver. `script` holds (status, delay seconds) steps used by the next
    requests in arrival order; once it is used up, `default` answers."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((HOST, 0))
        self.sock = sock
        self.port: int = sock.getsockname()[1]
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._script: list[tuple[int, float]] = []
        self._default: tuple[int, float] = (200, 0.0)
        self._stopping = False
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # behaviour
    def respond(
        self, *steps: int | tuple[int, float], status: int = 200, delay: float = 0.0
    ) -> None:
        """Answer the next requests with `steps` (a status, or (status, delay)), then
        every later one with `status` after `delay` seconds."""
        script = [(s, 0.0) if isinstance(s, int) else s for s in steps]
        with self._lock:
            self._script = script
            self._default = (status, delay)

    def url(self, path: str = "/hook") -> str:
        return f"http://{HOST}:{self.port}{path}"

    def reset(self) -> None:
        """Forget what arrived and answer 200 again (a listener shared between tests)."""
        with self._lock:
            self._received.clear()
            self._script = []
            self._default = (200, 0.0)

    # what arrived
    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Wait until at least `count` requests (to `path`) arrived; returns them all."""

        def enough() -> list[Received] | None:
            found = self.received(path)
            return found if len(found) >= count else None

        return wait_until(
            enough,
            timeout=timeout,
            what=f"{count} request(s) at the listener{f' on {path}' if path else ''}",
        )

    # the ASGI app
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self._lock:
            self._received.append(
                Received(scope["method"], scope["path"], headers, body, time.time())
            )
            status, delay = self._script.pop(0) if self._script else self._default
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.02, max(0.0, deadline - time.monotonic())))
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    # lifecycle
    def start(self) -> Listener:
        config = uvicorn.Config(
            self,
            host=HOST,
            port=self.port,
            log_level="critical",
            lifespan="off",
            ws="none",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self._thread.start()
        wait_until(lambda: server.started, timeout=10, interval=0.01, what="listener start")
        return self

    def stop(self) -> None:
        self._stopping = True
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
            if self._thread.is_alive():  # pragma: no cover - a stuck shutdown
                self._server.force_exit = True
                self._thread.join(timeout=5)
            assert not self._thread.is_alive(), "the listener thread did not stop"
        self.sock.close()


# -- the simulator, through the wire ------------------------------------------------------------
def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    return response.json() if response.content else None


def configure(
    sim: Sim,
    retry_delays: Iterable[float] = (10, 20, 40),
    time_scale: float = 0.001,
    **more: Any,
) -> dict[str, Any]:
    """The tenant's webhook config; retry delays in seconds times time_scale (ms by default)."""
    body = {"retryDelays": list(retry_delays), "timeScale": time_scale, **more}
    result: dict[str, Any] = ok(sim.put("/_sim/webhooks/config", body))
    return result


def register(sim: Sim, url: str, types: Iterable[int] = (5, 4)) -> None:
    for event_type in types:
        ok(
            sim.post(
                "/current/general/RegisterEventListener",
                {"EventTypeID": event_type, "ListenerURL": url},
            )
        )


def register_ce(sim: Sim, url: str, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if secret is not None:
        body["secret"] = secret
    result: dict[str, Any] = ok(
        sim.post("/conditional-execution/v2/triggered/webhooks/", body), 201
    )
    return result


def emit(sim: Sim, count: int, **more: Any) -> dict[str, Any]:
    """Emit `count` triggered events; returns the response body. (The suite reads webhook
    ids from the delivery log, so that one wrong response field fails one test only.)"""
    result: dict[str, Any] = ok(sim.emit(count=count, **more), 201)
    return result


def deliveries(sim: Sim, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(sim.get("/_sim/deliveries", params=params))["deliveries"]
    return found


def delivery(sim: Sim, event_id: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(sim.get(f"/_sim/deliveries/{event_id}"))
    return found


def attempts(sim: Sim, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = ok(sim.get("/_sim/attempts", params={"limit": 10_000, **params}))[
        "attempts"
    ]
    return found


def wait_settled(
    sim: Sim, total: int, timeout: float = 10.0, **params: Any
) -> list[dict[str, Any]]:
    """Wait until `total` deliveries exist and none is pending; returns them."""

    def settled() -> list[dict[str, Any]] | None:
        found = deliveries(sim, limit=10_000, **params)
        if len(found) >= total and all(d["status"] != "pending" for d in found):
            return found
        return None

    return wait_until(settled, timeout=timeout, interval=0.05, what=f"{total} settled deliveries")


def set_faults(sim: Sim, rules: list[dict[str, Any]], seed: int | None = None) -> None:
    body: dict[str, Any] = {"rules": rules}
    if seed is not None:
        body["seed"] = seed
    ok(sim.put("/_sim/faults", body))


def journal_faults(sim: Sim) -> list[tuple[str, str]]:
    entries = ok(sim.get("/_sim/journal", params={"limit": 10_000}))["entries"]
    return [(e["path"], e["fault"]) for e in entries if e.get("fault")]


def verify(sim: Sim, body: bytes | str, headers: Mapping[str, str]) -> dict[str, Any]:
    text = body.decode() if isinstance(body, bytes) else body
    result: dict[str, Any] = ok(
        sim.post("/_sim/webhooks/verify", {"body": text, "headers": dict(headers)})
    )
    return result


# -- the simulator as a process -------------------------------------------------------------------
class ServerProcess:
    """`python -m uvicorn simulator.cli:app_from_env --factory` on a free 127.0.0.1 port."""

    def __init__(self, env: Mapping[str, str], port: int | None = None, log: Path | None = None):
        self.port = port or free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
        self.env.update({"SIM_SCENARIO": "demo", "SIM_CLOCK": "manual", **env})
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: Any = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        self._out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "simulator.cli:app_from_env",
                "--factory",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=REPO,
            env=self.env,
            stdout=self._out,
            stderr=self._out,
        )

        def healthy() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited with {self.proc.returncode}")
            try:
                return httpx.get(f"{self.base}/_sim/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=timeout, interval=0.1, what="the server to start")
        return self

    def client(self, key: str = ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-KEY": key}, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._out not in (None, subprocess.DEVNULL):
            self._out.close()
        self._out = None
