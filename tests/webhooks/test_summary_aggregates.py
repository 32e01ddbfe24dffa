"""The delivery summary from incremental aggregates (issue 17: "summaries stay exact and
O(1)"): after any sequence of ingests, claims, attempt results, resends, prunes, resets
and drops, `summary()` answers exactly what a from-scratch pass over every kept delivery
(plus the pruned ones' counters) answers, for every kind/campaign filter, on both logs —
on SQLite also when two connections (two worker processes) take turns."""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.domain.models import Attempt, Delivery, DeliveryStatus
from simulator.store.base import DeliveryLog, DeliverySummary, PrunedCount, Retention
from simulator.store.deliveries import MemoryDeliveryLog, SqliteDeliveryLog

TENANTS = ("a", "b")
KINDS = ("triggered", "executed")
CAMPAIGNS = (7001, 7002, 7003)
# lags (seconds) around bucket edges, repeated values, and beyond 10 s
LAGS = (0.0, 0.0004, 0.0009995, 0.001, 0.0015, 0.002, 0.0123456, 0.5, 9.9999, 10.0, 12.5, 3600.0)


@contextmanager
def _logs(store_kind: str) -> Iterator[tuple[DeliveryLog, DeliveryLog]]:
    """Two handles on one log: the same object in memory, two connections on SQLite."""
    if store_kind == "memory":
        log = MemoryDeliveryLog()
        yield log, log
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.sqlite"
        first, second = SqliteDeliveryLog(path), SqliteDeliveryLog(path)
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def _from_scratch(
    log: DeliveryLog,
    tenant: str,
    pruned: list[Delivery],
    kind: str | None,
    campaign_id: int | None,
) -> tuple[DeliverySummary, dict[str, float | None]]:
    """Today's algorithm over every row: each kept delivery, the pruned ones as counters
    per (kind, campaign, status), lags sorted and ranked."""
    out = DeliverySummary()
    lags: list[float] = []
    for d in log.deliveries(tenant, kind=kind, campaign_id=campaign_id, limit=10**9):
        out.add(d.status, 1, d.attempts, d.delivered_at, d.created_at)
        if d.delivered_at is not None:
            lags.append(d.delivered_at - d.created_at)
    groups: dict[tuple[str, int, str], PrunedCount] = {}
    for d in pruned:
        if (kind and d.kind != kind) or (campaign_id is not None and d.campaign_id != campaign_id):
            continue
        group = (d.kind, d.campaign_id, d.status)
        groups[group] = groups.get(group, PrunedCount()).plus(d)
    for (_, _, status), c in groups.items():
        out.add_pruned(status, c)
    lags.sort()

    def pct(p: float) -> float | None:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 3) if lags else None

    return out, {"p50": pct(0.5), "p99": pct(0.99), "max": pct(1.0)}


