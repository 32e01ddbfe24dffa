"""TierChooser remembers a choice per combination of the values the tiers read: it must
choose exactly what `select_tier` chooses for every customer, in any order."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from simulator.domain.models import Condition, RewardSpec, Tier
from simulator.domain.tiers import TierChooser, select_tier

TIERS = (
    Tier("T-BOOL", "flag", (Condition("attributes.flag", "eq", True),), RewardSpec("amount", 5)),
    Tier("T-ONE", "one", (Condition("attributes.flag", "eq", 1),), RewardSpec("amount", 4)),
    Tier(
        "T-GOLD",
        "gold",
        (Condition("attributes.level", "in", ["Gold", "Platinum"]),),
        RewardSpec("amount", 3),
    ),
    Tier(
        "T-PCT",
        "percent",
        (Condition("session.deposit", "gte", 100),),
        RewardSpec("percent", percent=10, of="session.deposit", max=50),
    ),
    Tier("T-ALL", "all", (), RewardSpec("units", units=1)),
)

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["Gold", "Platinum", "Bronze", "1"]),
    st.lists(st.integers(0, 2), max_size=2),  # not a dict key: chosen without memory
)


def maybe(key: str, values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(st.just({}), values.map(lambda v: {key: v}))


CUSTOMER = st.tuples(
    st.builds(lambda a, b: a | b, maybe("flag", VALUES), maybe("level", VALUES)),
    maybe("deposit", VALUES),
)


@given(st.lists(CUSTOMER, max_size=30))
def test_chooser_chooses_what_select_tier_chooses(customers: list[Any]) -> None:
    chooser = TierChooser(TIERS, "amount", "EUR")
    for attributes, session in customers:
        assert chooser.choose(attributes, session) == select_tier(
            TIERS, "amount", "EUR", attributes, session
        )


def test_true_and_one_are_different_combinations() -> None:
    chooser = TierChooser(TIERS, "amount", "EUR")
    first = chooser.choose({"flag": True}, {})
    second = chooser.choose({"flag": 1}, {})
    assert first is not None and first[0].id == "T-BOOL"
    assert second is not None and second[0].id == "T-ONE"


@given(st.lists(CUSTOMER, max_size=30), st.sampled_from([(2, 4), (3, 4), (0, 4)]))
def test_tiers_reading_one_value_choose_what_select_tier_chooses(
    customers: list[Any], picked: tuple[int, int]
) -> None:
    """One attribute (read without `resolve`), one session value, one attribute of either
    type: the chooser's shortcuts agree with the rule."""
    tiers = tuple(TIERS[i] for i in picked)
    chooser = TierChooser(tiers, "amount", "EUR")
    for attributes, session in customers:
        assert chooser.choose(attributes, session) == select_tier(
            tiers, "amount", "EUR", attributes, session
        )
