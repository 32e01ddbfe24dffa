"""Property tests of the reward ledger at the domain level (no HTTP): random interleavings
of validate / approve / release / redeem / clear / cancel / clock moves over a small,
tight promotion never break the ledger's invariants (wire-contract §5, §8).

The rule functions run inside real store transactions (in-memory and SQLite), exactly as
the services call them; a refused operation raises and its transaction rolls back.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from simulator.domain import approvals, campaigns, redemptions, validation
from simulator.domain.errors import DomainError
from simulator.domain.models import (
    Allocation,
    AllocationStatus,
    Campaign,
    CampaignStatus,
    Condition,
    Holding,
    PeriodCaps,
    Promotion,
    PromotionStatus,
    RewardSpec,
    Tenant,
    Tier,
)
from simulator.domain.periods import period_keys
from simulator.domain.redemptions import RedemptionItem
from simulator.domain.validation import Context, Contexts
from simulator.store.base import Store
from simulator.store.memory import MemoryStore
from simulator.store.sqlite import SqliteStore

TENANT = "t-ledger"
PID = "PR-P"
CODE = "P"
START = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # an hour before a day boundary
CUSTOMERS = [f"C{i}" for i in range(6)]
OUTSIDER = "C5"  # not in the scheduled campaigns' processed lists
SCHEDULED_IDS = (1, 2)
TRIGGERED_ID = 3
BIG = Tier(
    "T-BIG",
    "big",
    (Condition("session.big", "eq", True),),
    RewardSpec("amount", amount=300, currency="EUR"),
)
PERCENT = Tier(
    "T-PCT",
    "percent",
    (Condition("session.deposit", "gte", 100),),
    RewardSpec("percent", percent=15, of="session.deposit", max=250),
)
SMALL = Tier("T-SMALL", "small", (), RewardSpec("amount", amount=100, currency="EUR"))


class Counter64:
    """Ids for the rules: a plain counter (the ids only need to be unique)."""

    def __init__(self) -> None:
        self.n = 0

    def next(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{self.n:06d}"


def targeted(customer_id: str) -> dict[str, Any] | None:
    return None if customer_id not in CUSTOMERS else {"Country": "DE"}


def scheduled_targeting(customer_id: str) -> dict[str, Any] | None:
    return None if customer_id == OUTSIDER else targeted(customer_id)


sessions = st.fixed_dictionaries(
    {},
    optional={
        "big": st.booleans(),
        "deposit": st.integers(min_value=0, max_value=5000),
    },
)


class LedgerMachine(RuleBasedStateMachine):
    """One tenant, one tight promotion, two scheduled campaigns and a triggered one."""

    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        self.ids = Counter64()
        self.now = START
        self.allocations: set[str] = set()
        self.store: Store = self.open_store()

    def open_store(self) -> Store:
        return MemoryStore()

    def teardown(self) -> None:
        self.store.close()

    # -- setup ---------------------------------------------------------------------------
    @initialize(
        budget=st.integers(min_value=0, max_value=1200),
        cap=st.integers(min_value=0, max_value=4),
        limit=st.integers(min_value=1, max_value=2),
        daily=st.none() | st.integers(min_value=1, max_value=5),
        weekly=st.none() | st.integers(min_value=1, max_value=8),
        window_minutes=st.integers(min_value=30, max_value=3 * 24 * 60),
    )
    def setup(
        self,
        budget: int,
        cap: int,
        limit: int,
        daily: int | None,
        weekly: int | None,
        window_minutes: int,
    ) -> None:
        self.promotion = Promotion(
            id=PID,
            name="tight",
            promocodes=(CODE,),
            reward_kind="amount",
            currency="EUR",
            budget=budget,
            audience_cap=cap,
            per_customer_limit=limit,
            period_caps=PeriodCaps(daily=daily, weekly=weekly),
            tiers=(BIG, PERCENT, SMALL),
            status=PromotionStatus.ACTIVE,
            ever_active=True,
            created_at=START,
        )
        self.campaigns: dict[int, Campaign] = {}
        for campaign_id in SCHEDULED_IDS:
            self.campaigns[campaign_id] = Campaign(
                id=campaign_id,
                type="scheduled",
                promo_code=CODE,
                action_id=1,
                action_name="scheduled",
                status=CampaignStatus.EXECUTED,
                created_at=START,
                clearance_window_s=window_minutes * 60,
                executed_at=START,
                clearance_required_by=START + timedelta(minutes=window_minutes),
            )
        self.campaigns[TRIGGERED_ID] = Campaign(
            id=TRIGGERED_ID,
            type="triggered",
            promo_code=CODE,
            action_id=2,
            action_name="triggered",
            status=CampaignStatus.ACTIVE,
            created_at=START,
            series_id=1,
            trigger="deposit",
        )
        with self.store.transaction(TENANT) as tx:
            tx.put_tenant(Tenant(TENANT, "ledger", START))
            tx.put_promotion(self.promotion)
            for campaign in self.campaigns.values():
                tx.put_campaign(campaign)

    # -- operations ----------------------------------------------------------------------
    def _validate(self, campaign_id: int, contexts: list[Context], dry_run: bool) -> None:
        targeting = scheduled_targeting if campaign_id in SCHEDULED_IDS else targeted
        try:
            with self.store.transaction(TENANT) as tx:
                results = validation.validate_contexts(
                    tx,
                    promotion=self.promotion,
                    promocode=CODE,
                    campaign=self.campaigns[campaign_id],
                    contexts=Contexts.of(contexts),
                    targeting=targeting,
                    now=self.now,
                    dry_run=dry_run,
                )
        except DomainError as error:
            assert error.code == "campaign_cancelled"
            assert self.campaigns[campaign_id].status is CampaignStatus.CANCELLED
            return
        assert len(results) == len(contexts)
        for result in results:
            assert (result.reason is None) == result.valid
            assert result.reason is None or result.reason in validation.REASONS
            if dry_run:  # only an allocation held already shows its id
                assert result.allocation_id is None or result.allocation_id in self.allocations
            elif result.valid:
                assert result.allocation_id is not None
                self.allocations.add(result.allocation_id)

    @rule(
        campaign_id=st.sampled_from(SCHEDULED_IDS),
        customers=st.lists(st.sampled_from(CUSTOMERS), min_size=1, max_size=4),
        session=sessions,
        dry_run=st.booleans(),
    )
    def validate_scheduled(
        self, campaign_id: int, customers: list[str], session: dict[str, Any], dry_run: bool
    ) -> None:
        self._validate(campaign_id, [Context(c, None, session) for c in customers], dry_run)

    @rule(target=events, customer=st.sampled_from(CUSTOMERS), context=sessions)
    def emit_event(self, customer: str, context: dict[str, Any]) -> str:
        try:
            with self.store.transaction(TENANT) as tx:
                event, _ = campaigns.emit_event(
                    self.campaigns[TRIGGERED_ID],
                    customer_id=customer,
                    context=context,
                    now=self.now,
                    ids=self.ids,
                )
                tx.put_event(event)
                return f"{customer}|{event.id}"
        except DomainError:
            assert self.campaigns[TRIGGERED_ID].status is CampaignStatus.CANCELLED
            return f"{customer}|EV_never"

    @rule(event=events, other=st.sampled_from(CUSTOMERS), own=st.booleans(), session=sessions)
    def validate_triggered(
        self, event: str, other: str, own: bool, session: dict[str, Any]
    ) -> None:
        customer, event_id = event.split("|")
        who = customer if own else other
        self._validate(TRIGGERED_ID, [Context(who, event_id, session)], dry_run=False)

    @rule(
        campaign_id=st.sampled_from(SCHEDULED_IDS),
        items=st.lists(st.tuples(st.sampled_from(CUSTOMERS), st.booleans()), max_size=5),
        ignore=st.booleans(),
    )
    def approve_batch(self, campaign_id: int, items: list[tuple[str, bool]], ignore: bool) -> None:
        before = self.snapshot()
        try:
            with self.store.transaction(TENANT) as tx:
                approvals.approve_customers(
                    tx,
                    campaign=self.campaigns[campaign_id],
                    items=items,
                    is_targeted=lambda c: scheduled_targeting(c) is not None,
                    now=self.now,
                    duplicates="ignore" if ignore else "reject",
                    promotion_backed=True,
                )
        except DomainError:
            assert self.snapshot() == before  # all or nothing

    @rule(event=events, approved=st.booleans())
    def approve_event(self, event: str, approved: bool) -> None:
        customer, event_id = event.split("|")
        before = self.snapshot()
        try:
            with self.store.transaction(TENANT) as tx:
                approvals.approve_event(
                    tx,
                    campaign=self.campaigns[TRIGGERED_ID],
                    customer_id=customer,
                    event_id=event_id,
                    approved=approved,
                    promotion_backed=True,
                    now=self.now,
                )
        except DomainError:
            assert self.snapshot() == before

    @precondition(lambda self: bool(self.allocations))
    @rule(
        data=st.data(),
        amount=st.none() | st.integers(min_value=0, max_value=1000),
        wrong=st.booleans(),
    )
    def redeem(self, data: st.DataObject, amount: int | None, wrong: bool) -> None:
        picked = data.draw(st.lists(st.sampled_from(sorted(self.allocations)), max_size=3))
        items = [RedemptionItem(a, amount) for a in [*picked, "AL_unknown"]]
        with self.store.transaction(TENANT) as tx:
            accepted, rejected, _ = redemptions.redeem(
                tx, promotion_id="PR-OTHER" if wrong else PID, items=items
            )
        assert accepted + len(rejected) == len(items)
        if wrong:
            assert accepted == 0

    @rule(campaign_id=st.sampled_from(SCHEDULED_IDS))
    def clear(self, campaign_id: int) -> None:
        campaign = self.campaigns[campaign_id]
        try:
            with self.store.transaction(TENANT) as tx:
                cleared = campaigns.clear(
                    tx, campaign, now=self.now, tenant_id=1, ids=self.ids
                ).campaign
                tx.put_campaign(cleared)
        except DomainError:
            assert campaign.status is not CampaignStatus.EXECUTED
            return
        self.campaigns[campaign_id] = cleared
        with self.store.transaction(TENANT) as tx:
            assert list(tx.open_allocations(campaign_id)) == []

    @rule(campaign_id=st.sampled_from((*SCHEDULED_IDS, TRIGGERED_ID)))
    def cancel(self, campaign_id: int) -> None:
        campaign = self.campaigns[campaign_id]
        try:
            with self.store.transaction(TENANT) as tx:
                cancelled, _, _ = campaigns.cancel(tx, campaign, now=self.now, ids=self.ids)
                tx.put_campaign(cancelled)
        except DomainError:
            assert campaign.status in (CampaignStatus.CLEARED, CampaignStatus.CANCELLED)
            return
        self.campaigns[campaign_id] = cancelled
        with self.store.transaction(TENANT) as tx:
            assert list(tx.open_allocations(campaign_id)) == []

    @rule(hours=st.integers(min_value=1, max_value=50))
    def advance_clock(self, hours: int) -> None:
        self.now += timedelta(hours=hours)
        for campaign_id in SCHEDULED_IDS:  # what the services' `settle` does
            campaign = self.campaigns[campaign_id]
            if campaigns.due(campaign, self.now) == "clear":
                with self.store.transaction(TENANT) as tx:
                    cleared = campaigns.clear(
                        tx, campaign, now=self.now, tenant_id=1, ids=self.ids
                    ).campaign
                    tx.put_campaign(cleared)
                self.campaigns[campaign_id] = replace(cleared)

    @rule(event=consumes(events))
    def forget_event(self, event: str) -> None:
        """Keep the bundle small so events get approved and re-validated."""

    # -- invariants ----------------------------------------------------------------------
    def snapshot(self) -> tuple[Any, ...]:
        with self.store.transaction(TENANT) as tx:
            allocations = tuple(tx.allocation(a) for a in sorted(self.allocations))
            holdings = tuple(tx.holding(PID, c) for c in CUSTOMERS)
            keys = {k for a in allocations if a is not None for k in a.period_keys}
            periods = tuple(sorted((k, tx.period_count(PID, k)) for k in keys))
            return tx.usage(PID), allocations, holdings, periods

    def all_allocations(self) -> list[Allocation]:
        with self.store.transaction(TENANT) as tx:
            found = [tx.allocation(a) for a in sorted(self.allocations)]
        assert all(a is not None for a in found)
        return [a for a in found if a is not None]

    @invariant()
    def ledger_is_consistent(self) -> None:
        if not hasattr(self, "promotion"):
            return
        p = self.promotion
        allocations = self.all_allocations()
        by_status: dict[AllocationStatus, list[Allocation]] = {s: [] for s in AllocationStatus}
        for a in allocations:
            assert a.promotion_id == PID
            assert a.reward.value >= 0
            by_status[a.status].append(a)
        live = by_status[AllocationStatus.RESERVED] + by_status[AllocationStatus.COMMITTED]

        with self.store.transaction(TENANT) as tx:
            usage = tx.usage(PID)
            holdings = {c: tx.holding(PID, c) for c in CUSTOMERS}
            keys = {k for a in allocations for k in a.period_keys}
            periods = {k: tx.period_count(PID, k) for k in keys}
            by_key = {a.key: tx.allocation_by_key(*a.key) for a in allocations}

        def total(status: AllocationStatus) -> int:
            return sum(a.reward.value for a in by_status[status])

        # budget: the counters are what the allocations say, and never overspent
        assert usage.budget_reserved == total(AllocationStatus.RESERVED)
        assert usage.budget_committed == total(AllocationStatus.COMMITTED)
        assert usage.budget_released == total(AllocationStatus.RELEASED)
        assert usage.budget_reserved + usage.budget_committed <= p.budget
        # money is conserved: every allocation ever created is in exactly one bucket
        assert usage.budget_reserved + usage.budget_committed + usage.budget_released == sum(
            a.reward.value for a in allocations
        )

        # audience: distinct customers holding a live allocation
        holders = {a.customer_id for a in live}
        committed_holders = {a.customer_id for a in by_status[AllocationStatus.COMMITTED]}
        assert len(holders) <= p.audience_cap
        assert len(holders) == usage.audience_reserved + usage.audience_committed
        assert usage.audience_committed == len(committed_holders)
        assert usage.audience_reserved == len(holders - committed_holders)

        # per customer: live allocations within the limit, holdings match
        reserved_per = Counter(a.customer_id for a in by_status[AllocationStatus.RESERVED])
        committed_per = Counter(a.customer_id for a in by_status[AllocationStatus.COMMITTED])
        for customer in CUSTOMERS:
            assert holdings[customer] == Holding(reserved_per[customer], committed_per[customer])
            assert holdings[customer].live <= p.per_customer_limit

        # period caps: live allocations per calendar period, never above the cap
        caps = {"d": p.period_caps.daily, "w": p.period_caps.weekly, "m": p.period_caps.monthly}
        live_per_key = Counter(k for a in live for k in a.period_keys)
        for key, count in periods.items():
            assert count == live_per_key[key], key
            cap = caps[key[0]]
            assert cap is not None and count <= cap, key
        for a in allocations:
            expected = period_keys(a.reserved_at)
            assert set(a.period_keys) <= set(expected)

        # one live allocation per key (campaign, customer, event), and the key finds it
        live_keys = Counter(a.key for a in live)
        assert all(n == 1 for n in live_keys.values())
        for a in live:
            found = by_key[a.key]
            assert found is not None and found.id == a.id

        # redemptions: only committed allocations, counted once
        redeemed = [a for a in allocations if a.redeemed]
        assert all(a.status is AllocationStatus.COMMITTED for a in redeemed)
        assert usage.redemptions == len(redeemed)
        assert usage.redeemed_amount == sum(a.redeemed_amount for a in redeemed)

        # closed campaigns hold no open reservations
        for campaign in self.campaigns.values():
            if campaign.status in (CampaignStatus.CLEARED, CampaignStatus.CANCELLED):
                assert not [
                    a for a in by_status[AllocationStatus.RESERVED] if a.campaign_id == campaign.id
                ]


class SqliteLedgerMachine(LedgerMachine):
    """The same interleavings on the SQLite store."""

    def open_store(self) -> Store:
        self.directory = tempfile.mkdtemp(prefix="optisim-ledger-")
        return SqliteStore(Path(self.directory) / "ledger.sqlite")

    def teardown(self) -> None:
        super().teardown()
        shutil.rmtree(self.directory, ignore_errors=True)


PROPERTIES = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestLedgerOnMemoryStore = LedgerMachine.TestCase
TestLedgerOnMemoryStore.settings = PROPERTIES
TestLedgerOnSqliteStore = SqliteLedgerMachine.TestCase
TestLedgerOnSqliteStore.settings = settings(PROPERTIES, max_examples=25)


# -- a few plain examples of the same rules -----------------------------------------------------
def test_reward_exactly_filling_the_budget_is_reserved_and_the_next_is_refused() -> None:
    machine = LedgerMachine()
    machine.setup(budget=200, cap=5, limit=1, daily=None, weekly=None, window_minutes=60)
    machine.validate_scheduled(1, ["C0", "C1", "C2"], {}, dry_run=False)
    machine.ledger_is_consistent()
    with machine.store.transaction(TENANT) as tx:
        usage = tx.usage(PID)
    assert (usage.budget_reserved, usage.audience_reserved) == (200, 2)
    machine.teardown()


def test_clear_releases_what_was_not_approved_and_conserves_money() -> None:
    machine = LedgerMachine()
    machine.setup(budget=1000, cap=5, limit=2, daily=None, weekly=None, window_minutes=60)
    machine.validate_scheduled(1, ["C0", "C1", "C2"], {"big": True}, dry_run=False)
    machine.approve_batch(1, [("C0", True), ("C1", False)], ignore=False)
    machine.clear(1)
    machine.ledger_is_consistent()
    with machine.store.transaction(TENANT) as tx:
        usage = tx.usage(PID)
    assert (usage.budget_reserved, usage.budget_committed, usage.budget_released) == (0, 300, 600)
    assert (usage.audience_reserved, usage.audience_committed) == (0, 1)
    machine.teardown()


def test_daily_cap_frees_on_the_next_calendar_day() -> None:
    machine = LedgerMachine()
    machine.setup(budget=1000, cap=5, limit=1, daily=1, weekly=None, window_minutes=3 * 24 * 60)
    machine.validate_scheduled(1, ["C0", "C1"], {}, dry_run=False)
    assert len(machine.allocations) == 1
    machine.advance_clock(1)  # 23:00 → 00:00 of the next day
    machine.validate_scheduled(1, ["C1"], {}, dry_run=False)
    assert len(machine.allocations) == 2
    machine.ledger_is_consistent()
    machine.teardown()


def test_percent_reward_is_rounded_down_and_capped_in_the_ledger() -> None:
    machine = LedgerMachine()
    machine.setup(budget=10_000, cap=5, limit=1, daily=None, weekly=None, window_minutes=60)
    machine.validate_scheduled(1, ["C0"], {"deposit": 999}, dry_run=False)
    machine.validate_scheduled(1, ["C1"], {"deposit": 5000}, dry_run=False)
    values = sorted(a.reward.value for a in machine.all_allocations())
    assert values == [149, 250]
    machine.ledger_is_consistent()
    machine.teardown()
