"""How the simulator is served by uvicorn: request-head limits and timeouts.

uvicorn bounds a request head only on its h11 parser (`h11_max_incomplete_event_size`,
answered 400) and never times out a head that arrives slowly. The simulator is shared by
many test runs, so one client must not hold a server's memory or connections with a huge
or endless head. `HeadLimitedProtocol` is uvicorn's httptools protocol with:

- at most `SIM_MAX_HEAD_BYTES` bytes of request line and headers (uvicorn's
  `h11_max_incomplete_event_size` setting carries it) and at most `SIM_MAX_HEADERS`
  header fields: beyond either, 431 Request Header Fields Too Large, and the connection
  closes (RFC 6585 §5);
- a head must be complete within `SIM_HEAD_TIMEOUT_SECONDS` of its first byte (or of the
  connection opening): else 408 Request Timeout and the connection closes (slowloris);
- an idle kept-alive connection closes after `SIM_KEEP_ALIVE_SECONDS` (uvicorn's
  `timeout_keep_alive`).

Every place that starts a server passes `uvicorn_options` (in process) or
`server_process.uvicorn_cli_args` (a `python -m uvicorn` process).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from simulator.server_process import HEAD_LIMITED_PROTOCOL
from simulator.settings import SimSettings

PROTOCOL = HEAD_LIMITED_PROTOCOL


@dataclass(frozen=True, slots=True)
class HeadLimits:
    max_bytes: int
    max_headers: int
    timeout_s: float


@cache
def _limits_from_env() -> HeadLimits:
    # Read once per server process: `optisim serve` and the server process put every
    # setting in the environment of the processes uvicorn starts; parsed and checked by
    # the settings model itself, as the app reads the rest.
    settings = SimSettings()
    return HeadLimits(settings.max_head_bytes, settings.max_headers, settings.head_timeout_seconds)


def uvicorn_options(settings: SimSettings) -> dict[str, Any]:
    """The uvicorn.run / uvicorn.Config keyword arguments for the head limits."""
    return {
        "http": PROTOCOL,
        "h11_max_incomplete_event_size": settings.max_head_bytes,
        "timeout_keep_alive": settings.keep_alive_seconds,
    }


class _HeadRefused(Exception):
    """Raised from a parser callback: httptools stops parsing at once."""


def _envelope(status: int, error: str, message: str) -> bytes:
    """A whole HTTP response closing the connection, the body in the error envelope."""
    body = orjson.dumps({"status": status, "error": error, "message": message, "details": {}})
    return b"".join(
        [
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode(),
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
            body,
        ]
    )


class HeadLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads (module docstring)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = _limits_from_env()
        self.max_head_bytes = config.h11_max_incomplete_event_size or limits.max_bytes
        self.max_headers = limits.max_headers
        self.head_timeout_s = limits.timeout_s
        self._head_bytes = 0
        self._head_fields = 0
        self._refusal: bytes | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    # -- the head timer ------------------------------------------------------------------
    def _arm_head_timer(self) -> None:
        if self._head_timer is None and math.isfinite(self.head_timeout_s):
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            message = (
                f"request head not complete within {self.head_timeout_s:g} s "
                "(SIM_HEAD_TIMEOUT_SECONDS)"
            )
            self.transport.write(_envelope(408, "request_timeout", message))
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()  # a connection that never sends a head is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    # -- counting the head ---------------------------------------------------------------
    def _count(self, size: int, fields: int = 0) -> None:
        self._head_bytes += size
        self._head_fields += fields
        if self._head_bytes > self.max_head_bytes:
            message = f"request head larger than {self.max_head_bytes:,} bytes (SIM_MAX_HEAD_BYTES)"
        elif self._head_fields > self.max_headers:
            message = f"more than {self.max_headers:,} header fields (SIM_MAX_HEADERS)"
        else:
            return
        self._refusal = _envelope(431, "request_header_fields_too_large", message)
        raise _HeadRefused

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_fields = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4, 1)  # "name: value\r\n"
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # A callback's exception reaches uvicorn as a parser error (a 400): a refused
        # head answers 431 instead.
        if self._refusal is not None:
            self.transport.write(self._refusal)
            self.transport.close()
            return
        super().send_400_response(msg)
