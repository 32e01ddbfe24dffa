"""Core route spellings, query names and paging, listeners, auth and tenant isolation
(wire-contract §1, §2, §7, §8), on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.support import (
    POPULATION,
    cid,
    core_error,
    envelope,
    ledger,
    promotion_body,
    validate,
    world,
)
from tests.conftest import manual_demo
from tests.helpers import ADMIN, INTEGRATIONS, SCHEDULED, SPINS, Sim

LISTENERS = "/current/general/GetRegisteredEventListeners"
REGISTER = "/current/general/RegisterEventListener"
UNREGISTER = "/current/general/UnregisterEventListener"
HOOK = "http://127.0.0.1:9/hook"  # nothing listens there; deliveries fail fast


def fetch(sim: Sim, campaign_id: int | str = SCHEDULED, **params: Any) -> Any:
    """GetProcessedCampaignCustomers with any query (`$top`, `$skip`, attributes...)."""
    return sim.get(
        "/current/customers/GetProcessedCampaignCustomers",
        params={"CampaignID": campaign_id, **params},
    )


def customer_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["CustomerID"] for row in response.json()]


# -- route spellings -------------------------------------------------------------------------------
CUSTOMER_ROUTES = [
    "/current/customers/GetProcessedCampaignCustomers",
    "/current/Customers/GetProcessedCampaignCustomers",
    "/Customers/GetProcessedCampaignCustomers",
    "/Customers/getprocessedcampaigncustomers",
    "/customers/GETPROCESSEDCAMPAIGNCUSTOMERS",
    "/CURRENT/CUSTOMERS/GetProcessedCampaignCustomers",
    "/current/customers/GetCampaignCustomers",
    "/Customers/GetCampaignCustomers",
    "/customers/getcampaigncustomers",
    # versioned bases, as published clients hard-code them (wire-contract §2, rev 2)
    "/v3.0/customers/GetProcessedCampaignCustomers",
    "/v1.6/customers/GetProcessedCampaignCustomers",
    "/V3.0/Customers/getprocessedcampaigncustomers",
    "/v1.6/CUSTOMERS/GetCampaignCustomers",
    "/v12.34/customers/GetProcessedCampaignCustomers",
]


def test_every_spelling_of_the_customers_route_serves_the_same_page(sim: Sim) -> None:
    sim.execute()
    expected = [{"CustomerID": cid(i), "ActionID": 17, "PromoCode": "WELCOME50"} for i in range(3)]
    for path in CUSTOMER_ROUTES:
        response = sim.get(path, params={"CampaignID": SCHEDULED, "$top": 3})
        assert response.status_code == 200, (path, response.text)
        assert response.json() == expected, path


def test_every_spelling_of_a_general_route_is_served(sim: Sim) -> None:
    assert sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": HOOK}).status_code == 200
    for path in (
        "/current/general/GetRegisteredEventListeners",
        "/General/GetRegisteredEventListeners",
        "/general/getregisteredeventlisteners",
        "/CURRENT/GENERAL/GETREGISTEREDEVENTLISTENERS",
        "/v3.0/general/GetRegisteredEventListeners",
        "/v1.6/General/getRegisteredEventListeners",
        "/V1.6/GENERAL/GETREGISTEREDEVENTLISTENERS",
    ):
        response = sim.get(path)
        assert response.status_code == 200, path
        assert response.json() == [{"EventTypeID": 5, "ListenerURL": HOOK, "ChannelID": None}]


def test_every_spelling_of_the_approval_route_applies_the_approval(sim: Sim) -> None:
    sim.execute()
    paths = [
        "/current/integrations/UpdateCustomerPromotionStatus",
        "/Integrations/UpdateCustomerPromotionStatus",
        "/integrations/updatecustomerpromotionstatus",
        "/v3.0/integrations/UpdateCustomerPromotionStatus",
        "/v1.6/Integrations/updateCustomerPromotionStatus",
    ]
    validate(sim, [cid(i) for i in range(len(paths))], SCHEDULED, "WELCOME50")
    for i, path in enumerate(paths):
        body = {"CampaignID": SCHEDULED, "PromosUpdated": [{"CustomerID": cid(i), "Status": True}]}
        response = sim.post(path, body)
        assert response.status_code == 200, (path, response.text)
        assert response.content == b"", path
        assert sim.usage()["audienceCommitted"] == i + 1, path


# -- query parameter names -------------------------------------------------------------------------
def test_query_parameter_names_are_case_insensitive_and_dollar_optional(sim: Sim) -> None:
    sim.execute()
    for params in (
        {"CampaignID": SCHEDULED, "$top": 2, "$skip": 5},
        {"campaignId": SCHEDULED, "top": 2, "skip": 5},
        {"CAMPAIGNID": SCHEDULED, "$TOP": 2, "$SKIP": 5},
        {"campaignid": SCHEDULED, "Top": 2, "Skip": 5},
    ):
        response = sim.get("/current/customers/GetProcessedCampaignCustomers", params=params)
        assert customer_ids(response) == [cid(5), cid(6)], params


# -- paging ----------------------------------------------------------------------------------------
def test_default_page_is_10000_customers(sim: Sim) -> None:
    sim.execute()
    ids = customer_ids(fetch(sim))
    assert len(ids) == 10_000
    assert ids[0] == cid(0) and ids[-1] == cid(9_999)


def test_top_10000_is_allowed(sim: Sim) -> None:
    sim.execute()
    assert len(customer_ids(fetch(sim, **{"$top": 10_000}))) == 10_000


def test_top_over_10000_is_400_naming_top(sim: Sim) -> None:
    sim.execute()
    before = sim.report()["fetched"]
    core_error(fetch(sim, **{"$top": 10_001}), 400, "$top")
    assert sim.report()["fetched"] == before


def test_top_zero_is_400_naming_top(sim: Sim) -> None:
    sim.execute()
    core_error(fetch(sim, **{"$top": 0}), 400, "$top")


def test_negative_skip_is_400_naming_skip(sim: Sim) -> None:
    sim.execute()
    core_error(fetch(sim, **{"$skip": -1}), 400, "$skip")


def test_non_integer_top_is_400(sim: Sim) -> None:
    sim.execute()
    for value in ("abc", "1.5", "ten"):
        core_error(fetch(sim, **{"$top": value}), 400, "$top")


def test_missing_campaign_id_is_400_naming_it(sim: Sim) -> None:
    sim.execute()
    core_error(sim.get("/current/customers/GetProcessedCampaignCustomers"), 400, "CampaignID")


def test_invalid_campaign_id_is_400_naming_it(sim: Sim) -> None:
    for value in ("abc", "0", "-3"):
        core_error(fetch(sim, value), 400, "CampaignID")


def test_pages_are_stable_and_concatenate_to_the_whole_list(sim: Sim) -> None:
    sim.execute(SPINS)
    whole = customer_ids(fetch(sim, SPINS))
    assert customer_ids(fetch(sim, SPINS)) == whole
    pages: list[str] = []
    for skip in range(0, 2000, 700):
        pages += customer_ids(fetch(sim, SPINS, **{"$top": 700, "$skip": skip}))
    assert pages == whole
    assert len(whole) == len(set(whole)) == 2000


def test_last_page_is_short_and_past_the_end_is_empty(sim: Sim) -> None:
    sim.execute(SPINS)
    last = customer_ids(fetch(sim, SPINS, **{"$top": 1500, "$skip": 1500}))
    assert len(last) == 500
    empty = fetch(sim, SPINS, **{"$top": 10, "$skip": 2000})
    assert customer_ids(empty) == []


def test_fetches_are_counted_in_the_report(sim: Sim) -> None:
    sim.execute()
    fetch(sim, **{"$top": 100})
    fetch(sim, **{"$top": 50, "$skip": 9_990})
    report = sim.report()
    assert (report["fetchCalls"], report["fetched"]) == (2, 110)


@pytest.mark.parametrize(
    "names", [["Country", "VIPLevel"], ["VIPLevel", "Country"], ["Age", "Email", "SelfExcluded"]]
)
def test_customer_attributes_come_back_as_a_list_in_the_requested_order(
    sim: Sim, names: list[str]
) -> None:
    sim.execute()
    query: dict[str, Any] = {"$top": 3, "$skip": 10, "CustomerAttributes": ";".join(names)}
    response = fetch(sim, **query)
    assert response.status_code == 200, response.text
    rows = response.json()
    for offset, row in enumerate(rows):
        attributes = POPULATION.attributes(10 + offset)
        assert row["CustomerID"] == cid(10 + offset)
        assert row["CustomerAttributes"] == [str(attributes[n]) for n in names]


def test_customer_attribute_names_are_case_insensitive_and_delimiter_is_ignored(sim: Sim) -> None:
    sim.execute()
    query: dict[str, Any] = {
        "$top": 1,
        "customerattributes": "country;viplevel",
        "CustomerAttributesDelimiter": ",",
    }
    response = fetch(sim, **query)
    attributes = POPULATION.attributes(0)
    assert response.json()[0]["CustomerAttributes"] == [
        attributes["Country"],
        attributes["VIPLevel"],
    ]


def test_unknown_customer_attribute_is_400_naming_it(sim: Sim) -> None:
    sim.execute()
    response = fetch(sim, CustomerAttributes="Country;ShoeSize")
    core_error(response, 400, "CustomerAttributes", "ShoeSize")


def test_customers_of_a_campaign_not_yet_executed_is_404(sim: Sim) -> None:
    core_error(fetch(sim), 404, str(SCHEDULED))


def test_customers_of_an_unknown_campaign_is_404(sim: Sim) -> None:
    core_error(fetch(sim, 55_555), 404, "55555")


# -- unknown functions and methods -----------------------------------------------------------------
def test_unknown_core_function_is_405_method_not_allowed(sim: Sim) -> None:
    for method, path in (
        ("GET", "/current/general/NoSuchFunction"),
        ("POST", "/current/nosuchcategory/GetLastDataUpdate"),
        ("GET", "/General/NoSuchFunction"),
        ("GET", "/current/customers"),
        ("GET", "/current/customers/GetProcessedCampaignCustomers/extra"),
        ("GET", "/v3.0/general/NoSuchFunction"),
        ("GET", "/v1.6/customers"),
        ("GET", "/v1.6/promotions"),  # a version base is core, even when it starts `/v1`
        ("POST", "/V1.6/general/login/extra"),
    ):
        response = sim.client.request(method, path, headers=sim.headers)
        assert response.status_code == 405, (method, path)
        assert response.json() == "Method Not Allowed", (method, path)
        # No method is served there, so the list is empty (docs/decisions.md)
        assert response.headers["allow"] == "", (method, path)


def test_v1_without_a_minor_version_is_still_promotions(sim: Sim) -> None:
    response = sim.get("/v1/promotions/PR-WELCOME")
    assert response.status_code == 200
    assert response.json()["id"] == "PR-WELCOME"
    envelope(sim.get("/v1/general/GetLastDataUpdate"), 404, "not_found")


def allowed(response: Any) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",") if m.strip()}


WRONG_METHODS = [
    # core: every spelling, answered with the core string body
    ("GET", REGISTER, {"POST"}),
    ("PUT", REGISTER, {"POST"}),
    ("POST", "/current/customers/GetProcessedCampaignCustomers", {"GET"}),
    ("DELETE", "/v1.6/customers/GetCampaignCustomers", {"GET"}),
    ("GET", "/current/integrations/UpdateCustomerPromotionStatus", {"POST"}),
    ("DELETE", "/General/GetLastDataUpdate", {"GET"}),
    ("PUT", "/current/general/login", {"GET", "POST"}),
    ("DELETE", "/v3.0/General/Login", {"GET", "POST"}),
    ("PATCH", "/current/integrations/AddPromotions", {"POST"}),
    # CE v2
    ("GET", "/conditional-execution/v2/triggered/approval", {"POST"}),
    ("PATCH", "/conditional-execution/v2/triggered/webhooks/", {"GET", "POST", "DELETE"}),
    # Promotions
    ("DELETE", "/v1/promotions", {"GET", "POST"}),
    ("POST", "/v1/promotions/PR-WELCOME", {"GET", "DELETE"}),
    ("GET", "/v1/promotions/PR-WELCOME/activate", {"PATCH"}),
    ("GET", "/v1/promocodes/WELCOME50/validateCustomers", {"POST"}),
    # control API
    ("DELETE", "/_sim/clock", {"GET", "PUT"}),
    ("POST", "/_sim/faults", {"GET", "PUT", "DELETE"}),
    ("POST", "/_sim/journal", {"GET", "PUT", "DELETE"}),
    ("GET", "/_sim/reset", {"POST"}),
    ("PUT", f"/_sim/campaigns/{SCHEDULED}", {"GET"}),
    ("DELETE", "/_sim/health", {"GET"}),
]


@pytest.mark.parametrize(("method", "path", "methods"), WRONG_METHODS)
def test_wrong_method_is_405_with_allow_listing_every_method_of_the_path(
    sim: Sim, method: str, path: str, methods: set[str]
) -> None:
    response = sim.client.request(method, path, headers=sim.headers)
    assert response.status_code == 405, (method, path, response.text)
    assert allowed(response) == methods, response.headers.get("allow")
    if path.startswith(("/_sim", "/v1/", "/conditional")):
        envelope(response, 405, "method_not_allowed")
    else:
        assert response.json() == "Method Not Allowed", (method, path)


def test_every_method_allow_names_is_served(sim: Sim) -> None:
    """The header names exactly what the path serves: none of its methods is a 405."""
    for method, path, _ in WRONG_METHODS:
        for other in allowed(sim.client.request(method, path, headers=sim.headers)):
            answer = sim.client.request(other, path, headers=sim.headers)
            assert answer.status_code != 405, (other, path)


# -- writes answer exactly 200 with an empty body --------------------------------------------------
def test_core_writes_answer_exactly_200_with_an_empty_body(sim: Sim) -> None:
    sim.execute()
    validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    calls = [
        (REGISTER, {"EventTypeID": 5, "ListenerURL": HOOK}),
        (UNREGISTER, {"EventTypeID": 5}),
        (
            "/current/integrations/UpdateCustomerPromotionStatus",
            {"CampaignID": SCHEDULED, "PromosUpdated": [{"CustomerID": cid(1), "Status": True}]},
        ),
        ("/current/integrations/AddPromotions", [{"PromoCode": "P1", "PromotionName": "one"}]),
        ("/current/integrations/DeletePromotions", [{"PromoCode": "P1"}]),
    ]
    for path, body in calls:
        response = sim.post(path, body)
        assert response.status_code == 200, (path, response.text)
        assert response.content == b"", path


def test_get_last_data_update_is_the_simulator_date(sim: Sim) -> None:
    response = sim.get("/current/general/GetLastDataUpdate")
    assert response.status_code == 200
    assert response.json() == {"Date": sim.clock()["now"][:10]}


def test_core_dates_and_times_keep_four_digit_years_on_an_early_clock(
    make_sim: Callable[..., Sim],
) -> None:
    # Found by schemathesis: a scenario clock starting in year 30 gave "30-11-27" (strftime
    # pads no year below 1000), which the documented `YYYY-MM-DD` pattern refuses.
    demo = manual_demo()
    start = datetime(30, 11, 27, 9, tzinfo=UTC)
    sim = make_sim(
        scenario=demo.model_copy(update={"clock": demo.clock.model_copy(update={"start": start})})
    )
    assert sim.get("/current/general/GetLastDataUpdate").json() == {"Date": "0030-11-27"}
    assert sim.execute().status_code == 200
    body = sim.outbox(kind="scheduled")[-1]["body"]
    assert body["TimeStamp"] == "0030-11-27 09:00:00"


def test_legacy_promotion_codes_are_added_listed_and_deleted(sim: Sim) -> None:
    demo = {"PromoCode": "CASHBACK5", "PromotionName": "Cashback 5%"}  # the demo world's
    sim.post(
        "/current/integrations/AddPromotions",
        [{"PromoCode": "B2", "PromotionName": "bee"}, {"PromoCode": "A1", "PromotionName": "a"}],
    )
    listed = sim.get("/current/integrations/GetPromotions").json()
    assert listed == [
        {"PromoCode": "A1", "PromotionName": "a"},
        {"PromoCode": "B2", "PromotionName": "bee"},
        demo,
    ]
    sim.post("/current/integrations/DeletePromotions", [{"PromoCode": "A1"}, {"PromoCode": "ZZ"}])
    assert sim.get("/current/integrations/GetPromotions").json() == [
        {"PromoCode": "B2", "PromotionName": "bee"},
        demo,
    ]


# -- event listeners -------------------------------------------------------------------------------
def test_allowed_event_types_can_be_registered(sim: Sim) -> None:
    allowed = [1, 2, 3, 4, 5, 11, 13]
    for event_type in allowed:
        response = sim.post(REGISTER, {"EventTypeID": event_type, "ListenerURL": HOOK})
        assert response.status_code == 200, (event_type, response.text)
    listed = sim.get(LISTENERS).json()
    assert sorted(x["EventTypeID"] for x in listed) == allowed
    assert all(x["ListenerURL"] == HOOK and x["ChannelID"] is None for x in listed)


def test_other_event_types_are_400_naming_event_type_id(sim: Sim) -> None:
    for event_type in (0, 6, 7, 12, 14, 99):
        response = sim.post(REGISTER, {"EventTypeID": event_type, "ListenerURL": HOOK})
        core_error(response, 400, "EventTypeID")
    assert sim.get(LISTENERS).json() == []


def test_listener_url_must_be_http_or_https(sim: Sim) -> None:
    for url in ("ftp://example.com/hook", "example.com/hook", "mailto:a@b.c", "http://", "hook"):
        response = sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": url})
        core_error(response, 400, "ListenerURL")
    assert sim.get(LISTENERS).json() == []


def test_https_listener_url_is_accepted(sim: Sim) -> None:
    url = "https://127.0.0.1:9/secure"
    assert sim.post(REGISTER, {"EventTypeID": 4, "ListenerURL": url}).status_code == 200
    assert sim.get(LISTENERS).json()[0]["ListenerURL"] == url


def test_channel_id_with_event_type_5_is_400(sim: Sim) -> None:
    body = {"EventTypeID": 5, "ListenerURL": HOOK, "ChannelID": 3}
    core_error(sim.post(REGISTER, body), 400, "ChannelID")
    assert sim.get(LISTENERS).json() == []


def test_channel_id_with_another_event_type_is_kept(sim: Sim) -> None:
    assert (
        sim.post(REGISTER, {"EventTypeID": 13, "ListenerURL": HOOK, "ChannelID": 7}).status_code
        == 200
    )
    assert sim.get(LISTENERS).json() == [{"EventTypeID": 13, "ListenerURL": HOOK, "ChannelID": 7}]


def test_percent_encoded_listener_url_is_decoded(sim: Sim) -> None:
    encoded = "http%3A%2F%2F127.0.0.1%3A9%2Fhook%3Fa%3D1"
    assert sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": encoded}).status_code == 200
    assert sim.get(LISTENERS).json()[0]["ListenerURL"] == "http://127.0.0.1:9/hook?a=1"


def test_registering_an_event_type_again_replaces_its_url(sim: Sim) -> None:
    sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": HOOK})
    sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9/other"})
    assert sim.get(LISTENERS).json() == [
        {"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9/other", "ChannelID": None}
    ]


def test_same_event_type_on_another_channel_is_a_separate_listener(sim: Sim) -> None:
    sim.post(REGISTER, {"EventTypeID": 13, "ListenerURL": HOOK, "ChannelID": 1})
    sim.post(REGISTER, {"EventTypeID": 13, "ListenerURL": HOOK + "2", "ChannelID": 2})
    sim.post(REGISTER, {"EventTypeID": 13, "ListenerURL": HOOK + "3", "ChannelID": 1})
    listed = sorted(sim.get(LISTENERS).json(), key=lambda x: x["ChannelID"])
    assert listed == [
        {"EventTypeID": 13, "ListenerURL": HOOK + "3", "ChannelID": 1},
        {"EventTypeID": 13, "ListenerURL": HOOK + "2", "ChannelID": 2},
    ]


def test_unregister_removes_the_listener(sim: Sim) -> None:
    sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": HOOK})
    sim.post(REGISTER, {"EventTypeID": 4, "ListenerURL": HOOK})
    assert sim.post(UNREGISTER, {"EventTypeID": 5}).status_code == 200
    assert sim.get(LISTENERS).json() == [{"EventTypeID": 4, "ListenerURL": HOOK, "ChannelID": None}]


def test_unregistering_a_listener_not_registered_is_404(sim: Sim) -> None:
    sim.post(REGISTER, {"EventTypeID": 13, "ListenerURL": HOOK, "ChannelID": 1})
    core_error(sim.post(UNREGISTER, {"EventTypeID": 5}), 404, "5")
    core_error(sim.post(UNREGISTER, {"EventTypeID": 13, "ChannelID": 2}), 404)
    assert len(sim.get(LISTENERS).json()) == 1


# -- API keys --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/current/general/GetLastDataUpdate"),
        ("GET", "/current/customers/GetProcessedCampaignCustomers?CampaignID=48213"),
        ("POST", "/current/integrations/UpdateCustomerPromotionStatus"),
    ],
)
def test_core_route_without_a_key_is_401_with_a_string_body(
    sim: Sim, method: str, path: str
) -> None:
    response = sim.client.request(method, path, json={"CampaignID": 48213, "PromosUpdated": []})
    core_error(response, 401, "Unauthorized")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/promotions/PR-WELCOME"),
        ("GET", "/conditional-execution/v2/triggered/webhooks/"),
        ("GET", "/_sim/clock"),
    ],
)
def test_envelope_route_without_a_key_is_401_envelope(sim: Sim, method: str, path: str) -> None:
    envelope(sim.client.request(method, path), 401, "unauthorized")


def test_unknown_key_is_401(sim: Sim) -> None:
    stranger = sim.as_key("not-a-key")
    envelope(stranger.get("/v1/promotions/PR-WELCOME"), 401, "unauthorized")
    core_error(stranger.get("/current/general/GetLastDataUpdate"), 401)
    envelope(stranger.get("/_sim/clock"), 401, "unauthorized")


def test_refused_key_changes_nothing(sim: Sim) -> None:
    sim.execute()
    validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    before = ledger(sim)
    stranger = sim.as_key("not-a-key")
    assert stranger.update_customer_promotion_status({cid(1): True}).status_code == 401
    assert stranger.validate_customers([cid(2)]).status_code == 401
    assert stranger.cancel().status_code == 401
    assert ledger(sim) == before


def test_api_key_header_name_is_case_insensitive(sim: Sim) -> None:
    for name in ("x-api-key", "X-Api-Key", "X-API-KEY", "x-API-key"):
        response = sim.client.get("/v1/promotions/PR-WELCOME", headers={name: ADMIN})
        assert response.status_code == 200, name
        response = sim.client.get("/General/GetLastDataUpdate", headers={name: INTEGRATIONS})
        assert response.status_code == 200, name


def test_integrations_key_on_the_control_api_is_403(sim: Sim) -> None:
    integrations = sim.as_key(INTEGRATIONS)
    envelope(integrations.get("/_sim/clock"), 403, "forbidden")
    envelope(integrations.execute(), 403, "forbidden")
    envelope(integrations.post("/_sim/reset"), 403, "forbidden")
    assert sim.campaign()["status"] == "scheduled"


def test_integrations_key_cannot_manage_promotions(sim: Sim) -> None:
    integrations = sim.as_key(INTEGRATIONS)
    envelope(integrations.create_promotion(promotion_body()), 403, "forbidden")
    envelope(integrations.deactivate("PR-WELCOME"), 403, "forbidden")
    assert sim.promotion()["status"] == "active"
    envelope(sim.get("/v1/promotions/PR-TEST"), 404, "unknown_promotion")


def test_integrations_key_runs_the_integration_flow(sim: Sim) -> None:
    sim.execute()
    integrations = sim.as_key(INTEGRATIONS)
    assert fetch(integrations, **{"$top": 1}).status_code == 200
    assert integrations.validate_customers([cid(1)]).status_code == 200
    assert integrations.update_customer_promotion_status({cid(1): True}).status_code == 200
    assert integrations.get("/v1/promotions/PR-WELCOME").status_code == 200


# -- tenant isolation ------------------------------------------------------------------------------
def new_tenant(sim: Sim, **body: Any) -> Sim:
    response = sim.post("/_sim/tenants", body)
    assert response.status_code == 201, response.text
    keys = response.json()["keys"]
    assert set(keys) == {"admin", "integrations"}
    assert ADMIN not in keys.values()
    return sim.as_key(keys["admin"])


def test_integrations_key_cannot_create_tenants(sim: Sim) -> None:
    envelope(sim.as_key(INTEGRATIONS).post("/_sim/tenants", {}), 403, "forbidden")


def test_new_tenant_cannot_see_the_demo_tenants_objects(sim: Sim) -> None:
    sim.execute()
    allocation = validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0]["effects"][0]["allocationId"]
    sim.update_customer_promotion_status({cid(1): True})
    sim.post(REGISTER, {"EventTypeID": 5, "ListenerURL": HOOK})
    before = world(sim)
    other = new_tenant(sim)
    envelope(other.get("/v1/promotions/PR-WELCOME"), 404, "unknown_promotion")
    assert other.get("/v1/promotions").json() == []
    envelope(other.get(f"/_sim/campaigns/{SCHEDULED}"), 404, "unknown_campaign")
    envelope(other.get(f"/_sim/campaigns/{SCHEDULED}/report"), 404, "unknown_campaign")
    core_error(fetch(other), 404)
    envelope(other.validate_customers([cid(2)]), 404, "unknown_campaign")
    assert other.outbox() == []
    assert other.get(LISTENERS).json() == []
    journal = other.get("/_sim/journal", params={"limit": 10_000}).json()["entries"]
    seen = {(e["method"], e["path"], e["status"]) for e in journal}
    assert ("POST", f"/_sim/campaigns/{SCHEDULED}/execute", 200) not in seen
    assert ("POST", REGISTER, 200) not in seen
    assert ("POST", "/_sim/tenants", 201) not in seen
    assert journal  # the other tenant's own requests are there
    envelope(
        other.report_redemptions("PR-WELCOME", [{"allocationId": allocation}]),
        404,
        "unknown_promotion",
    )
    assert world(sim) == before


def test_new_tenant_cannot_change_the_demo_tenants_objects(sim: Sim) -> None:
    sim.execute()
    validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    before = world(sim)
    other = new_tenant(sim)
    envelope(other.deactivate("PR-WELCOME"), 404, "unknown_promotion")
    envelope(other.archive("PR-WELCOME"), 404, "unknown_promotion")
    envelope(other.cancel(), 404, "unknown_campaign")
    envelope(other.clear(), 404, "unknown_campaign")
    core_error(other.update_customer_promotion_status({cid(1): True}), 404)
    assert other.post(UNREGISTER, {"EventTypeID": 5}).status_code == 404
    assert world(sim) == before
    assert sim.usage()["audienceReserved"] == 1
    assert sim.campaign()["status"] == "executed"


def test_tenants_with_the_same_world_do_not_share_state(sim: Sim) -> None:
    other = new_tenant(sim, builtin="demo")
    assert other.execute().status_code == 200
    assert validate(other, [cid(1), cid(2)], SCHEDULED, "WELCOME50")[0]["valid"] is True
    assert other.update_customer_promotion_status({cid(1): True}).status_code == 200
    # the demo tenant's campaign and promotion are untouched
    assert sim.campaign()["status"] == "scheduled"
    assert sim.outbox() == []
    assert sim.usage()["audienceReserved"] == sim.usage()["audienceCommitted"] == 0
    # and the demo tenant's approval does not see the other tenant's reservation
    sim.execute()
    body = envelope(sim.update_customer_promotion_status({cid(2): True}), 409, "not_validated")
    assert body["details"]["rejected"] == [{"CustomerID": cid(2), "reason": "not_validated"}]
    assert other.usage()["audienceCommitted"] == 1
    assert other.usage()["audienceReserved"] == 1


def test_same_promotion_id_may_exist_in_two_tenants(sim: Sim) -> None:
    other = new_tenant(sim)
    assert sim.create_promotion(promotion_body(budget=111)).status_code == 201
    assert other.create_promotion(promotion_body(budget=222)).status_code == 201
    assert sim.promotion("PR-TEST")["budget"] == 111
    assert other.promotion("PR-TEST")["budget"] == 222
    other.activate("PR-TEST")
    assert sim.promotion("PR-TEST")["status"] == "draft"


def test_tenant_keys_do_not_reach_the_demo_tenant_even_for_the_same_ids(sim: Sim) -> None:
    other = new_tenant(sim, builtin="demo")
    other_allocation_promo = other.promotion("PR-WELCOME")
    assert other_allocation_promo["usage"]["budgetReserved"] == 0
    sim.execute()
    validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    assert other.usage()["budgetReserved"] == 0
    assert other.campaign()["status"] == "scheduled"
