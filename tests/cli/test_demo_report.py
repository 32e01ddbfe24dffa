"""The demo's report as a user reads it in a log: money with its unit, the scaled budget
said, the deliberate re-send shown as such, the scheduled rows kept with `--events 0`,
and no number cut at 80 columns."""

from __future__ import annotations

import re

from tests.cli.support import run


def test_the_demo_report_reads_right_in_a_log() -> None:
    done = run("demo", "--customers", "1000", "--events", "0", timeout=180, env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    text = done.stdout.replace("\u00a0", " ")  # labels and numbers are joined by NBSP
    lines = text.splitlines()
    # --events 0: the client-side rows are there, with "-" for the triggered campaign
    for row in ("rewards by tier (EUR)", "webhook duplicates skipped", "HTTP retries (client)"):
        assert any(line.lstrip("│ ").startswith(row) for line in lines), row
    # money carries its unit; units are units
    assert re.search(r"PR-WELCOME │\s+EUR [\d,]+\.\d\d │\s+EUR 10,000\.00 │", text), text
    assert "40,000 units" in text
    assert "scaled to --customers 1,000: budget EUR 10,000.00, audience cap 970" in text
    # the re-send is its own column, not a retry
    scheduled = next(line for line in lines if line.lstrip("│ ").startswith("scheduled │"))
    cells = [c.strip() for c in scheduled.strip("│").split("│")]
    assert cells[3:5] == ["0", "1"], cells  # retries 0, re-sent on purpose 1
    assert "re-sent (not a retry" in text
    # a pipe is not a terminal: numbers are never folded onto a second line
    assert not any(re.fullmatch(r"[│ ]*[\d,.]+[│ ]*", line) for line in lines)
