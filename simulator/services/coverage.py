"""Business-rule coverage: which catalogued rules (`simulator.domain.rules`) a tenant's
traffic exercised, per campaign, how often, with an example journal entry.

Cheap on the hot path: a service notes a rule with `hit` into the request's list (a context
variable the middleware sets per request; anyio's worker threads run in a copy of the
context, so the list is the same object); the middleware then adds the list to the
`CoverageLog` under the request's journal sequence number. Like the journal and the fault
rules, the log lives in the server process's memory.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field

from simulator.domain.rules import refusal

Hit = tuple[int | None, str, int]  # (campaign id or None, rule id, times)


class Hits(list[Hit]):
    """The rules one request exercised; `tenant` names the tenant when the request has no
    authenticated caller (a login, an expired token) but the service found it."""

    tenant: str | None = None


_HITS: ContextVar[Hits | None] = ContextVar("optisim_coverage_hits", default=None)


def hit(campaign_id: int | None, rule: str, times: int = 1) -> None:
    """Note that the current request exercised `rule` (no-op outside a request)."""
    hits = _HITS.get()
    if hits is not None and times > 0:
        hits.append((campaign_id, rule, times))


def hit_tenant(tenant_id: str, rule: str) -> None:
    """A rule exercised by a request that names no tenant by its key (the legacy login's
    429, an expired token): the service knows the tenant, the middleware does not."""
    hits = _HITS.get()
    if hits is not None:
        hits.tenant = tenant_id
        hits.append((None, rule, 1))


def hit_refusal(campaign_id: int | None, code: str, rejected: Iterable[object] = ()) -> None:
    """A refused call: its code, and the reason of each refused item (`details.rejected`)."""
    reasons = [r.get("reason") for r in rejected if isinstance(r, dict)]
    if not reasons:
        hit(campaign_id, refusal(code))
        return
    for reason in set(reasons):
        hit(campaign_id, f"approve.{reason}", reasons.count(reason))


def start() -> tuple[Hits, Token[Hits | None]]:
    hits = Hits()
    return hits, _HITS.set(hits)


def stop(token: Token[Hits | None]) -> None:
    _HITS.reset(token)


@dataclass
class Counted:
    count: int = 0
    example: int | None = None  # a journal entry's `seq`


@dataclass
class CoverageLog:
    """Per tenant: (campaign id or None, rule) → how often, and the first journal entry."""

    _tenants: dict[str, dict[tuple[int | None, str], Counted]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, tenant_id: str, hits: Iterable[Hit], seq: int | None) -> None:
        with self._lock:
            table = self._tenants.setdefault(tenant_id, {})
            for campaign_id, rule, times in hits:
                found = table.get((campaign_id, rule))
                if found is None:
                    found = table[(campaign_id, rule)] = Counted()
                found.count += times
                if found.example is None:
                    found.example = seq

    def counts(
        self, tenant_id: str, campaign_id: int | None = None
    ) -> dict[str, tuple[int, int | None]]:
        """Rule → (times, example journal seq), over all campaigns or one campaign's."""
        out: dict[str, tuple[int, int | None]] = {}
        with self._lock:
            for (cid, rule), counted in self._tenants.get(tenant_id, {}).items():
                if campaign_id is not None and cid != campaign_id:
                    continue
                times, example = out.get(rule, (0, None))
                out[rule] = (times + counted.count, example or counted.example)
        return out

    def clear(self, tenant_id: str) -> None:
        with self._lock:
            self._tenants.pop(tenant_id, None)


RETRIABLE = ("error_", "rate_limit", "drop_connection", "truncate")
RECONCILED_BY = frozenset({"duplicate_approval", "duplicate_redemption", "already_approved"})


def answers(entries: Iterable[dict[str, object]]) -> list[tuple[str, int]]:
    """The integrator's answer to each injected fault, from the journal (oldest first):
    `answer.retried` when it sent the same call again, `answer.reconciled` when that retry
    was refused as a duplicate (the first attempt had applied, and the integrator learnt
    so), `answer.gave_up` when it never sent it again. Returns (rule, faulted entry seq)."""
    calls = [e for e in entries if not str(e.get("path", "")).startswith("/_sim")]
    out: list[tuple[str, int]] = []
    for i, entry in enumerate(calls):
        fault = str(entry.get("fault") or "")
        if not fault.startswith(RETRIABLE):
            continue
        again = next(
            (
                later
                for later in calls[i + 1 :]
                if later.get("method") == entry.get("method")
                and later.get("path") == entry.get("path")
            ),
            None,
        )
        seq = int(str(entry.get("seq", 0)))
        if again is None:
            out.append(("answer.gave_up", seq))
            continue
        out.append(("answer.retried", seq))
        if again.get("error") in RECONCILED_BY:
            out.append(("answer.reconciled", seq))
    return out


def webhook_rules(
    campaign_of: dict[str, int | None],
    attempts: Iterable[tuple[str, int | None, str | None]],
    duplicated_campaigns: set[int | None],
) -> list[Hit]:
    """Rules the listener's answers show: `attempts` is (webhook-id, HTTP status, fault).
    A webhook answered 2xx twice or more (re-sent, or an injected duplicate) on a campaign
    with no duplicate approval counts as deduplicated; a 400/401/403 answer as a refusal
    of its signature (the simulator signs correctly unless told otherwise)."""
    out: list[Hit] = []
    accepted: dict[str, int] = {}
    for event_id, status, fault in attempts:
        campaign = campaign_of.get(event_id)
        for action in (fault or "").split(","):
            if action:
                out.append((campaign, f"fault.webhook.{action}", 1))
        if status is not None and 200 <= status < 300:
            accepted[event_id] = accepted.get(event_id, 0) + 1
            out.append((campaign, "webhook.delivered", 1))
        elif status in (400, 401, 403):
            out.append((campaign, "webhook.signature_rejected", 1))
    for event_id, times in accepted.items():
        campaign = campaign_of.get(event_id)
        if times > 1 and campaign not in duplicated_campaigns:
            out.append((campaign, "webhook.deduplicated", 1))
    return out
