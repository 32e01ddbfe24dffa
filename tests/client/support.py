"""Helpers for the reference-client suite: servers on free ports and small builders."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn

from reference_client import ClientConfig

HOST = "127.0.0.1"
ADMIN = "demo-admin-key"
INTEGRATIONS = "demo-integrations-key"
DEMO_SECRET = "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"
TRIGGERED_SECRET = "whsec_dHJpZ2dlcmVkLW93bi1zZWNyZXQtMDE="  # base64("triggered-own-secret-01")


def bound_socket() -> socket.socket:
    """A listening-ready socket on a free port (bound now, so nobody can take it)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="critical",
        lifespan="on",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=2,
    )


class ThreadServer:
    """An ASGI app served by uvicorn in a background thread (its own event loop)."""

    def __init__(self, app: Any) -> None:
        self.sock = bound_socket()
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self.server = uvicorn.Server(_config(app))
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=15, what="server start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        if self.thread.is_alive():  # pragma: no cover - a stuck shutdown
            self.server.force_exit = True
            self.thread.join(timeout=5)
        self.sock.close()
        assert not self.thread.is_alive(), "server thread did not stop"


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: it runs inside a test, not as a process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serve_here(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn in the current event loop; yields its base URL."""
    sock = bound_socket()
    config = _config(app)
    config.lifespan = "off"
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(15):
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.01)
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(15):
            await task
        sock.close()


def wait_until(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(interval)


async def eventually(
    check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> Any:
    """The async `wait_until`."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(interval)


def client_config(base_url: str = "http://optimove.test", **overrides: Any) -> ClientConfig:
    """A ClientConfig for tests: no environment, no file, fast retries."""
    values: dict[str, Any] = {
        "optimove_url": base_url,
        "api_key": INTEGRATIONS,
        "webhook_secret": DEMO_SECRET,
        "max_retries": 3,
        "request_timeout_s": 10,
        "redemption_interval_s": 0.2,
        **overrides,
    }
    return ClientConfig(**values)


class RecordingTransport(httpx.AsyncHTTPTransport):
    """A real HTTP transport that records every exchange: (method, path, status, whether
    the request carried a legacy `Authorization-Token`)."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[tuple[str, str, int, bool]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        token = "authorization-token" in request.headers
        self.exchanges.append((request.method, request.url.path, response.status_code, token))
        return response


class LossyTransport(httpx.AsyncHTTPTransport):
    """A real HTTP transport whose network "loses" some responses: for the calls numbered
    in `lose` (1-based, counted per path fragment) the request reaches the server and is
    applied, then the client gets a ReadError instead of the answer."""

    def __init__(self, lose: dict[str, set[int]]) -> None:
        super().__init__()
        self.lose = lose
        self.calls: dict[str, int] = {}
        self.lost: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        for fragment, numbers in self.lose.items():
            if fragment in request.url.path:
                self.calls[fragment] = n = self.calls.get(fragment, 0) + 1
                if n in numbers:
                    await response.aread()
                    await response.aclose()
                    self.lost.append(f"{fragment}#{n}")
                    raise httpx.ReadError("the response was lost on the way back")
        return response