_ingest, _work, _resend, _prune, _reset, _drop = (
    st.tuples(
        st.just("ingest"),
        st.sampled_from(TENANTS),
        st.lists(
            st.tuples(st.sampled_from(KINDS), st.sampled_from(CAMPAIGNS), st.booleans()),
            min_size=1,
            max_size=6,
        ),
    ),
    st.tuples(
        st.just("work"),
        st.integers(1, 8),
        st.lists(
            st.tuples(st.sampled_from(("ok", "fail", "retry")), st.sampled_from(LAGS)),
            min_size=1,
        ),
    ),
    st.tuples(
        st.just("resend"), st.sampled_from(TENANTS), st.lists(st.integers(0, 40), min_size=1)
    ),
    st.tuples(
        st.just("prune"),
        st.sampled_from(TENANTS),
        st.tuples(st.integers(0, 4), st.integers(0, 4), st.sampled_from((0.0, 3.0, 50.0))),
    ),
    st.tuples(st.just("reset"), st.sampled_from(TENANTS), st.none()),
    st.tuples(st.just("drop"), st.sampled_from(TENANTS), st.none()),
)
# resets and drops are rarer: they wipe what the other operations built
_op = st.one_of(_ingest, _ingest, _work, _work, _work, _resend, _prune, _prune, _reset, _drop)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(st.tuples(st.booleans(), _op), min_size=6, max_size=24))
def test_summary_equals_a_from_scratch_pass(
    store_kind: str, ops: list[tuple[bool, tuple[Any, ...]]]
) -> None:
    with _logs(store_kind) as handles:
        now = 100.0
        seq = 0
        made: dict[str, list[str]] = {t: [] for t in TENANTS}  # event ids, in order
        pruned: dict[str, list[Delivery]] = {t: [] for t in TENANTS}
        for second, (name, arg, detail) in ops:
            log = handles[second]
            now += 1.0
            if name == "ingest":
                tenant = str(arg)
                batch = []
                for kind, campaign, skipped in detail:
                    seq += 1
                    made[tenant].append(f"{tenant}-{seq}")
                    status: DeliveryStatus = "skipped" if skipped else "pending"
                    batch.append(
                        Delivery(
                            tenant,
                            f"{tenant}-{seq}",
                            seq,
                            kind,
                            campaign,
                            b"{}",
                            status,
                            next_at=now,
                            created_at=now,
                        )
                    )
                log.ingest(tenant, batch, seq)
            elif name == "work":
                claimed = log.claim(now, int(str(arg)), 30.0)
                results: list[tuple[Delivery, Attempt | None]] = []
                for i, d in enumerate(claimed):
                    outcome, lag = detail[i % len(detail)]
                    tries = d.attempts + 1
                    a = Attempt(
                        d.tenant_id, d.event_id, tries, "http://127.0.0.1:1/", now, 200, 1.0
                    )
                    if outcome == "ok":
                        done = replace(
                            d, status="delivered", attempts=tries, delivered_at=d.created_at + lag
                        )
                    elif outcome == "fail":
                        done = replace(d, status="failed", attempts=tries, last_status=500)
                    else:
                        done = replace(d, attempts=tries, next_at=now + 0.5)
                    results.append((done, a))
                log.finish(results)
            elif name == "resend":
                tenant = str(arg)
                ids = made[tenant]
                picked = [ids[i % len(ids)] for i in detail] if ids else []
                log.reschedule(tenant, picked, now)
            elif name == "prune":
                tenant = str(arg)
                before = {d.event_id: d for d in log.deliveries(tenant, limit=10**9)}
                deliveries, attempts, seconds = detail
                log.prune(tenant, now, Retention(deliveries, attempts, seconds))
                kept = {d.event_id for d in log.deliveries(tenant, limit=10**9)}
                pruned[tenant] += [d for e, d in before.items() if e not in kept]
            else:
                tenant = str(arg)
                getattr(log, name)(tenant)
                made[tenant] = []
                pruned[tenant] = []
        for tenant in TENANTS:
            for log in handles:  # counts from the aggregates = counts of the rows
                held = Counter(d.status for d in log.deliveries(tenant, limit=10**9))
                assert log.counts(tenant) == dict(held)
                assert log.counts(tenant, pruned=True) == dict(
                    held + Counter(d.status for d in pruned[tenant])
                )
            for kind in (None, *KINDS):
                for campaign in (None, *CAMPAIGNS):
                    for log in handles:
                        got = log.summary(tenant, kind=kind, campaign_id=campaign)
                        want, lags = _from_scratch(log, tenant, pruned[tenant], kind, campaign)
                        assert got.by_status == want.by_status
                        assert (got.total, got.attempts, got.retries, got.delivered) == (
                            want.total,
                            want.attempts,
                            want.retries,
                            want.delivered,
                        )
                        assert (got.first_done, got.last_done) == (want.first_done, want.last_done)
                        assert got.lag_ms == {0.5: lags["p50"], 0.99: lags["p99"], 1.0: lags["max"]}


def test_a_file_from_before_the_aggregates_gets_them_built(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    log = SqliteDeliveryLog(path)
    made = [
        Delivery("a", f"e{i}", i + 1, KINDS[i % 2], 7001, b"{}", created_at=10.0) for i in range(9)
    ]
    log.ingest("a", made, 9)
    claimed = log.claim(20.0, 9, 30.0)
    log.finish(
        [
            (replace(d, status="delivered", attempts=1, delivered_at=10.0 + i / 100), None)
            for i, d in enumerate(claimed)
        ]
    )
    want = log.summary("a", kind="triggered")
    log.close()
    with sqlite3.connect(path) as db:
        for table in ("wh_agg", "wh_lag_bucket", "wh_lag"):
            db.execute(f"DROP TABLE {table}")
    reopened = SqliteDeliveryLog(path)
    try:
        assert reopened.summary("a", kind="triggered") == want
        assert want.total == 5 and want.delivered == 5 and want.lag_ms[1.0] == 80.0
    finally:
        reopened.close()


def test_first_and_last_delivery_stay_exact_through_many_redeliveries(store_kind: str) -> None:
    """Resent deliveries delivered again move their delivery time; the first and last of
    the summary follow, also when they belong to deliveries untouched since (the memory
    log's heaps drop stale times and are rebuilt from the live ones)."""
    with _logs(store_kind) as (log, _):
        made = [Delivery("a", f"e{i}", i + 1, "triggered", 7001, b"{}") for i in range(100)]
        log.ingest("a", made, 100)

        def deliver(now: float, at: Callable[[int], float]) -> None:
            claimed = log.claim(now, 100, 30.0)
            log.finish(
                [
                    (
                        replace(d, status="delivered", attempts=d.attempts + 1, delivered_at=at(i)),
                        None,
                    )
                    for i, d in enumerate(claimed)
                ]
            )

        deliver(1.0, lambda i: 10.0 + i)  # e50..e99 delivered at 60..109, never again
        for cycle in range(6):
            log.reschedule("a", [f"e{i}" for i in range(50)], 2.0 + cycle)
            start = 70.0 + cycle
            deliver(2.0 + cycle, lambda i: start + i % 7)  # noqa: B023 (called at once)
        got = log.summary("a")
        want, lags = _from_scratch(log, "a", [], None, None)
        assert (
            (got.first_done, got.last_done, got.delivered)
            == (60.0, 109.0, 100)
            == (
                want.first_done,
                want.last_done,
                want.delivered,
            )
        )
        assert got.lag_ms == {0.5: lags["p50"], 0.99: lags["p99"], 1.0: lags["max"]}
        assert got.retries == want.retries == 300
