"""`optisim contract listener` fails, naming the right check, against listeners built to
break one rule each; run through the CLI as CI runs it (exit status, JUnit XML, JSON)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from simulator.cli import main
from tests.client.support import DEMO_SECRET, ThreadServer
from tests.contract_listener.support import (
    SloppyIntegrator,
    failing_listener,
    trusting_listener,
)


def run(tmp_path: Path, *args: str) -> tuple[Result, dict[str, Any], ET.Element]:
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    result = CliRunner().invoke(
        main,
        ["contract", "listener", *args, "--junit-xml", str(junit), "--json", str(report)],
    )
    return result, json.loads(report.read_text()), ET.parse(junit).getroot()


def statuses(report: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in report["checks"]}


def failures(junit: ET.Element) -> dict[str, ET.Element]:
    """Failed testcases by name, with their <failure> element."""
    out = {}
    for case in junit.iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            out[case.attrib["name"]] = failure
    return out


def test_a_listener_answering_500_fails_acceptance_and_the_junit_names_it(
    tmp_path: Path,
) -> None:
    with ThreadServer(failing_listener()) as listener:
        result, report, junit = run(tmp_path, "--url", listener.url, "--secret", DEMO_SECRET)
    assert result.exit_code == 1, result.output
    found = statuses(report)
    for kind in ("scheduled", "cancelled", "channel", "triggered"):
        assert found[f"{kind}.accepted"] == "fail"
        assert found[f"{kind}.malformed_no_5xx"] == "fail"
    failed = failures(junit)
    assert "scheduled.accepted" in failed
    message = failed["scheduled.accepted"].attrib["message"]
    assert "expected 2xx, got 500" in message
    evidence = failed["scheduled.accepted"].text or ""
    assert f"POST {listener.url}/optimove/events → 500" in evidence
    suite = junit.find("testsuite")
    assert suite is not None
    assert int(suite.attrib["failures"]) == len(failed) and int(suite.attrib["tests"]) == 28
    assert "FAIL" in result.output and "scheduled.accepted" in result.output


def test_a_listener_that_ignores_signatures_fails_every_signature_check(
    tmp_path: Path,
) -> None:
    with ThreadServer(trusting_listener()) as listener:
        result, report, junit = run(tmp_path, "--url", listener.url, "--secret", DEMO_SECRET)
    assert result.exit_code == 1, result.output
    found = statuses(report)
    for kind in ("scheduled", "cancelled", "channel", "triggered"):
        for check in ("unsigned_refused", "tampered_refused", "wrong_secret_refused"):
            assert found[f"{kind}.{check}"] == "fail", check
        assert found[f"{kind}.stale_refused"] == "fail"
        # what it does right still passes: the finding is specific
        assert found[f"{kind}.accepted"] == "pass"
        assert found[f"{kind}.duplicate_accepted"] == "pass"
        assert found[f"{kind}.malformed_no_5xx"] == "pass"
    unsigned = failures(junit)["scheduled.unsigned_refused"]
    assert "expected 4xx, got 202" in unsigned.attrib["message"]


def test_without_a_secret_the_signature_checks_are_skipped_not_passed(tmp_path: Path) -> None:
    with ThreadServer(trusting_listener()) as listener:
        result, report, junit = run(tmp_path, "--url", listener.url, "--kinds", "triggered")
    assert result.exit_code == 0, result.output
    found = statuses(report)
    assert set(found) == {
        f"triggered.{c}"
        for c in (
            "accepted",
            "duplicate_accepted",
            "unsigned_refused",
            "tampered_refused",
            "wrong_secret_refused",
            "stale_refused",
            "malformed_no_5xx",
        )
    }
    assert found["triggered.unsigned_refused"] == "skip"
    skipped = [c for c in junit.iter("testcase") if c.find("skipped") is not None]
    assert len(skipped) == 4


def test_an_integrator_that_approves_twice_is_caught_by_the_audit(
    tmp_path: Path, simulator: ThreadServer
) -> None:
    sloppy = SloppyIntegrator(simulator.url, approve_twice=True)
    with ThreadServer(sloppy.app()) as listener:
        result, report, junit = run(tmp_path, *_flow_args(listener, simulator))
    assert result.exit_code == 1, result.output
    found = statuses(report)
    assert found["flow.no_duplicate_approvals"] == "fail"
    # it validated before approving, in time: those checks pass
    assert found["flow.only_validated_approved"] == "pass"
    assert found["flow.approvals_before_clearance"] == "pass"
    assert found["flow.customers_fetched"] == "pass"
    evidence = failures(junit)["flow.no_duplicate_approvals"].text or ""
    assert "POST /current/integrations/UpdateCustomerPromotionStatus → 409 duplicate_approval" in (
        evidence
    )
    assert "audit 48213: duplicate_approval" in evidence


def test_an_integrator_that_approves_without_validating_is_caught_by_the_audit(
    tmp_path: Path, simulator: ThreadServer
) -> None:
    sloppy = SloppyIntegrator(simulator.url, skip_validation=True)
    with ThreadServer(sloppy.app()) as listener:
        result, report, junit = run(tmp_path, *_flow_args(listener, simulator))
    assert result.exit_code == 1, result.output
    found = statuses(report)
    assert found["flow.only_validated_approved"] == "fail"
    assert found["flow.no_duplicate_approvals"] == "pass"
    # nothing was approved, so nobody got the campaign
    assert found["flow.approvals_before_clearance"] == "fail"
    evidence = failures(junit)["flow.only_validated_approved"].text or ""
    assert "→ 409 not_validated" in evidence
    assert "audit 48213: approved_without_validation" in evidence


def _flow_args(listener: ThreadServer, simulator: ThreadServer) -> list[str]:
    return [
        "--url",
        listener.url,
        "--simulator-url",
        simulator.url,
        "--customers",
        "50",
        "--events",
        "5",
        "--settle",
        "0.5",
        "--wait",
        "20",
        "--quiet",
    ]
