"""Batch reads and writes of the ledger, on every store, against a plain model.

The memory store writes a validation's new reservations column by column (`Book.extend`,
its tier and reward once per distinct tier choice), holdings and
statuses with one undo entry per batch, and hands back the records it was given lately
(`columns.Recent`) instead of rebuilding them. Each of these must answer exactly as a dict
of records would, through commits and rolled-back transactions alike, and whether the
remembered records are kept, emptied often, or never kept at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.domain.models import (
    RESERVATION,
    Allocation,
    AllocationStatus,
    Holding,
    NewReservations,
    Reward,
    RewardSpec,
    Tier,
)
from simulator.domain.models import allocation_id as make_id
from simulator.store.base import Store
from simulator.store.columns import Recent
from tests.conftest import open_store
from tests.store.test_store_contract import TID, Boom, an_allocation, create

CAMPAIGN = 48213
CUSTOMERS = ["C0000001", "C0000002", "C0000003", "C0000004", "x-1", "C99999999"]
STATUSES = list(AllocationStatus)

# (kind, customers, event, status or counts, roll back?)
Op = tuple[str, list[str], str | None, int, bool]

ops = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "reserve_after_gap", "status", "redeem", "hold"]),
        st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=5),
        st.sampled_from([None, None, "E1"]),
        st.integers(0, 2),
        st.booleans(),
    ),
    max_size=14,
)


@pytest.fixture
def store(store_kind: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_kind, tmp_path / "store.sqlite")
    yield opened
    opened.close()


class Model:
    """What the store must answer: records by id, the latest id per key, holdings."""

    def __init__(self) -> None:
        self.by_id: dict[str, Allocation] = {}
        self.by_key: dict[tuple[str, str | None], str] = {}
        self.holdings: dict[str, Holding] = {}

    def copy(self) -> Model:
        twin = Model()
        twin.by_id, twin.by_key = dict(self.by_id), dict(self.by_key)
        twin.holdings = dict(self.holdings)
        return twin


def choice(tier_id: str, value: int) -> tuple[Tier, Reward]:
    """A tier choice, as the tier chooser answers one: (tier, reward)."""
    tier = Tier(tier_id, tier_id.title(), (), RewardSpec("amount", amount=value, currency="EUR"))
    return tier, Reward("amount", value, "EUR")


def reservations(batch: list[Allocation], first: int) -> NewReservations:
    """`batch` as a validation hands it over: one choice object per distinct tier and
    reward."""
    shared: dict[tuple[str, Reward], tuple[Tier, Reward]] = {}
    taken = [
        shared.setdefault(
            (a.tier_id, a.reward),
            (Tier(a.tier_id, a.tier_name, (), RewardSpec("amount")), a.reward),
        )
        for a in batch
    ]
    return NewReservations(batch, first, taken)


def apply(tx: object, model: Model, op: Op) -> None:
    kind, customers, event_id, n, _ = op
    if kind.startswith("reserve"):  # a batch of new rows, numbered from the count on
        # (or, after a gap, from a number that is not the campaign's next row)
        first = tx.allocations_made(CAMPAIGN) + (2 if kind == "reserve_after_gap" else 1)  # type: ignore[attr-defined]
        keys = list(dict.fromkeys(customers))  # a batch reserves a key once
        # two tier choices, taken in turn: each record's tier and reward are its choice's
        choices = [choice("T-LOW", 100 * (n + 1)), choice("T-HIGH", 100 * (n + 1) + 50)]
        taken = [choices[i % 2] for i in range(len(keys))]
        batch = [
            replace(
                an_allocation(make_id(RESERVATION, CAMPAIGN, first + i), customer_id=c),
                event_id=event_id,
                tier_id=tier.id,
                tier_name=tier.name,
                reward=reward,
            )
            for i, (c, (tier, reward)) in enumerate(zip(keys, taken, strict=True))
        ]
        tx.put_reservations(NewReservations(batch, first, taken))  # type: ignore[attr-defined]
        for allocation in batch:
            model.by_id[allocation.id] = allocation
            model.by_key[allocation.customer_id, event_id] = allocation.id
        return
    if kind == "hold":
        keys = list(dict.fromkeys(customers))
        holdings = [Holding(n, i % 2) for i, _ in enumerate(keys)]
        tx.set_holdings("PR-1", keys, holdings)  # type: ignore[attr-defined]
        model.holdings.update(zip(keys, holdings, strict=True))
        return
    current = [
        model.by_id[aid]
        for c in dict.fromkeys(customers)
        if (aid := model.by_key.get((c, event_id))) is not None
    ]
    if kind == "status":
        # read as the domain reads (a batch by key, or one key), then written as a batch
        read = (
            tx.allocations_by_keys(CAMPAIGN, [a.customer_id for a in current])  # type: ignore[attr-defined]
            if event_id is None
            else [tx.allocation_by_key(CAMPAIGN, a.customer_id, event_id) for a in current]  # type: ignore[attr-defined]
        )
        assert read == current
        tx.set_statuses(current, STATUSES[n])  # type: ignore[attr-defined]
        for allocation in current:
            model.by_id[allocation.id] = replace(allocation, status=STATUSES[n])
    else:  # a redemption: the record written back whole
        for allocation in current:
            redeemed = replace(allocation, redeemed=True, redeemed_amount=7 + n)
            tx.put_allocation(redeemed)  # type: ignore[attr-defined]
            model.by_id[allocation.id] = redeemed


def check(store: Store, model: Model) -> None:
    with store.transaction(TID) as tx:
        for aid, allocation in model.by_id.items():
            assert tx.allocation(aid) == allocation
        for (customer_id, event_id), aid in model.by_key.items():
            assert tx.allocation_by_key(CAMPAIGN, customer_id, event_id) == model.by_id[aid]
        latest = [model.by_key.get((c, None)) for c in CUSTOMERS]
        expected = [None if aid is None else model.by_id[aid] for aid in latest]
        assert tx.allocations_by_keys(CAMPAIGN, CUSTOMERS) == expected
        assert tx.holdings("PR-1", CUSTOMERS) == [
            model.holdings.get(c, Holding()) for c in CUSTOMERS
        ]


# `store_kind` is a string, the same for every example
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=ops, limit=st.sampled_from([0, 3, Recent.LIMIT]))
def test_batches_read_back_as_a_dict_of_records_through_commits_and_rollbacks(
    store_kind: str, tmp_path_factory: pytest.TempPathFactory, steps: list[Op], limit: int
) -> None:
    opened = open_store(store_kind, tmp_path_factory.mktemp("s") / "store.sqlite")
    old_limit = Recent.LIMIT
    Recent.LIMIT = limit  # 0: never remembered; 3: emptied all the time
    try:
        create(opened)
        model = Model()
        for op in steps:
            after = model.copy()
            try:
                with opened.transaction(TID) as tx:
                    apply(tx, after, op)
                    if op[4]:
                        raise Boom
            except Boom:
                after = model  # nothing of it stays
            model = after
            check(opened, model)
    finally:
        Recent.LIMIT = old_limit
        opened.close()


def test_a_rolled_back_batch_leaves_no_remembered_record_behind(store: Store) -> None:
    """Rows appended and then undone are appended again as other allocations: reads
    answer the new ones, never the undone ones."""
    create(store)
    first = [
        an_allocation(make_id(RESERVATION, CAMPAIGN, i + 1), customer_id=c)
        for i, c in enumerate(["C0000001", "C0000002"])
    ]
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.put_reservations(reservations(first, 1))
        assert tx.allocations_by_keys(CAMPAIGN, ["C0000001", "C0000002"]) == first
        raise Boom
    second = [
        replace(a, customer_id=c, reward=replace(a.reward, value=900))
        for a, c in zip(first, ["C0000003", "C0000004"], strict=True)
    ]
    with store.transaction(TID) as tx:
        tx.put_reservations(reservations(second, 1))
    with store.transaction(TID) as tx:
        assert [tx.allocation(a.id) for a in first] == second
        assert tx.allocations_by_keys(CAMPAIGN, ["C0000001", "C0000003"]) == [None, second[0]]


def test_a_batch_of_event_reservations_keeps_each_event(store: Store) -> None:
    """A triggered validation of several events writes them as one batch."""
    create(store)
    batch = [
        an_allocation(make_id(RESERVATION, CAMPAIGN, 1), customer_id="C0000001", event_id="E1"),
        an_allocation(make_id(RESERVATION, CAMPAIGN, 2), customer_id="C0000001", event_id="E2"),
    ]
    with store.transaction(TID) as tx:
        tx.put_reservations(reservations(batch, 1))
    with store.transaction(TID) as tx:
        assert [tx.allocation(a.id) for a in batch] == batch
        assert tx.allocation_by_key(CAMPAIGN, "C0000001", "E2") == batch[1]
        assert tx.allocation_by_key(CAMPAIGN, "C0000001", None) is None
