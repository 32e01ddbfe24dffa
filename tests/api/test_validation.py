"""validateCustomers, rule by rule (wire-contract §4, §5, §8), on every store."""

from __future__ import annotations

from typing import Any

import pytest

from simulator.population import Population
from tests.api.support import (
    CODE,
    POPULATION,
    PROMO,
    active_promotion,
    allocation_of,
    cid,
    emit_for,
    envelope,
    ledger,
    promotion_body,
    reasons,
    scheduled_campaign,
    tier,
    triggered_campaign,
    validate,
)
from tests.helpers import SCHEDULED, SPINS, TRIGGERED, Sim

DAY = 86_400


def first_index(predicate: Any, start: int = 0, stop: int = 10_000) -> int:
    """The first demo customer in [start, stop) whose attributes satisfy `predicate`."""
    for index in range(start, stop):
        if predicate(POPULATION.attributes(index)):
            return index
    raise AssertionError("no such customer in the demo population")


def is_vip(a: dict[str, Any]) -> bool:
    return a["VIPLevel"] in ("Gold", "Platinum")


def is_rich(a: dict[str, Any]) -> bool:
    return bool(a["LifetimeDeposits"] >= 100_000)


# -- a valid result reserves ----------------------------------------------------------------
def test_valid_result_reserves_reward_and_audience_slot(sim: Sim) -> None:
    sim.execute()
    results = validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    assert results[0]["valid"] is True
    assert results[0]["reason"] is None
    effect = results[0]["effects"][0]
    assert effect["allocationId"]
    amount = effect["reward"]["amount"]
    usage = sim.usage()
    assert usage["budgetReserved"] == amount
    assert usage["audienceReserved"] == 1
    assert usage["budgetCommitted"] == 0


def test_response_names_promocode_and_promotion(sim: Sim) -> None:
    sim.execute()
    body = sim.validate_customers([cid(1)]).json()
    assert body["promocodeId"] == "WELCOME50"
    assert body["promotionId"] == "PR-WELCOME"
    assert body["contexts"][0]["customerId"] == cid(1)
    assert body["contexts"][0]["eventId"] is None


# -- reason codes -----------------------------------------------------------------------------
def test_deactivated_promotion_gives_every_customer_promotion_not_active(sim: Sim) -> None:
    sim.execute()
    assert sim.deactivate("PR-WELCOME").status_code == 200
    before = sim.usage()
    results = validate(sim, [cid(0), cid(1)], SCHEDULED, "WELCOME50")
    assert reasons(results) == ["promotion_not_active", "promotion_not_active"]
    assert all(r["valid"] is False and r["effects"] == [] for r in results)
    assert sim.usage() == before


def test_archived_promotion_gives_promotion_not_active(sim: Sim) -> None:
    sim.execute()
    assert sim.archive("PR-WELCOME").status_code == 200
    assert reasons(validate(sim, [cid(0)], SCHEDULED, "WELCOME50")) == ["promotion_not_active"]


def test_customer_outside_scheduled_processed_list_is_not_targeted(sim: Sim) -> None:
    sim.execute()
    before = sim.usage()
    results = validate(sim, [cid(10_000), cid(99_999), "NOT-A-CUSTOMER"], SCHEDULED, "WELCOME50")
    assert reasons(results) == ["not_targeted"] * 3
    assert sim.usage() == before


def test_triggered_context_without_event_id_is_not_targeted(sim: Sim) -> None:
    results = validate(
        sim, [{"customerId": cid(5), "session": {"depositAmount": 5000}}], TRIGGERED, "DEPOSIT10"
    )
    assert reasons(results) == ["not_targeted"]


