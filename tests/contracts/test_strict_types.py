"""B3: a value of the wrong JSON type is refused with 400 naming the field, never coerced
(pydantic's lax mode turned `false` into 0, `0` into a date, `1` into true). The request
models are strict (`simulator.wire.WireModel`); docs/decisions.md, "Wire types", says what
stays accepted: integral numbers written as floats, ISO 8601 strings for times, and the
YAML types of scenario files."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.domain.errors import DomainError
from simulator.scenario import parse_scenario
from tests.contracts.support import AUTH, fresh_app


@pytest.fixture
def client() -> TestClient:
    return TestClient(fresh_app(executed=True), raise_server_exceptions=False)


def _message(body: Any) -> str:
    return body if isinstance(body, str) else str(body["message"])


# (method, path, body, the field the message must name)
WRONG_TYPES = [
    ("post", "/current/general/RegisterEventListener",
     {"EventTypeID": 1, "ListenerURL": "http://x.test/", "ChannelID": False}, "ChannelID"),
    ("post", "/conditional-execution/v2/triggered/approval",
     {"campaignId": 7001, "customerId": "C1", "eventId": "EV_1", "approved": 1}, "approved"),
    ("post", "/v1/promocodes/WELCOME50/validateCustomers",
     {"campaignData": {"campaignId": True}, "contexts": [{"customerId": "C0000001"}]},
     "campaignData.campaignId"),
    ("put", "/_sim/clock", {"mode": "manual", "now": 0}, "now"),
    ("post", "/_sim/clock/advance", {"seconds": False}, "seconds"),
    ("put", "/_sim/journal", {"enabled": 0}, "enabled"),
    ("put", "/_sim/faults", {"rules": [], "seed": False}, "seed"),
    ("post", "/_sim/deliveries/resend-failed", {"since": False}, "since"),
    ("put", "/_sim/webhooks/config", {"retryDelays": [False]}, "retryDelays[0]"),
    ("post", "/_sim/webhooks/secret/rotate", {"overlapSeconds": False}, "overlapSeconds"),
    # Numbers as strings: no documented client sends them, so none is accepted.
    ("post", "/current/integrations/UpdateCustomerPromotionStatus",
     {"CampaignID": "48213", "PromosUpdated": []}, "CampaignID"),
    ("post", "/current/general/RegisterEventListener",
     {"EventTypeID": "5", "ListenerURL": "http://x.test/"}, "EventTypeID"),
    ("post", "/v1/promocodes/WELCOME50/validateCustomers",
     {"campaignData": {"campaignId": "48213"}, "contexts": [{"customerId": "C0000001"}]},
     "campaignData.campaignId"),
    ("post", "/conditional-execution/v2/triggered/approval",
     {"campaignId": 7001, "customerId": "C1", "eventId": "EV_1", "approved": "true"},
     "approved"),
    ("post", "/_sim/campaigns/48214/events", {"count": "3"}, "count"),
    ("post", "/v1/promotions/PR-WELCOME/redemptions",
     {"redemptions": [{"allocationId": "AL_x", "amount": "100"}]}, "redemptions[0].amount"),
    # A customer id is a string: a number is not turned into one.
    ("post", "/current/integrations/UpdateCustomerPromotionStatus",
     {"CampaignID": 48213, "PromosUpdated": [{"CustomerID": 1, "Status": True}]},
     "PromosUpdated[0].CustomerID"),
    # A time is an ISO 8601 string: not a number, nor a number in a string (unix seconds).
    ("put", "/_sim/clock", {"mode": "manual", "now": "1700000000"}, "now"),
    ("post", "/v1/promotions/PR-WELCOME/redemptions",
     {"redemptions": [{"allocationId": "AL_x", "redeemedAt": 1700000000}]},
     "redemptions[0].redeemedAt"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPES)
def test_a_value_of_the_wrong_json_type_is_a_400_naming_the_field(
    client: TestClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.request(method, path, json=body, headers=AUTH)
    assert response.status_code == 400, f"{response.status_code} {response.text}"
    assert _message(response.json()).startswith(f"{field}: "), response.text


def test_an_integral_number_written_as_a_float_is_an_integer(client: TestClient) -> None:
    """JSON Schema (and every JavaScript client) reads 48213.0 and 4.8213e4 as integers."""
    page = "/current/customers/GetProcessedCampaignCustomers?CampaignID=48213&$top=1"
    customer = client.get(page, headers=AUTH).json()[0]["CustomerID"]
    items = f'[{{"CustomerID": "{customer}", "Status": false}}]'
    response = client.post(
        "/current/integrations/UpdateCustomerPromotionStatus",
        content=f'{{"CampaignID": 4.8213e4, "PromosUpdated": {items}}}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    advanced = client.post(
        "/_sim/clock/advance",
        content=b'{"seconds": 60.0}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert advanced.status_code == 200, advanced.text
    # and a fraction is still not an integer
    response = client.post("/_sim/campaigns/48214/events", json={"count": 2.5}, headers=AUTH)
    assert response.status_code == 400, response.text
    assert _message(response.json()).startswith("count: "), response.text


def test_a_time_is_an_iso_8601_string(client: TestClient) -> None:
    response = client.put(
        "/_sim/clock", json={"mode": "manual", "now": "2026-11-27T09:00:00Z"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert response.json()["now"].startswith("2026-11-27T09:00:00")


SCENARIO_YAML = """
clock: {mode: manual, start: 2026-11-27T09:00:00Z}   # a YAML timestamp, not a string
population: {size: 1000.0, seed: 7}                 # an integral float, as in JSON
promotions:
  - id: PR-1
    name: One
    promocodes: [ONE]
    rewardKind: amount
    budget: 100000
    audienceCap: 100
    tiers: [{id: T, name: t, reward: {type: amount, amount: 500}}]
campaigns:
  - {id: 1, type: scheduled, promoCode: ONE, targetGroup: {size: 10},
     executeAt: 2026-11-27T10:00:00Z, clearanceWindowMinutes: 30}
"""


def test_scenario_files_keep_their_yaml_types() -> None:
    scenario = parse_scenario(SCENARIO_YAML)
    assert scenario.clock.start is not None and scenario.clock.start.hour == 9
    assert scenario.population.size == 1000 and isinstance(scenario.population.size, int)
    assert scenario.campaigns[0].executeAt is not None


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"population": {"size": "1000"}}', "population.size"),
        ("population: {size: '1000'}", "population.size"),
        ("clock: {start: 1700000000}", "clock.start"),
        ("promotions: [{id: P, name: p, promocodes: [X], rewardKind: amount, budget: true,"
         " audienceCap: 1, tiers: []}]", "promotions[0].budget"),
    ],
)  # fmt: skip
def test_a_scenario_value_of_the_wrong_type_names_the_field(text: str, field: str) -> None:
    with pytest.raises(DomainError) as raised:
        parse_scenario(text)
    assert raised.value.message.startswith(f"scenario: {field}: "), raised.value.message
