"""Customers you choose (wire-contract §7, rev 2): explicit customers in a scenario,
target groups given as id lists, and `PUT /_sim/customers/{id}`; seen by tier choice,
CustomerAttributes and paging, on both stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulator.domain.models import Condition
from simulator.domain.tiers import holds
from simulator.scenario import builtin_scenario
from simulator.specs import Scenario
from tests.api.support import (
    CODE,
    active_promotion,
    cid,
    core_error,
    envelope,
    scheduled_campaign,
    tier,
    validate,
)
from tests.helpers import INTEGRATIONS, Sim

VIP = "vip-at-ü 1"  # any text is an id: spaces, non-ASCII
PLAIN = "plain@example.com"

# The integrator's question: "a gold VIP in Austria with 150,000 in deposits gets tier 2".
TIERS = [
    tier(
        "T2",
        2000,
        when=[
            {"field": "attributes.VIPLevel", "op": "eq", "value": "Gold"},
            {"field": "attributes.Country", "op": "eq", "value": "AT"},
            {"field": "attributes.LifetimeDeposits", "op": "gte", "value": 150_000},
            {"field": "attributes.Vip", "op": "eq", "value": True},
        ],
    ),
    tier("T1", 100),
]


def scenario_with(customers: list[dict[str, Any]], size: int = 1000) -> Scenario:
    """The demo world on a manual clock with `size` generated customers and `customers`."""
    data = builtin_scenario("demo").model_dump(mode="json", exclude_none=True)
    data["clock"] = {"mode": "manual"}
    data["population"] = {**data["population"], "size": size, "customers": customers}
    data["campaigns"] = []
    return Scenario.model_validate(data)


CHOSEN: list[dict[str, Any]] = [
    {
        "id": VIP,
        "attributes": {
            "VIPLevel": "Gold",
            "country": "AT",  # generated names in any case
            "LifetimeDeposits": 150_000,
            "Vip": True,  # and names beyond the generated set
        },
    },
    {"id": PLAIN, "attributes": {"Country": "AT", "VIPLevel": "Gold", "LifetimeDeposits": 10}},
    {"id": cid(5), "attributes": {"VIPLevel": "Gold", "Country": "AT", "Vip": True}},
]


@pytest.fixture
def chosen(make_sim: Callable[..., Sim]) -> Sim:
    sim = make_sim(scenario=scenario_with(CHOSEN))
    active_promotion(sim, tiers=TIERS)
    return sim


def page(sim: Sim, campaign_id: int, **params: Any) -> list[dict[str, Any]]:
    response = sim.get_processed_campaign_customers(campaign_id, **params)
    assert response.status_code == 200, response.text
    return list(response.json())


def put_customer(sim: Sim, customer_id: str, attributes: dict[str, Any]) -> Any:
    return sim.put(f"/_sim/customers/{customer_id}", {"attributes": attributes})


def test_explicit_customers_choose_the_tier_by_their_attributes(chosen: Sim) -> None:
    scheduled_campaign(chosen, 900, targetGroup={"ids": [VIP, PLAIN, cid(5), cid(6)]})
    results = validate(chosen, [VIP, PLAIN, cid(5), cid(6)], 900, dry_run=True)
    assert [r["valid"] for r in results] == [True] * 4
    # Only VIP meets all four conditions; PLAIN lacks the deposits and `Vip`; C0000005's
    # chosen attributes lie over its computed ones, whose LifetimeDeposits decide.
    tiers = {r["customerId"]: r["effects"][0]["tierId"] for r in results}
    assert tiers[VIP] == "T2"
    assert tiers[PLAIN] == "T1"
    deposits = chosen.get(f"/_sim/customers/{cid(5)}").json()["attributes"]["LifetimeDeposits"]
    assert tiers[cid(5)] == ("T2" if deposits >= 150_000 else "T1")


def test_an_id_list_is_the_processed_list_generated_first_then_explicit(chosen: Sim) -> None:
    scheduled_campaign(chosen, 901, targetGroup={"ids": [PLAIN, cid(7), VIP, cid(2)]})
    rows = page(chosen, 901)
    assert [r["CustomerID"] for r in rows] == [cid(2), cid(7), VIP, PLAIN]
    assert {r["PromoCode"] for r in rows} == {CODE}
    # paging through the boundary between generated and explicit customers
    assert [r["CustomerID"] for r in page(chosen, 901, **{"$top": 2, "$skip": 1})] == [
        cid(7),
        VIP,
    ]
    assert [r["CustomerID"] for r in page(chosen, 901, **{"$skip": 3})] == [PLAIN]
    assert chosen.report(901)["targeted"] == 4
    others = validate(chosen, [cid(3), "nobody"], 901, dry_run=True)
    assert [r["reason"] for r in others] == ["not_targeted", "not_targeted"]


def test_ids_with_digits_of_other_scripts_are_other_customers(chosen: Sim) -> None:
    # Superscripts and Arabic-Indic digits are digits to str.isdigit: "C000000²" once made
    # int() fail (a 500), and C + Arabic-Indic 0000001 read as C0000001 (another
    # customer's reward and attributes).
    scheduled_campaign(chosen, 905, targetGroup={"size": 5})
    odd = ["C000000\u00b2", "C" + "\u0660" * 6 + "\u0661"]
    results = validate(chosen, [*odd, cid(1)], 905)
    assert [r["reason"] for r in results] == ["not_targeted", "not_targeted", None]
    for customer_id in odd:
        assert chosen.get(f"/_sim/customers/{customer_id}").status_code == 404


def test_customer_attributes_show_chosen_attributes(chosen: Sim) -> None:
    scheduled_campaign(chosen, 902, targetGroup={"ids": [cid(5), cid(6), VIP]})
    rows = page(chosen, 902, CustomerAttributes="VIPLevel;Country;lifetimedeposits;VIP")
    by_id = {r["CustomerID"]: r["CustomerAttributes"] for r in rows}
    assert by_id[VIP] == ["Gold", "AT", "150000", "True"]
    generated = chosen.get(f"/_sim/customers/{cid(6)}").json()["attributes"]
    # a generated customer has no `Vip`: the empty string, as for any missing attribute
    assert by_id[cid(6)] == [
        generated["VIPLevel"],
        generated["Country"],
        str(generated["LifetimeDeposits"]),
        "",
    ]
    assert by_id[cid(5)][:2] == ["Gold", "AT"]
    core_error(page_response(chosen, 902, "Country;Vipp"), 400, "CustomerAttributes", "Vipp")


def page_response(sim: Sim, campaign_id: int, names: str) -> Any:
    return sim.get_processed_campaign_customers(campaign_id, CustomerAttributes=names)


def test_a_plain_target_group_runs_on_into_the_explicit_customers(
    make_sim: Callable[..., Sim],
) -> None:
    sim = make_sim(scenario=scenario_with(CHOSEN, size=3))
    active_promotion(sim, tiers=TIERS)
    scheduled_campaign(sim, 903, size=5)  # 3 generated (C0000005 is not one) + 2 explicit
    assert [r["CustomerID"] for r in page(sim, 903)] == [cid(0), cid(1), cid(2), VIP, PLAIN]


def test_a_population_of_explicit_customers_only(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(scenario=scenario_with(CHOSEN[:2], size=0))
    active_promotion(sim, tiers=TIERS)
    scheduled_campaign(sim, 904, size=2)
    assert [r["CustomerID"] for r in page(sim, 904)] == [VIP, PLAIN]
    response = sim.create_campaign(
        {"id": 905, "type": "scheduled", "promoCode": CODE, "targetGroup": {"size": 3}}
    )
    envelope(response, 409, "target_group_too_large", "targetGroup.size", "2 customers")


def test_put_adds_a_customer_seen_by_validation_and_paging(chosen: Sim) -> None:
    response = put_customer(chosen, "new-1", {"VIPLevel": "Gold", "Country": "AT"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "customerId": "new-1",
        "index": 1000 + 2,  # after the generated customers and the two explicit ones
        "explicit": True,
        "attributes": {"VIPLevel": "Gold", "Country": "AT"},
    }
    assert chosen.get("/_sim/customers/new-1").json() == body
    scheduled_campaign(chosen, 906, targetGroup={"ids": ["new-1", VIP]})
    assert [r["CustomerID"] for r in page(chosen, 906, CustomerAttributes="Country")] == [
        VIP,
        "new-1",
    ]
    [result] = validate(chosen, ["new-1"], 906, dry_run=True)
    assert result["effects"][0]["tierId"] == "T1"  # no deposits, no `Vip`
    # now make it the gold VIP of tier 2: PUT replaces the chosen attributes
    changed = put_customer(
        chosen,
        "new-1",
        {"VIPLevel": "Gold", "Country": "AT", "LifetimeDeposits": 150_000, "vip": True},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["attributes"] == {
        "VIPLevel": "Gold",
        "Country": "AT",
        "LifetimeDeposits": 150_000,
        "Vip": True,  # spelled as the tenant first spelled it
    }
    [result] = validate(chosen, ["new-1"], 906, dry_run=True)
    assert result["effects"][0]["tierId"] == "T2"
    rows = page(chosen, 906, CustomerAttributes="LifetimeDeposits;Vip")
    assert rows[1]["CustomerAttributes"] == ["150000", "True"]


def test_put_changes_a_generated_customer_over_its_computed_attributes(chosen: Sim) -> None:
    before = chosen.get(f"/_sim/customers/{cid(8)}").json()
    assert before["explicit"] is False
    changed = put_customer(chosen, cid(8), {"Country": "AT", "LifetimeDeposits": 150_000})
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["index"] == 8 and after["explicit"] is False
    assert after["attributes"] == {
        **before["attributes"],
        "Country": "AT",
        "LifetimeDeposits": 150_000,
    }
    scheduled_campaign(chosen, 907, size=10)
    rows = page(chosen, 907, CustomerAttributes="Country;LifetimeDeposits")
    assert rows[8]["CustomerAttributes"] == ["AT", "150000"]
    assert len(rows) == 10  # the change adds no customer
    put_customer(chosen, cid(8), {"VIPLevel": "Gold", "Vip": True})
    [result] = validate(chosen, [cid(8)], 907, dry_run=True)
    assert result["effects"][0]["tierId"] == "T1"  # Country AT was replaced, not kept
    put_customer(chosen, cid(8), {**CHOSEN[0]["attributes"]})
    [result] = validate(chosen, [cid(8)], 907, dry_run=True)
    assert result["effects"][0]["tierId"] == "T2"
    assert put_customer(chosen, cid(8), {}).status_code == 200
    assert chosen.get(f"/_sim/customers/{cid(8)}").json() == before


def test_put_changes_an_explicit_customer_of_the_scenario(chosen: Sim) -> None:
    scheduled_campaign(chosen, 908, targetGroup={"ids": [VIP]})
    [result] = validate(chosen, [VIP], 908, dry_run=True)
    assert result["effects"][0]["tierId"] == "T2"
    response = put_customer(chosen, VIP, {"VIPLevel": "Silver"})
    assert response.status_code == 200, response.text
    assert response.json()["index"] == 1000 and response.json()["explicit"] is True
    [result] = validate(chosen, [VIP], 908, dry_run=True)
    assert result["effects"][0]["tierId"] == "T1"
    assert page(chosen, 908, CustomerAttributes="VIPLevel;Country")[0]["CustomerAttributes"] == [
        "Silver",
        "",
    ]


def test_chosen_customers_outlive_a_reset_and_a_scenario_load_replaces_them(
    chosen: Sim,
) -> None:
    assert put_customer(chosen, "new-2", {"Country": "AT"}).status_code == 201
    assert chosen.post("/_sim/reset").status_code == 200
    assert chosen.get("/_sim/customers/new-2").status_code == 200
    assert chosen.get(f"/_sim/customers/{VIP}").json()["attributes"]["Vip"] is True
    loaded = chosen.post("/_sim/scenario", scenario_with([]).model_dump(mode="json"))
    assert loaded.status_code == 200, loaded.text
    envelope(chosen.get("/_sim/customers/new-2"), 404, "unknown_customer", "new-2")
    envelope(chosen.get(f"/_sim/customers/{VIP}"), 404, "unknown_customer")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"attributes": {"LifetimeDeposits": "150000"}}, "must be an integer"),
        ({"attributes": {"SelfExcluded": 1}}, "must be a boolean"),
        ({"attributes": {"Country": 3}}, "must be a string"),
        ({"attributes": {"a.b": 1}}, "attributes"),
        ({"attributes": {"Tier": [1]}}, "attributes.Tier"),
        ({"attributes": {"Tier": {"x": 1}}}, "attributes.Tier"),
        ({"attributes": {"Tier": None}}, "attributes.Tier"),
        ({"attributes": {"country": "AT", "Country": "DE"}}, "given twice"),
        ({"attributes": {f"a{i}": i for i in range(101)}}, "attributes"),
        ({"attributes": {}, "extra": 1}, "extra"),
        ({}, "attributes"),
    ],
)
def test_put_refuses_bad_attributes(chosen: Sim, body: dict[str, Any], needle: str) -> None:
    response = chosen.put(f"/_sim/customers/{PLAIN}", body)
    envelope(response, 400, "invalid_request", needle)
    assert chosen.get(f"/_sim/customers/{PLAIN}").json()["attributes"]["Country"] == "AT"


def test_put_needs_an_admin_key_and_a_sane_id(chosen: Sim) -> None:
    response = chosen.as_key(INTEGRATIONS).put("/_sim/customers/x", {"attributes": {}})
    envelope(response, 403, "forbidden")
    envelope(put_customer(chosen, "x" * 129, {}), 400, "invalid_request", "customerId")
    envelope(chosen.get("/_sim/customers/nobody"), 404, "unknown_customer", "nobody")


def test_a_campaign_target_group_must_fit_the_population(chosen: Sim) -> None:
    def create(target: dict[str, Any]) -> Any:
        return chosen.create_campaign(
            {"id": 910, "type": "scheduled", "promoCode": CODE, "targetGroup": target}
        )

    # 1000 generated + 2 explicit customers
    envelope(create({"size": 1003}), 409, "target_group_too_large", "1,002 customers")
    envelope(create({"size": 10, "offset": 995}), 409, "target_group_too_large", "offset 995")
    envelope(create({"ids": [VIP, "nobody"]}), 404, "unknown_customer", "ids[1]", "nobody")
    envelope(create({"ids": [cid(1000)]}), 404, "unknown_customer", "ids[0]")
    envelope(create({"ids": [VIP, VIP]}), 400, "invalid_request", "listed twice")
    envelope(create({"ids": [VIP], "size": 1}), 400, "invalid_request", "takes no")
    envelope(create({}), 400, "invalid_request", "'size' or 'ids'")
    assert create({"size": 1002}).status_code == 201


@pytest.mark.parametrize(
    ("actual", "op", "expected", "result"),
    [
        (True, "eq", True, True),
        (True, "eq", 1, False),  # JSON's true is not 1 (Python's is)
        (1, "eq", True, False),
        (0, "ne", False, True),
        (1, "in", [True, 2], False),
        (True, "in", [1, True], True),
        (False, "not_in", [0], True),
        (True, "gt", 0, False),  # booleans are not ordered
        (150_000, "gte", 150_000.0, True),  # integers and decimals compare by value
        ("150000", "gte", 150_000, False),  # a string is not a number
        ("150000", "eq", 150_000, False),
        ("b", "gt", "a", True),
    ],
)
def test_tier_conditions_compare_json_values(
    actual: Any, op: str, expected: Any, result: bool
) -> None:
    value = tuple(expected) if isinstance(expected, list) else expected
    condition = Condition("attributes.X", op, value)
    assert holds(condition, {"X": actual}, {}) is result