def test_triggered_event_of_another_customer_is_not_targeted(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": 5000})
    ctx = {"customerId": cid(6), "eventId": event, "session": {"depositAmount": 5000}}
    assert reasons(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")) == ["not_targeted"]
    assert sim.usage("PR-DEPOSIT")["budgetReserved"] == 0


def test_triggered_event_of_another_campaign_is_not_targeted(sim: Sim) -> None:
    triggered_campaign(sim, 7002, "DEPOSIT10")
    foreign = emit_for(sim, 7002, cid(5), {"depositAmount": 5000})
    ctx = {"customerId": cid(5), "eventId": foreign, "session": {"depositAmount": 5000}}
    assert reasons(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")) == ["not_targeted"]


def test_unknown_event_id_is_not_targeted(sim: Sim) -> None:
    ctx = {"customerId": cid(5), "eventId": "EV_nope", "session": {"depositAmount": 5000}}
    assert reasons(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")) == ["not_targeted"]


def test_validation_after_clearance_required_by_is_clearance_closed(sim: Sim) -> None:
    sim.execute()
    assert sim.advance(30 * 60 + 1).status_code == 200
    before = sim.usage()
    assert reasons(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")) == ["clearance_closed"]
    assert sim.usage() == before


def test_validation_exactly_at_clearance_required_by_is_clearance_closed(sim: Sim) -> None:
    sim.execute()
    sim.advance(30 * 60)
    assert reasons(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")) == ["clearance_closed"]


def test_validation_just_before_clearance_required_by_is_valid(sim: Sim) -> None:
    sim.execute()
    sim.advance(30 * 60 - 1)
    assert validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0]["valid"] is True


def test_per_customer_limit_applies_across_campaigns_of_one_promotion(sim: Sim) -> None:
    active_promotion(sim, limit=1)
    scheduled_campaign(sim, 9101)
    scheduled_campaign(sim, 9102)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    before = sim.usage(PROMO)
    assert reasons(validate(sim, [cid(1)], 9102)) == ["customer_limit_reached"]
    assert sim.usage(PROMO) == before
    # another customer is not affected
    assert validate(sim, [cid(2)], 9102)[0]["valid"] is True


def test_per_customer_limit_of_two_allows_two_campaigns_then_refuses_the_third(sim: Sim) -> None:
    active_promotion(sim, limit=2)
    for campaign_id in (9101, 9102, 9103):
        scheduled_campaign(sim, campaign_id)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    assert validate(sim, [cid(1)], 9102)[0]["valid"] is True
    assert reasons(validate(sim, [cid(1)], 9103)) == ["customer_limit_reached"]
    usage = sim.usage(PROMO)
    assert usage["budgetReserved"] == 200
    assert usage["audienceReserved"] == 1  # one distinct customer


def test_per_customer_limit_counts_triggered_events_of_one_customer(sim: Sim) -> None:
    active_promotion(sim, limit=1)
    triggered_campaign(sim, 7101)
    first = emit_for(sim, 7101, cid(3))
    second = emit_for(sim, 7101, cid(3))
    assert validate(sim, [{"customerId": cid(3), "eventId": first}], 7101)[0]["valid"] is True
    ctx = {"customerId": cid(3), "eventId": second}
    assert reasons(validate(sim, [ctx], 7101)) == ["customer_limit_reached"]


def test_released_allocation_does_not_count_toward_customer_limit(sim: Sim) -> None:
    active_promotion(sim, limit=1)
    scheduled_campaign(sim, 9101)
    scheduled_campaign(sim, 9102)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    assert sim.update_customer_promotion_status({cid(1): False}, 9101).status_code == 200
    assert validate(sim, [cid(1)], 9102)[0]["valid"] is True


def test_customer_matching_no_tier_gets_no_tier_matched(sim: Sim) -> None:
    gated = tier("T-GATED", 100, when=[{"field": "session.x", "op": "gte", "value": 10}])
    active_promotion(sim, tiers=[gated])
    scheduled_campaign(sim, 9101)
    before = sim.usage(PROMO)
    results = validate(
        sim, [{"customerId": cid(1), "session": {"x": 9}}, {"customerId": cid(2)}], 9101
    )
    assert reasons(results) == ["no_tier_matched", "no_tier_matched"]
    assert sim.usage(PROMO) == before


def test_percent_reward_without_its_session_base_gives_no_tier_matched(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5))
    ctx = {"customerId": cid(5), "eventId": event, "session": {}}
    assert reasons(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")) == ["no_tier_matched"]


def test_audience_cap_refuses_new_customers_once_full(sim: Sim) -> None:
    active_promotion(sim, cap=2)
    scheduled_campaign(sim, 9101)
    results = validate(sim, [cid(1), cid(2), cid(3)], 9101)
    assert reasons(results) == [None, None, "audience_cap_reached"]
    usage = sim.usage(PROMO)
    assert usage["audienceReserved"] == 2
    assert usage["budgetReserved"] == 200


def test_audience_cap_still_lets_a_holding_customer_take_another_allocation(sim: Sim) -> None:
    active_promotion(sim, cap=1, limit=2)
    scheduled_campaign(sim, 9101)
    scheduled_campaign(sim, 9102)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    results = validate(sim, [cid(2), cid(1)], 9102)
    assert reasons(results) == ["audience_cap_reached", None]
    assert sim.usage(PROMO)["audienceReserved"] == 1


def test_released_customer_frees_an_audience_slot(sim: Sim) -> None:
    active_promotion(sim, cap=1)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "audience_cap_reached"]
    assert sim.update_customer_promotion_status({cid(1): False}, 9101).status_code == 200
    assert validate(sim, [cid(2)], 9101)[0]["valid"] is True


def test_budget_exhausted_when_the_reward_does_not_fit(sim: Sim) -> None:
    active_promotion(sim, budget=250)
    scheduled_campaign(sim, 9101)
    results = validate(sim, [cid(1), cid(2), cid(3)], 9101)
    assert reasons(results) == [None, None, "budget_exhausted"]
    assert sim.usage(PROMO)["budgetReserved"] == 200


def test_reward_exactly_filling_the_budget_is_valid(sim: Sim) -> None:
    active_promotion(sim, budget=200)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2), cid(3)], 9101)) == [
        None,
        None,
        "budget_exhausted",
    ]
    usage = sim.usage(PROMO)
    assert usage["budgetReserved"] == 200 == usage["budgetTotal"]


