"""The flow findings, judged from hand-made observations (no servers): each rule names its
finding and carries the journal requests and audit examples involved; and the JUnit XML
stays well-formed whatever the evidence contains."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from simulator.listener_check.findings import Observed, evaluate
from simulator.listener_check.model import CheckResult, Report
from simulator.listener_check.output import write_junit


def report(promo: str = "WELCOME50", **overrides: Any) -> dict[str, Any]:
    """A campaign report shaped like `GET /_sim/campaigns/{id}/report`: all fine."""
    base: dict[str, Any] = {
        "campaign": {"promoCode": promo},
        "targeted": 10,
        "fetchCalls": 1,
        "fetched": 10,
        "validated": 8,
        "invalid": {"not_targeted": 0},
        "approved": 8,
        "redeemed": 8,
        "eventsEmitted": 0,
        "sent": 8,
        "violations": {},
        "violationExamples": [],
    }
    return {**base, **overrides}


def entry(seq: int, path: str, status: int = 200, error: str | None = None, query: str = "") -> Any:
    return {
        "seq": seq,
        "method": "POST",
        "path": path,
        "query": query,
        "status": status,
        "error": error,
        "ms": 1.0,
    }


def delivery(event_id: str, kind: str, status: str = "delivered", **kw: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "kind": kind,
        "status": status,
        "attempts": 1,
        "deliveredAt": 1.0 if status == "delivered" else None,
        "lastStatus": 202,
        "lastError": None,
        **kw,
    }


def observed(**kw: Any) -> Observed:
    values: dict[str, Any] = {
        "scheduled_id": 48213,
        "triggered_id": 7001,
        "scheduled": report(),
        "triggered": report("DEPOSIT10", eventsEmitted=3, approved=3, targeted=0, fetched=0),
        "scheduled_delivery": {**delivery("msg_s", "scheduled"), "attemptLog": []},
        "triggered_deliveries": [delivery(f"msg_t{i}", "triggered") for i in range(3)],
        "requests": [
            entry(1, "/current/customers/GetProcessedCampaignCustomers", query="CampaignID=48213")
        ],
    }
    return Observed(**{**values, **kw})


def by_id(checks: list[CheckResult]) -> dict[str, CheckResult]:
    return {c.id: c for c in checks}


def test_a_clean_run_passes_every_flow_check() -> None:
    checks = evaluate(observed())
    assert [c.id for c in checks if c.status != "pass"] == []
    assert len(checks) == 10


def test_redeeming_what_was_not_approved_is_a_finding_with_the_redemption_requests() -> None:
    bad = report(
        violations={"redeemed_not_approved": 2},
        violationExamples=[
            {"code": "redeemed_not_approved", "at": "T", "detail": "2 item(s), e.g. ['AL_1']"}
        ],
    )
    requests = [entry(7, "/v1/promotions/PR-WELCOME/redemptions")]
    found = by_id(evaluate(observed(scheduled=bad, requests=requests)))
    finding = found["flow.redemptions_only_approved"]
    assert finding.status == "fail" and finding.detail == "redeemed_not_approved: 2"
    assert finding.evidence == [
        "#7 POST /v1/promotions/PR-WELCOME/redemptions → 200 (1.0 ms)",
        "audit 48213: redeemed_not_approved at T: 2 item(s), e.g. ['AL_1']",
    ]
    assert found["flow.no_other_violations"].status == "pass"  # judged once, not twice


def test_a_violation_no_rule_names_still_fails_the_catch_all() -> None:
    bad = report(
        violations={"validated_after_clearance": 1},
        violationExamples=[{"code": "validated_after_clearance", "at": "T", "detail": "C1"}],
    )
    finding = by_id(evaluate(observed(triggered=None, scheduled=bad)))["flow.no_other_violations"]
    assert finding.status == "fail"
    assert finding.evidence == ["audit 48213: validated_after_clearance at T: C1"]


def test_an_undelivered_scheduled_webhook_shows_its_attempts() -> None:
    failed = {
        **delivery("msg_s", "scheduled", "failed", attempts=2, lastStatus=500),
        "attemptLog": [
            {"attempt": n, "url": "http://l/e", "status": 500, "latencyMs": 2.0, "error": None}
            for n in (1, 2)
        ],
    }
    finding = by_id(evaluate(observed(scheduled_delivery=failed)))["flow.scheduled_delivered"]
    assert finding.status == "fail"
    assert finding.detail == "failed after 2 attempt(s), last: 500"
    assert finding.evidence[1] == "attempt 2: POST http://l/e → 500 (2.0 ms)"


def test_channel_webhooks_are_judged_only_when_a_channel_path_was_registered() -> None:
    assert "flow.channel_delivered" not in by_id(evaluate(observed()))
    sent = [delivery("msg_c15", "channel"), delivery("msg_c493", "channel")]
    ok = by_id(evaluate(observed(channel_deliveries=sent, channels=[15, 493])))
    assert ok["flow.channel_delivered"].status == "pass"
    assert ok["flow.channel_delivered"].detail == "2 of 2 delivered"


def test_an_undelivered_or_missing_channel_webhook_is_a_finding() -> None:
    refused = [delivery("msg_c15", "channel", "failed", attempts=6, lastStatus=400)]
    found = by_id(evaluate(observed(channel_deliveries=refused, channels=[15])))
    finding = found["flow.channel_delivered"]
    assert finding.status == "fail" and finding.detail == "0 of 1 delivered"
    assert finding.evidence == ["webhook msg_c15: failed after 6 attempt(s), last: 400"]
    missing = by_id(evaluate(observed(channel_deliveries=[], channels=[15])))
    finding = missing["flow.channel_delivered"]
    assert finding.status == "fail"
    assert "1 EventTypeID 13 webhook(s) not written" in finding.evidence[0]


def test_an_integrator_still_busy_at_the_deadline_is_a_finding() -> None:
    pending = [delivery("msg_t0", "triggered", "pending", attempts=3)]
    checks = by_id(evaluate(observed(settled=False, wait_s=5, triggered_deliveries=pending)))
    assert checks["flow.settled"].status == "fail"
    evidence = checks["flow.settled"].evidence
    assert evidence[0] == "webhook msg_t0 (triggered) still pending after 3 attempt(s)"
    assert checks["flow.triggered_delivered"].status == "fail"


def test_fetching_only_part_of_the_campaign_is_a_finding() -> None:
    partial = report(fetched=4)
    finding = by_id(evaluate(observed(scheduled=partial)))["flow.customers_fetched"]
    assert finding.status == "fail"
    assert finding.evidence == [
        "#1 POST /current/customers/GetProcessedCampaignCustomers?CampaignID=48213 → 200 (1.0 ms)"
    ]


def test_the_junit_xml_survives_any_evidence(tmp_path: Path) -> None:
    nasty = "body '<x a=\"1\">&amp;\x1b</x>' ]]> é"
    checks = [
        CheckResult("a.fail", "listener.a", "t", "fail", nasty, [nasty]),
        CheckResult("a.skip", "listener.a", "t", "skip", "why"),
        CheckResult("a.pass", "listener.a", "t", "pass", "ok", ["seen"]),
    ]
    path = tmp_path / "junit.xml"
    write_junit(Report("http://listener", None, checks, 1.5), path)
    root = ET.parse(path).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.attrib["failures"] == "1" and suite.attrib["skipped"] == "1"
    cases = {c.attrib["name"]: c for c in root.iter("testcase")}
    failure = cases["a.fail"].find("failure")
    assert failure is not None and "<x a=" in (failure.text or "")
    assert "\ufffd" in (failure.text or "")  # the escape character, replaced
    assert cases["a.pass"].find("failure") is None
