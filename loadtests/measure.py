"""What the load scenarios compute from the simulator's own records. Pure: no locust, no
HTTP, so it is tested in-process (importing locust would monkey-patch the test run).

- `AttemptWindow`: pages the delivery attempt log (`GET /_sim/attempts?after=`) with an
  overlap, so an attempt recorded late by a busy dispatcher is still seen, and never twice.
- `FifoPairing`: pairs the k-th triggered event with the k-th approval call the simulator
  journaled. The journal does not carry the event id, so this is exact when the integrator
  approves in arrival order; otherwise the mean is still exact and the spread a little
  narrower than the true one (sorted pairing minimises the spread).
- `Step`: the span and call latencies of one step of the scheduled flow, from the journal.
- the approval audits and the ledger invariants the scenarios fail on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FETCH, VALIDATE, APPROVE = "get_processed_campaign_customers", "validate_customers", "approve"
FETCH_FUNCTIONS = ("getprocessedcampaigncustomers", "getcampaigncustomers")


@dataclass
class AttemptWindow:
    """Reads the attempt log from `after - overlap` on and drops what it saw already."""

    overlap: float = 2.0
    after: float = 0.0
    _seen: dict[tuple[Any, ...], float] = field(default_factory=dict)

    @property
    def since(self) -> float:
        return max(0.0, self.after - self.overlap)

    def take(self, attempts: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        new = []
        for a in attempts:
            key = (a["eventId"], a["attempt"], a["at"], a["status"], a.get("fault"))
            if key in self._seen:
                continue
            self._seen[key] = a["at"]
            self.after = max(self.after, a["at"])
            new.append(a)
        horizon = self.since - 1.0  # nothing older can come back in a page
        self._seen = {k: at for k, at in self._seen.items() if at >= horizon}
        return new


@dataclass
class FifoPairing:
    """Event times and approval times (wall seconds) paired first-in, first-out."""

    events: deque[float] = field(default_factory=deque)
    approvals: deque[float] = field(default_factory=deque)
    paired: int = 0
    first_event: float | None = None
    last_approval: float | None = None

    def add_events(self, times: Iterable[float]) -> None:
        for t in times:
            self.first_event = t if self.first_event is None else min(self.first_event, t)
            self.events.append(t)

    def add_approvals(self, times: Iterable[float]) -> None:
        for t in times:
            self.last_approval = t if self.last_approval is None else max(self.last_approval, t)
            self.approvals.append(t)

    def pairs(self) -> list[float]:
        """Event-to-approval seconds for every pair that can be made now."""
        out = []
        while self.events and self.approvals:
            out.append(max(0.0, self.approvals.popleft() - self.events.popleft()))
        self.paired += len(out)
        return out


@dataclass
class Step:
    """Calls of one step as the simulator served them: first start, last end, latencies."""

    calls: int = 0
    failed: int = 0
    first_start: float | None = None
    last_end: float | None = None

    def add(self, at: float, ms: float, status: int) -> None:
        """`at` is when the simulator finished the call (the journal's time), `ms` its
        duration."""
        start = at - ms / 1000
        self.calls += 1
        self.failed += 0 if 200 <= status < 300 else 1
        self.first_start = start if self.first_start is None else min(self.first_start, start)
        self.last_end = at if self.last_end is None else max(self.last_end, at)

    @property
    def seconds(self) -> float | None:
        if self.first_start is None or self.last_end is None:
            return None
        return max(self.last_end - self.first_start, 1e-6)

    def rate(self, items: int) -> float | None:
        """Items per second over the step's span."""
        return None if self.seconds is None else items / self.seconds

    def as_dict(self, items: int) -> dict[str, Any]:
        rate = self.rate(items)
        return {
            "calls": self.calls,
            "failedCalls": self.failed,
            "customers": items,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "customersPerSecond": None if rate is None else round(rate, 1),
        }


def classify(entry: Mapping[str, Any], campaign_id: int, promocode: str) -> str | None:
    """Which scheduled-flow step a journal entry is (None: not one of this campaign's).

    Fetches are recognised by `CampaignID` in the query (any spelling of the route and the
    parameter), validations by the campaign's promo code in the path. Approvals name the
    campaign only in their body, which the journal does not keep: every approval call of
    the tenant counts, so run this scenario on a tenant nobody else is using."""
    path = str(entry["path"]).lower()
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last in FETCH_FUNCTIONS:
        query = {k.lower(): v for k, v in parse_qsl(str(entry.get("query", "")))}
        return FETCH if query.get("campaignid") == str(campaign_id) else None
    if path == f"/v1/promocodes/{promocode.lower()}/validatecustomers":
        return VALIDATE
    if last == "updatecustomerpromotionstatus":
        return APPROVE
    return None


def listener_base(url: str) -> str:
    """`http://host:port` of a listener URL (for messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True, slots=True)
class ApprovalAudit:
    """Every event (or validated customer) must be decided once: approved, declined or
    found ineligible. `missing` were never decided; `duplicates` were approved again."""

    expected: int
    decided: int
    missing: int
    duplicates: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicates == 0

    def describe(self) -> str:
        return (
            f"{self.decided:,} of {self.expected:,} decided, {self.missing:,} never "
            f"approved, {self.duplicates:,} approved twice"
        )


def audit_triggered(report: Mapping[str, Any]) -> ApprovalAudit:
    """From a triggered campaign's report: each emitted event is approved, declined
    (released) or was not valid (nothing reserved, nothing to approve)."""
    emitted = int(report["eventsEmitted"])
    decided = int(report["approved"]) + int(report["released"]) + sum(report["invalid"].values())
    duplicates = int(report["violations"].get("duplicate_approval", 0))
    return ApprovalAudit(emitted, min(decided, emitted), max(0, emitted - decided), duplicates)


def audit_scheduled(report: Mapping[str, Any]) -> ApprovalAudit:
    """From a scheduled campaign's report: each validated customer is approved or released
    (customers the integrator scrubbed were never validated, so nothing is owed)."""
    validated = int(report["validated"])
    decided = int(report["approved"]) + int(report["released"])
    duplicates = int(report["violations"].get("duplicate_approval", 0))
    return ApprovalAudit(
        validated, min(decided, validated), max(0, validated - decided), duplicates
    )


def complete(report: Mapping[str, Any]) -> bool:
    """The integrator has fetched the whole list and decided every customer it validated."""
    return bool(
        report["fetched"] >= report["targeted"]
        and report["approved"] + report["released"] >= report["validated"]
    )


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def ledger_invariants(
    usage: Mapping[str, Any], approved: int, reward: int, per_customer_limit: int
) -> list[Check]:
    """A promotion's ledger after a run, against the approvals its campaign counted.

    - no overspend: reserved + committed <= budget total;
    - the audience within its cap: reserved + committed customers <= cap;
    - every approval committed once: committed budget == approvals x the (flat) reward;
    - with one reward per customer, one committed customer per approval."""
    total = int(usage["budgetTotal"])
    spent = int(usage["budgetReserved"]) + int(usage["budgetCommitted"])
    audience = int(usage["audienceReserved"]) + int(usage["audienceCommitted"])
    checks = [
        Check("no overspend", spent <= total, f"reserved + committed {spent:,} / {total:,}"),
        Check(
            "audience within cap",
            audience <= int(usage["audienceCap"]),
            f"{audience:,} / {int(usage['audienceCap']):,} customers",
        ),
        Check(
            "each approval committed once",
            int(usage["budgetCommitted"]) == approved * reward,
            f"committed {int(usage['budgetCommitted']):,} vs {approved:,} approvals x {reward:,}",
        ),
    ]
    if per_customer_limit == 1:
        checks.append(
            Check(
                "one committed customer per approval",
                int(usage["audienceCommitted"]) == approved,
                f"{int(usage['audienceCommitted']):,} committed customers, {approved:,} approvals",
            )
        )
    return checks


def percentile(values: list[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0..1) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(p * len(ordered) + 0.999999) - 1))]
