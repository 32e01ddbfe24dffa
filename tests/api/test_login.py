"""The legacy login as production clients use it (wire-contract §2, "Legacy token" and
"Login limits", rev 2): POST or GET (query names in any case) on every spelling of the
path, GUID tokens, the plain-text expiry body and the re-login a client does on it, and the
429 on a login too soon, with `Retry-After`, unless switched off. On every store."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from simulator.settings import SimSettings
from tests.api.support import core_error, envelope
from tests.conftest import manual_demo
from tests.helpers import Sim

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TTL = 20 * 60
LAST_DATA_UPDATE = "/current/general/GetLastDataUpdate"
LOGIN_PATHS = [
    "/current/general/login",
    "/General/Login",
    "/general/LOGIN",
    "/v3.0/general/login",
    "/v1.6/General/Login",
    "/V1.6/GENERAL/LOGIN",
]


class Wall:
    """A controllable wall clock (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


def login(sim: Sim, username: str = "demo", password: str = "demo", **kw: Any) -> Any:
    path = kw.pop("path", "/current/general/login")
    return sim.client.post(path, json={"Username": username, "Password": password}, **kw)


def login_by_get(sim: Sim, path: str = "/current/general/login", **params: str) -> Any:
    return sim.client.get(path, params=params or {"username": "demo", "password": "demo"})


def token_of(response: Any) -> str:
    assert response.status_code == 200, response.text
    assert response.text.startswith('"'), response.text  # a JSON string
    token = response.json()
    assert isinstance(token, str) and GUID.match(token), token
    return token


def use(sim: Sim, token: str, path: str = LAST_DATA_UPDATE) -> Any:
    return sim.client.get(path, headers={"Authorization-Token": token})


@pytest.fixture
def wall() -> Wall:
    return Wall()


@pytest.fixture
def clocked(make_sim: Callable[..., Sim], wall: Wall) -> Sim:
    """The demo world with the login limits on (the default) and a controllable wall."""
    return make_sim(wall=wall)


@pytest.fixture
def unlimited(make_sim: Callable[..., Sim], wall: Wall) -> Sim:
    return make_sim(wall=wall, settings=SimSettings(login_limits=False))


def two_users(make_sim: Callable[..., Sim], wall: Wall) -> Sim:
    scenario = manual_demo()
    users = [
        {"username": "demo", "password": "demo", "role": "integrations"},
        {"username": "ops", "password": "ops-secret", "role": "admin"},
    ]
    tenant = scenario.tenant.model_validate({**scenario.tenant.model_dump(), "users": users})
    return make_sim(wall=wall, scenario=scenario.model_copy(update={"tenant": tenant}))


# -- the token ------------------------------------------------------------------------------------
def test_login_returns_a_guid_as_a_json_string(clocked: Sim) -> None:
    token = token_of(login(clocked))
    assert len(token) == 36  # a v1.6-era client accepts only a 36-character token
    assert use(clocked, token).status_code == 200


def test_every_login_gives_a_new_guid(unlimited: Sim) -> None:
    tokens = {token_of(login(unlimited)) for _ in range(5)}
    tokens |= {token_of(login_by_get(unlimited)) for _ in range(5)}
    assert len(tokens) == 10


@pytest.mark.parametrize(
    ("username", "password"),
    # non-ASCII passwords: compare_digest refuses non-ASCII str (it was a 500, found by
    # schemathesis against `optisim serve`)
    [("demo", "wrong"), ("nobody", "demo"), ("demo", "démo"), ("demo", "\u7cd5\U0001f600")],
)
def test_login_with_bad_credentials_is_401(clocked: Sim, username: str, password: str) -> None:
    core_error(login(clocked, username, password), 401)
    core_error(login_by_get(clocked, username=username, password=password), 401)


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_login_by_post_on_every_spelling(unlimited: Sim, path: str) -> None:
    assert use(unlimited, token_of(login(unlimited, path=path))).status_code == 200


# -- login by GET ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_login_by_get_on_every_spelling(unlimited: Sim, path: str) -> None:
    assert use(unlimited, token_of(login_by_get(unlimited, path))).status_code == 200


@pytest.mark.parametrize(
    "names",
    [
        ("username", "password"),
        ("Username", "Password"),
        ("USERNAME", "PASSWORD"),
        ("UserName", "passWord"),
    ],
)
def test_login_by_get_query_names_match_in_any_case(unlimited: Sim, names: tuple[str, str]) -> None:
    response = login_by_get(unlimited, **{names[0]: "demo", names[1]: "demo"})
    assert use(unlimited, token_of(response)).status_code == 200


def test_login_by_get_needs_no_key_and_checks_the_password(unlimited: Sim) -> None:
    response = unlimited.client.get(
        "/v1.6/general/login", params={"username": "demo", "password": "demo"}
    )
    token_of(response)
    core_error(login_by_get(unlimited, username="demo", password="DEMO"), 401)
    core_error(login_by_get(unlimited, username="DEMO", password="demo"), 401)  # names exact


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"password": "demo"}, "Username"),
        ({"username": "demo"}, "Password"),
        ({"username": "", "password": "demo"}, "Username"),
        ({"username": "demo", "password": "x" * 129}, "Password"),
        ({}, "Username"),
    ],
)
def test_login_by_get_with_a_missing_or_bad_query_is_400_naming_it(
    unlimited: Sim, params: dict[str, str], field: str
) -> None:
    response = unlimited.client.get("/current/general/login", params=params)
    core_error(response, 400, field)


