"""`OptisimTenant`: what the `optisim` fixture gives a test (a fresh tenant and helpers).

Imported only when a test asks for the fixture (the plugin module imports nothing heavy).
"""

from __future__ import annotations

import difflib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulator.control_client import ControlClient, NotFound, TenantAccess
from simulator.control_client.calls import parse_duration
from simulator.control_models import (
    Campaign,
    CampaignReport,
    Clock,
    Delivery,
    DeliverySummary,
    EmittedEvents,
    EventCustomer,
    Faults,
    JournalEntry,
)
from simulator.domain.models import WebhookKind
from simulator.faults import FaultRule
from simulator.scenario import load_scenario_file
from simulator.specs import Scenario

EVIDENCE_ROWS = 30  # journal entries and deliveries shown in a failed test's report


def scenario_of(value: Any) -> dict[str, Any]:
    """The create-tenant arguments of the marker's `scenario`: `"demo"` or `"large"` (the
    built-in worlds), a path to a YAML/JSON scenario file, a mapping, or a `Scenario`."""
    if value is None or value in ("demo", "large"):
        return {"builtin": value or "demo"}
    if isinstance(value, Scenario):
        return {"scenario": value}
    if isinstance(value, Mapping):
        return {"scenario": dict(value)}
    if isinstance(value, str | Path):
        return {"scenario": load_scenario_file(str(value))}
    raise TypeError(
        "optisim marker: scenario is 'demo', 'large', a scenario file path, a mapping or "
        f"a Scenario, not {type(value).__name__}"
    )


def _entry_line(e: JournalEntry) -> str:
    query = f"?{e.query}" if e.query else ""
    extra = "".join(
        f" {label}={value}" for label, value in (("error", e.error), ("fault", e.fault)) if value
    )
    return f"#{e.seq} {e.method} {e.path}{query} -> {e.status} ({e.ms:g} ms){extra}"


def _delivery_line(d: Delivery) -> str:
    last = f" last={d.lastStatus}" if d.lastStatus is not None else ""
    error = f" error={d.lastError}" if d.lastError else ""
    return (
        f"{d.eventId} {d.kind} campaign={d.campaignId} {d.status} "
        f"attempts={d.attempts}{last}{error}"
    )


