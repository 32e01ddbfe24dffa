"""The legacy token rules (simulator/domain/auth.py), without HTTP: expiry 20 minutes after
the last use, and when a login is refused (wire-contract §2, "Login limits")."""

from __future__ import annotations

import pytest

from simulator.domain.auth import expired, login_retry_after
from simulator.domain.models import Token

TTL = 1200.0
T0 = 1_795_000_000.0


def token(last_used: float = T0) -> Token:
    return Token("0f8fad5b-d9cb-469f-a165-70867728950e", "t", "integrations", last_used)


@pytest.mark.parametrize(("after", "gone"), [(0, False), (TTL, False), (TTL + 0.001, True)])
def test_a_token_expires_only_after_the_ttl(after: float, gone: bool) -> None:
    assert expired(token(), T0 + after, TTL) is gone


def test_first_login_is_allowed() -> None:
    assert login_retry_after(None, None, T0, TTL) is None


@pytest.mark.parametrize(
    ("after", "wait"), [(0.0, 1200), (0.2, 1200), (300.0, 900), (1199.5, 1), (TTL, 1)]
)
def test_holding_an_unexpired_token_waits_until_it_expires(after: float, wait: int) -> None:
    assert login_retry_after(token(), T0, T0 + after, TTL) == wait


def test_an_expired_token_allows_a_login() -> None:
    assert login_retry_after(token(), T0, T0 + TTL + 1, TTL) is None


def test_a_later_use_pushes_the_wait_on() -> None:
    assert login_retry_after(token(T0 + 600), T0, T0 + 700, TTL) == 1100


@pytest.mark.parametrize(("after", "wait"), [(0.0, 1), (0.999, 1), (1.0, None), (5.0, None)])
def test_at_most_one_login_a_second(after: float, wait: int | None) -> None:
    # A token already expired (tiny TTL) or gone: only the once-a-second rule applies.
    assert login_retry_after(token(), T0, T0 + after, 0.5) == wait
    assert login_retry_after(None, T0, T0 + after, TTL) == wait
