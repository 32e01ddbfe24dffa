"""The one table from domain error codes to HTTP statuses, and the two error body shapes.

Core API (legacy function routes) answers 400/401/403/404/405/413 with a JSON *string*
body (real clients treat a body starting with `"` as an error text, optimove-api-facts
§1.6); everything else, core 409/429 included, uses the envelope
`{"status", "error", "message", "details"?}` (wire-contract §1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from simulator.domain.errors import DomainError

LOG = logging.getLogger(__name__)

STATUS: dict[str, int] = {
    "invalid_request": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "token_expired": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "too_many_requests": 429,
    "internal_error": 500,
}
CORE_STRING_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 415})
RESERVED_ROOTS = frozenset({"v1", "_sim", "conditional-execution", "docs", "redoc", "openapi.json"})


class RateLimited(Exception):
    """429 with `Retry-After` seconds (rate-limit emulation or an injected fault)."""

    def __init__(self, retry_after: int, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.message = message


def status_of(code: str) -> int:
    """HTTP status of a domain error code: the table, then `unknown_*` → 404, else 409."""
    if code in STATUS:
        return STATUS[code]
    return 404 if code.startswith("unknown_") else 409


def is_core_path(path: str) -> bool:
    root = path.lstrip("/").split("/", 1)[0]
    return root not in RESERVED_ROOTS


def allowed_methods(routes: Iterable[Any]) -> Callable[[str], str]:
    """The `Allow` header value of a path: every method of every route whose path matches
    it, so a 405 lists them all (RFC 9110 §15.5.6; wire-contract §1, rev 2). Starlette's own
    405 names only the methods of the first route matching the path, which is wrong where
    one path has a route per method (`GET`/`PUT`/`DELETE /_sim/faults`).

    A literal path names its own resource: `/_sim/deliveries/resend-failed` lists only its
    own methods, not those of `/_sim/deliveries/{eventId}` whose pattern also matches it
    (the contract documents, and clients read, the literal one)."""
    table = [
        (r.path_regex, r.methods, not r.param_convertors)
        for r in routes
        if isinstance(r, APIRoute) and r.methods
    ]

    def allow(path: str) -> str:
        literal: set[str] = set()
        matched: set[str] = set()
        for regex, served, is_literal in table:
            if regex.match(path):
                (literal if is_literal else matched).update(served)
        return ", ".join(sorted(literal or matched))

    return allow


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"status": status, "error": code, "message": message}
    if details:
        body["details"] = details
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def core_text(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(message), status, headers, media_type="application/json")


EXPIRED_TOKEN = "Authorization-Token Expired"


def expired_token() -> Response:
    """403 for an expired `Authorization-Token` on a core route: plain text, no JSON quotes.
    A production client logs in again only when the raw body is exactly this text
    (wire-contract §2, "Legacy token"; Optimove's login diagram 3b). Other surfaces answer
    the envelope, `token_expired`."""
    return Response(EXPIRED_TOKEN, 403, media_type="text/plain")


def error_response(
    path: str,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The right body shape for the surface `path` belongs to."""
    if status in CORE_STRING_STATUSES and is_core_path(path):
        return core_text(status, message, headers)
    return envelope(status, code, message, details, headers)


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic `loc` as the field path users write: `contexts[0].customerId`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("body", "query", "path", "header"):
            out += f".{part}" if out else str(part)
    return out or "body"


def describe(errors: list[Any]) -> tuple[str, list[dict[str, str]]]:
    """A message naming the first bad field, and every problem as details."""
    problems = [
        {
            "field": "body"
            if e.get("type") == "json_invalid"
            else field_path(tuple(e.get("loc", ()))),
            "problem": "not valid JSON"
            if e.get("type") == "json_invalid"
            else str(e.get("msg", "invalid")),
        }
        for e in errors[:20]
    ]
    if not problems:
        return "invalid request", []
    first = problems[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{first['field']}: {first['problem']}{more}", problems


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the contract's error bodies."""

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        request.scope["optisim.error"] = exc.code
        if exc.code == "injected_fault":  # an injected 5xx: always the envelope
            status = int((exc.details or {}).get("status", 503))
            return envelope(status, exc.code, exc.message)
        path = request.url.path
        if exc.code == "token_expired" and is_core_path(path):
            return expired_token()
        headers = None
        if exc.code == "too_many_requests":  # the login limits (wire-contract §2)
            headers = {"Retry-After": str((exc.details or {}).get("retryAfter", 1))}
        return error_response(
            path, status_of(exc.code), exc.code, exc.message, exc.details, headers
        )

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, problems = describe(list(exc.errors()))
        request.scope["optisim.error"] = "invalid_request"
        return error_response(
            request.url.path, 400, "invalid_request", message, {"problems": problems}
        )

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        message = "Method Not Allowed" if exc.status_code == 405 else str(exc.detail)
        request.scope["optisim.error"] = code
        headers = exc.headers
        allow = getattr(request.app.state, "allow", None)
        if exc.status_code == 405 and allow is not None:
            headers = {**(headers or {}), "Allow": allow(request.url.path)}
        return error_response(request.url.path, exc.status_code, code, message, None, headers)

    async def on_rate_limited(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RateLimited)
        request.scope["optisim.error"] = "too_many_requests"
        headers = {"Retry-After": str(exc.retry_after)}
        return envelope(429, "too_many_requests", exc.message, None, headers)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        LOG.exception("unexpected error on %s %s", request.method, request.url.path)
        return envelope(500, "internal_error", f"{type(exc).__name__}: the simulator failed")

    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RateLimited, on_rate_limited)
    app.add_exception_handler(Exception, on_unexpected)