# -- expiry ---------------------------------------------------------------------------------------
def assert_expired_text(response: Any) -> None:
    """403, `text/plain`, and the raw body exactly `Authorization-Token Expired`."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].split(";")[0] == "text/plain"
    assert response.text == "Authorization-Token Expired"  # no JSON quotes
    assert response.content == b"Authorization-Token Expired"


def test_token_expires_20_minutes_after_its_last_use(clocked: Sim, wall: Wall) -> None:
    token = token_of(login(clocked))
    wall.now += 19 * 60
    assert use(clocked, token).status_code == 200
    wall.now += 19 * 60  # 38 minutes after login, 19 after the last use
    assert use(clocked, token).status_code == 200
    wall.now += TTL  # exactly 20 minutes: still valid
    assert use(clocked, token).status_code == 200
    wall.now += TTL + 1
    assert_expired_text(use(clocked, token))
    assert_expired_text(use(clocked, token))  # a refused use does not revive it


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/current/general/GetLastDataUpdate"),
        ("GET", "/v1.6/General/GetRegisteredEventListeners"),
        ("GET", "/v3.0/customers/GetProcessedCampaignCustomers?CampaignID=48213"),
        ("POST", "/Integrations/UpdateCustomerPromotionStatus"),
        ("GET", "/integrations/getpromotions"),
    ],
)
def test_an_expired_token_is_the_plain_text_403_on_every_core_route(
    clocked: Sim, wall: Wall, method: str, path: str
) -> None:
    token = token_of(login(clocked))
    wall.now += TTL + 1
    body = {"CampaignID": 48213, "PromosUpdated": []} if method == "POST" else None
    response = clocked.client.request(
        method, path, json=body, headers={"Authorization-Token": token}
    )
    assert_expired_text(response)


def test_an_expired_token_on_another_surface_is_the_envelope(clocked: Sim, wall: Wall) -> None:
    token = token_of(login(clocked))
    wall.now += TTL + 1
    envelope(use(clocked, token, "/v1/promotions/PR-WELCOME"), 403, "token_expired", "Expired")


def test_an_unknown_token_is_401_not_the_expiry_text(clocked: Sim) -> None:
    core_error(use(clocked, "00000000-0000-0000-0000-000000000000"), 401)


@pytest.mark.parametrize("by", ["post", "get"])
def test_a_client_logs_in_again_on_the_expiry_text_and_carries_on(
    clocked: Sim, wall: Wall, by: str
) -> None:
    """What a production client does: call; on exactly `Authorization-Token Expired`, log in
    again and repeat the call with the new token. Its loop never meets a 429."""

    def fresh() -> str:
        return token_of(login(clocked) if by == "post" else login_by_get(clocked))

    token = fresh()
    for _ in range(3):
        wall.now += TTL + 60  # idle past the expiry
        response = use(clocked, token)
        if response.status_code == 403 and response.text == "Authorization-Token Expired":
            old, token = token, fresh()
            assert token != old
            response = use(clocked, token)
        assert response.status_code == 200, response.text
        assert_expired_text(use(clocked, old))  # the old one stays expired


# -- login limits ---------------------------------------------------------------------------------
def too_many(response: Any, retry_after: int) -> None:
    envelope(response, 429, "too_many_requests", "expired")
    assert response.headers["retry-after"] == str(retry_after)
    assert response.json()["details"] == {"retryAfter": retry_after}


def test_login_while_holding_an_unexpired_token_is_429(clocked: Sim, wall: Wall) -> None:
    token = token_of(login(clocked))
    wall.now += 300
    too_many(login(clocked), TTL - 300)  # seconds until the held token expires
    too_many(login_by_get(clocked), TTL - 300)
    too_many(login(clocked, path="/v1.6/General/Login"), TTL - 300)
    wall.now += 300.5
    assert use(clocked, token).status_code == 200  # a use moves the expiry on
    too_many(login(clocked), TTL)
    assert use(clocked, token).status_code == 200  # a refused login takes nothing away
    wall.now += TTL - 0.5
    too_many(login(clocked), 1)  # half a second left: rounded up
    wall.now += 1
    fresh = token_of(login(clocked))  # expired: a login is welcome
    assert fresh != token


def test_second_login_within_one_second_is_429(make_sim: Callable[..., Sim], wall: Wall) -> None:
    # A token that expires in half a second isolates the once-a-second rule.
    sim = make_sim(wall=wall, settings=SimSettings(token_ttl_seconds=0.5))
    first = token_of(login(sim))
    wall.now += 0.6
    assert_expired_text(use(sim, first))
    too_many(login(sim), 1)
    too_many(login_by_get(sim), 1)
    wall.now += 0.4  # exactly one second after the login (refusals do not count)
    token_of(login_by_get(sim))


def test_limits_are_per_user(make_sim: Callable[..., Sim], wall: Wall) -> None:
    sim = two_users(make_sim, wall)
    token_of(login(sim))
    ops = token_of(login(sim, "ops", "ops-secret"))
    too_many(login(sim), TTL)
    too_many(login(sim, "ops", "ops-secret"), TTL)
    assert use(sim, ops, "/_sim/clock").status_code == 200  # the admin user's role


def test_bad_credentials_are_401_even_while_the_user_holds_a_token(clocked: Sim) -> None:
    token_of(login(clocked))
    core_error(login(clocked, "demo", "wrong"), 401)


def test_the_setting_switches_the_limits_off(unlimited: Sim, wall: Wall) -> None:
    tokens = [token_of(login(unlimited)), token_of(login_by_get(unlimited))]
    wall.now += 0.1
    tokens.append(token_of(login(unlimited)))
    assert len(set(tokens)) == 3
    for token in tokens:  # every token works; none replaced another
        assert use(unlimited, token).status_code == 200
    wall.now += TTL + 1
    for token in tokens:  # and each still expires
        assert_expired_text(use(unlimited, token))


def test_the_setting_is_the_sim_login_limits_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SimSettings().login_limits is True
    monkeypatch.setenv("SIM_LOGIN_LIMITS", "false")
    assert SimSettings().login_limits is False
