"""One pure-ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware on every request):

1. rewrites every spelling of a core function route to its canonical path, and answers an
   unknown core function with 405 "Method Not Allowed" (wire-contract §8);
2. refuses bodies over the limit with 413 before reading them (wire-contract §8: 10 MB);
3. writes each request to the journal once the tenant is known, with its W3C
   `traceparent` when it carried a valid one (simulator.tracing);
4. hands each request's route, status and duration to `observe` (the metrics' request
   counters, simulator.metrics), the express lane's requests included: the lane runs
   inside this middleware and sets the same `route` in the scope as FastAPI's router.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulator.api.core import CORE_FUNCTIONS
from simulator.api.errors import RESERVED_ROOTS, error_response
from simulator.api.journal import Journal
from simulator.domain.rules import CATALOGUE
from simulator.services import coverage as cov
from simulator.tracing import parse as parse_traceparent

# (scope, status, seconds): called once per request after the response (or the error).
Observe = Callable[[Scope, int, float], None]

# A version segment of a core base URL: `/v3.0/`, `/v1.6/` (wire-contract §2, rev 2). Two
# numbers always: `/v1/` is the Promotions API, not a core base.
_VERSION = re.compile(r"v[0-9]+\.[0-9]+", re.IGNORECASE)


def canonical_core_path(path: str) -> str | None:
    """The canonical path of a core route, '' for an unknown core function, None when the
    path belongs to another surface.

    A core route is `/{base}/{category}/{Function}` with the base `current` or a version
    (`v3.0`, `v1.6`: published clients hard-code these) or no base at all; everything is
    matched case-insensitively (wire-contract §2)."""
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in RESERVED_ROOTS:  # first: the hot routes skip the regex
        return None
    based = bool(parts) and (parts[0].lower() == "current" or bool(_VERSION.fullmatch(parts[0])))
    if based:
        parts = parts[1:]
    if len(parts) != 2:
        return "" if based else None
    return CORE_FUNCTIONS.get((parts[0].lower(), parts[1].lower()), "")


class SimMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        journal: Journal,
        max_body: int,
        on_write: Callable[[str | None], None] | None = None,
        express: Callable[[ASGIApp], ASGIApp] | None = None,
        observe: Observe | None = None,
        coverage: cov.CoverageLog | None = None,
    ) -> None:
        # The express lane (simulator.api.express) sits in front of the routers, inside
        # this middleware: the hot operations are journalled, limited and cut like any other.
        self.app = express(app) if express is not None else app
        self.journal = journal
        self.max_body = max_body
        self.on_write = on_write
        self.observe = observe
        self.coverage = coverage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        canonical = canonical_core_path(path)
        started = time.perf_counter()
        if canonical == "":
            # No such core function: no method is served at this path, so the 405's `Allow`
            # is empty (RFC 9110 §10.2.1 allows that; docs/decisions.md, "Allow on 405").
            await self._reply(
                scope, send, 405, "method_not_allowed", "Method Not Allowed", {"Allow": ""}
            )
            if self.observe is not None:
                self.observe(scope, 405, time.perf_counter() - started)
            return
        if canonical is not None and canonical != path:
            scope = {**scope, "path": canonical, "raw_path": canonical.encode()}
        length, traceparent = _scan_headers(scope)
        if length is not None and length > self.max_body:
            message = f"request body over {self.max_body} bytes"
            await self._reply(scope, send, 413, "payload_too_large", message)
            if self.observe is not None:
                self.observe(scope, 413, time.perf_counter() - started)
            return
        status = 500
        cut_done = False
        held: Message | None = None

        async def send_wrapper(message: Message) -> None:
            nonlocal status, cut_done, held
            cut = scope.get("optisim.cut")
            if cut_done:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                if cut is not None:
                    held = message  # wait for the body: its length decides the cut
                    return
            elif cut is not None and held is not None:
                # An injected network fault: the operation ran, but the response is cut
                # off (truncate: half the body; drop_connection: none). The declared
                # length can never be reached, so even an empty 200 is incomplete, and
                # returning without completing the response makes the server close the
                # connection: the client sees a transport error, not an answer.
                body = message.get("body", b"")
                kept = body[: len(body) // 2] if cut == "truncate" else b""
                headers = [(k, v) for k, v in held["headers"] if k.lower() != b"content-length"]
                headers.append((b"content-length", str(len(body) + 1).encode()))
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": kept, "more_body": True})
                cut_done = True
                return
            await send(message)

        hits, token = cov.start()
        try:
            await self.app(scope, self._limited(receive), send_wrapper)
            if scope["method"] != "GET" and path.startswith("/_sim/") and self.on_write:
                # execute / cancel / events write webhooks and duties: wake the relay and
                # the clock sweep for this tenant
                self.on_write(scope.get("optisim.tenant"))
        finally:
            if self.observe is not None:
                self.observe(scope, status, time.perf_counter() - started)
            cov.stop(token)
            tenant = scope.get("optisim.tenant") or hits.tenant
            entry: dict[str, Any] = {}
            if tenant is not None and self.journal.enabled_for(tenant):
                self.journal.record(
                    tenant,
                    entry := {
                        "at": time.time(),
                        "method": scope["method"],
                        "path": path,
                        "query": scope.get("query_string", b"").decode("latin-1"),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 3),
                        "error": scope.get("optisim.error"),
                        "fault": scope.get("optisim.fault"),
                        "traceparent": traceparent,
                    },
                )
            if tenant is not None and self.coverage is not None:
                if not path.startswith("/_sim"):  # the integrator's calls, not control ones
                    _note_outcome(hits, scope)
                if hits:
                    self.coverage.record(tenant, hits, entry.get("seq"))

    def _limited(self, receive: Receive) -> Receive:
        """Count streamed body bytes too (a chunked body has no Content-Length)."""
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        return wrapped

    async def _reply(
        self,
        scope: Scope,
        send: Send,
        status: int,
        code: str,
        msg: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        response = error_response(scope["path"], status, code, msg, None, headers)
        await response(scope, _no_body, send)


def _note_outcome(hits: cov.Hits, scope: Scope) -> None:
    """Rules the request's outcome shows by itself: an injected fault, and a refusal the
    services did not note with its campaign (authentication, the login limits...)."""
    fault = scope.get("optisim.fault")
    if fault is not None:
        action = "rate_limit" if fault == "rate_limited" else fault
        action = "error" if action.startswith("error_") else action
        if f"fault.api.{action}" in CATALOGUE:
            hits.append((None, f"fault.api.{action}", 1))
    code = scope.get("optisim.error")
    if code is not None and not hits and f"refused.{code}" in CATALOGUE:
        hits.append((None, f"refused.{code}", 1))


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _scan_headers(scope: Scope) -> tuple[int | None, str | None]:
    """The declared body length and a valid W3C `traceparent` (None when absent or
    invalid: Trace Context §3.2 has a receiver ignore a malformed header), in one pass."""
    length: int | None = None
    traceparent: str | None = None
    headers: Any = scope.get("headers", ())
    for name, value in headers:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif name == b"traceparent":
            text = value.decode("latin-1")
            traceparent = text.strip() if parse_traceparent(text) is not None else None
    return length, traceparent
