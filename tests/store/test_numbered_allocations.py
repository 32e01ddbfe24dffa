"""Allocations numbered per campaign (`models.allocation_id`), on every store.

The in-memory store keeps them as rows of columns keyed by customer numbers
(`simulator.store.columns`); these tests pin what that layout must keep of the contract:
records come back equal, keys find the latest allocation, ids of any other spelling find
nothing, customer ids of any shape work, and a refused transaction leaves no row behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.domain.models import (
    APPROVAL_RECORD,
    NO_PROMOTION,
    RESERVATION,
    Allocation,
    AllocationStatus,
    Holding,
    Reward,
    allocation_id,
    allocation_number,
)
from simulator.store.base import Store
from simulator.store.memory import MemoryStore
from tests.conftest import open_store
from tests.store.test_store_contract import T0, TID, Boom, an_allocation, create

RESERVED, COMMITTED, RELEASED = (
    AllocationStatus.RESERVED,
    AllocationStatus.COMMITTED,
    AllocationStatus.RELEASED,
)


@pytest.fixture
def store(store_kind: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_kind, tmp_path / "store.sqlite")
    yield opened
    opened.close()


def al(n: int, campaign_id: int = 48213) -> str:
    return allocation_id(RESERVATION, campaign_id, n)


def test_allocation_ids_read_back_only_in_their_own_spelling() -> None:
    assert al(17) == "AL-48213-17"
    assert allocation_number("AL-48213-17") == ("AL", 48213, 17)
    assert allocation_number("AP-1-1") == ("AP", 1, 1)
    for other in (
        "AL-48213-017",
        "AL-048213-17",
        "AL-48213-\u0661\u0667",  # Arabic-Indic digits: int() reads them, the id is another string
        "AL-48213-¹",
        "AL-48213--1",
        "AL-48213-1-",
        "AL_48213_1",
        "AX-48213-1",
        "AL-48213",
        "",
    ):
        assert allocation_number(other) is None, other


def test_numbered_allocations_round_trip_with_customers_of_every_shape(store: Store) -> None:
    create(store)
    customers = ["C0000001", "C0000002", "vip-alice", "C12", "C0000003"]
    rows = [an_allocation(al(n + 1), customer_id=c) for n, c in enumerate(customers)]
    event = an_allocation(al(1, 7001), campaign_id=7001, customer_id="C0000001", event_id="E1")
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 0
        tx.put_allocations(rows[:2])
        for row in rows[2:]:
            tx.put_allocation(row)
        tx.put_allocation(event)
        for n, c in enumerate(customers):
            tx.set_holding("PR-1", c, Holding(1, n))
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 5
        assert tx.allocations_made(7001) == 1
        assert tx.allocations_made(1) == 0
        for row in rows:
            assert tx.allocation(row.id) == row
            assert tx.allocation_by_key(48213, row.customer_id, None) == row
            assert tx.allocation_by_key(48213, row.customer_id, "E1") is None
        assert tx.allocation(event.id) == event
        assert tx.allocation_by_key(7001, "C0000001", "E1") == event
        assert tx.allocation_by_key(7001, "C0000001", None) is None
        assert tx.allocation(al(6)) is None
        assert tx.allocation(al(0)) is None
        assert tx.allocation(allocation_id(APPROVAL_RECORD, 48213, 1)) is None
        assert [a.id for a in tx.open_allocations(48213)] == [r.id for r in rows]
        for n, c in enumerate(customers):
            assert tx.holding("PR-1", c) == Holding(1, n)
        assert tx.holding("PR-1", "C0000009") == Holding()
        assert tx.holding("PR-2", "C0000001") == Holding()


def test_status_and_redemption_changes_and_the_next_reservation_of_a_key(store: Store) -> None:
    create(store)
    first, other = an_allocation(al(1)), an_allocation(al(2), customer_id="C0000002")
    with store.transaction(TID) as tx:
        tx.put_allocations([first, other])
    released = replace(first, status=RELEASED)
    committed = replace(other, status=COMMITTED, redeemed=True, redeemed_amount=250)
    second = an_allocation(al(3), value=700)
    with store.transaction(TID) as tx:
        tx.put_allocations([released, committed])
        tx.put_allocation(second)
    with store.transaction(TID) as tx:
        assert tx.allocation(first.id) == released
        assert tx.allocation(other.id) == committed
        assert tx.allocation_by_key(48213, "C0000001", None) == second
        assert tx.committed_count(48213) == 1
        assert tx.committed_allocations(48213) == [committed]
        assert tx.open_allocations(48213) == [second]


def test_a_refused_transaction_leaves_no_row_key_or_holding(store: Store) -> None:
    create(store)
    kept = an_allocation(al(1))
    with store.transaction(TID) as tx:
        tx.put_allocation(kept)
        tx.set_holding("PR-1", "C0000001", Holding(1, 0))
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.put_allocation(replace(kept, status=COMMITTED))
        tx.put_allocations(
            [an_allocation(al(2), customer_id="C0000002"), an_allocation(al(3), customer_id="odd")]
        )
        tx.set_holdings("PR-1", ["C0000001", "odd"], [Holding(0, 1), Holding(1, 0)])
        assert tx.allocations_made(48213) == 3
        raise Boom
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 1
        assert tx.allocation(kept.id) == kept
        assert tx.allocation(al(2)) is None
        assert tx.allocation_by_key(48213, "C0000002", None) is None
        assert tx.allocation_by_key(48213, "odd", None) is None
        assert tx.holding("PR-1", "C0000001") == Holding(1, 0)
        assert tx.holding("PR-1", "odd") == Holding()
        # the numbers are free again: the next reservation takes number 2
        again = an_allocation(al(2), customer_id="C0000002")
        tx.put_allocation(again)
    with store.transaction(TID) as tx:
        assert tx.allocation(al(2)) == again
        assert tx.open_allocations(48213) == [kept, again]


def test_a_key_follows_its_latest_allocation_whether_numbered_or_not(store: Store) -> None:
    create(store)
    numbered = an_allocation(al(1))
    loose = an_allocation("AL_custom")
    with store.transaction(TID) as tx:
        tx.put_allocation(numbered)
        tx.put_allocation(replace(numbered, status=RELEASED))
        tx.put_allocation(loose)
        assert tx.allocation_by_key(48213, "C0000001", None) == loose
        tx.put_allocation(replace(loose, status=RELEASED))
        later = an_allocation(al(2))
        tx.put_allocation(later)
        assert tx.allocation_by_key(48213, "C0000001", None) == later
        assert tx.allocation("AL_custom") == replace(loose, status=RELEASED)


def test_a_number_taken_beyond_the_rows_is_counted_and_never_handed_out_again(
    store: Store,
) -> None:
    """`allocations_made` is the highest number taken, rows or not: an allocation written
    with a number past the campaign's rows moves the next number past it, so the next
    reservation never takes its id (on every store, and undone with its transaction)."""
    create(store)
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.put_allocation(an_allocation(al(5)))
        assert tx.allocations_made(48213) == 5
        raise Boom
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 0
        tx.put_allocation(an_allocation(al(2)))
        assert tx.allocations_made(48213) == 2
    for customer in ("C0000002", "C0000003"):
        with store.transaction(TID) as tx:
            n = tx.allocations_made(48213) + 1
            tx.put_allocation(an_allocation(al(n), customer_id=customer))
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 4
        assert [tx.allocation(al(n)).customer_id for n in (2, 3, 4)] == [  # type: ignore[union-attr]
            "C0000001",
            "C0000002",
            "C0000003",
        ]
        assert tx.allocation_by_key(48213, "C0000001", None) == an_allocation(al(2))


def test_approval_records_are_numbered_with_the_reservations(store: Store) -> None:
    create(store)
    reservation = an_allocation(al(1))
    record = replace(
        an_allocation(allocation_id(APPROVAL_RECORD, 48213, 2), customer_id="C0000002"),
        promotion_id=NO_PROMOTION,
        tier_id="",
        tier_name="",
        reward=Reward("amount", 0),
        status=COMMITTED,
        period_keys=(),
    )
    with store.transaction(TID) as tx:
        tx.put_allocations([reservation, record])
    with store.transaction(TID) as tx:
        assert tx.allocations_made(48213) == 2
        assert tx.allocation(record.id) == record
        assert tx.allocation(al(2)) is None  # the same number, the other kind
        assert tx.allocation_by_key(48213, "C0000002", None) == record
        assert tx.committed_count(48213) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["C0000001", "C0000002", "C0000003", "C1", "x", "C99999999"]),
            st.sampled_from([None, "E1", "E2"]),
            st.sampled_from([RESERVED, COMMITTED, RELEASED]),
        ),
        max_size=12,
    )
)
def test_the_memory_layout_answers_as_a_dict_of_records_would(
    writes: list[tuple[str, str | None, AllocationStatus]],
) -> None:
    """Any sequence of new allocations and status changes reads back as a plain model:
    a dict of records by id and the latest id per key."""
    store = MemoryStore()
    create(store)
    by_id: dict[str, Allocation] = {}
    by_key: dict[tuple[str, str | None], str] = {}
    with store.transaction(TID) as tx:
        for customer_id, event_id, status in writes:
            key = (customer_id, event_id)
            current = by_key.get(key)
            if current is not None and status is not RESERVED:  # a later write of it
                allocation = replace(by_id[current], status=status)
            else:
                n = tx.allocations_made(48213) + 1
                allocation = an_allocation(al(n), customer_id=customer_id, event_id=event_id)
                by_key[key] = allocation.id
            tx.put_allocation(allocation)
            by_id[allocation.id] = allocation
    with store.transaction(TID) as tx:
        for aid, allocation in by_id.items():
            assert tx.allocation(aid) == allocation
        for (customer_id, event_id), aid in by_key.items():
            assert tx.allocation_by_key(48213, customer_id, event_id) == by_id[aid]
        open_ids = [a for a, x in by_id.items() if x.status is RESERVED]
        assert [a.id for a in tx.open_allocations(48213)] == open_ids


def test_each_rows_reservation_time_reads_back_exactly_with_its_zone(store: Store) -> None:
    create(store)
    plus_two = timezone(timedelta(hours=2))
    times = [
        T0,
        T0 + timedelta(microseconds=1),
        datetime(2026, 11, 27, 12, 0, 0, 999_999, tzinfo=plus_two),
        datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ]
    rows = [
        replace(an_allocation(al(n + 1), customer_id=f"C{n:07d}"), reserved_at=at)
        for n, at in enumerate(times)
    ]
    with store.transaction(TID) as tx:
        tx.put_allocations(rows)
    with store.transaction(TID) as tx:
        for row in rows:
            got = tx.allocation(row.id)
            assert got == row
            assert got is not None and got.reserved_at.utcoffset() == row.reserved_at.utcoffset()
