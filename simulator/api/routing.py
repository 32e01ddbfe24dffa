"""The route class of every router: JSON request bodies are decoded by `simulator.wire.loads`,
so an integral number (`276.0`, `1e3`) is an int, as JSON Schema reads it, and the strict
request models (`simulator.wire.WireModel`) take it where an integer is expected."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from simulator.wire import loads


class WireRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # json.JSONDecodeError propagates: FastAPI turns it into a json_invalid 400.
            self._json = loads(await self.body())
        return self._json


class WireRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def wire_handler(request: Request) -> Response:
            return await handler(WireRequest(request.scope, request.receive))

        return wire_handler