def test_smaller_reward_of_another_tier_still_fits_a_nearly_spent_budget(sim: Sim) -> None:
    tiers = [
        tier("T-BIG", 150, when=[{"field": "session.big", "op": "eq", "value": True}]),
        tier("T-SMALL", 50),
    ]
    active_promotion(sim, budget=200, tiers=tiers)
    scheduled_campaign(sim, 9101)
    results = validate(
        sim,
        [
            {"customerId": cid(1), "session": {"big": True}},
            {"customerId": cid(2), "session": {"big": True}},
            {"customerId": cid(3)},
        ],
        9101,
    )
    assert reasons(results) == [None, "budget_exhausted", None]
    assert sim.usage(PROMO)["budgetReserved"] == 200


def test_daily_period_cap_refuses_then_frees_on_the_next_day(sim: Sim) -> None:
    active_promotion(sim, daily=2)
    scheduled_campaign(sim, 9101, window=60 * 24 * 5)
    results = validate(sim, [cid(1), cid(2), cid(3)], 9101)
    assert reasons(results) == [None, None, "period_cap_reached"]
    before = sim.usage(PROMO)
    assert reasons(validate(sim, [cid(4)], 9101)) == ["period_cap_reached"]
    assert sim.usage(PROMO) == before
    assert sim.advance(DAY).status_code == 200
    assert reasons(validate(sim, [cid(3), cid(4), cid(5)], 9101)) == [
        None,
        None,
        "period_cap_reached",
    ]


def test_released_allocation_frees_its_period_cap_slot(sim: Sim) -> None:
    active_promotion(sim, daily=1)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "period_cap_reached"]
    assert sim.update_customer_promotion_status({cid(1): False}, 9101).status_code == 200
    assert validate(sim, [cid(2)], 9101)[0]["valid"] is True


# -- the order of reasons -----------------------------------------------------------------------
def test_promotion_not_active_is_checked_before_not_targeted(sim: Sim) -> None:
    sim.execute()
    sim.deactivate("PR-WELCOME")
    assert reasons(validate(sim, [cid(50_000)], SCHEDULED, "WELCOME50")) == ["promotion_not_active"]