class OptisimTenant:
    """A fresh simulator tenant for one test, deleted when the test ends.

    `url` (the simulator's base URL: the Optimove, Promotions and CE v2 base URL of the
    code under test), `admin_key`, `integrations_key` (what the code under test sends as
    `X-API-KEY`), `webhook_secret` (what it verifies webhooks with), `tenant_id`,
    `numeric_id` (`TenantID` in webhooks) and `client`, a `ControlClient` bound to the
    tenant. The helpers below cover what tests do most; `client` has every control call."""

    def __init__(self, access: TenantAccess, client: ControlClient) -> None:
        self.access = access
        self.url = access.url
        self.tenant_id = access.tenant_id
        self.numeric_id = access.numeric_id
        self.admin_key = access.admin_key
        self.integrations_key = access.integrations_key
        self.webhook_secret = access.webhook_secret
        self.client = client

    def __repr__(self) -> str:
        return f"OptisimTenant({self.tenant_id!r} at {self.url})"

    @classmethod
    def create(
        cls,
        server: ControlClient,
        *,
        scenario: Any = None,
        clock: Any = None,
        faults: Any = None,
        name: str | None = None,
    ) -> OptisimTenant:
        """A new tenant on `server` (a client bound to any admin key of the simulator),
        configured as the `optisim` marker says."""
        access = server.new_tenant(name=name, **scenario_of(scenario))
        tenant = cls(access, server.with_key(access.admin_key))
        try:
            tenant.configure(clock=clock, faults=faults)
        except BaseException:
            tenant.delete()
            raise
        return tenant

    def configure(self, *, clock: Any = None, faults: Any = None) -> None:
        """`clock`: "manual", "realtime", a datetime or ISO 8601 text (a manual clock set
        there), or a mapping {mode, now}. `faults`: a list of fault rules, or a mapping
        {seed, rules}."""
        if clock is not None:
            if isinstance(clock, Mapping):
                self.client.set_clock(clock.get("mode", "manual"), clock.get("now"))
            elif clock in ("manual", "realtime"):
                self.client.set_clock(clock)
            elif isinstance(clock, datetime | str):
                self.client.set_clock("manual", clock)
            else:
                raise TypeError(
                    "optisim marker: clock is 'manual', 'realtime', a datetime, ISO 8601 "
                    f"text or a mapping, not {type(clock).__name__}"
                )
        if faults is not None:
            if isinstance(faults, Mapping):
                self.client.set_faults(list(faults.get("rules", [])), seed=faults.get("seed"))
            else:
                self.client.set_faults(list(faults))

    def delete(self) -> None:
        """Delete the tenant (everything of it goes); a tenant already gone is fine, and so
        is a simulator too old to delete tenants (`not_found`: it has no such route)."""
        try:
            self.client.delete_tenant(self.tenant_id)
        except NotFound as exc:
            if exc.error not in ("unknown_tenant", "not_found"):
                raise

    # -- campaigns --------------------------------------------------------------------------
    def execute(self, campaign_id: int) -> Campaign:
        """Execute a scheduled campaign now (its processed list is built, the webhook sent)."""
        return self.client.execute_campaign(campaign_id)

    def cancel(self, campaign_id: int) -> Campaign:
        return self.client.cancel_campaign(campaign_id)

    def clear(self, campaign_id: int) -> Campaign:
        return self.client.clear_campaign(campaign_id)

    def emit(
        self,
        campaign_id: int,
        count: int | None = None,
        *,
        customers: Sequence[str | EventCustomer | Mapping[str, Any]] | None = None,
        context: Mapping[str, Any] | None = None,
        rate: float | None = None,
    ) -> EmittedEvents:
        """Emit triggered events: `count` generated customers, or the given `customers`."""
        if count is None and customers is None:
            count = 1
        return self.client.emit_events(
            campaign_id, count=count, customers=customers, context=context, rate=rate
        )

    def report(self, campaign_id: int) -> CampaignReport:
        """The campaign's audit (what the integrator did, and the violations seen)."""
        return self.client.get_campaign_report(campaign_id)

    def assert_no_violations(self, campaign_id: int) -> CampaignReport:
        """The campaign's audit, failing the test when it lists protocol violations (each
        code with its count and the first examples)."""
        report = self.report(campaign_id)
        if report.violationCount:
            lines = [
                f"campaign {campaign_id}: {report.violationCount} protocol violation(s)",
                *(f"  {code}: {n}" for code, n in sorted(report.violations.items())),
                *(f"  e.g. {v.code} at {v.at}: {v.detail}" for v in report.violationExamples),
            ]
            raise AssertionError("\n".join(lines))
        return report

    # -- clock and faults -------------------------------------------------------------------
    def set_clock(self, now: datetime | str | None = None, *, mode: str = "manual") -> Clock:
        """Set the tenant clock (manual by default) and optionally jump to `now`."""
        if mode not in ("manual", "realtime"):
            raise ValueError(f"mode is 'manual' or 'realtime', not {mode!r}")
        return self.client.set_clock("manual" if mode == "manual" else "realtime", now)

    def advance(self, duration: float | timedelta | str) -> Clock:
        """Move the manual clock forward (`30`, `timedelta(hours=2)`, `"2h"`); due
        executions and clearances run."""
        return self.client.advance_clock(parse_duration(duration))

    def add_faults(self, *rules: FaultRule | Mapping[str, Any], seed: int | None = None) -> Faults:
        """Add fault rules to the tenant's (`seed`: replaces the seed)."""
        current = self.client.get_faults()
        merged: list[FaultRule | Mapping[str, Any]] = [*current.rules, *rules]
        return self.client.set_faults(merged, seed=seed if seed is not None else current.seed)

    # -- deliveries and journal -------------------------------------------------------------
    def wait_for_deliveries(
        self,
        campaign_id: int | None = None,
        *,
        kind: WebhookKind | None = None,
        timeout: float = 30.0,
    ) -> DeliverySummary:
        """Wait until every webhook written so far is delivered, failed or skipped."""
        return self.client.wait_for_deliveries(campaign_id=campaign_id, kind=kind, timeout=timeout)

    def deliveries(
        self, campaign_id: int | None = None, *, kind: WebhookKind | None = None
    ) -> list[Delivery]:
        return list(self.client.iter_deliveries(campaign_id=campaign_id, kind=kind))

    def requests(self, *, include_control: bool = False) -> list[JournalEntry]:
        """Every request the tenant's journal holds, oldest first (without the `/_sim`
        control calls unless `include_control`)."""
        return [
            e
            for e in self.client.iter_journal()
            if include_control or not e.path.startswith("/_sim")
        ]

    def find_requests(
        self,
        path: str | None = None,
        *,
        method: str | None = None,
        status: int | None = None,
        at_least: int = 1,
    ) -> list[JournalEntry]:
        """The requests whose path contains `path` (any case) with `method` and `status`;
        fails the test when fewer than `at_least` match, showing the nearest requests."""
        seen = self.requests()
        found = [e for e in seen if _matches(e, path, method, status)]
        if len(found) < at_least:
            raise AssertionError(_nearest(seen, path, method, status, len(found), at_least))
        return found

    # -- evidence ---------------------------------------------------------------------------
    def evidence(self) -> list[tuple[str, str]]:
        """Report sections for a failed test: the journal tail, the deliveries and each
        campaign's audit."""
        tail: deque[JournalEntry] = deque(
            (e for e in self.client.iter_journal() if not _control_read(e)), maxlen=EVIDENCE_ROWS
        )
        deliveries: deque[Delivery] = deque(self.client.iter_deliveries(), maxlen=EVIDENCE_ROWS)
        audits = []
        for campaign in self.client.list_campaigns():
            r = self.client.get_campaign_report(campaign.id)
            audits.append(
                f"campaign {campaign.id} ({campaign.type}, {r.campaign.status}): "
                f"targeted={r.targeted} fetched={r.fetched} validated={r.validated} "
                f"approved={r.approved} released={r.released} redeemed={r.redeemed} "
                f"events={r.eventsEmitted} violations={dict(r.violations) or 'none'}"
            )
            audits.extend(f"    e.g. {v.code}: {v.detail}" for v in r.violationExamples)
        head = f"tenant {self.tenant_id} at {self.url}"
        return [
            (
                f"optisim journal ({head}; last {EVIDENCE_ROWS}, control reads left out)",
                _lines(map(_entry_line, tail)),
            ),
            (f"optisim deliveries (last {EVIDENCE_ROWS})", _lines(map(_delivery_line, deliveries))),
            ("optisim audit", _lines(audits)),
        ]


