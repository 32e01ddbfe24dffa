"""How the API clients put bytes on the wire: one `send` that returns a `Reply` or raises
`TransportFailure` (no usable answer: refused, dropped, timed out, cut short).

Two senders, one contract:
- `AiohttpSender` (the default): aiohttp's connection pool. Measured on our 2-core machine
  against a trivial listener, 16 requests in flight: httpx's default pool 297 req/s at
  3,263 µs of client CPU per request, httpx over an aiohttp transport 684 µs, aiohttp
  233 µs (docs/decisions.md). A burst of triggered events costs the integrator one
  approval call per event, so this is the difference between 150 and 1,000+ events/s.
- `HttpxSender`: any httpx transport, for tests (`httpx.MockTransport`) and for running
  against an in-process app (`httpx.ASGITransport`).
The retry rules live above this seam (`http.py`), so both senders share them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer, read to the end."""

    status: int
    headers: Mapping[str, str]  # case-insensitive in both senders
    body: bytes


class TransportFailure(Exception):
    """No usable answer: the request may or may not have been applied."""


class Sender(Protocol):
    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Reply: ...

    async def aclose(self) -> None: ...


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AiohttpSender:
    """aiohttp with a bounded pool; the session is created on first use, inside the
    running event loop (aiohttp binds a session to its loop)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        max_connections: int,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                cookie_jar=aiohttp.DummyCookieJar(),  # key auth: no cookie is ever needed
            )
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Reply:
        session = self._open()
        query = {k: str(v) for k, v in params.items()} if params else None
        try:
            async with session.request(
                method, self._base + path, params=query, data=content, headers=headers
            ) as response:
                body = await response.read()
                return Reply(response.status, response.headers, body)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError):
            raise  # our own mistake: repeating cannot help
        except (aiohttp.ClientError, TimeoutError) as exc:
            # Refused, reset or dropped connections, cut bodies (ClientPayloadError) and
            # timeouts (asyncio.TimeoutError is TimeoutError on 3.11).
            raise TransportFailure(_reason(exc)) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            # Let the connector's transports finish closing (aiohttp's documented advice),
            # so no "unclosed transport" warning fires at interpreter exit.
            await asyncio.sleep(0)


class HttpxSender:
    """Any httpx transport behind the same seam."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        max_connections: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers),
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections),
        )

    async def send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> Reply:
        try:
            response = await self._client.request(
                method, path, params=params, content=content, headers=headers
            )
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError):
            raise  # our own mistake: repeating cannot help
        except httpx.TransportError as exc:  # timeouts, refused/dropped, cut bodies
            raise TransportFailure(_reason(exc)) from exc
        return Reply(response.status_code, response.headers, response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