def test_not_targeted_is_checked_before_clearance_closed(sim: Sim) -> None:
    sim.execute()
    sim.advance(3600)
    assert reasons(validate(sim, [cid(50_000), cid(1)], SCHEDULED, "WELCOME50")) == [
        "not_targeted",
        "clearance_closed",
    ]


def test_clearance_closed_is_checked_before_customer_limit_reached(sim: Sim) -> None:
    active_promotion(sim, limit=1)
    scheduled_campaign(sim, 9101, window=600)
    scheduled_campaign(sim, 9102, window=30)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    sim.advance(3600)  # 9102 is past its deadline, 9101 is not
    assert reasons(validate(sim, [cid(1)], 9102)) == ["clearance_closed"]


def test_customer_limit_reached_is_checked_before_no_tier_matched(sim: Sim) -> None:
    gated = tier("T-GATED", 100, when=[{"field": "session.x", "op": "gte", "value": 10}])
    active_promotion(sim, limit=1, tiers=[gated])
    scheduled_campaign(sim, 9101)
    scheduled_campaign(sim, 9102)
    assert validate(sim, [{"customerId": cid(1), "session": {"x": 10}}], 9101)[0]["valid"]
    ctx = {"customerId": cid(1), "session": {"x": 0}}
    assert reasons(validate(sim, [ctx], 9102)) == ["customer_limit_reached"]


def test_no_tier_matched_is_checked_before_audience_cap_reached(sim: Sim) -> None:
    gated = tier("T-GATED", 100, when=[{"field": "session.x", "op": "gte", "value": 10}])
    active_promotion(sim, cap=1, tiers=[gated])
    scheduled_campaign(sim, 9101)
    results = validate(
        sim,
        [
            {"customerId": cid(1), "session": {"x": 10}},
            {"customerId": cid(2), "session": {"x": 0}},
            {"customerId": cid(3), "session": {"x": 10}},
        ],
        9101,
    )
    assert reasons(results) == [None, "no_tier_matched", "audience_cap_reached"]


def test_audience_cap_reached_is_checked_before_budget_exhausted(sim: Sim) -> None:
    active_promotion(sim, cap=1, budget=100)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "audience_cap_reached"]


def test_budget_exhausted_is_checked_before_period_cap_reached(sim: Sim) -> None:
    active_promotion(sim, budget=100, daily=1)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "budget_exhausted"]


def test_invalid_results_are_not_remembered(sim: Sim) -> None:
    active_promotion(sim, cap=1)
    scheduled_campaign(sim, 9101)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "audience_cap_reached"]
    sim.update_customer_promotion_status({cid(1): False}, 9101)
    # the earlier refusal of C2 left nothing behind: it validates now
    assert validate(sim, [cid(2)], 9101)[0]["valid"] is True


# -- idempotency and dry runs --------------------------------------------------------------------
def test_validating_the_same_customer_again_returns_the_same_allocation(sim: Sim) -> None:
    sim.execute()
    first = allocation_of(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0])
    usage = sim.usage()
    again = allocation_of(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0])
    assert again == first
    assert sim.usage() == usage


def test_same_customer_twice_in_one_call_gets_one_allocation(sim: Sim) -> None:
    sim.execute()
    results = validate(sim, [cid(1), cid(1)], SCHEDULED, "WELCOME50")
    assert allocation_of(results[0]) == allocation_of(results[1])
    reward = results[0]["effects"][0]["reward"]["amount"]
    assert sim.usage()["budgetReserved"] == reward
    assert sim.usage()["audienceReserved"] == 1


def test_triggered_validation_is_idempotent_per_event(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5))
    ctx = {"customerId": cid(5), "eventId": event, "session": {"depositAmount": 5000}}
    first = allocation_of(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0])
    second = allocation_of(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0])
    assert first == second
    assert sim.usage("PR-DEPOSIT")["budgetReserved"] == 500


