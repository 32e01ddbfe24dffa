"""Request dependencies: the runtime, the authenticated caller, and running a service.

Auth (wire-contract §1-2): `X-API-KEY` (header names are case-insensitive) or the legacy
`Authorization-Token`; missing or unknown → 401, a role without the right → 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Concatenate, ParamSpec, TypeVar

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from simulator.domain.errors import DomainError
from simulator.domain.models import Role
from simulator.services import tenants
from simulator.services.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")

# Declared for the OpenAPI documents (security schemes); read case-insensitively.
api_key_header = APIKeyHeader(name="X-API-KEY", auto_error=False)
token_header = APIKeyHeader(name="Authorization-Token", auto_error=False)


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    role: Role


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def _authenticate(
    request: Request,
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[str | None, Depends(token_header)],
) -> Caller:
    rt = runtime(request)
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
    return caller


def _require_admin(caller: Annotated[Caller, Depends(_authenticate)]) -> Caller:
    if caller.role != "admin":
        raise DomainError("forbidden", "Forbidden: this operation needs an admin key")
    return caller


CallerDep = Annotated[Caller, Depends(_authenticate)]
AdminDep = Annotated[Caller, Depends(_require_admin)]


async def call(
    rt: Runtime, fn: Callable[Concatenate[Runtime, P], T], *args: P.args, **kwargs: P.kwargs
) -> T:
    """Run a service: inline for the in-memory store (microseconds, no thread hop), in a
    worker thread for a store that may wait on another process's lock."""
    if not rt.store.blocking:
        return fn(rt, *args, **kwargs)
    return await anyio.to_thread.run_sync(lambda: fn(rt, *args, **kwargs))
