"""`optisim demo`, the README's first command, run small as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_optisim_demo_runs_both_flows_and_exits_zero(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from simulator.cli import main; main()",
            "demo",
            "--customers",
            "2000",
            "--events",
            "100",
            "--quiet",
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(report.read_text())
    scheduled, triggered = data["48213"], data["7001"]
    assert scheduled["targeted"] == 2000 and scheduled["approved"] > 0
    assert scheduled["sent"] == scheduled["approved"]  # cleared on the clock
    assert triggered["eventsEmitted"] == 100 and triggered["approved"] > 0
    # 48215's code has no Promotions promotion: approved without validation, sent alike
    plain = data["48215"]
    assert plain["targeted"] == plain["fetched"] == 500
    assert plain["validated"] == 0 and plain["invalid"] == {}
    assert 0 < plain["approved"] == plain["sent"] < 500  # the client scrubbed some
    assert data["demonstrated"]["duplicateApproval"]["error"] == "duplicate_approval"
    # the only violation is the one the demo makes on purpose
    assert scheduled["violations"] == {"duplicate_approval": 1}
    assert triggered["violations"] == {}
    assert plain["violations"] == {}


def test_the_demo_and_the_reference_client_never_log_in() -> None:
    """They authenticate with API keys only, so the login limits (429 on a login too soon,
    wire-contract §2) can never refuse them. The end-to-end client test records the
    client's traffic and checks the same at run time."""
    root = Path(__file__).resolve().parents[1]
    sources = [
        *(root / "reference_client").rglob("*.py"),
        root / "simulator" / "demo.py",
        # bench_tenants measures the login route itself; no flow of the demo runs there
        *(p for p in (root / "loadtests").rglob("*.py") if p.name != "bench_tenants.py"),
    ]
    assert len(sources) > 10
    for source in sources:
        text = source.read_text("utf-8").lower()
        for needle in ("general/login", "/login", "authorization-token"):
            assert needle not in text, f"{source.relative_to(root)} mentions {needle!r}"