def test_dry_run_reserves_nothing_and_returns_no_allocation_id(sim: Sim) -> None:
    sim.execute()
    before = ledger(sim)
    results = validate(sim, [cid(1), cid(2)], SCHEDULED, "WELCOME50", dry_run=True)
    assert all(r["valid"] for r in results)
    assert all(r["effects"][0].get("allocationId") is None for r in results)
    assert all(r["effects"][0]["reward"]["amount"] > 0 for r in results)
    assert ledger(sim) == before


def test_dry_run_of_a_held_allocation_returns_its_id(sim: Sim) -> None:
    """The real call answers a dry run for a customer holding a live allocation with the
    existing allocation's id (issue 17); it reserves nothing more."""
    sim.execute()
    [held] = validate(sim, [cid(1)], SCHEDULED, "WELCOME50")
    allocation_id = held["effects"][0]["allocationId"]
    assert allocation_id
    usage = sim.usage()
    results = validate(sim, [cid(1), cid(2)], SCHEDULED, "WELCOME50", dry_run=True)
    assert [r["valid"] for r in results] == [True, True]
    assert results[0]["effects"][0]["allocationId"] == allocation_id
    assert results[1]["effects"][0].get("allocationId") is None  # nothing held: no id
    assert sim.usage() == usage


def test_dry_run_reports_the_reason_a_real_call_would_give(sim: Sim) -> None:
    active_promotion(sim, cap=1)
    scheduled_campaign(sim, 9101)
    validate(sim, [cid(1)], 9101)
    assert reasons(validate(sim, [cid(2)], 9101, dry_run=True)) == ["audience_cap_reached"]


def test_dry_run_calls_do_not_use_up_the_audience(sim: Sim) -> None:
    active_promotion(sim, cap=1)
    scheduled_campaign(sim, 9101)
    assert validate(sim, [cid(1), cid(2)], 9101, dry_run=True)[1]["valid"] is True
    assert reasons(validate(sim, [cid(2), cid(1)], 9101)) == [None, "audience_cap_reached"]


# -- tiers and rewards ----------------------------------------------------------------------------
def test_first_matching_tier_wins_in_the_demo_welcome_promotion(sim: Sim) -> None:
    vip_rich = first_index(lambda a: is_vip(a) and is_rich(a))
    rich = first_index(lambda a: not is_vip(a) and is_rich(a))
    plain = first_index(lambda a: not is_vip(a) and not is_rich(a))
    sim.execute()
    results = validate(sim, [cid(vip_rich), cid(rich), cid(plain)], SCHEDULED, "WELCOME50")
    assert [r["effects"][0]["tierId"] for r in results] == ["T-VIP", "T-ACTIVE", "T-BASE"]
    assert [r["effects"][0]["tierName"] for r in results] == [
        "VIP",
        "Active depositor",
        "Everyone else",
    ]
    assert [r["effects"][0]["reward"] for r in results] == [
        {"type": "amount", "amount": 5000, "currency": "EUR"},
        {"type": "amount", "amount": 2000, "currency": "EUR"},
        {"type": "amount", "amount": 500, "currency": "EUR"},
    ]
    assert sim.usage()["budgetReserved"] == 7500


