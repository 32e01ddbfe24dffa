"""The express lane: the hottest operations served without FastAPI's per-request machinery.

A triggered campaign costs one CE v2 approval request per customer event (the route has no
batch form), so that request's overhead bounds the simulator's event rate. Profiled in
process (docs/decisions.md, "The simulator's speed"), an approval spent ~85 % of its time in
FastAPI's routing through included routers, dependency solving and exception-handling
layers, and ~15 % in the operation itself.

The lane runs the SAME endpoint function with the SAME request model, authentication,
fault injection and exception handlers; it only skips the generic plumbing around them:

1. the route is found by (method, path) among a few express routes, not by trying every
   route of every router;
2. the body (and path parameters) are validated first, with no side effects. Anything the
   lane is not sure about (a content type other than JSON, a body, path or query parameter
   that does not parse or validate, an unknown or repeated query parameter) is handed to
   FastAPI unchanged, body replayed, so every 4xx is FastAPI's own answer, byte for byte;
3. then the caller is authenticated (rate limits and injected faults fire once), the
   endpoint runs, and a raised error goes to the handler FastAPI would have used; an error
   with no handler propagates, as it does from FastAPI, to the 500 handler.

Only endpoints of the shape `(rt: RuntimeDep, caller: CallerDep, <path parameters>,
body: <model>, <query parameters with defaults>)` qualify; `ExpressLane.build` refuses others,
so the lane can never silently skip a dependency it does not know.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi.params import Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.api.deps import CallerDep, RuntimeDep, authenticate
from simulator.wire import loads

Handler = Callable[[Request, Any], Response | Awaitable[Response]]
JSON_TYPES = frozenset({b"application/json", b"application/json; charset=utf-8"})


@dataclass(frozen=True, slots=True)
class ExpressRoute:
    """One route's endpoint, split into what the lane must supply."""

    route: APIRoute
    body_name: str
    body_model: type[BaseModel]
    paths: tuple[tuple[str, TypeAdapter[Any]], ...]  # path parameters and their types
    queries: Mapping[str, TypeAdapter[Any]]  # query parameters and their types
    defaults: Mapping[str, Any]  # what the query parameters are when not given

    @classmethod
    def of(cls, route: APIRoute) -> ExpressRoute:
        hints = typing.get_type_hints(route.endpoint, include_extras=True)
        body: tuple[str, type[BaseModel]] | None = None
        path_params: dict[str, TypeAdapter[Any]] = {}
        queries: dict[str, TypeAdapter[Any]] = {}
        defaults: dict[str, Any] = {}
        for name, param in inspect.signature(route.endpoint).parameters.items():
            hint = hints[name]
            if name in ("rt", "caller") and hint in (RuntimeDep, CallerDep):
                continue
            if name in route.param_convertors:
                path_params[name] = TypeAdapter(hint)
            elif isinstance(param.default, Query) and param.default.alias in (None, name):
                queries[name] = TypeAdapter(hint)
                defaults[name] = param.default.default
            elif isinstance(hint, type) and issubclass(hint, BaseModel) and body is None:
                body = (name, hint)
            else:
                raise TypeError(f"{route.operation_id}: parameter {name!r} is not express")
        if body is None:
            raise TypeError(f"{route.operation_id}: an express route takes a JSON body")
        return cls(route, body[0], body[1], tuple(path_params.items()), queries, defaults)

    def arguments(
        self, body: bytes, matched: Mapping[str, str], query: bytes
    ) -> dict[str, Any] | None:
        """The endpoint's validated arguments, or None when FastAPI must judge the input
        (it may be valid: a repeated or unknown query parameter is left to FastAPI too)."""
        given = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
        if len({name for name, _ in given}) < len(given) or any(
            name not in self.queries for name, _ in given
        ):
            return None
        try:
            args = dict(self.defaults)
            args |= {name: check.validate_python(matched[name]) for name, check in self.paths}
            args |= {name: self.queries[name].validate_python(text) for name, text in given}
            args[self.body_name] = self.body_model.model_validate(loads(body))
        except (ValueError, ValidationError):  # JSONDecodeError is a ValueError
            return None
        return args


class ExpressLane:
    """Serves the express routes; everything else goes to `fallback` (the FastAPI app)."""

    def __init__(
        self,
        routes: Iterable[ExpressRoute],
        handlers: Mapping[Any, Handler],
        fallback: ASGIApp,
    ) -> None:
        self.routes = tuple(routes)
        self.handlers = handlers
        self.fallback = fallback

    @classmethod
    def build(
        cls,
        routes: Iterable[Any],
        operations: Iterable[str],
        handlers: Mapping[Any, Handler],
        fallback: ASGIApp,
    ) -> ExpressLane:
        wanted = set(operations)
        found = [r for r in routes if isinstance(r, APIRoute) and r.operation_id in wanted]
        missing = wanted - {r.operation_id for r in found}
        if missing:
            raise LookupError(f"no route for express operations {sorted(missing)}")
        return cls((ExpressRoute.of(r) for r in found), handlers, fallback)

    def match(self, scope: Scope) -> tuple[ExpressRoute, dict[str, str]] | None:
        method, path = scope["method"], scope["path"]
        for express in self.routes:
            route = express.route
            if route.methods is not None and method in route.methods:
                found = route.path_regex.match(path)
                if found is not None:
                    return express, found.groupdict()
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        plain = scope["type"] == "http" and not scope.get("root_path")
        matched = self.match(scope) if plain else None
        if matched is None or _content_type(scope) not in JSON_TYPES:
            await self.fallback(scope, receive, send)
            return
        express, params = matched
        request = Request(scope, receive)
        try:
            body = await request.body()
        except Exception as exc:  # a streamed body over the limit (413): FastAPI's handler
            await self._fail(request, exc, send)
            return
        args = express.arguments(body, params, scope.get("query_string", b""))
        if args is None:
            await self.fallback(scope, _replay(body, receive), send)
            return
        route = express.route
        scope.update(route=route, endpoint=route.endpoint, path_params=params)
        try:
            rt = request.app.state.runtime
            caller = await authenticate(request)
            response: Response = await route.endpoint(rt=rt, caller=caller, **args)
        except Exception as exc:
            await self._fail(request, exc, send)
            return
        await response(scope, receive, send)

    async def _fail(self, request: Request, exc: Exception, send: Send) -> None:
        handler = _handler_for(self.handlers, exc)
        if handler is None:
            raise exc  # to the server-error middleware, as from FastAPI
        response = handler(request, exc)
        if inspect.isawaitable(response):  # Starlette allows sync handlers too
            response = await response
        await response(request.scope, request.receive, send)


def _handler_for(handlers: Mapping[Any, Handler], exc: Exception) -> Handler | None:
    """Starlette's rule: the closest class in the exception's MRO; `Exception` itself is the
    500 handler, which belongs to the server-error middleware, not to routes."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


def _content_type(scope: Scope) -> bytes | None:
    for key, value in scope["headers"]:
        if key == b"content-type":
            return bytes(value).lower()
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more for FastAPI, then the connection's own messages (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
