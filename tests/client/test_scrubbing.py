"""scrubbing.py: the shipped rules, rule order, counts per rule, and failing safe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reference_client import MemoryWallet, blocked_countries, default_rules, min_balance
from reference_client.models import Customer
from reference_client.scrubbing import (
    Rule,
    ScrubContext,
    required_attributes,
    rule_name,
    scrub,
    self_excluded,
)


def customer(cid: str, **attributes: str) -> Customer:
    return Customer(cid, "WELCOME50", 17, dict(attributes))


@pytest.fixture
def ctx() -> ScrubContext:
    return ScrubContext(48213, MemoryWallet(), datetime(2026, 11, 27, tzinfo=UTC))


@pytest.mark.parametrize(
    ("value", "scrubbed"),
    [("True", True), ("true", True), ("1", True), ("False", False), ("", False)],
)
def test_self_excluded_customers_are_scrubbed(
    ctx: ScrubContext, value: str, scrubbed: bool
) -> None:
    reason = self_excluded(customer("C1", SelfExcluded=value), ctx)
    assert (reason == "self_excluded") is scrubbed


def test_blocked_countries_match_case_insensitively(ctx: ScrubContext) -> None:
    rule = blocked_countries(["fr"])
    assert rule(customer("C1", Country="FR"), ctx) == "country_blocked:FR"
    assert rule(customer("C2", Country="de"), ctx) is None
    assert rule(customer("C3"), ctx) is None  # no attribute: nothing to hold against them


def test_min_balance_asks_the_wallet_in_real_time(ctx: ScrubContext) -> None:
    rule = min_balance(1000)
    ctx.wallet.seed_balances({"C1": 999, "C2": 1000})
    assert rule(customer("C1"), ctx) == "balance_below_minimum"
    assert rule(customer("C2"), ctx) is None
    assert rule(customer("C3"), ctx) == "balance_below_minimum"  # unknown: balance 0


def test_the_first_reason_wins_and_counts_are_per_rule(ctx: ScrubContext) -> None:
    rules: list[Rule] = [self_excluded, blocked_countries(["FR"])]
    people = [
        customer("C1", SelfExcluded="True", Country="FR"),
        customer("C2", SelfExcluded="False", Country="FR"),
        customer("C3", SelfExcluded="False", Country="DE"),
        customer("C4", SelfExcluded="True", Country="DE"),
    ]
    kept, counts = scrub(people, rules, ctx)
    assert [c.customer_id for c in kept] == ["C3"]
    assert counts == {"self_excluded": 2, "blocked_countries": 1}


def test_a_failing_rule_scrubs_to_be_safe(
    ctx: ScrubContext, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(c: Customer, ctx: ScrubContext) -> str | None:
        raise RuntimeError("platform down")

    kept, counts = scrub([customer("C1")], [broken], ctx)
    assert kept == [] and counts == {"broken": 1}
    assert "scrubbing rule broken failed" in caplog.text


def test_rules_declare_the_attributes_they_read() -> None:
    rules: list[Rule] = [self_excluded, blocked_countries(["FR"]), min_balance(1), self_excluded]
    assert required_attributes(rules) == ["SelfExcluded", "Country", "Balance"]
    assert [rule_name(r) for r in rules[:3]] == [
        "self_excluded",
        "blocked_countries",
        "min_balance",
    ]


def test_default_rules_follow_the_config() -> None:
    assert [rule_name(r) for r in default_rules(["FR"], 0)] == [
        "self_excluded",
        "blocked_countries",
    ]
    assert [rule_name(r) for r in default_rules([], 500)] == ["self_excluded", "min_balance"]
