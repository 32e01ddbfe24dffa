"""The demo's report as a user reads it in a log: money with its unit, the scaled budget
said, the deliberate re-send shown as such, the scheduled rows kept with `--events 0`,
and no number cut at 80 columns."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from rich.console import Console

from simulator.demo import _print
from tests.cli.support import run


def test_the_demo_report_reads_right_in_a_log(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    done = run(
        "demo", "--customers", "1000", "--events", "0", "--json", str(saved),
        timeout=180, env={"COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = done.stdout.replace("\u00a0", " ")  # labels and numbers are joined by NBSP
    lines = text.splitlines()
    # --events 0: the client-side rows are there, with "-" for the triggered campaign
    for row in ("rewards by tier (EUR)", "webhook duplicates skipped", "HTTP retries (client)"):
        assert any(line.lstrip("│ ").startswith(row) for line in lines), row

    # money carries its unit; units are units
    def cells(label: str) -> list[str]:
        line = next(line for line in lines if line.lstrip("│ ").startswith(label + " "))
        return [c.strip() for c in line.strip().strip("│").split("│")][1:]

    header = next(line for line in lines if "PR-WELCOME" in line and "PR-SPINS" in line)
    welcome = [c.strip() for c in header.strip().strip("┃").split("┃")][1:].index("PR-WELCOME")
    assert cells("of budget")[welcome] == "EUR 10,000.00"
    assert "40,000 units" in cells("of budget")
    assert cells("of audience cap")[welcome] == "970"
    assert "scaled to --customers 1,000: budget EUR 10,000.00, audience cap 970" in text
    # the re-send is its own row, not a retry (columns: scheduled, triggered)
    assert cells("retries") == ["0", "0"]
    assert cells("re-sent on purpose") == ["1", "0"]
    assert "re-sent (not a retry" in text
    # a pipe is not a terminal: numbers are never folded onto a second line
    assert not any(re.fullmatch(r"[│ ]*[\d,.]+[│ ]*", line) for line in lines)

    # ... and an 80-column terminal gets every figure whole too (no "…")
    narrow = Console(width=80, file=io.StringIO(), color_system=None)
    _print(narrow, json.loads(saved.read_text("utf-8")), {}, [])
    shown = narrow.file.getvalue()  # type: ignore[attr-defined]
    assert "EUR 10,000.00" in shown.replace("\u00a0", " ")
    assert "…" not in shown, shown
    assert max(len(line) for line in shown.splitlines()) <= 80
