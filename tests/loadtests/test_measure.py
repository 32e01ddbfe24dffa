"""The load scenarios' arithmetic, in-process (none of it imports locust): the shapes'
profiles, attempt paging, first-in first-out pairing, step spans, audits, invariants, and
the runner's thresholds over locust's statistics CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadtests.measure import (
    APPROVE,
    FETCH,
    VALIDATE,
    AttemptWindow,
    FifoPairing,
    Step,
    audit_scheduled,
    audit_triggered,
    classify,
    complete,
    ledger_invariants,
    percentile,
)
from loadtests.profiles import Profile
from simulator.load.reports import Row, Thresholds, flatten, judge, read_stats

# -- profiles ----------------------------------------------------------------------------


def test_a_spike_jumps_from_a_tenth_to_the_peak_and_back() -> None:
    spike = Profile("spike", peak=50, seconds=10)
    users = [spike.at(t) for t in (0, 2.9, 3.0, 4.9, 5.0, 9.9)]
    assert [u[0] for u in users if u] == [5, 5, 50, 50, 5, 5]
    assert spike.at(3.0) == (50, 50.0)  # all at once, not a ramp
    assert spike.at(10) is None


def test_a_step_ramp_reaches_the_peak_in_equal_steps() -> None:
    step = Profile("step", peak=40, seconds=8, steps=4)
    assert [step.at(t)[0] for t in (0, 1.99, 2, 4, 6, 7.99)] == [10, 10, 20, 30, 40, 40]  # type: ignore[index]
    assert step.at(8) is None


def test_a_soak_holds_the_peak_until_the_end() -> None:
    soak = Profile("soak", peak=7, seconds=3)
    assert soak.at(0) == soak.at(2.99) == (7, 7.0)
    assert soak.at(3) is None


def test_a_profile_refuses_what_cannot_run() -> None:
    with pytest.raises(ValueError, match="shape"):
        Profile("burst", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="peak"):
        Profile("soak", 0, 1)


# -- the attempt log and pairing ---------------------------------------------------------


def attempt(event: str, at: float, number: int = 1, status: int | None = 202) -> dict[str, object]:
    return {"eventId": event, "attempt": number, "at": at, "status": status, "fault": None}


def test_the_attempt_window_rereads_an_overlap_and_keeps_each_attempt_once() -> None:
    window = AttemptWindow(overlap=2.0)
    assert [a["eventId"] for a in window.take([attempt("a", 10.0), attempt("b", 11.0)])] == [
        "a",
        "b",
    ]
    assert window.since == 9.0  # the next page starts 2 s before the newest attempt seen
    # A late-recorded attempt (c, at 10.5) comes back with a and b; only c is new.
    page = [attempt("a", 10.0), attempt("c", 10.5), attempt("b", 11.0), attempt("b", 12.0, 2)]
    assert [(a["eventId"], a["attempt"]) for a in window.take(page)] == [("c", 1), ("b", 2)]


def test_pairing_is_first_in_first_out_and_waits_for_both_sides() -> None:
    pairing = FifoPairing()
    pairing.add_events([100.0, 100.5, 101.0])
    assert pairing.pairs() == []
    pairing.add_approvals([100.2, 100.9])
    assert pairing.pairs() == pytest.approx([0.2, 0.4])
    assert list(pairing.events) == [101.0] and pairing.paired == 2
    pairing.add_approvals([101.3])
    assert pairing.pairs() == pytest.approx([0.3])
    assert (pairing.first_event, pairing.last_approval) == (100.0, 101.3)


# -- the scheduled flow in the journal ---------------------------------------------------


def entry(path: str, query: str = "", at: float = 0.0, ms: float = 0.0) -> dict[str, object]:
    return {"path": path, "query": query, "at": at, "ms": ms, "status": 200}


def test_journal_entries_are_classified_by_campaign_promocode_and_route() -> None:
    fetch = entry("/current/Customers/GetCampaignCustomers", "campaignid=42&$top=10000")
    assert classify(fetch, 42, "LISTAB") == FETCH
    other = entry("/current/customers/GetProcessedCampaignCustomers", "CampaignID=43")
    assert classify(other, 42, "LISTAB") is None
    assert classify(entry("/v1/promocodes/LISTAB/validateCustomers"), 42, "LISTAB") == VALIDATE
    assert classify(entry("/v1/promocodes/OTHER/validateCustomers"), 42, "LISTAB") is None
    update = entry("/Integrations/UpdateCustomerPromotionStatus")
    assert classify(update, 42, "LISTAB") == APPROVE
    assert classify(entry("/_sim/campaigns/42/report"), 42, "LISTAB") is None


def test_a_step_spans_from_its_first_call_start_to_its_last_call_end() -> None:
    step = Step()
    assert step.rate(10) is None
    step.add(at=10.5, ms=500, status=200)  # 10.0 .. 10.5
    step.add(at=12.0, ms=250, status=409)  # 11.75 .. 12.0
    assert (step.first_start, step.last_end, step.seconds) == (10.0, 12.0, 2.0)
    assert step.as_dict(5000) == {
        "calls": 2,
        "failedCalls": 1,
        "customers": 5000,
        "seconds": 2.0,
        "customersPerSecond": 2500.0,
    }


# -- audits and invariants ---------------------------------------------------------------


def report(**counts: object) -> dict[str, object]:
    base: dict[str, object] = {
        "targeted": 100,
        "fetched": 100,
        "eventsEmitted": 0,
        "validated": 0,
        "invalid": {},
        "approved": 0,
        "released": 0,
        "violations": {},
    }
    return {**base, **counts}


def test_every_triggered_event_must_be_approved_declined_or_ineligible() -> None:
    fine = audit_triggered(
        report(eventsEmitted=10, approved=7, released=1, invalid={"budget_exhausted": 2})
    )
    assert fine.ok and fine.decided == 10
    short = audit_triggered(
        report(eventsEmitted=10, approved=6, violations={"duplicate_approval": 1})
    )
    assert (short.missing, short.duplicates, short.ok) == (4, 1, False)
    assert "4 never approved" in short.describe()


def test_every_validated_customer_must_be_approved_or_released() -> None:
    assert audit_scheduled(report(validated=90, approved=85, released=5)).ok
    open_ = audit_scheduled(report(validated=90, approved=80))
    assert open_.missing == 10 and not complete(report(validated=90, approved=80))
    assert not complete(report(fetched=50))  # the list is not even fetched yet
    assert complete(report(validated=90, approved=85, released=5))


def usage(**fields: int) -> dict[str, int]:
    base = {
        "budgetTotal": 1000,
        "budgetReserved": 0,
        "budgetCommitted": 0,
        "audienceCap": 10,
        "audienceReserved": 0,
        "audienceCommitted": 0,
    }
    return {**base, **fields}


def test_a_sound_ledger_passes_every_invariant() -> None:
    checks = ledger_invariants(
        usage(budgetReserved=200, budgetCommitted=800, audienceReserved=2, audienceCommitted=8),
        approved=8,
        reward=100,
        per_customer_limit=1,
    )
    assert [c.name for c in checks] == [
        "no overspend",
        "audience within cap",
        "each approval committed once",
        "one committed customer per approval",
    ]
    assert all(c.ok for c in checks)


@pytest.mark.parametrize(
    ("fields", "broken"),
    [
        ({"budgetReserved": 300, "budgetCommitted": 800}, "no overspend"),
        ({"audienceReserved": 3, "audienceCommitted": 8}, "audience within cap"),
        ({"budgetCommitted": 900}, "each approval committed once"),
        ({"audienceCommitted": 7}, "one committed customer per approval"),
    ],
)
def test_each_broken_invariant_is_named(fields: dict[str, int], broken: str) -> None:
    base = {"budgetCommitted": 800, "audienceCommitted": 8}
    checks = ledger_invariants(usage(**{**base, **fields}), 8, 100, 1)
    assert [c.name for c in checks if not c.ok] == [broken]


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.99) is None
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile(list(range(1, 101)), 0.99) == 99
    assert percentile([7], 0.99) == 7


# -- thresholds over locust's CSV --------------------------------------------------------

CSV_HEAD = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
)


def csv_row(kind: str, name: str, n: int, fails: int, p99: str, top: float) -> str:
    times = f"10,10,10,10,10,20,30,{p99},{top},{top},{top}"
    return f"{kind},{name},{n},{fails},10,12,1,{top},0,5.0,0,{times}\n"


def test_locusts_stats_csv_is_read_row_by_row(tmp_path: Path) -> None:
    path = tmp_path / "locust_stats.csv"
    path.write_text(
        CSV_HEAD
        + csv_row("POST", "emit_events", 10, 0, "40", 41)
        + "GET,unused,0,0,0,0,0,0,0,0,0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
        + csv_row("", "Aggregated", 10, 0, "40", 41)
    )
    rows = read_stats(path)
    assert rows[0] == Row("POST", "emit_events", 10, 0, 10.0, 20.0, 40.0, 41.0, 5.0)
    assert rows[1].p99 is None and rows[2].total


def rows_of_a_run() -> list[Row]:
    return [
        Row("POST", "emit_events", 10, 0, 10, 20, 40, 41, 5),
        Row("WEBHOOK", "listener acknowledgement", 100, 1, 5, 9, 12, 15, 50),
        Row("E2E", "event to approval", 99, 0, 30, 60, 90, 2500, 50),
        Row("AUDIT", "every event decided once", 100, 1, 0, 0, 0, 0, 50),
        Row("", "Aggregated", 309, 2, 10, 50, 80, 2500, 155),
    ]


def test_thresholds_that_hold_pass() -> None:
    verdicts = judge(rows_of_a_run(), Thresholds(50, 0.01, 3))
    assert [v.check for v in verdicts] == [
        "failure ratio",
        "p99 POST emit_events",
        "p99 WEBHOOK listener acknowledgement",
        "deadline event to approval",
    ]
    assert all(v.ok for v in verdicts)


def test_each_threshold_breaks_on_its_own_rows() -> None:
    verdicts = judge(rows_of_a_run(), Thresholds(max_p99_ms=20, max_failure_ratio=0, deadline_s=2))
    assert {v.check: v.ok for v in verdicts} == {
        "failure ratio": False,  # 2 of 309 (the audit failure counts)
        "p99 POST emit_events": False,  # 40 ms
        "p99 WEBHOOK listener acknowledgement": True,  # 12 ms
        "deadline event to approval": False,  # the slowest took 2.5 s
    }


def test_a_run_without_requests_fails_whatever_the_thresholds() -> None:
    verdicts = judge([Row("", "Aggregated", 0, 0, None, None, None, None, 0)], Thresholds())
    assert [(v.check, v.ok) for v in verdicts] == [("requests recorded", False)]


def test_results_are_flattened_for_the_summary() -> None:
    data = {"a": 1, "steps": {"fetch": {"calls": 2}}, "checks": [{"ok": True}], "e": {}}
    assert list(flatten(data)) == [
        ("a", 1),
        ("steps.fetch.calls", 2),
        ("checks[0].ok", True),
        ("e", {}),
    ]
