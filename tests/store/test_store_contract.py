"""The `Store` / `Tx` contract, one suite run against every store (memory and SQLite).

Every record type must come back `==` to what was stored, with its enums as the enum
members, tuples as tuples and datetimes timezone-aware; a transaction that raises leaves no
trace; `reset()` keeps only the tenant record, its keys and tokens.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.domain.campaigns import ProcessedList
from simulator.domain.models import (
    Allocation,
    AllocationStatus,
    Campaign,
    CampaignStats,
    CampaignStatus,
    CeWebhook,
    ClockState,
    Condition,
    Holding,
    OutboxEvent,
    PeriodCaps,
    PopulationSpec,
    Promotion,
    PromotionStatus,
    Reward,
    RewardSpec,
    TargetGroup,
    Tenant,
    Tier,
    Token,
    TriggeredEvent,
    Usage,
    Violation,
)
from simulator.store.base import FIRST_TENANT_NUMBER, Store, Tx
from tests.conftest import open_store

T0 = datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=UTC)
TID = "t-1"


@pytest.fixture
def store(store_kind: str, tmp_path: Path) -> Iterator[Store]:
    opened = open_store(store_kind, tmp_path / "store.sqlite")
    yield opened
    opened.close()


class Boom(Exception):
    pass


# -- record builders ---------------------------------------------------------------------
def a_tenant(tenant_id: str = TID, **changes: object) -> Tenant:
    tenant = Tenant(
        id=tenant_id,
        name="Casino Ünïcode",
        created_at=T0,
        numeric_id=28209,
        clock=ClockState("manual", 12.5, T0 + timedelta(hours=1)),
        population=PopulationSpec(7, 1234, "X", 5, 30),
        webhook_secret="whsec_abc",
        listeners={"5": "http://127.0.0.1:9000/hook", "13:7": "http://127.0.0.1:9000/t"},
        ce_webhook=CeWebhook("wh_1", "http://127.0.0.1:9000/ce", T0, "s3cret"),
        users={"demo": ("pw", "admin"), "ops": ("pw2", "integrations")},
        legacy_promotions={"OLD1": "Old promo"},
        logins={"demo": ("0f8fad5b-d9cb-469f-a165-70867728950e", 1_795_000_000.25)},
    )
    return replace(tenant, **changes)  # type: ignore[arg-type]


def a_promotion(promotion_id: str = "PR-1", codes: tuple[str, ...] = ("CODE1",)) -> Promotion:
    return Promotion(
        id=promotion_id,
        name="Welcome",
        promocodes=codes,
        reward_kind="amount",
        currency="EUR",
        budget=100_000,
        audience_cap=50,
        per_customer_limit=2,
        period_caps=PeriodCaps(daily=3, weekly=None, monthly=10),
        tiers=(
            Tier(
                "T-HIGH",
                "High",
                (
                    Condition("attributes.VIPLevel", "in", ("Gold", "Platinum")),
                    Condition("session.amount", "gte", 100.5),
                    Condition("attributes.Country", "eq", "DE"),
                    Condition("attributes.Flag", "eq", True),
                    Condition("attributes.None", "ne", None),
                    Condition("session.obj", "eq", {"a": [1, 2]}),
                ),
                RewardSpec("percent", percent=12.5, of="session.amount", max=5000),
            ),
            Tier("T-LOW", "Low", (), RewardSpec("amount", amount=500, currency="EUR")),
        ),
        status=PromotionStatus.DRAFT,
        ever_active=False,
        created_at=T0,
    )


def a_campaign(campaign_id: int = 48213, **changes: object) -> Campaign:
    campaign = Campaign(
        id=campaign_id,
        type="scheduled",
        promo_code="CODE1",
        action_id=3,
        action_name="Welcome bonus",
        status=CampaignStatus.SCHEDULED,
        created_at=T0,
        target=TargetGroup(1000, 10, (Condition("attributes.Country", "in", ("DE", "AT")),)),
        clearance_window_s=900,
        execute_at=T0 + timedelta(minutes=5),
        series_id=77,
        trigger=None,
        channels=(15, 493),
    )
    return replace(campaign, **changes)  # type: ignore[arg-type]


def a_triggered_campaign(campaign_id: int = 7001) -> Campaign:
    return Campaign(
        id=campaign_id,
        type="triggered",
        promo_code="CODE1",
        action_id=4,
        action_name="Deposit",
        status=CampaignStatus.ACTIVE,
        created_at=T0,
        trigger="deposit",
    )


def an_allocation(
    allocation_id: str = "AL_1",
    *,
    campaign_id: int = 48213,
    customer_id: str = "C0000001",
    event_id: str | None = None,
    status: AllocationStatus = AllocationStatus.RESERVED,
    value: int = 500,
) -> Allocation:
    return Allocation(
        id=allocation_id,
        promotion_id="PR-1",
        campaign_id=campaign_id,
        customer_id=customer_id,
        event_id=event_id,
        tier_id="T-LOW",
        tier_name="Low",
        reward=Reward("amount", value, "EUR"),
        status=status,
        reserved_at=T0,
        period_keys=("D2026-11-27", "M2026-11"),
    )


def an_outbox_event(n: int, kind: str = "scheduled", campaign_id: int = 48213) -> OutboxEvent:
    body = {"EventTypeID": 5, "CampaignID": campaign_id, "n": n, "nested": {"l": [1, "x"]}}
    return OutboxEvent(f"msg_{n}", kind, campaign_id, body, T0 + timedelta(seconds=n))  # type: ignore[arg-type]


def some_stats() -> CampaignStats:
    return CampaignStats(
        targeted=10,
        fetch_calls=2,
        fetched=10,
        validated=8,
        invalid={"not_targeted": 2},
        approved=5,
        released=1,
        approvals_refused={"duplicate": 1},
        redeemed=3,
        redemptions_refused={"unknown_allocation": 1},
        events_emitted=4,
        sent=5,
        violations={"late_approval": 1},
        examples=(Violation("late_approval", T0, "approved after the deadline"),),
    )


def create(store: Store, tenant_id: str = TID) -> Tenant:
    tenant = a_tenant(tenant_id)
    with store.transaction(tenant_id) as tx:
        tx.put_tenant(tenant)
        tx.add_key(f"{tenant_id}-admin", "admin")
        tx.add_key(f"{tenant_id}-int", "integrations")
    return tenant


def populate(tx: Tx) -> None:
    """One of every tenant-scoped record."""
    tx.put_promotion(a_promotion())
    tx.set_usage("PR-1", Usage(1, 2, 3, 4, 5, 6, 7))
    tx.set_holding("PR-1", "C1", Holding(1, 1))
    tx.add_period_count("PR-1", "D2026-11-27", 2)
    tx.put_allocation(an_allocation())
    tx.put_allocation(an_allocation("AL_C", customer_id="C2", status=AllocationStatus.COMMITTED))
    tx.put_campaign(a_campaign())
    tx.put_processed(48213, ProcessedList(0, 100))
    tx.put_stats(48213, some_stats())
    tx.put_event(TriggeredEvent("EV_1", 7001, "C1", {"amount": 10}, T0))
    tx.append_outbox(an_outbox_event(1))


def assert_empty_world(tx: Tx) -> None:
    assert tx.promotion("PR-1") is None
    assert tx.promotion_by_code("CODE1") is None
    assert tx.promotions() == []
    assert tx.usage("PR-1") == Usage()
    assert tx.holding("PR-1", "C1") == Holding()
    assert tx.period_count("PR-1", "D2026-11-27") == 0
    assert tx.allocation("AL_1") is None
    assert tx.allocation_by_key(48213, "C0000001", None) is None
    assert list(tx.open_allocations(48213)) == []
    assert tx.committed_count(48213) == 0
    assert tx.campaign(48213) is None
    assert tx.campaigns() == []
    assert tx.processed(48213) is None
    assert tx.stats(48213) == CampaignStats()
    assert tx.event("EV_1") is None
    assert list(tx.outbox()) == []


# -- tenants, keys, tokens -----------------------------------------------------------------
def test_a_tenant_never_created_reads_as_absent_and_leaves_no_trace(store: Store) -> None:
    with store.transaction("ghost") as tx:
        assert tx.tenant() is None
        assert tx.keys() == []
        assert_empty_world(tx)
    assert store.tenant_ids() == []
    with store.transaction("ghost") as tx:
        assert tx.tenant() is None


def test_rows_written_for_a_tenant_never_created_are_dropped_at_commit(store: Store) -> None:
    with store.transaction("ghost") as tx:
        populate(tx)
        assert tx.promotion("PR-1") == a_promotion()
    assert store.tenant_ids() == []
    with store.transaction("ghost") as tx:
        assert_empty_world(tx)


def test_tenant_round_trips_with_every_field(store: Store) -> None:
    tenant = create(store)
    with store.transaction(TID) as tx:
        got = tx.tenant()
    assert got == tenant
    assert got is not None
    assert got.users["demo"] == ("pw", "admin")
    assert isinstance(got.users["demo"], tuple)
    assert isinstance(got.logins["demo"], tuple)
    assert got.created_at.utcoffset() == timedelta(0)
    assert got.clock.manual_now == T0 + timedelta(hours=1)


def test_put_tenant_replaces_the_record(store: Store) -> None:
    create(store)
    changed = a_tenant(clock=ClockState(), ce_webhook=None, listeners={}, webhook_secret=None)
    with store.transaction(TID) as tx:
        tx.put_tenant(changed)
    with store.transaction(TID) as tx:
        assert tx.tenant() == changed


def test_tenant_ids_list_created_tenants_in_creation_order(store: Store) -> None:
    for tenant_id in ("t-b", "t-a", "t-c"):
        create(store, tenant_id)
    with store.transaction("t-b") as tx:  # updating keeps the order
        tx.put_tenant(a_tenant("t-b", name="renamed"))
    assert store.tenant_ids() == ["t-b", "t-a", "t-c"]


def test_tenant_numbers_are_unique_across_tenants_and_start_above_the_scenario_range(
    store: Store,
) -> None:
    drawn = []
    for tenant_id in ("t-a", "t-b"):
        with store.transaction(tenant_id) as tx:
            drawn.append(tx.next_tenant_number())
            drawn.append(tx.next_tenant_number())
    try:  # a transaction that raises may skip a number but never hands it out twice
        with store.transaction("t-c") as tx:
            drawn.append(tx.next_tenant_number())
            raise Boom
    except Boom:
        pass
    with store.transaction("t-c") as tx:
        drawn.append(tx.next_tenant_number())
    assert drawn[:4] == [FIRST_TENANT_NUMBER + i for i in range(4)]
    assert len(set(drawn[:4] + drawn[-1:])) == 5 and min(drawn) == FIRST_TENANT_NUMBER
    assert drawn == sorted(drawn)


def test_keys_are_listed_per_tenant_and_found_outside_a_transaction(store: Store) -> None:
    create(store, "t-1")
    create(store, "t-2")
    with store.transaction("t-1") as tx:
        assert tx.keys() == [("t-1-admin", "admin"), ("t-1-int", "integrations")]
    assert store.lookup_key("t-2-int") == ("t-2", "integrations")
    assert store.lookup_key("t-1-admin") == ("t-1", "admin")
    assert store.lookup_key("nope") is None


def test_tokens_are_found_and_touched_outside_a_transaction(store: Store) -> None:
    create(store)
    token = Token("tok-1", TID, "integrations", 1000.25)
    with store.transaction(TID) as tx:
        tx.put_token(token)
    assert store.lookup_token("tok-1") == token
    store.touch_token("tok-1", 2000.5)
    assert store.lookup_token("tok-1") == replace(token, last_used=2000.5)
    store.touch_token("unknown", 1.0)
    assert store.lookup_token("unknown") is None


# -- promotions and campaigns -----------------------------------------------------------------
def test_promotion_round_trips_with_tiers_conditions_and_enums(store: Store) -> None:
    create(store)
    promotion = a_promotion(codes=("CODE1", "CODE2"))
    with store.transaction(TID) as tx:
        tx.put_promotion(promotion)
    with store.transaction(TID) as tx:
        got = tx.promotion("PR-1")
        by_code = tx.promotion_by_code("CODE2")
        assert tx.promotion_by_code("CODE3") is None
        assert tx.promotion("PR-2") is None
    assert got == promotion
    assert by_code == promotion
    assert got is not None
    assert got.status is PromotionStatus.DRAFT
    assert isinstance(got.promocodes, tuple)
    assert isinstance(got.tiers, tuple)
    assert isinstance(got.tiers[0].when, tuple)
    assert got.tiers[0].when[0].value == ("Gold", "Platinum")
    assert isinstance(got.tiers[0].when[0].value, tuple)
    assert got.tiers[0].when[1].value == 100.5
    assert got.tiers[0].when[3].value is True
    assert got.tiers[0].reward.percent == 12.5


def test_promotions_are_listed_in_insertion_order_and_updates_replace(store: Store) -> None:
    create(store)
    second = a_promotion("PR-0", ("Z",))
    with store.transaction(TID) as tx:
        tx.put_promotion(a_promotion())
        tx.put_promotion(second)
    active = replace(a_promotion(), status=PromotionStatus.ACTIVE, ever_active=True)
    with store.transaction(TID) as tx:
        tx.put_promotion(active)
    with store.transaction(TID) as tx:
        assert tx.promotions() == [active, second]
        got = tx.promotion_by_code("CODE1")
        assert got == active
        assert got is not None and got.status is PromotionStatus.ACTIVE


def test_campaigns_round_trip_scheduled_and_triggered(store: Store) -> None:
    create(store)
    scheduled = a_campaign()
    triggered = a_triggered_campaign()
    with store.transaction(TID) as tx:
        tx.put_campaign(scheduled)
        tx.put_campaign(triggered)
    executed = replace(
        scheduled,
        status=CampaignStatus.EXECUTED,
        executed_at=T0,
        clearance_required_by=T0 + timedelta(seconds=900),
        finished_at=T0 + timedelta(days=1),
    )
    with store.transaction(TID) as tx:
        assert tx.campaign(48213) == scheduled
        assert tx.campaign(7001) == triggered
        assert tx.campaign(1) is None
        tx.put_campaign(executed)
    with store.transaction(TID) as tx:
        got = tx.campaign(48213)
        assert tx.campaigns() == [executed, triggered]
    assert got == executed
    assert got is not None
    assert got.status is CampaignStatus.EXECUTED
    assert got.target is not None
    assert isinstance(got.target.where, tuple)
    assert got.target.where[0].value == ("DE", "AT")
    assert got.clearance_required_by is not None
    assert got.clearance_required_by.utcoffset() == timedelta(0)


def test_processed_lists_round_trip_as_slice_or_indices(store: Store) -> None:
    create(store)
    indices = array("I", [3, 5, 8, 13, 4_000_000_000])
    with store.transaction(TID) as tx:
        tx.put_processed(1, ProcessedList(10, 20))
        tx.put_processed(2, ProcessedList(indices=indices))
        tx.put_processed(3, ProcessedList(indices=array("I")))
    with store.transaction(TID) as tx:
        plain = tx.processed(1)
        filtered = tx.processed(2)
        empty = tx.processed(3)
        assert tx.processed(4) is None
    assert plain == ProcessedList(10, 20)
    assert plain is not None and plain.indices is None and len(plain) == 10
    assert filtered == ProcessedList(indices=indices)
    assert filtered is not None and filtered.contains(13) and not filtered.contains(12)
    assert empty == ProcessedList(indices=array("I"))
    assert empty is not None and empty.indices is not None and len(empty) == 0


def test_stats_default_to_empty_and_round_trip(store: Store) -> None:
    create(store)
    with store.transaction(TID) as tx:
        assert tx.stats(48213) == CampaignStats()
        tx.put_stats(48213, some_stats())
    with store.transaction(TID) as tx:
        got = tx.stats(48213)
        assert tx.stats(7001) == CampaignStats()
    assert got == some_stats()
    assert isinstance(got.examples, tuple)
    assert got.examples[0].at.utcoffset() == timedelta(0)


def test_triggered_events_round_trip(store: Store) -> None:
    create(store)
    event = TriggeredEvent("EV_1", 7001, "C1", {"amount": 10.5, "tags": ["a"], "n": None}, T0)
    with store.transaction(TID) as tx:
        tx.put_event(event)
    with store.transaction(TID) as tx:
        assert tx.event("EV_1") == event
        assert tx.event("EV_2") is None


# -- ledger ----------------------------------------------------------------------------------
def test_usage_holdings_and_period_counts_default_to_zero_and_round_trip(store: Store) -> None:
    create(store)
    with store.transaction(TID) as tx:
        assert tx.usage("PR-1") == Usage()
        assert tx.holding("PR-1", "C1") == Holding()
        assert tx.period_count("PR-1", "D1") == 0
        tx.set_usage("PR-1", Usage(1, 2, 3, 4, 5, 6, 7))
        tx.set_holding("PR-1", "C1", Holding(2, 1))
        tx.add_period_count("PR-1", "D1", 1)
        tx.add_period_count("PR-1", "D1", 2)
        tx.add_period_count("PR-1", "W1", 1)
    with store.transaction(TID) as tx:
        assert tx.usage("PR-1") == Usage(1, 2, 3, 4, 5, 6, 7)
        assert tx.usage("PR-2") == Usage()
        assert tx.holding("PR-1", "C1") == Holding(2, 1)
        assert tx.holding("PR-1", "C2") == Holding()
        assert tx.period_count("PR-1", "D1") == 3
        assert tx.period_count("PR-1", "W1") == 1
        tx.add_period_count("PR-1", "D1", -3)
        tx.set_usage("PR-1", Usage(budget_committed=9))
    with store.transaction(TID) as tx:
        assert tx.period_count("PR-1", "D1") == 0
        assert tx.usage("PR-1") == Usage(budget_committed=9)


def test_allocation_round_trips_by_id_and_by_key(store: Store) -> None:
    create(store)
    scheduled = an_allocation("AL_S")
    with_event = an_allocation("AL_E", campaign_id=7001, event_id="EV_1")
    empty_event = an_allocation("AL_0", campaign_id=7001, event_id="")
    with store.transaction(TID) as tx:
        for allocation in (scheduled, with_event, empty_event):
            tx.put_allocation(allocation)
    with store.transaction(TID) as tx:
        got = tx.allocation("AL_S")
        assert tx.allocation("AL_X") is None
        assert tx.allocation_by_key(48213, "C0000001", None) == scheduled
        assert tx.allocation_by_key(48213, "C0000001", "EV_1") is None
        assert tx.allocation_by_key(48213, "C0000002", None) is None
        assert tx.allocation_by_key(7001, "C0000001", "EV_1") == with_event
        assert tx.allocation_by_key(7001, "C0000001", "") == empty_event  # "" is not None
        assert tx.allocation_by_key(7001, "C0000001", None) is None
    assert got == scheduled
    assert got is not None
    assert got.status is AllocationStatus.RESERVED
    assert isinstance(got.period_keys, tuple)
    assert got.reserved_at.utcoffset() == timedelta(0)


def test_batch_writes_equal_their_single_writes_and_roll_back_whole(store: Store) -> None:
    create(store)
    a, b, c = (an_allocation(f"AL_{n}", customer_id=f"C{n}") for n in "abc")
    e = an_allocation("AL_e", campaign_id=7001, event_id="EV_1")
    with store.transaction(TID) as tx:
        tx.put_allocations([a, b, c, e])
        tx.set_holdings("PR-1", ["Ca", "Cb"], [Holding(1, 0), Holding(1, 0)])
    committed = [replace(x, status=AllocationStatus.COMMITTED) for x in (a, b)]
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.set_statuses([a, b], AllocationStatus.COMMITTED)
        tx.put_allocations([replace(c, status=AllocationStatus.RELEASED)])
        tx.set_holdings("PR-1", ["Ca", "Cc"], [Holding(0, 1), Holding(0, 0)])
        assert tx.committed_count(48213) == 2
        raise Boom
    with store.transaction(TID) as tx:  # all of the batch undone (order: not after an undo)
        assert sorted(x.id for x in tx.open_allocations(48213)) == ["AL_a", "AL_b", "AL_c"]
        assert tx.committed_count(48213) == 0
        assert tx.holding("PR-1", "Ca") == Holding(1, 0)
        assert tx.holding("PR-1", "Cc") == Holding()
        assert tx.allocation_by_key(7001, "C0000001", "EV_1") == e
        assert tx.allocations_by_keys(48213, ["Cb", "nobody", "Ca"]) == [b, None, a]
        read = [x for x in tx.allocations_by_keys(48213, ["Ca", "Cb"]) if x is not None]
        tx.set_statuses(read, AllocationStatus.COMMITTED)
        tx.set_holdings("PR-1", ["Ca"], [Holding(0, 1)])
        tx.put_allocations([])
        tx.set_statuses([], AllocationStatus.RELEASED)
        tx.set_holdings("PR-1", [], [])
    with store.transaction(TID) as tx:
        assert [x.id for x in tx.open_allocations(48213)] == ["AL_c"]
        assert tx.committed_count(48213) == 2
        assert tx.allocation_by_key(48213, "Ca", None) == committed[0]
        assert tx.allocation("AL_b") == committed[1]
        assert tx.holding("PR-1", "Ca") == Holding(0, 1)
        assert tx.holding("PR-1", "Cb") == Holding(1, 0)
        assert tx.holdings("PR-1", ["Cb", "Ca", "nobody"]) == [
            Holding(1, 0),
            Holding(0, 1),
            Holding(),
        ]
        assert tx.holdings("PR-none", ["Ca"]) == [Holding()]
        assert tx.allocations_by_keys(9999, ["Ca"]) == [None]


def test_reserve_commit_release_keep_open_allocations_and_committed_count(store: Store) -> None:
    create(store)
    a, b, c = (an_allocation(f"AL_{n}", customer_id=f"C{n}") for n in "abc")
    other = an_allocation("AL_o", campaign_id=1, customer_id="Co")
    with store.transaction(TID) as tx:
        for allocation in (a, b, c, other):
            tx.put_allocation(allocation)
        assert [x.id for x in tx.open_allocations(48213)] == ["AL_a", "AL_b", "AL_c"]
        assert tx.committed_count(48213) == 0
    with store.transaction(TID) as tx:
        tx.put_allocation(replace(b, status=AllocationStatus.COMMITTED))
        tx.put_allocation(replace(a, redeemed=True, redeemed_amount=300))  # still reserved
    with store.transaction(TID) as tx:
        assert list(tx.open_allocations(48213)) == [
            replace(a, redeemed=True, redeemed_amount=300),
            c,
        ]
        assert tx.committed_count(48213) == 1
        tx.put_allocation(replace(c, status=AllocationStatus.RELEASED))
        committed_b = replace(b, status=AllocationStatus.COMMITTED, redeemed=True)
        tx.put_allocation(committed_b)  # committed again: counted once
    with store.transaction(TID) as tx:
        assert [x.id for x in tx.open_allocations(48213)] == ["AL_a"]
        assert tx.committed_count(48213) == 1
        assert tx.allocation("AL_b") == committed_b
        assert tx.allocation("AL_c") == replace(c, status=AllocationStatus.RELEASED)
        assert [x.id for x in tx.open_allocations(1)] == ["AL_o"]
        assert tx.committed_count(1) == 0
        assert list(tx.open_allocations(999)) == []
        tx.put_allocation(replace(a, status=AllocationStatus.COMMITTED))
    with store.transaction(TID) as tx:
        assert list(tx.open_allocations(48213)) == []
        assert tx.committed_count(48213) == 2


def test_a_released_allocations_key_points_to_the_next_reservation(store: Store) -> None:
    create(store)
    first = an_allocation("AL_1")
    with store.transaction(TID) as tx:
        tx.put_allocation(first)
        tx.put_allocation(replace(first, status=AllocationStatus.RELEASED))
        second = an_allocation("AL_2")
        tx.put_allocation(second)
    with store.transaction(TID) as tx:
        assert tx.allocation_by_key(48213, "C0000001", None) == second
        assert tx.allocation("AL_1") == replace(first, status=AllocationStatus.RELEASED)
        assert [x.id for x in tx.open_allocations(48213)] == ["AL_2"]


# -- outbox ----------------------------------------------------------------------------------
def test_outbox_numbers_events_per_tenant_and_pages_by_after_limit_and_kind(
    store: Store,
) -> None:
    create(store, "t-1")
    create(store, "t-2")
    kinds = ["scheduled", "triggered", "cancelled", "triggered", "triggered", "scheduled"]
    with store.transaction("t-1") as tx:
        stored = [tx.append_outbox(an_outbox_event(n, kind)) for n, kind in enumerate(kinds)]
    with store.transaction("t-2") as tx:
        other = tx.append_outbox(an_outbox_event(99))
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5, 6]
    assert stored[0] == replace(an_outbox_event(0, "scheduled"), seq=1)
    assert other.seq == 1
    with store.transaction("t-1") as tx:
        assert list(tx.outbox()) == stored
        assert list(tx.outbox(after=2)) == stored[2:]
        assert list(tx.outbox(after=2, limit=2)) == stored[2:4]
        assert list(tx.outbox(after=6)) == []
        assert list(tx.outbox(kind="triggered")) == [stored[1], stored[3], stored[4]]
        assert list(tx.outbox(kind="triggered", after=2, limit=1)) == [stored[3]]
        assert list(tx.outbox(kind="scheduled", after=1)) == [stored[5]]
        assert list(tx.outbox(kind="nope")) == []
        assert tx.append_outbox(an_outbox_event(7)).seq == 7
    with store.transaction("t-2") as tx:
        assert list(tx.outbox()) == [other]


# -- atomicity ---------------------------------------------------------------------------------
def test_a_transaction_that_raises_leaves_no_trace(store: Store) -> None:
    tenant = create(store)
    with store.transaction(TID) as tx:
        first = tx.append_outbox(an_outbox_event(1))
    with pytest.raises(Boom), store.transaction(TID) as tx:
        populate(tx)
        tx.put_tenant(a_tenant(name="changed"))
        tx.add_key("new-key", "admin")
        tx.put_token(Token("tok-new", TID, "admin", 1.0))
        tx.append_outbox(an_outbox_event(2))
        tx.reset()
        tx.append_outbox(an_outbox_event(3))
        raise Boom
    assert store.lookup_key("new-key") is None
    assert store.lookup_token("tok-new") is None
    with store.transaction(TID) as tx:
        assert tx.tenant() == tenant
        assert tx.keys() == [(f"{TID}-admin", "admin"), (f"{TID}-int", "integrations")]
        assert list(tx.outbox()) == [first]
        assert tx.promotion("PR-1") is None
        assert tx.allocation("AL_1") is None
        assert tx.usage("PR-1") == Usage()
        assert tx.append_outbox(an_outbox_event(4)).seq == 2


def test_creating_a_tenant_that_raises_leaves_no_tenant_or_keys(store: Store) -> None:
    with pytest.raises(Boom), store.transaction("t-new") as tx:
        tx.put_tenant(a_tenant("t-new"))
        tx.add_key("k-new", "admin")
        populate(tx)
        raise Boom
    assert store.tenant_ids() == []
    assert store.lookup_key("k-new") is None
    with store.transaction("t-new") as tx:
        assert tx.tenant() is None
        assert tx.keys() == []
        assert_empty_world(tx)


def test_a_nested_transaction_that_raises_undoes_only_its_own_writes(store: Store) -> None:
    create(store)
    with store.transaction(TID) as outer:
        outer.put_promotion(a_promotion())
        with pytest.raises(Boom), store.transaction(TID) as inner:
            assert inner.promotion("PR-1") == a_promotion()
            inner.put_campaign(a_campaign())
            raise Boom
        outer.set_usage("PR-1", Usage(budget_reserved=1))
    with store.transaction(TID) as tx:
        assert tx.promotion("PR-1") == a_promotion()
        assert tx.campaign(48213) is None
        assert tx.usage("PR-1") == Usage(budget_reserved=1)


# -- reset -------------------------------------------------------------------------------------
def test_reset_forgets_the_world_but_keeps_tenant_keys_and_tokens(store: Store) -> None:
    tenant = create(store)
    create(store, "t-other")
    token = Token("tok-1", TID, "admin", 5.0)
    with store.transaction(TID) as tx:
        tx.put_token(token)
        populate(tx)
        tx.append_outbox(an_outbox_event(2))
    with store.transaction("t-other") as tx:
        populate(tx)
    with store.transaction(TID) as tx:
        tx.reset()
        assert_empty_world(tx)
    with store.transaction(TID) as tx:
        assert tx.tenant() == tenant
        assert tx.keys() == [(f"{TID}-admin", "admin"), (f"{TID}-int", "integrations")]
        assert_empty_world(tx)
        assert tx.append_outbox(an_outbox_event(3)).seq == 1  # a fresh outbox
    assert store.lookup_token("tok-1") == token
    assert store.lookup_key(f"{TID}-admin") == (TID, "admin")
    assert store.tenant_ids() == [TID, "t-other"]
    with store.transaction("t-other") as tx:  # other tenants keep everything
        assert tx.promotion("PR-1") == a_promotion()
        assert tx.allocation("AL_1") == an_allocation()
        assert tx.committed_count(48213) == 1
        assert len(tx.outbox()) == 1


def test_a_reset_that_raises_restores_everything(store: Store) -> None:
    create(store)
    with store.transaction(TID) as tx:
        populate(tx)
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.reset()
        assert tx.promotion("PR-1") is None
        raise Boom
    with store.transaction(TID) as tx:
        assert tx.promotion_by_code("CODE1") == a_promotion()
        assert tx.campaign(48213) == a_campaign()
        assert tx.processed(48213) == ProcessedList(0, 100)
        assert tx.stats(48213) == some_stats()
        assert [a.id for a in tx.open_allocations(48213)] == ["AL_1"]
        assert tx.committed_count(48213) == 1
        assert [e.seq for e in tx.outbox()] == [1]


# -- free-form values ----------------------------------------------------------------------
EXOTIC = {"big": 2**70, "small": -(2**65), "inf": float("inf"), "ninf": float("-inf")}


def test_free_form_values_keep_huge_ints_and_infinities(store: Store) -> None:
    """Contexts, webhook bodies and condition values are whatever JSON the caller sent."""
    create(store)
    event = TriggeredEvent("EV_X", 7001, "C1", {**EXOTIC, "nan": float("nan"), "l": [2**64]}, T0)
    body = {"context": {"inf": float("inf"), "ninf": float("-inf")}, "n": 1}  # no big int
    conditions = (Condition("session.y", "lt", float("inf")),)
    promotion = replace(
        a_promotion(),
        tiers=(Tier("T", "T", conditions, RewardSpec("amount", amount=1, currency="EUR")),),
    )
    campaign = a_campaign(target=TargetGroup(10, 0, (Condition("attributes.X", "in", (2**70,)),)))
    with store.transaction(TID) as tx:
        tx.put_event(event)
        stored = tx.append_outbox(OutboxEvent("msg_x", "triggered", 7001, body, T0))
        tx.put_promotion(promotion)
        tx.put_campaign(campaign)
    with store.transaction(TID) as tx:
        got = tx.event("EV_X")
        assert list(tx.outbox()) == [stored]
        assert tx.promotion("PR-1") == promotion
        assert tx.campaign(48213) == campaign
    assert got is not None
    assert {k: v for k, v in got.context.items() if k != "nan"} == {
        k: v for k, v in event.context.items() if k != "nan"
    }
    assert math.isnan(got.context["nan"])


def test_nested_transactions_commit_with_the_outermost(store: Store) -> None:
    create(store)
    create(store, "t-2")
    with store.transaction(TID) as outer:
        with store.transaction("t-2") as inner:
            inner.put_campaign(a_campaign())
            with pytest.raises(Boom), store.transaction(TID) as innermost:
                innermost.put_promotion(a_promotion())
                raise Boom
        assert outer.promotion("PR-1") is None
        outer.set_usage("PR-1", Usage(redemptions=1))
    with store.transaction("t-2") as tx:
        assert tx.campaign(48213) == a_campaign()
    with store.transaction(TID) as tx:
        assert tx.campaign(48213) is None
        assert tx.promotion("PR-1") is None
        assert tx.usage("PR-1") == Usage(redemptions=1)


# -- chosen customers ----------------------------------------------------------------------
def test_chosen_customers_keep_their_first_order_and_outlive_a_reset(store: Store) -> None:
    create(store)
    with store.transaction(TID) as tx:
        assert tx.customers() == []
        tx.put_customer("vip ü", {"VIPLevel": "Gold", "Deposits": 150_000, "Vip": True})
        tx.put_customer("X00005", {"Country": "AT"})
        tx.put_customer("b", {"Score": 1.5})
    with store.transaction(TID) as tx:
        tx.put_customer("vip ü", {"VIPLevel": "Silver"})  # replaced, keeps its place
        tx.reset()
    with store.transaction(TID) as tx:
        assert tx.customers() == [
            ("vip ü", {"VIPLevel": "Silver"}),
            ("X00005", {"Country": "AT"}),
            ("b", {"Score": 1.5}),
        ]
    with pytest.raises(Boom), store.transaction(TID) as tx:
        tx.put_customer("c", {})
        tx.put_customer("b", {"Score": 2})
        tx.clear_customers()
        tx.put_customer("d", {})
        raise Boom
    with store.transaction(TID) as tx:
        assert [cid for cid, _ in tx.customers()] == ["vip ü", "X00005", "b"]
        tx.clear_customers()
    with store.transaction(TID) as tx:
        assert tx.customers() == []
    with store.transaction("t-2") as tx:
        assert tx.customers() == []


def test_the_chosen_version_is_part_of_the_tenant_record(store: Store) -> None:
    tenant = a_tenant(population=PopulationSpec(7, 1234, "X", 5, 30, "v-1"))
    with store.transaction(TID) as tx:
        tx.put_tenant(tenant)
    with store.transaction(TID) as tx:
        assert tx.tenant() == tenant