def test_a_batch_gets_each_customers_tier_as_its_attributes_choose(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's attributes are read as a batch (`Population.attribute_rows`): every
    customer still gets the tier its own attributes choose."""
    read: list[bool] = []
    rows_of = Population.attribute_rows

    def spy(self: Population, *args: Any) -> Any:
        rows = rows_of(self, *args)
        read.append(rows is not None)
        return rows

    monkeypatch.setattr(Population, "attribute_rows", spy)
    sim.execute()
    results = validate(sim, [cid(i) for i in range(200)], SCHEDULED, "WELCOME50")
    expected = [
        "T-VIP" if is_vip(a) else "T-ACTIVE" if is_rich(a) else "T-BASE"
        for a in map(POPULATION.attributes, range(200))
    ]
    assert [r["effects"][0]["tierId"] for r in results] == expected
    assert read == [True]  # read as one batch, not customer by customer


@pytest.mark.parametrize(
    ("session", "expected"),
    [
        ({"x": 150}, "T-HIGH"),  # matches all three: the first listed wins
        ({"x": 50}, "T-MID"),
        ({"x": 5}, "T-LOW"),
        ({}, "T-LOW"),  # a missing field fails the condition, never errors
        ({"x": "150"}, "T-LOW"),  # a string against a number: false, never an error
    ],
)
def test_tiers_are_tried_in_order_and_the_first_whose_conditions_hold_wins(
    sim: Sim, session: dict[str, Any], expected: str
) -> None:
    tiers = [
        tier("T-HIGH", 300, when=[{"field": "session.x", "op": "gte", "value": 100}]),
        tier("T-MID", 200, when=[{"field": "session.x", "op": "gte", "value": 10}]),
        tier("T-LOW", 100),
    ]
    active_promotion(sim, tiers=tiers)
    scheduled_campaign(sim, 9101)
    result = validate(sim, [{"customerId": cid(1), "session": session}], 9101)[0]
    assert result["effects"][0]["tierId"] == expected


def test_tier_conditions_all_have_to_hold(sim: Sim) -> None:
    both = tier(
        "T-BOTH",
        300,
        when=[
            {"field": "session.x", "op": "eq", "value": 1},
            {"field": "session.y", "op": "in", "value": ["a", "b"]},
        ],
    )
    active_promotion(sim, tiers=[both, tier("T-ELSE", 100)])
    scheduled_campaign(sim, 9101)
    results = validate(
        sim,
        [
            {"customerId": cid(1), "session": {"x": 1, "y": "a"}},
            {"customerId": cid(2), "session": {"x": 1, "y": "c"}},
            {"customerId": cid(3), "session": {"x": 2, "y": "a"}},
        ],
        9101,
        dry_run=True,
    )
    assert [r["effects"][0]["tierId"] for r in results] == ["T-BOTH", "T-ELSE", "T-ELSE"]


def test_tier_conditions_on_population_attributes(sim: Sim) -> None:
    country = POPULATION.attributes(1)["Country"]
    other = first_index(lambda a: a["Country"] != country)
    tiers = [
        tier("T-HOME", 300, when=[{"field": "attributes.Country", "op": "eq", "value": country}]),
        tier("T-ELSE", 100),
    ]
    active_promotion(sim, tiers=tiers)
    scheduled_campaign(sim, 9101)
    results = validate(sim, [cid(1), cid(other)], 9101)
    assert [r["effects"][0]["tierId"] for r in results] == ["T-HOME", "T-ELSE"]


@pytest.mark.parametrize(
    ("deposit", "amount"),
    [
        (12_345, 1_234),  # 10% rounds down to whole cents
        (1_009, 100),
        (1_000, 100),
        (100_000, 10_000),  # exactly the max
        (250_000, 10_000),  # capped by max
    ],
)
def test_percent_reward_rounds_down_and_is_capped_by_max(
    sim: Sim, deposit: int, amount: int
) -> None:
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": deposit})
    ctx = {"customerId": cid(5), "eventId": event, "session": {"depositAmount": deposit}}
    result = validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0]
    assert result["valid"] is True, result
    assert result["effects"][0]["reward"] == {"type": "amount", "amount": amount, "currency": "EUR"}
    assert sim.usage("PR-DEPOSIT")["budgetReserved"] == amount


def test_percent_reward_is_computed_from_the_validate_session_not_the_event(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": 90_000})
    ctx = {"customerId": cid(5), "eventId": event, "session": {"depositAmount": 20_000}}
    result = validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0]
    assert result["effects"][0]["reward"]["amount"] == 2_000


def test_fractional_percent_rounds_down_to_a_whole_minor_unit(sim: Sim) -> None:
    pct = tier(
        "T-PCT",
        reward={"type": "percent", "percent": 12.5, "of": "session.bet", "max": 1_000},
    )
    active_promotion(sim, tiers=[pct])
    scheduled_campaign(sim, 9101)
    results = validate(
        sim,
        [
            {"customerId": cid(1), "session": {"bet": 999}},
            {"customerId": cid(2), "session": {"bet": 7}},
            {"customerId": cid(3), "session": {"bet": 1_000_000}},
        ],
        9101,
    )
    assert [r["effects"][0]["reward"]["amount"] for r in results] == [124, 0, 1_000]
    assert sim.usage(PROMO)["budgetReserved"] == 1_124


def test_percent_reward_below_the_tier_condition_is_no_tier_matched(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": 999})
    ctx = {"customerId": cid(5), "eventId": event, "session": {"depositAmount": 999}}
    assert reasons(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")) == ["no_tier_matched"]


def validate_deposit_as_written(sim: Sim, deposit: str) -> Any:
    """validateCustomers for a fresh triggered event whose session's `depositAmount` is the
    JSON number text `deposit`, sent as written (no client-side re-encoding)."""
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": 5000})
    raw = (
        f'{{"campaignData": {{"campaignId": {TRIGGERED}}}, "contexts": [{{"customerId": '
        f'"{cid(5)}", "eventId": "{event}", "session": {{"depositAmount": {deposit}}}}}]}}'
    )
    return sim.post(
        "/v1/promocodes/DEPOSIT10/validateCustomers",
        content=raw.encode(),
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize("deposit", ["1e400", "Infinity", "-Infinity", "1" + "0" * 400])
def test_percent_reward_of_a_non_finite_or_huge_session_amount_is_never_a_server_error(
    sim: Sim, deposit: str
) -> None:
    response = validate_deposit_as_written(sim, deposit)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        result = response.json()["contexts"][0]
        if result["valid"]:
            amount = result["effects"][0]["reward"]["amount"]
            assert isinstance(amount, int) and 0 <= amount <= 10_000
    usage = sim.usage("PR-DEPOSIT")
    assert usage["budgetReserved"] + usage["budgetCommitted"] <= usage["budgetTotal"]


@pytest.mark.parametrize(
    ("deposit", "status"), [("1e20", 400), ("-9.3e18", 400), ("9.2e18", 200), ("12000.5", 200)]
)
def test_a_session_number_is_judged_by_its_value_not_its_spelling(
    sim: Sim, deposit: str, status: int
) -> None:
    """`1e20` is the integer 10^20 (JSON Schema reads numbers by value, and so does the
    contract's FreeJson): outside the 64-bit range, refused like `100000000000000000000`."""
    response = validate_deposit_as_written(sim, deposit)
    assert response.status_code == status, response.text
    if status == 400:
        assert "contexts[0].session" in response.json()["message"], response.text


def test_units_reward_counts_items_against_a_units_budget(sim: Sim) -> None:
    sim.execute(SPINS)
    page = sim.get_processed_campaign_customers(SPINS, **{"$top": 2}).json()
    customers = [row["CustomerID"] for row in page]
    results = validate(sim, customers, SPINS, "SPINS25")
    for result in results:
        assert result["effects"][0]["reward"] == {"type": "units", "units": 25}
    usage = sim.usage("PR-SPINS")
    assert usage["budgetReserved"] == 50
    assert usage["budgetTotal"] == 40_000


def test_units_budget_is_exhausted_in_units(sim: Sim) -> None:
    spins = tier("T-SPINS", reward={"type": "units", "units": 10})
    active_promotion(sim, kind="units", budget=25, tiers=[spins])
    scheduled_campaign(sim, 9101)
    results = validate(sim, [cid(1), cid(2), cid(3)], 9101)
    assert reasons(results) == [None, None, "budget_exhausted"]
    assert sim.usage(PROMO)["budgetReserved"] == 20


# -- whole-call refusals -------------------------------------------------------------------------
def test_scheduled_campaign_not_executed_refuses_the_whole_call(sim: Sim) -> None:
    before = sim.usage()
    response = sim.validate_customers([cid(1)])
    envelope(response, 409, "campaign_not_executed", str(SCHEDULED))
    assert sim.usage() == before


def test_unknown_promocode_is_404(sim: Sim) -> None:
    sim.execute()
    before = ledger(sim)
    response = sim.validate_customers([cid(1)], promocode="NOPE50")
    envelope(response, 404, "unknown_promocode", "NOPE50")
    assert ledger(sim) == before


def test_unknown_campaign_is_404(sim: Sim) -> None:
    before = sim.usage()
    response = sim.validate_customers([cid(1)], campaign_id=999_999)
    envelope(response, 404, "unknown_campaign", "999999")
    assert sim.usage() == before


def test_zero_contexts_is_400_naming_contexts(sim: Sim) -> None:
    sim.execute()
    before = ledger(sim)
    envelope(sim.validate_customers([]), 400, "invalid_request", "contexts")
    assert ledger(sim) == before


def test_1001_contexts_is_400_naming_contexts(sim: Sim) -> None:
    sim.execute()
    before = ledger(sim)
    response = sim.validate_customers([cid(i) for i in range(1001)])
    envelope(response, 400, "invalid_request", "contexts")
    assert ledger(sim) == before


def test_1000_contexts_is_accepted(sim: Sim) -> None:
    sim.execute()
    results = validate(sim, [cid(i) for i in range(1000)], SCHEDULED, "WELCOME50")
    assert len(results) == 1000
    assert all(r["valid"] for r in results)
    assert sim.usage()["audienceReserved"] == 1000


def test_validated_allocations_are_listed_in_usage_by_promotion_code(sim: Sim) -> None:
    """A promotion with two promocodes validates under either code."""
    active_promotion(sim, codes=(CODE, "OTHERCODE"))
    scheduled_campaign(sim, 9101, code="OTHERCODE")
    assert validate(sim, [cid(1)], 9101, "OTHERCODE")[0]["valid"] is True
    assert sim.usage(PROMO)["budgetReserved"] == 100


def test_validation_after_a_manual_clear_is_clearance_closed(sim: Sim) -> None:
    sim.execute()
    assert sim.clear().status_code == 200
    assert reasons(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")) == ["clearance_closed"]


# -- period caps are calendar periods of the simulator clock (UTC) ------------------------------
def at(sim: Sim, when: str) -> None:
    response = sim.put("/_sim/clock", {"mode": "manual", "now": when})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("cap", "start", "seconds"),
    [
        ("daily", "2026-11-27T23:59:59Z", 1),  # Friday → Saturday
        ("weekly", "2026-11-29T23:00:00Z", 3600),  # Sunday → Monday starts an ISO week
        ("monthly", "2026-11-30T23:30:00Z", 1800),  # November → December
    ],
)
def test_period_cap_frees_exactly_when_the_calendar_period_changes(
    sim: Sim, cap: str, start: str, seconds: int
) -> None:
    at(sim, start)
    body_caps = {cap: 1}
    created = sim.create_promotion({**promotion_body(), "periodCaps": body_caps})
    assert created.status_code == 201, created.text
    sim.activate(PROMO)
    scheduled_campaign(sim, 9101, window=60 * 24 * 20)
    assert reasons(validate(sim, [cid(1), cid(2)], 9101)) == [None, "period_cap_reached"]
    sim.advance(seconds - 1)
    assert reasons(validate(sim, [cid(2)], 9101)) == ["period_cap_reached"]
    sim.advance(1)
    assert reasons(validate(sim, [cid(2), cid(3)], 9101)) == [None, "period_cap_reached"]


def test_weekly_cap_holds_across_days_of_one_iso_week(sim: Sim) -> None:
    at(sim, "2026-11-23T08:00:00Z")  # a Monday
    created = sim.create_promotion({**promotion_body(), "periodCaps": {"weekly": 2}})
    assert created.status_code == 201, created.text
    sim.activate(PROMO)
    scheduled_campaign(sim, 9101, window=60 * 24 * 20)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    sim.advance(3 * DAY)
    assert validate(sim, [cid(2)], 9101)[0]["valid"] is True
    sim.advance(3 * DAY)  # Sunday of the same week
    assert reasons(validate(sim, [cid(3)], 9101)) == ["period_cap_reached"]
