"""Per-campaign counters: what the integrator fetched, scrubbed, validated, activated,
approved, released and redeemed, plus where the time went (for reports and dashboards)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

STEPS = ("fetch", "scrub", "validate", "activate", "approve", "redeem")

# The campaign whose work the current task does: HTTP retries are counted against it.
CURRENT_CAMPAIGN: ContextVar[int | None] = ContextVar("acf_current_campaign", default=None)


@dataclass
class TierTotal:
    """Rewards activated in one tier: how many, and their amount (minor units) or units."""

    count: int = 0
    amount: int = 0
    units: int = 0


@dataclass
class CampaignSummary:
    """What happened to one campaign on our side.

    For a triggered campaign `targeted` counts the events that reached validation. Timings
    are the wall time during which each step was in progress; steps overlap one another
    (the next page is fetched while this one is worked), so they may add up to more than
    the campaign's wall time. `errors` counts failures by code (e.g. `approval_not_targeted`,
    `validate_unavailable`, `activated_not_approved`, `deadline_at_risk`).
    """

    campaign_id: int
    kind: Literal["scheduled", "triggered"]
    targeted: int = 0
    scrubbed_by_rule: dict[str, int] = field(default_factory=dict)
    validated: int = 0
    ineligible_by_reason: dict[str, int] = field(default_factory=dict)
    activated: int = 0
    approved: int = 0
    released: int = 0
    redeemed: int = 0
    rewards_by_tier: dict[str, TierTotal] = field(default_factory=dict)
    duplicates_skipped: int = 0
    approvals_reconciled: int = 0
    retries: int = 0
    deadline: datetime | None = None
    finished_at: datetime | None = None
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STEPS, 0.0))
    events_processed: int = 0
    cancelled: bool = False
    resumed_skipped: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    _active: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    _since: dict[str, float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def scrubbed(self) -> int:
        return sum(self.scrubbed_by_rule.values())

    @property
    def ineligible(self) -> int:
        return sum(self.ineligible_by_reason.values())

    def count(self, table: dict[str, int], key: str, n: int = 1) -> None:
        """Add `n` to `table[key]` (one of this summary's counting dicts)."""
        if n:
            table[key] = table.get(key, 0) + n

    def error(self, code: str, n: int = 1) -> None:
        self.count(self.errors, code, n)

    def reward(self, tier: str, amount: int = 0, units: int = 0) -> None:
        total = self.rewards_by_tier.setdefault(tier, TierTotal())
        total.count += 1
        total.amount += amount
        total.units += units

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add to `timings[step]` the wall time during which at least one block of the
        step was running: concurrent validation calls count once, not once each."""
        active = self._active.get(step, 0)
        if active == 0:
            self._since[step] = time.perf_counter()
        self._active[step] = active + 1
        try:
            yield
        finally:
            self._active[step] -= 1
            if self._active[step] == 0:
                spent = time.perf_counter() - self._since[step]
                self.timings[step] = self.timings.get(step, 0.0) + spent
