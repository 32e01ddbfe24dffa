"""Signing in to the dashboard: the admin key in an HTTP-only cookie, and the CSRF token.

The key is sent once, in a form body (never a URL), and kept in a cookie scoped to that
tenant's pages (`Path=/_sim/ui/<tenant>`, `HttpOnly`, `SameSite=Strict`), so a browser may
be signed in to several tenants at once and no script can read the key. Every form that
changes something carries a token derived from the key and a per-process secret: a page
of another site can neither send the cookie (SameSite) nor know the token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from simulator.services.runtime import Runtime

PREFIX = "/_sim/ui"
COOKIE = "optisim_ui"
# Tenant ids are `demo` or `t-<hex>`; anything else cannot be a cookie path we set.
SAFE_TENANT = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_SECRET = secrets.token_bytes(32)


@dataclass(frozen=True, slots=True)
class Session:
    tenant_id: str
    csrf: str


def csrf_token(key: str) -> str:
    return hmac.new(_SECRET, key.encode(), hashlib.sha256).hexdigest()[:32]


def admin_tenant(rt: Runtime, key: str) -> str | None:
    """The tenant an admin key belongs to; None for an unknown or non-admin key."""
    if not key or len(key) > 256:
        return None
    found = rt.store.lookup_key(key)
    if found is None or found[1] != "admin":
        return None
    return found[0]


def current(rt: Runtime, request: Request, tenant_id: str) -> Session | None:
    """The session of `tenant_id`'s pages, if its cookie holds that tenant's admin key."""
    key = request.cookies.get(COOKIE, "")
    if not SAFE_TENANT.match(tenant_id) or admin_tenant(rt, key) != tenant_id:
        return None
    return Session(tenant_id, csrf_token(key))


def sign_in(response: Response, tenant_id: str, key: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        key,
        path=f"{PREFIX}/{tenant_id}",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def sign_out(response: Response, tenant_id: str) -> None:
    response.delete_cookie(COOKIE, path=f"{PREFIX}/{tenant_id}", httponly=True, samesite="strict")


def csrf_ok(session: Session, given: str) -> bool:
    return hmac.compare_digest(session.csrf, given)
