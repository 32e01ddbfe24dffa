"""Legacy login tokens: when one expires, and when a login is refused (wire-contract §2,
"Legacy token" and "Login limits")."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from simulator.domain.errors import DomainError
from simulator.domain.models import Token

# Optimove's Login-API guide: "only 1 call per sec is allowed, otherwise #429 error will be
# sent" (optimove-api-facts, "Added in turn 2").
LOGIN_INTERVAL_S = 1.0


def expired(token: Token, now: float, ttl_s: float) -> bool:
    """A token expires `ttl_s` (20 minutes) after its last use; at exactly `ttl_s` it still
    works. A refused use does not revive it (only a successful use moves `last_used`)."""
    return now - token.last_used > ttl_s


def login_retry_after(
    held: Token | None, last_login_at: float | None, now: float, ttl_s: float
) -> int | None:
    """Seconds the user must wait before logging in again, or None when a login is allowed.

    Optimove's Login-API guide: "Please do not call the login API unless the token has
    expired… only 1 call per sec is allowed, otherwise #429". So a login is refused while
    the user's latest token (`held`) is unexpired, with the seconds until it expires, and
    within one second of the user's previous login (`last_login_at`), with 1."""
    if held is not None and not expired(held, now, ttl_s):
        return max(1, math.ceil(held.last_used + ttl_s - now))
    if last_login_at is not None and now - last_login_at < LOGIN_INTERVAL_S:
        return 1
    return None


def username_taken(
    usernames: Iterable[str], holder: Callable[[str], str | None], tenant_id: str
) -> DomainError | None:
    """Legacy usernames are unique across tenants: a login names no tenant, so a username
    two tenants declared would always land in one of them. The first one another tenant
    holds is refused (`username_taken`, 409), naming the field."""
    for i, username in enumerate(usernames):
        owner = holder(username)
        if owner is not None and owner != tenant_id:
            field = f"tenant.users[{i}].username"
            return DomainError(
                "username_taken",
                f"{field}: {username!r} is the legacy username of another tenant; choose another",
                {"field": field},
            )
    return None
