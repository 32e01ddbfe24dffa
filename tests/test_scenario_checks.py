"""Scenario checks that catch mistakes: the first problem reported is the useful one
("did you mean"), an empty file is an error, and a target group that does not fit its
population is refused instead of silently coming out shorter."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.domain.errors import DomainError
from simulator.scenario import parse_scenario

PROMOTION = """
promotions:
  - id: P1
    name: p
    promocodes: [A]
    rewardKind: amount
    currency: EUR
    budget: 100
    {cap}
    tiers: []
"""


def problem(text: str) -> DomainError:
    with pytest.raises(DomainError) as raised:
        parse_scenario(text, source="world.yaml")
    assert raised.value.code == "invalid_request"
    return raised.value


def test_a_misspelled_field_is_the_first_problem_and_says_what_was_meant() -> None:
    error = problem(PROMOTION.format(cap="audiencecap: 10"))
    assert error.message == (
        "world.yaml: promotions[0]: unknown field `audiencecap` (did you mean `audienceCap`?)"
    )
    # the missing `audienceCap` is the same mistake: not reported a second time
    assert error.details is not None and len(error.details["problems"]) == 1


def test_a_misspelled_optional_field_is_matched_against_the_object_fields() -> None:
    error = problem(PROMOTION.format(cap="audienceCap: 10\n    perCustomerLimt: 2"))
    assert error.message == (
        "world.yaml: promotions[0]: unknown field `perCustomerLimt` "
        "(did you mean `perCustomerLimit`?)"
    )
    error = problem("populaton: {size: 10}")
    assert error.message.endswith("unknown field `populaton` (did you mean `population`?)")
    error = problem("population: {customers: [{id: X, atributes: {}}]}")
    assert "population.customers[0]: unknown field `atributes` (did you mean `attributes`?)" in (
        error.message
    )


def test_an_unknown_field_like_nothing_known_gets_no_guess_and_other_problems_follow() -> None:
    error = problem(PROMOTION.format(cap="audienceCap: -1\n    zzz: 1"))
    assert error.message == "world.yaml: promotions[0]: unknown field `zzz` (and 1 more)"
    assert error.details is not None
    assert error.details["problems"][1]["field"] == "promotions[0].audienceCap"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", b""])
def test_an_empty_file_is_an_error(text: str | bytes) -> None:
    assert "the scenario is empty" in problem(text).message  # type: ignore[arg-type]
    assert parse_scenario("{}").population.size == 100_000  # `{}`: every default


CAMPAIGN = """
population:
  size: 10
  customers:
    - {{id: vip-1, attributes: {{VIPLevel: Gold, Country: AT, LifetimeDeposits: 150000}}}}
    - {{id: C0000003, attributes: {{Country: AT}}}}
promotions:
  - {{id: P, name: p, promocodes: [A], rewardKind: units, budget: 1, audienceCap: 1, tiers: []}}
campaigns:
  - {{id: 1, type: scheduled, promoCode: A, targetGroup: {target}}}
"""


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            "{size: 12}",
            "campaigns[0].targetGroup: offset 0 + size 12 is more than the 11 customers",
        ),
        (
            "{size: 5, offset: 7}",
            "campaigns[0].targetGroup: offset 7 + size 5 is more than the 11 customers",
        ),
        (
            "{ids: [vip-1, C0000002, nobody]}",
            "campaigns[0].targetGroup.ids[2]: customer 'nobody' is neither a generated",
        ),
        ("{ids: [C0000010]}", "campaigns[0].targetGroup.ids[0]: customer 'C0000010'"),
        ("{ids: [vip-1, vip-1]}", "ids[1]: 'vip-1' is listed twice"),
        ("{ids: [vip-1], where: []}", None),
    ],
)
def test_a_target_group_must_fit_the_population(target: str, message: str | None) -> None:
    text = CAMPAIGN.format(target=target)
    if message is None:
        assert parse_scenario(text).campaigns[0].targetGroup is not None
        return
    assert message in problem(text).message


def test_a_target_group_of_the_whole_population_and_of_ids_loads() -> None:
    scenario = parse_scenario(CAMPAIGN.format(target="{size: 11}"))
    assert scenario.population.count() == 11  # 10 generated, vip-1; C0000003 is generated
    scenario = parse_scenario(CAMPAIGN.format(target="{ids: [vip-1, C0000003, C0000009]}"))
    target = scenario.campaigns[0].targetGroup
    assert target is not None and target.to_domain().ids == ("vip-1", "C0000003", "C0000009")


@pytest.mark.parametrize(
    ("customers", "message"),
    [
        ("[{id: a}, {id: a}]", "customers[1].id 'a' is listed twice"),
        ("[{id: a, attributes: {LifetimeDeposits: '150000'}}]", "must be an integer"),
        ("[{id: a, attributes: {SelfExcluded: 'yes'}}]", "must be a boolean"),
        ("[{id: a, attributes: {Tier: [1, 2]}}]", "population.customers[0].attributes.Tier"),
        ("[{id: a, attributes: {vipLevel: Gold, VIPLevel: Gold}}]", "given twice"),
        ("[{id: '', attributes: {}}]", "population.customers[0].id"),
    ],
)
def test_chosen_customers_are_checked(customers: str, message: str) -> None:
    assert message in problem(f"population: {{customers: {customers}}}").message


def test_generated_attribute_names_are_spelled_canonically() -> None:
    scenario = parse_scenario(
        "population: {size: 0, customers: [{id: a, attributes: {viplevel: Gold, Tier: 2}}]}"
    )
    assert scenario.population.customers[0].attributes == {"VIPLevel": "Gold", "Tier": 2}
    assert scenario.population.count() == 1


def test_scenario_check_reports_the_first_useful_problem(tmp_path: Path) -> None:
    bad = tmp_path / "world.yaml"
    bad.write_text(PROMOTION.format(cap="audiencecap: 10"))
    result = CliRunner().invoke(main, ["scenario", "check", str(bad)])
    assert result.exit_code == 1
    assert "did you mean `audienceCap`?" in " ".join(result.output.split())  # rich wraps
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    result = CliRunner().invoke(main, ["scenario", "check", str(empty)])
    assert result.exit_code == 1 and "empty" in result.output
    good = tmp_path / "good.yaml"
    good.write_text(CAMPAIGN.format(target="{ids: [vip-1]}"))
    result = CliRunner().invoke(main, ["scenario", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert "11 customers (2 chosen)" in " ".join(result.output.split())
    demo = CliRunner().invoke(main, ["scenario", "check", "demo"])
    assert demo.exit_code == 0, demo.output
    summary = " ".join(demo.output.split())
    assert "3 promotions, 1 promo code without a promotion, 4 campaigns" in summary
