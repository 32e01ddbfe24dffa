"""Minimal reproductions of the simulator bugs the contract tests found, one test each, so
each turns green when its bug is fixed (the schemathesis tests find the same ones, but by
search; these say exactly what is wrong). Written against the contract, not a fix: they
assert what the documents promise (an input error is 400 with the surface's error body,
never a 500, and the API stays readable afterwards)."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

from tests.contracts.support import AUTH, fresh_app, load


@pytest.fixture
def client() -> TestClient:
    return TestClient(fresh_app(executed=True), raise_server_exceptions=False)


def _is_envelope(body: Any, status: int) -> bool:
    return isinstance(body, dict) and body.get("status") == status and "error" in body


# -- 1. an unparseable URL is a 500 (urlsplit raises ValueError) -------------------------------
def test_core_listener_url_that_urlsplit_rejects_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/current/general/RegisterEventListener",
        json={"EventTypeID": 5, "ListenerURL": "http://["},
        headers=AUTH,
    )
    assert response.status_code == 400, response.text
    assert isinstance(response.json(), str)  # core errors are JSON strings


def test_ce_v2_webhook_url_that_urlsplit_rejects_is_a_400(client: TestClient) -> None:
    response = client.post(
        "/conditional-execution/v2/triggered/webhooks/", json={"url": "http://["}, headers=AUTH
    )
    assert response.status_code == 400, response.text
    assert _is_envelope(response.json(), 400)


# -- 2. integers beyond 64 bits in free-form JSON values break every later read (fixed in
# 288ac2a: refused with 400) --------------------------------------------------------------------
BIG = 2**64


def test_a_huge_integer_in_a_tier_condition_does_not_break_promotions(client: TestClient) -> None:
    tier = {
        "id": "T",
        "name": "t",
        "when": [{"field": "attributes.Age", "op": "eq", "value": BIG}],
        "reward": {"type": "units", "units": 1},
    }
    body = {
        "id": "PR-BIG",
        "name": "big",
        "promocodes": ["BIG"],
        "rewardKind": "units",
        "budget": 10,
        "audienceCap": 10,
        "tiers": [tier],
    }
    created = client.post("/v1/promotions", json=body, headers=AUTH)
    assert created.status_code in (201, 400), created.text
    assert client.get("/v1/promotions", headers=AUTH).status_code == 200


def test_a_huge_integer_in_a_target_group_does_not_break_campaigns(client: TestClient) -> None:
    where = [{"field": "attributes.Age", "op": "eq", "value": BIG}]
    body = {"id": 5, "type": "scheduled", "promoCode": "WELCOME50", "targetGroup": {"size": 10}}
    body["targetGroup"]["where"] = where  # type: ignore[index]
    created = client.post("/_sim/campaigns", json=body, headers=AUTH)
    assert created.status_code in (201, 400), created.text
    assert client.get("/_sim/campaigns", headers=AUTH).status_code == 200


def test_a_huge_integer_in_an_event_context_does_not_break_the_outbox(client: TestClient) -> None:
    emitted = client.post(
        "/_sim/campaigns/7001/events", json={"count": 1, "context": {"x": BIG}}, headers=AUTH
    )
    assert emitted.status_code in (201, 400), emitted.text
    # With webhooks on, the relay encodes this body too (dispatcher._ingest_all): it raises
    # there on every round, before claiming, so no tenant gets webhooks any more.
    assert client.get("/_sim/outbox", headers=AUTH).status_code == 200


# -- 3. an API fault rule for "*" also hits the control API, which then cannot remove it ------
def test_api_faults_spare_the_control_api(client: TestClient) -> None:
    rule = {"target": "api", "action": "error", "probability": 1}
    assert client.put("/_sim/faults", json={"rules": [rule]}, headers=AUTH).status_code == 200
    faulted = client.get("/current/general/GetLastDataUpdate", headers=AUTH)
    assert faulted.status_code == 503  # the simulated API: faulted, as asked
    cleared = client.delete("/_sim/faults", headers=AUTH)
    assert cleared.status_code == 204, cleared.text  # the control API: not faulted
    assert client.get("/current/general/GetLastDataUpdate", headers=AUTH).status_code == 200


# -- 4. unbounded integers: echoed back (orjson: 64 bits) or sent to SQLite (64 bits) -----------
def test_a_huge_fault_rule_nth_is_refused_not_stored(client: TestClient) -> None:
    rule = {"target": "webhook", "action": "drop", "nth": 2**64}
    response = client.put("/_sim/faults", json={"rules": [rule]}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert client.get("/_sim/faults", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/_sim/outbox?after=18446744073709551616",
        "/_sim/deliveries?after=18446744073709551616",
        "/current/customers/GetProcessedCampaignCustomers?CampaignID=18446744073709551616",
    ],
)
def test_huge_query_integers_are_a_400_on_the_sqlite_store(path: str) -> None:
    client = TestClient(fresh_app(store="sqlite"), raise_server_exceptions=False)
    response = client.get(path, headers=AUTH)
    assert response.status_code == 400, response.text


# -- 5. POST /_sim/scenario?builtin= ignores the body instead of refusing both -----------------
# (Wrong JSON types coerced instead of refused, pydantic's lax mode: test_strict_types.py.)
def test_load_scenario_refuses_a_body_and_builtin_together(client: TestClient) -> None:
    """create_tenant answers 400 "give either scenario or builtin, not both"; load_scenario
    silently drops the body (here a body that is not even a scenario)."""
    response = client.post(
        "/_sim/scenario", params={"builtin": "demo"}, json={"tenant": 42}, headers=AUTH
    )
    assert response.status_code == 400, response.text
    assert _is_envelope(response.json(), 400)


# -- 6. the documents' URL pattern admitted URLs the server refused, and the reverse -----------
# Found by positive_data_acceptance: `HTTPS%3A%2F%2F` (decodes to no host) and a host with a
# `]` (urlsplit raises). Now one grammar (simulator.specs.HTTP_URL_PATTERN) serves both.
URLS = [
    "http://127.0.0.1:9000/hook",
    "HTTPS://a.test/x?y=1#z",
    "http://a",
    "http%3A%2F%2F127.0.0.1%3A9%2Fhook%3Fa%3D1",  # the PyPI client's quote_plus form
    "http://a.test/path%3Awith%3Aencoded%3Acolons",  # a plain URL is not decoded
    "HTTPS%3A%2F%2F",
    "http%3A%2F%2F%5B%3A",  # decodes to a host with `[`
    "http://a]/",
    "http://[::1]:9000/",  # IPv6 literals are out of the grammar (use a name)
    "http://",
    "http:///path",
    "http://a\n",
    "http://a\n/",
    "http://ä.test/",
    "ftp://a.test/",
    "http%3A//a.test/",
]


@pytest.mark.parametrize("url", URLS)
def test_the_server_accepts_exactly_the_urls_the_documents_allow(
    client: TestClient, url: str
) -> None:
    for document, name, request, path in (
        ("optimove-core", "RegisterEventListenerRequest", {"EventTypeID": 5, "ListenerURL": url},
         "/current/general/RegisterEventListener"),
        ("ce-v2", "TriggeredWebhookRequest", {"url": url},
         "/conditional-execution/v2/triggered/webhooks/"),
    ):  # fmt: skip
        schema = load(document)["components"]["schemas"][name]
        field = "ListenerURL" if "ListenerURL" in request else "url"
        allowed = jsonschema_rs.validator_for(schema["properties"][field]).is_valid(url)
        response = client.post(path, json=request, headers=AUTH)
        assert response.status_code != 500, response.text
        assert (response.status_code < 300) == allowed, (document, response.text)
