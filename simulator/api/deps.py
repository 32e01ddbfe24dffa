"""Request dependencies: the runtime, the authenticated caller, and running a service.

Auth (wire-contract §1-2): `X-API-KEY` (header names are case-insensitive) or the legacy
`Authorization-Token`; missing or unknown → 401, a role without the right → 403.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from fastapi import Depends, Request

from simulator.api.errors import RateLimited
from simulator.domain.errors import DomainError
from simulator.domain.models import Role
from simulator.services import tenants
from simulator.services.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    role: Role


async def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


async def authenticate(request: Request) -> Caller:
    # Headers are read directly (one dependency, not three: each FastAPI dependency costs
    # ~10 µs per request); the security schemes are added to the OpenAPI documents in app.py.
    rt: Runtime = request.app.state.runtime
    key = request.headers.get("x-api-key")
    token = request.headers.get("authorization-token")
    if key:
        found = rt.store.lookup_key(key)
        if found is None:
            raise DomainError("unauthorized", "Unauthorized: unknown API key")
        caller = Caller(*found)
    elif token:
        caller = Caller(*tenants.authenticate_token(rt, token))
    else:
        raise DomainError("unauthorized", "Unauthorized: send X-API-KEY")
    request.scope["optisim.tenant"] = caller.tenant_id
    await _inject_faults(request, caller, key or token or "")
    return caller


async def _inject_faults(request: Request, caller: Caller, key: str) -> None:
    """API faults and rate limiting, applied before the operation runs (so an injected
    error changes nothing), except a dropped or truncated response, which happens after
    it ran: the client cannot tell whether the call took effect, as on a real network."""
    app = request.app
    limiter = app.state.rate_limiter
    if limiter.applies(caller.tenant_id):
        wait = limiter.check(key, time.monotonic())
        if wait is not None:
            request.scope["optisim.fault"] = "rate_limited"
            raise RateLimited(
                max(1, math.ceil(wait)),
                f"Too many requests: {limiter.limit} per {limiter.window_s:g} seconds per key",
            )
    faults = app.state.faults
    if not faults.active(caller.tenant_id):
        return
    route = request.scope.get("route")
    operation = getattr(route, "operation_id", None) or "*"
    if operation in ("get_faults", "set_faults", "clear_faults"):
        return  # a `*` rule must never lock a tenant out of clearing its rules
    for fired in faults.api(caller.tenant_id, operation):
        request.scope["optisim.fault"] = fired.tag
        action = fired.rule.action
        if action == "latency":
            await asyncio.sleep(fired.latency_s())
        elif action == "error":
            raise DomainError(
                "injected_fault",
                f"injected fault: HTTP {fired.rule.status}",
                {"status": fired.rule.status},
            )
        elif action == "rate_limit":
            raise RateLimited(fired.rule.retryAfter, "injected fault: too many requests")
        else:  # drop_connection, truncate: the middleware cuts the response
            request.scope["optisim.cut"] = action


async def _require_admin(caller: Annotated[Caller, Depends(authenticate)]) -> Caller:
    if caller.role != "admin":
        raise DomainError("forbidden", "Forbidden: this operation needs an admin key")
    return caller


CallerDep = Annotated[Caller, Depends(authenticate)]
AdminDep = Annotated[Caller, Depends(_require_admin)]


async def call(
    rt: Runtime, fn: Callable[Concatenate[Runtime, P], T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run a service: inline for the in-memory store (microseconds, no thread hop), in a
    worker thread for a store that may wait on another process's lock."""
    if not rt.store.blocking:
        return fn(rt, *args, **kwargs)
    return await anyio.to_thread.run_sync(lambda: fn(rt, *args, **kwargs))
