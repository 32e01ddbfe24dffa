"""Deeply nested JSON never makes a 500 (wire-contract §1): every route of every router, with
the express lane on and off, answers a body nested 100,000 levels with the invalid-JSON 400
(the decoder's recursion limit is an invalid body, not a server failure), and a body nested
just inside or beyond every other recursion limit (pydantic, orjson, our own `plain_json`)
with a 4xx or its normal answer. Query strings and headers are parsed flat, never
recursively; a deep one is checked too."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi.routing import APIRoute

from simulator.api import ce_v2, control, core, promotions, webhooks
from simulator.settings import SimSettings
from tests.helpers import SCHEDULED, Sim

DEPTH = 100_000
RAW_BODY = {"load_scenario"}  # reads the body itself (JSON or YAML)
ROUTERS = (promotions, core, ce_v2, control, webhooks)  # the app's, as `create_app` mounts
# Path parameters of existing objects, so a request gets as far as it can.
PATH_VALUES = {
    "promotionId": "PR-WELCOME",
    "promocodeId": "WELCOME50",
    "campaignId": str(SCHEDULED),
    "customerId": "C0000001",
    "eventId": "evt_unknown",
    "tenantId": "t_unknown",  # never the tenant under test: DELETE must not remove it
}


def deep_list(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def routes(sim: Sim) -> Iterator[tuple[str, str, bool]]:
    """(method, concrete path, takes a body) for every route of every router."""
    for module in ROUTERS:
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            path = re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], route.path)
            takes_body = route.body_field is not None or route.operation_id in RAW_BODY
            for method in sorted(route.methods or ()):
                yield method, path, takes_body


@pytest.fixture(params=[True, False], ids=["express", "no-express"])
def any_lane(request: pytest.FixtureRequest, make_sim: Callable[..., Sim]) -> Sim:
    return make_sim(settings=SimSettings(express=bool(request.param)))


def test_the_route_list_covers_every_router(any_lane: Sim) -> None:
    taking_body = {path.split("/")[1] for _, path, body in routes(any_lane) if body}
    assert taking_body == {"v1", "current", "conditional-execution", "_sim"}


@pytest.mark.parametrize("shape", [deep_list, deep_object], ids=["list", "object"])
def test_a_body_nested_100000_levels_is_400_on_every_route(
    any_lane: Sim, shape: Callable[[int], bytes]
) -> None:
    body = shape(DEPTH)
    headers = {**any_lane.headers, "Content-Type": "application/json"}
    for method, path, takes_body in routes(any_lane):
        response = any_lane.client.request(method, path, content=body, headers=headers)
        assert response.status_code < 500, (method, path, response.text)
        if not takes_body:
            continue
        assert response.status_code == 400, (method, path, response.text)
        message = response.json() if path.startswith("/current/") else response.json()["message"]
        assert "not valid JSON" in message or "nested too deeply" in message, (path, message)


@pytest.mark.parametrize("depth", [300, 900])
def test_a_body_near_any_recursion_limit_is_never_a_500(any_lane: Sim, depth: int) -> None:
    """Valid JSON deep enough to pass the decoder but not orjson (254 levels) or our
    `plain_json` (16): a 4xx or an ordinary answer, never a failure."""
    headers = {**any_lane.headers, "Content-Type": "application/json"}
    for shape in (deep_list, deep_object):
        for method, path, _ in routes(any_lane):
            response = any_lane.client.request(method, path, content=shape(depth), headers=headers)
            assert response.status_code < 500, (method, path, depth, response.text)


def test_deep_query_strings_and_headers_do_not_recurse(any_lane: Sim) -> None:
    deep = "[" * 1500 + "]" * 1500
    headers = {**any_lane.headers, "X-Deep": deep}
    for method, path, _ in routes(any_lane):
        query = {"CampaignID": deep, "$top": deep, "after": deep, "dryRun": deep, deep: deep}
        response = any_lane.client.request(method, path, params=query, headers=headers)
        assert response.status_code < 500, (method, path, response.text)


@pytest.mark.parametrize("shape", [deep_list, deep_object], ids=["list", "object"])
def test_the_express_lane_answers_deep_bodies_byte_for_byte_as_fastapi(
    make_sim: Callable[..., Sim], shape: Callable[[int], bytes]
) -> None:
    express = make_sim(settings=SimSettings(express=True))
    plain = make_sim(settings=SimSettings(express=False))
    headers = {**express.headers, "Content-Type": "application/json"}
    for path in (
        "/conditional-execution/v2/triggered/approval",
        "/v1/promocodes/WELCOME50/validateCustomers",
    ):
        for depth in (DEPTH, 900, 300):
            a, b = (
                sim.client.post(path, content=shape(depth), headers=headers)
                for sim in (express, plain)
            )
            assert (a.status_code, a.content) == (b.status_code, b.content), (path, depth)
            assert a.headers.get("content-type") == b.headers.get("content-type")
            assert a.status_code == 400, (path, depth, a.text)
