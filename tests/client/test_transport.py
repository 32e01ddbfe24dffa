"""transport.py: the aiohttp sender (the default) against a real socket server whose
paths misbehave on purpose. Every accident is a `TransportFailure`; an answer is a
`Reply` whatever its status. (The httpx sender is covered through test_http.py.)"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from reference_client.transport import AiohttpSender, Reply, TransportFailure
from tests.client.support import HOST, bound_socket


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode()
        if path.startswith("/ok"):
            body = b'{"query":"' + path.encode() + b'"}'
            writer.write(
                b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                b"Retry-After: 7\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
            )
            writer.write(body)
        elif path == "/drop":
            pass  # close without a word
        elif path == "/cut":
            writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
        elif path == "/slow":
            await asyncio.sleep(5)
        await writer.drain()
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def server() -> AsyncIterator[str]:
    sock = bound_socket()
    srv = await asyncio.start_server(_handle, sock=sock)
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}"
    finally:
        srv.close()
        await srv.wait_closed()


def sender(url: str, timeout_s: float = 2.0) -> AiohttpSender:
    return AiohttpSender(url, {"X-API-KEY": "k"}, timeout_s=timeout_s, max_connections=4)


def test_an_answer_is_a_reply_with_case_insensitive_headers_and_the_query() -> None:
    async def scenario() -> Reply:
        async with server() as url:
            s = sender(url)
            try:
                return await s.send("GET", "/ok", {"$top": 10, "Attrs": "a;b"}, None, None)
            finally:
                await s.aclose()

    reply = asyncio.run(scenario())
    assert reply.status == 201
    assert reply.headers["retry-after"] == "7"
    assert b"top=10" in reply.body and b"Attrs=a" in reply.body


@pytest.mark.parametrize("path", ["/drop", "/cut", "/slow"])
def test_accidents_are_transport_failures(path: str) -> None:
    async def scenario() -> None:
        async with server() as url:
            s = sender(url, timeout_s=0.5)
            try:
                with pytest.raises(TransportFailure):
                    await s.send("POST", path, None, b"{}", {"Content-Type": "application/json"})
            finally:
                await s.aclose()

    asyncio.run(asyncio.wait_for(scenario(), timeout=20))


def test_a_refused_connection_is_a_transport_failure() -> None:
    sock = bound_socket()  # bound, never listening: connections are refused
    url = f"http://{HOST}:{sock.getsockname()[1]}"

    async def scenario() -> None:
        s = sender(url)
        try:
            with pytest.raises(TransportFailure, match="Connect"):
                await s.send("GET", "/", None, None, None)
        finally:
            await s.aclose()

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    finally:
        sock.close()
