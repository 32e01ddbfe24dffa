"""A trivial webhook listener (raw ASGI): reads the body, answers 200 with no content.

The receiving end of `bench_webhooks`, so the figures measure optisim's dispatcher, not a
framework on the other side. `GET /health` answers 200 too.
"""

from __future__ import annotations

from typing import Any

_START = {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]}
_BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(_START)
    await send(_BODY)