def _control_read(e: JournalEntry) -> bool:
    """A read of the control API (the test's own look at the world, or this evidence being
    collected): left out of the journal tail, which shows what changed the world."""
    return e.method == "GET" and e.path.startswith("/_sim")


def _lines(lines: Iterable[str]) -> str:
    text = "\n".join(lines)
    return text or "(none)"


def _matches(e: JournalEntry, path: str | None, method: str | None, status: int | None) -> bool:
    return (
        (path is None or path.lower() in e.path.lower())
        and (method is None or e.method.upper() == method.upper())
        and (status is None or e.status == status)
    )


def _nearest(
    seen: list[JournalEntry],
    path: str | None,
    method: str | None,
    status: int | None,
    matched: int,
    at_least: int,
) -> str:
    parts = [method.upper() if method else None, path, f"-> {status}" if status else None]
    wanted = " ".join(part for part in parts if part)
    if not seen:
        return f"no request matches {wanted!r}: the journal holds no request of this tenant"

    def closeness(e: JournalEntry) -> float:
        score = difflib.SequenceMatcher(None, (path or "").lower(), e.path.lower()).ratio()
        score += 0.5 if method is not None and e.method.upper() == method.upper() else 0
        return score + (0.25 if status is not None and e.status == status else 0)

    nearest = sorted(seen, key=closeness, reverse=True)[:5]
    return "\n".join(
        [
            f"{matched} request(s) match {wanted!r}, expected at least {at_least}; "
            f"the nearest of {len(seen)}:",
            *(f"  {_entry_line(e)}" for e in nearest),
        ]
    )
