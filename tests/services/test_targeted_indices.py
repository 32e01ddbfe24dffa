"""A validation batch's customers looked up at once answer as looked up one by one: their
indices, and the attributes its promotion's tiers read."""

from __future__ import annotations

from array import array

from hypothesis import given
from hypothesis import strategies as st

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import Condition, RewardSpec, Tier
from simulator.domain.tiers import attribute_names
from simulator.population import Chosen, Population
from simulator.services.campaigns import targeted_index, targeted_indices

GENERATED = Population(seed=3, size=50)
WITH_CHOSEN = Population(
    seed=3,
    size=50,
    chosen=Chosen.of(
        [("C0000007", {"VIPLevel": "Gold"}), ("vip-1", {"VIPLevel": "Platinum"})],
        lambda cid: GENERATED.generated_index(cid) is not None,
    ),
)
LISTS = [
    None,
    ProcessedList(0, 50),
    ProcessedList(10, 20),
    ProcessedList(0, 0, array("i", [3, 7, 11, 49])),
]
ids = st.one_of(
    st.integers(0, 60).map(lambda n: f"C{n:07d}"),
    st.sampled_from(["vip-1", "C7", "C00000007", "x"]),
)


@given(
    st.sampled_from([GENERATED, WITH_CHOSEN]),
    st.sampled_from(LISTS),
    st.lists(ids, min_size=1, max_size=6),
)
def test_a_batch_is_found_as_each_customer_alone_or_left_to_them(
    population: Population, processed: ProcessedList | None, batch: list[str]
) -> None:
    alone = [targeted_index(population, processed, c) for c in batch]
    together = targeted_indices(population, processed, batch)
    if together is not None:
        assert together == alone
    if processed is not None and None not in alone and "vip-1" not in batch:
        assert together == alone  # every customer targeted and generated: read at once


H1_NAMES = ["VIPLevel", "Country", "Language", "Currency", "LifetimeDeposits", "Balance"]


@given(
    st.lists(st.integers(0, 49), max_size=6),
    st.sets(st.sampled_from([*H1_NAMES, "FirstName", "Age", "Flag"]), max_size=3),
)
def test_a_batch_reads_the_attributes_its_customers_have_or_leaves_them(
    indices: list[int], names: set[str]
) -> None:
    rows = GENERATED.attribute_rows(indices, names)
    if set(names) <= set(H1_NAMES):
        assert rows == [{n: GENERATED.customer(i)[n] for n in names} for i in indices]
    else:  # a name the first hash does not give: read one by one
        assert rows is None
    assert WITH_CHOSEN.attribute_rows(indices, names) is None  # chosen values may lie over


def test_the_attributes_tiers_read_are_named_unless_one_reads_inside_a_value() -> None:
    def tier(*fields: str) -> Tier:
        return Tier("T", "t", tuple(Condition(f, "eq", 1) for f in fields), RewardSpec("amount", 1))

    assert attribute_names((tier("attributes.VIPLevel", "session.x"), tier())) == frozenset(
        {"VIPLevel"}
    )
    assert attribute_names((tier("session.x"),)) == frozenset()
    assert attribute_names((tier("attributes.VIPLevel"), tier("attributes.a.b"))) is None
