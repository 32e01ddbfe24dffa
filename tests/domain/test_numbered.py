"""Customer ids read as numbers: one spelling only, alone or as a batch."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from simulator.domain.numbered import number_of, numbers_of

ids = st.one_of(
    st.integers(0, 10**7 - 1).map(lambda n: f"C{n:07d}"),  # the usual shape
    st.sampled_from(
        [
            "C123456",
            "C12345678",
            "D0000001",
            "C00000²1",
            "C+000001",
            "C 000001",
            "C" + "\u0660" * 6 + "1",
            "C000_001",
            "",
            "C",
            "c0000001",
        ]
    ),
    st.text(max_size=9),
)


def test_only_exactly_width_ascii_digits_after_the_prefix_are_a_number() -> None:
    assert number_of("C0001234", "C", 7) == 1234
    for other in (
        "C001234",
        "C00012345",
        "X0001234",
        "C000123²",
        "C+001234",
        "C 001234",
        "C00_1234",
        "C\u0660\u0660\u0660\u0661\u0662\u0663\u0664",
    ):
        assert number_of(other, "C", 7) is None, other


@given(st.lists(ids, max_size=8))
def test_a_batch_reads_as_each_id_alone_or_not_at_all(batch: list[str]) -> None:
    alone = [number_of(c, "C", 7) for c in batch]
    together = numbers_of(batch, "C", 7)
    if batch and None not in alone:
        assert together == alone
    else:
        assert together is None


@given(st.lists(ids, max_size=8), st.sampled_from([("C", 7), ("D", 7), ("C", 6)]))
def test_a_batch_asked_again_reads_the_same_and_never_shares_its_answer(
    batch: list[str], shape: tuple[str, int]
) -> None:
    # a validation asks twice for the same batch (population, then ledger): the second
    # answer is the kept one, for this prefix and width only, and a copy of it
    prefix, width = shape
    first = numbers_of(batch, "C", 7)
    again = numbers_of(list(batch), prefix, width)
    alone = [number_of(c, prefix, width) for c in batch]
    assert again == (alone if batch and None not in alone else None)
    if (prefix, width) == ("C", 7):
        assert again == first
        if first is not None and again is not None:
            assert again is not first
            again.append(-1)  # a caller changing its list changes no later answer
            assert numbers_of(batch, "C", 7) == first
