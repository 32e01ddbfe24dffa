"""Fixtures of the webhook suite: a real HTTP listener, a port that refuses connections,
and the simulator as a subprocess. Every one is torn down with bounded waits."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.webhooks.support import ClosedPort, Listener, ServerProcess


@pytest.fixture
def make_listener() -> Iterator[Callable[..., Listener]]:
    """`make_listener(sock=None, start=True)`: listeners, all stopped after the test."""
    made: list[Listener] = []

    def make(sock: socket.socket | None = None, start: bool = True) -> Listener:
        listener = Listener(sock)
        made.append(listener)
        return listener.start() if start else listener

    yield make
    for listener in made:
        listener.stop()


@pytest.fixture(scope="session")
def shared_listener() -> Iterator[Listener]:
    listener = Listener().start()
    yield listener
    listener.stop()


@pytest.fixture
def listener(shared_listener: Listener) -> Iterator[Listener]:
    """A started listener answering 200 (program it with `listener.respond(...)`); one
    server for the session (cheaper), emptied and reset before and after each test."""
    shared_listener.reset()
    yield shared_listener
    shared_listener.reset()


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    port = ClosedPort()
    yield port
    port.close()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """`make_server(env={...}, port=None)`: started simulator processes, all stopped after
    the test (terminate, then kill after a bounded wait)."""
    made: list[ServerProcess] = []

    def make(env: dict[str, str] | None = None, port: int | None = None) -> ServerProcess:
        server = ServerProcess(env or {}, port, log=tmp_path / f"server-{len(made)}.log")
        made.append(server)
        return server.start()

    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One demo server (memory store, manual clock) for a module's tests; each test uses
    its own campaign and sets its own fault rules."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    server = ServerProcess({}, log=log)
    try:
        yield server.start()
    finally:
        server.stop()
