"""What a listener check reports: one `CheckResult` per named check, and the `Report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["pass", "fail", "skip"]
MAX_EVIDENCE = 20  # lines per finding: enough to act on, short enough to read in a CI log


@dataclass
class CheckResult:
    """One named check. `id` is stable (CI history and JUnit test names use it);
    `detail` says what was seen, or why it was skipped; `evidence` lists the requests
    involved (sent by the checker, or taken from the simulator's journal)."""

    id: str
    group: str
    title: str
    status: Status
    detail: str
    evidence: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Report:
    url: str
    simulator_url: str | None
    checks: list[CheckResult]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def by_id(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)


def capped(lines: list[str], limit: int = MAX_EVIDENCE) -> list[str]:
    """At most `limit` lines, the rest counted."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit} more"]
