"""The upstream that differs on purpose: optisim (`SIM_*` settings, e.g.
`SIM_DUPLICATE_APPROVALS=ignore`) wrapped in a middleware that rewrites two answers; a
uvicorn factory for `SimulatorProcess(factory="tests.proxy.upstream:differing_app")`."""

from __future__ import annotations

import json
from typing import Any

from simulator.cli import app_from_env

PLANTED_MESSAGE = "Promotion does not exist"


class Differ:
    """Rewrites two answers of the wrapped app: the 404 text of an unknown promotion and
    the `name` of a promotion (renamed `title`)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not path.startswith("/v1/promotions/")
        ):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    body = json.loads(b"".join(chunks))
                    if start["status"] == 404:
                        body["message"] = PLANTED_MESSAGE
                    elif "name" in body:
                        body["title"] = body.pop("name")
                    raw = json.dumps(body).encode()
                    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                    headers.append((b"content-length", str(len(raw)).encode()))
                    await send({**start, "headers": headers})
                    await send({"type": "http.response.body", "body": raw})

        await self.app(scope, receive, capture)


def differing_app() -> Differ:
    return Differ(app_from_env())
