"""Body keys match case-insensitively on every surface, as the real service's ASP.NET model
binding does (wire-contract §2, rev 2; optimove-api-facts "Added in turn 2": production
clients send `{"UserName","Password"}` and `PromosUpdated: [{"CustomerId","Status"}]`).

A field named twice in different cases is a 400 naming the field, in the surface's body
shape. Responses and webhooks keep the documented case. Free-form values (a session, an
event context, a condition value) keep their keys. Scenario documents bind exactly.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from simulator.api.schemas import CampaignData, ValidateCustomersRequest
from simulator.domain.errors import DomainError
from simulator.scenario import parse_scenario
from simulator.specs import ConditionSpec, KeySpec
from simulator.wire import WireModel
from tests.api.support import (
    allocation_of,
    cid,
    core_error,
    emit_for,
    envelope,
    ledger,
    promotion_body,
    validate,
    world,
)
from tests.helpers import SCHEDULED, TRIGGERED, Sim

UPDATE = "/current/integrations/UpdateCustomerPromotionStatus"
APPROVAL = "/conditional-execution/v2/triggered/approval"
WEBHOOKS = "/conditional-execution/v2/triggered/webhooks/"
VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"
DEPOSIT = "/v1/promocodes/DEPOSIT10/validateCustomers"


def validated(sim: Sim, *indices: int) -> None:
    """The scheduled campaign executed and `indices` validated (reserved)."""
    assert sim.execute().status_code == 200
    assert all(r["valid"] for r in validate(sim, [cid(i) for i in indices], SCHEDULED, "WELCOME50"))


# -- core API ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "keys",
    [
        ("Username", "Password"),
        ("UserName", "Password"),
        ("username", "password"),
        ("USERNAME", "pASSWORD"),
    ],
    ids=lambda keys: "-".join(keys),
)
def test_login_binds_its_keys_in_any_case(sim: Sim, keys: tuple[str, str]) -> None:
    user, password = keys
    response = sim.client.post("/current/general/login", json={user: "demo", password: "demo"})
    assert response.status_code == 200, response.text
    token = response.json()
    assert isinstance(token, str)
    headers = {"Authorization-Token": token}
    assert sim.client.get("/current/general/GetLastDataUpdate", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "spelling",
    [
        {
            "campaign": "CampaignID",
            "promos": "PromosUpdated",
            "customer": "CustomerID",
            "status": "Status",
            "stamp": "TimeStamp",
        },
        {
            "campaign": "campaignid",
            "promos": "PromosUpdated",
            "customer": "CustomerId",
            "status": "Status",
            "stamp": "timestamp",
        },  # a Go gateway's untagged struct fields
        {
            "campaign": "campaignId",
            "promos": "promosUpdated",
            "customer": "customerID",
            "status": "STATUS",
            "stamp": "timeStamp",
        },
    ],
    ids=["documented", "go-gateway", "camel"],
)
def test_update_customer_promotion_status_binds_its_keys_in_any_case(
    sim: Sim, spelling: dict[str, str]
) -> None:
    validated(sim, 1, 2)
    body = {
        spelling["stamp"]: "2026-11-27 10:00:00",
        spelling["campaign"]: SCHEDULED,
        spelling["promos"]: [
            {spelling["customer"]: cid(1), spelling["status"]: True},
            {spelling["customer"]: cid(2), spelling["status"]: False},
        ],
    }
    response = sim.post(UPDATE, body)
    assert (response.status_code, response.content) == (200, b"")
    usage = sim.usage()
    assert (usage["audienceCommitted"], usage["audienceReserved"]) == (1, 0)


def test_listener_registration_binds_its_keys_in_any_case(sim: Sim) -> None:
    url = "http://127.0.0.1:9/hook"
    registered = sim.post(
        "/current/general/RegisterEventListener",
        {"eventTypeId": 11, "listenerUrl": url, "channelid": 3},
    )
    assert registered.status_code == 200, registered.text
    listeners = sim.get("/current/general/GetRegisteredEventListeners").json()
    assert listeners == [{"EventTypeID": 11, "ListenerURL": url, "ChannelID": 3}]
    removed = sim.post(
        "/current/general/UnregisterEventListener", {"EVENTTYPEID": 11, "ChannelId": 3}
    )
    assert removed.status_code == 200, removed.text
    assert sim.get("/current/general/GetRegisteredEventListeners").json() == []


def test_promotion_codes_bind_their_keys_in_any_case(sim: Sim) -> None:
    added = sim.post(
        "/current/integrations/AddPromotions",
        [{"promoCode": "CASE1", "promotionname": "lower"}, {"PROMOCODE": "CASE2"}],
    )
    assert added.status_code == 200, added.text
    found = sim.get("/current/integrations/GetPromotions").json()
    assert {"PromoCode": "CASE1", "PromotionName": "lower"} in found
    assert {"PromoCode": "CASE2", "PromotionName": ""} in found
    deleted = sim.post("/current/integrations/DeletePromotions", [{"promocode": "CASE1"}])
    assert deleted.status_code == 200, deleted.text
    codes = [p["PromoCode"] for p in sim.get("/current/integrations/GetPromotions").json()]
    assert "CASE1" not in codes and "CASE2" in codes


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            UPDATE,
            {
                "CampaignID": SCHEDULED,
                "campaignId": SCHEDULED,
                "PromosUpdated": [{"CustomerID": cid(1), "Status": True}],
            },
            "CampaignID",
        ),
        (
            UPDATE,
            {
                "CampaignID": SCHEDULED,
                "PromosUpdated": [
                    {"CustomerID": cid(1), "Status": True},
                    {"CustomerID": cid(1), "customerId": cid(2), "Status": True},
                ],
            },
            "PromosUpdated[1].CustomerID",
        ),
        (
            "/current/general/login",
            {"Username": "demo", "UserName": "demo", "Password": "demo"},
            "Username",
        ),
        (
            "/current/integrations/AddPromotions",
            [{"PromoCode": "X1", "promocode": "X2"}],
            "[0].PromoCode",
        ),
    ],
    ids=["top-level", "item-of-a-list", "login", "list-body"],
)
def test_a_core_field_named_twice_in_different_cases_is_a_400_string_naming_it(
    sim: Sim, path: str, body: Any, field: str
) -> None:
    validated(sim, 1, 2)
    before = world(sim)
    message = core_error(sim.post(path, body), 400, field, "given twice")
    assert message.startswith(f"{field}: "), message
    assert world(sim) == before


def test_an_unknown_core_key_is_still_ignored(sim: Sim) -> None:
    validated(sim, 1)
    body = {
        "CampaignID": SCHEDULED,
        "Channel": "email",
        "PromosUpdated": [{"CustomerID": cid(1), "Status": True, "note": "x"}],
    }
    assert sim.post(UPDATE, body).status_code == 200
    assert sim.usage()["audienceCommitted"] == 1


def test_a_wrong_value_under_another_case_names_the_documented_field(sim: Sim) -> None:
    core_error(sim.post(UPDATE, {"campaignid": "abc", "promosupdated": []}), 400, "CampaignID")
    body = {"campaignid": SCHEDULED, "promosupdated": [{"customerid": 1, "status": True}]}
    core_error(sim.post(UPDATE, body), 400, "PromosUpdated[0].CustomerID")


# -- CE v2 -------------------------------------------------------------------------------------
def test_a_triggered_approval_binds_its_keys_in_any_case(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(3), {"depositAmount": 5000})
    [result] = validate(
        sim,
        [{"customerId": cid(3), "eventId": event, "session": {"depositAmount": 5000}}],
        TRIGGERED,
        "DEPOSIT10",
    )
    assert result["valid"], result
    body = {"CampaignId": TRIGGERED, "customerID": cid(3), "EventId": event, "APPROVED": True}
    response = sim.post(APPROVAL, body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "campaignId": TRIGGERED,
        "customerId": cid(3),
        "eventId": event,
        "status": "approved",
    }
    assert sim.usage("PR-DEPOSIT")["audienceCommitted"] == 1


def test_the_ce_webhook_registration_binds_its_keys_in_any_case(sim: Sim) -> None:
    secret = "whsec_" + "A" * 24
    response = sim.post(WEBHOOKS, {"URL": "http://127.0.0.1:9/ce", "Secret": secret})
    assert response.status_code == 201, response.text
    assert set(response.json()) == {"id", "url", "createdAt"}
    assert sim.get(WEBHOOKS).json()["url"] == "http://127.0.0.1:9/ce"


def test_a_ce_field_named_twice_in_different_cases_is_a_400_envelope_naming_it(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(3), {"depositAmount": 5000})
    body = {
        "campaignId": TRIGGERED,
        "CampaignID": TRIGGERED,
        "customerId": cid(3),
        "eventId": event,
        "approved": True,
    }
    error = envelope(sim.post(APPROVAL, body), 400, "invalid_request", "campaignId: given twice")
    assert error["details"]["problems"][0]["field"] == "campaignId"
    assert "'campaignId'" in error["message"] and "'CampaignID'" in error["message"]


# -- Promotions --------------------------------------------------------------------------------
def test_validate_customers_binds_its_keys_in_any_case(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    body = {
        "CampaignData": {"CampaignId": SCHEDULED, "CAMPAIGNTYPE": "scheduled", "ActionID": 17},
        "Contexts": [{"CustomerId": cid(1)}, {"customerID": cid(2), "EventId": "E-2"}],
    }
    response = sim.post(VALIDATE, body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"promocodeId", "promotionId", "contexts"}  # the documented case
    assert [(c["customerId"], c["eventId"], c["valid"]) for c in answer["contexts"]] == [
        (cid(1), None, True),
        (cid(2), "E-2", True),
    ]
    assert set(answer["contexts"][0]) == {"customerId", "eventId", "valid", "reason", "effects"}
    assert sim.usage()["audienceReserved"] == 2


def test_a_session_keeps_its_keys(sim: Sim) -> None:
    """DEPOSIT10 rewards 10 % of `session.depositAmount`: a session is data, not a model,
    so `DepositAmount` is another key (no reward), and both may be given at once."""
    events = [emit_for(sim, TRIGGERED, cid(i), {"depositAmount": 5000}) for i in (4, 5)]
    sessions = [{"DepositAmount": 5000}, {"depositAmount": 5000, "DepositAmount": 1}]
    body = {
        "campaignData": {"campaignId": TRIGGERED},
        "contexts": [
            {"Session": s, "customerId": cid(i), "eventId": e}
            for i, e, s in zip((4, 5), events, sessions, strict=True)
        ],
    }
    response = sim.post(DEPOSIT, body)
    assert response.status_code == 200, response.text
    first, second = response.json()["contexts"]
    assert first["valid"] is False
    assert second["valid"] is True and second["effects"][0]["reward"]["amount"] == 500


def test_a_context_field_named_twice_is_a_400_envelope_naming_it(sim: Sim) -> None:
    validated(sim, 1)
    before = ledger(sim)
    body = {
        "campaignData": {"campaignId": SCHEDULED},
        "contexts": [{"customerId": cid(2)}, {"customerId": cid(3), "CustomerID": cid(3)}],
    }
    error = envelope(sim.post(VALIDATE, body), 400, "invalid_request")
    assert error["message"].startswith("contexts[1].customerId: given twice"), error
    nested = {
        "campaignData": {"campaignId": SCHEDULED, "CAMPAIGNID": SCHEDULED},
        "contexts": [{"customerId": cid(2)}],
    }
    error = envelope(sim.post(VALIDATE, nested), 400, "invalid_request")
    assert error["message"].startswith("campaignData.campaignId: given twice"), error
    assert ledger(sim) == before


def test_redemptions_bind_their_keys_in_any_case(sim: Sim) -> None:
    assert sim.execute().status_code == 200
    [result] = validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    body = {"Redemptions": [{"AllocationID": allocation_of(result), "AMOUNT": 123}]}
    response = sim.post("/v1/promotions/PR-WELCOME/redemptions", body)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1, "rejected": []}
    assert sim.usage()["redeemedAmount"] == 123


def test_a_promotion_binds_its_keys_in_any_case_and_keeps_condition_values(sim: Sim) -> None:
    value = {"Level": "Gold", "level": "gold"}  # free-form: kept as given
    body = {
        "ID": "PR-CASE",
        "Name": "case",
        "PromoCodes": ["CASE10"],
        "RewardKind": "amount",
        "Currency": "EUR",
        "Budget": 10_000,
        "audiencecap": 10,
        "PERCUSTOMERLIMIT": 2,
        "periodcaps": {"Daily": 5},
        "Tiers": [
            {
                "Id": "T1",
                "Name": "one",
                "When": [{"Field": "session.tier", "Op": "eq", "Value": value}],
                "Reward": {"Type": "amount", "Amount": 100, "currency": "EUR"},
            }
        ],
    }
    response = sim.create_promotion(body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == sim.promotion("PR-CASE")
    assert (created["id"], created["audienceCap"], created["perCustomerLimit"]) == (
        "PR-CASE",
        10,
        2,
    )
    assert created["periodCaps"]["daily"] == 5
    [tier] = created["tiers"]
    assert tier["when"] == [{"field": "session.tier", "op": "eq", "value": value}]
    assert tier["reward"]["amount"] == 100


def test_a_promotion_field_named_twice_is_a_400_envelope_naming_it(sim: Sim) -> None:
    body = promotion_body("PR-TWICE")
    body["tiers"][0]["Reward"] = body["tiers"][0]["reward"]
    error = envelope(sim.create_promotion(body), 400, "invalid_request")
    assert error["message"].startswith("tiers[0].reward: given twice"), error
    assert sim.get("/v1/promotions/PR-TWICE").status_code == 404


# -- control API -------------------------------------------------------------------------------
def test_control_bodies_bind_their_keys_in_any_case(sim: Sim) -> None:
    clock = sim.put("/_sim/clock", {"Mode": "manual", "NOW": "2026-11-27T09:00:00Z"})
    assert clock.status_code == 200, clock.text
    assert (
        sim.post("/_sim/clock/advance", {"Seconds": 60}).json()["now"] == "2026-11-27T09:01:00.000Z"
    )
    campaign = {
        "ID": 91,
        "Type": "scheduled",
        "PromoCode": "WELCOME50",
        "TargetGroup": {"Size": 5, "OFFSET": 10},
    }
    created = sim.create_campaign(campaign)
    assert created.status_code == 201, created.text
    assert sim.execute(91).status_code == 200
    assert sim.campaign(91)["targetGroup"] == {"size": 5, "offset": 10, "where": []}
    assert sim.campaign(91)["processedCustomers"] == 5
    emitted = sim.post(
        f"/_sim/campaigns/{TRIGGERED}/events",
        {"Customers": [{"CustomerId": cid(7), "Context": {"Deposit": 1, "DepositAmount": 2}}]},
    )
    assert emitted.status_code == 201, emitted.text
    # the webhook keeps its documented case; the event context (free-form) its own keys
    webhook = sim.outbox(kind="triggered")[-1]["body"]
    assert set(webhook) == {"eventId", "eventTime", "user", "campaign", "context"}
    assert webhook["user"]["user_id"] == cid(7)
    assert webhook["context"] == {"Deposit": 1, "DepositAmount": 2}
    faults = sim.put(
        "/_sim/faults",
        {
            "Seed": 3,
            "Rules": [
                {"Target": "api", "Operation": "get_promotions", "Action": "error", "NTH": 1}
            ],
        },
    )
    assert faults.status_code == 200, faults.text
    assert faults.json() == {
        "seed": 3,
        "rules": [
            {
                "target": "api",
                "operation": "get_promotions",
                "action": "error",
                "nth": 1,
                "status": 503,
                "latencyMs": 0,
                "retryAfter": 1,
                "delaySeconds": 1.0,
                "windowSeconds": 1.0,
            }
        ],
    }
    config = sim.put("/_sim/webhooks/config", {"RetryDelays": [1, 2], "timescale": 0.5})
    assert config.status_code == 200, config.text
    assert (config.json()["retryDelays"], config.json()["timeScale"]) == ([1, 2], 0.5)
    journal = sim.put("/_sim/journal", {"Enabled": False})
    assert journal.json() == {"enabled": False}


def test_a_control_field_named_twice_is_a_400_envelope_naming_it(sim: Sim) -> None:
    error = envelope(
        sim.post("/_sim/clock/advance", {"seconds": 1, "Seconds": 2}),
        400,
        "invalid_request",
        "seconds: given twice",
    )
    assert error["details"]["problems"][0]["field"] == "seconds"
    body = {"customers": [{"customerId": cid(1), "CUSTOMERID": cid(2)}]}
    envelope(
        sim.post(f"/_sim/campaigns/{TRIGGERED}/events", body),
        400,
        "invalid_request",
        "customers[0].customerId: given twice",
    )
    assert sim.outbox(kind="triggered") == []


def test_a_tenant_body_binds_in_any_case_but_its_scenario_exactly(sim: Sim) -> None:
    created = sim.post("/_sim/tenants", {"Name": "Cased", "BUILTIN": "demo"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Cased"
    inline = {"name": "Inline", "Scenario": {"tenant": {"id": "inline", "Name": "x"}}}
    envelope(
        sim.post("/_sim/tenants", inline),
        400,
        "invalid_request",
        "scenario.tenant.Name: Extra inputs are not permitted",
    )
    inline["Scenario"] = {"tenant": {"id": "inline", "name": "x"}}
    assert sim.post("/_sim/tenants", inline).status_code == 201


def test_a_scenario_body_binds_exactly(sim: Sim) -> None:
    response = sim.client.post(
        "/_sim/scenario",
        content=b'{"Population": {"size": 10}}',
        headers={**sim.headers, "content-type": "application/json"},
    )
    envelope(response, 400, "invalid_request", "Population")


# -- scenario files ----------------------------------------------------------------------------
def test_a_scenario_file_binds_exactly_and_names_the_misspelled_key() -> None:
    text = (
        "promotions:\n  - {id: P, name: p, promocodes: [C], rewardKind: units,\n"
        "     budget: 1, audiencecap: 1, tiers: []}\n"
    )
    with pytest.raises(DomainError) as raised:
        parse_scenario(text, source="mine.yaml")
    # The wrong case is a misspelling, reported first with the spelling meant (item 11).
    assert "promotions[0]: unknown field `audiencecap` (did you mean `audienceCap`?)" in str(
        raised.value
    )


# -- the models themselves -----------------------------------------------------------------------
def test_only_declared_fields_are_bound_and_free_form_values_keep_their_keys() -> None:
    session = {"DepositAmount": 1, "depositamount": 2, "nested": {"CustomerId": "x"}}
    body = ValidateCustomersRequest.model_validate(
        {
            "CAMPAIGNDATA": {"campaignid": 1, "Channel": "email", "CHANNELID": 4},
            "contexts": [{"CustomerId": "C1", "session": session}],
        }
    )
    assert body.contexts[0]["session"] == session
    assert body.campaignData.channelId == 4
    # CampaignData keeps unknown keys (extra="allow") as they were spelled
    assert body.campaignData.model_extra == {"Channel": "email"}
    assert CampaignData.model_validate({"CampaignId": 2}).campaignId == 2
    condition = ConditionSpec.model_validate(
        {"FIELD": "session.x", "Op": "in", "value": [{"A": 1}]}
    )
    assert condition.value == [{"A": 1}]


def test_case_folding_is_ascii_only() -> None:
    """.NET's OrdinalIgnoreCase does not equate the Kelvin sign with `K` (Python's
    `lower()` does), so `\u212aey` is an unknown key, not `key`."""
    assert KeySpec.model_validate({"KEY": "k" * 8, "Role": "admin"}).key == "k" * 8
    with pytest.raises(ValidationError) as raised:
        KeySpec.model_validate({"\u212aey": "k" * 8, "role": "admin"})
    assert {e["type"] for e in raised.value.errors()} == {"missing", "extra_forbidden"}


def test_a_model_cannot_declare_two_fields_that_differ_only_in_case() -> None:
    with pytest.raises(TypeError, match="differ only in case"):

        class Ambiguous(WireModel):
            id: int
            ID: int
