"""The integrator's reaction to a scheduled campaign and triggered events, judged from what
the simulator saw: the campaign audit (`/_sim/campaigns/{id}/report`), webhook deliveries
and the request journal. Pure: `evaluate` takes what was collected and returns the checks,
each failure with its evidence (the journal requests involved and the audit's examples).

The rules (wire-contract §2.1, §3, §4; the audit's violation codes in docs/decisions.md):
- the webhooks reached the listener (2xx), the EventTypeID 13 ones of the scheduled
  campaign's channels (sent at clearance) included when a channel path is checked;
- every customer of the scheduled campaign was fetched before approving;
- only customers validated for the campaign are approved (`approved_without_validation`,
  `approved_not_targeted`);
- nobody is approved twice, and an approval is never taken back (`duplicate_approval`,
  `released_after_approval`);
- approvals happen between execution and `ClearanceRequiredBy` (`approved_after_clearance`,
  `approved_before_execution`, `approved_cancelled_campaign`), and at least one customer of
  each campaign was approved (an integrator that does nothing breaks no rule above);
- redemptions are reported only for approved allocations, once each;
- no other protocol violation in the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from simulator.listener_check.model import CheckResult, Status, capped

ONLY_VALIDATED = ("approved_without_validation", "approved_not_targeted")
NO_DUPLICATES = ("duplicate_approval", "released_after_approval")
IN_TIME = ("approved_after_clearance", "approved_before_execution", "approved_cancelled_campaign")
FETCHED = ("approved_before_fetch",)
REDEMPTIONS = (
    "redeemed_not_approved",
    "duplicate_redemption",
    "redeemed_unknown_allocation",
    "redeemed_wrong_promotion",
)
JUDGED = {*ONLY_VALIDATED, *NO_DUPLICATES, *IN_TIME, *FETCHED, *REDEMPTIONS}
# The refusal codes (journal `error`) that go with each group of violations; a batch whose
# items were refused for different reasons carries `approval_rejected`.
REFUSALS = {
    ONLY_VALIDATED: {"not_validated", "not_targeted", "approval_rejected"},
    NO_DUPLICATES: {"duplicate_approval", "already_approved", "approval_rejected"},
    IN_TIME: {"clearance_closed", "campaign_not_executed", "campaign_cancelled"},
}
Entry = dict[str, Any]


@dataclass
class Observed:
    """What the flow collected. A report is None when that campaign was not run."""

    scheduled_id: int
    triggered_id: int
    scheduled: dict[str, Any] | None
    triggered: dict[str, Any] | None
    scheduled_delivery: dict[str, Any] | None  # with `attemptLog`
    triggered_deliveries: list[dict[str, Any]] = field(default_factory=list)
    # EventTypeID 13 deliveries of the scheduled campaign; None: not checked
    channel_deliveries: list[dict[str, Any]] | None = None
    channels: list[int] = field(default_factory=list)  # the ChannelIDs registered for 13
    requests: list[Entry] = field(default_factory=list)  # the integrator's, from the journal
    resent: set[str] = field(default_factory=set)  # webhook ids re-sent on purpose
    settled: bool = True
    waited_s: float = 0.0
    wait_s: float = 0.0


# -- journal evidence -------------------------------------------------------------------
def request_line(e: Entry) -> str:
    query = f"?{e['query']}" if e.get("query") else ""
    error = f" {e['error']}" if e.get("error") else ""
    return f"#{e['seq']} {e['method']} {e['path']}{query} → {e['status']}{error} ({e['ms']} ms)"


def _path(e: Entry) -> str:
    return str(e["path"]).lower().rstrip("/")


def is_fetch(campaign_id: int) -> Callable[[Entry], bool]:
    def match(e: Entry) -> bool:
        query = str(e.get("query", "")).lower()
        return _path(e).endswith(("/getprocessedcampaigncustomers", "/getcampaigncustomers")) and (
            f"campaignid={campaign_id}" in query
        )

    return match


def is_core_approval(e: Entry) -> bool:
    return _path(e).endswith("/updatecustomerpromotionstatus")


def is_ce_approval(e: Entry) -> bool:
    return _path(e).endswith("/conditional-execution/v2/triggered/approval")


def is_approval(e: Entry) -> bool:
    return is_core_approval(e) or is_ce_approval(e)


def is_validation(promocode: str) -> Callable[[Entry], bool]:
    wanted = f"/v1/promocodes/{promocode}/validatecustomers".lower()
    return lambda e: _path(e) == wanted


def is_redemption(e: Entry) -> bool:
    return _path(e).startswith("/v1/promotions/") and _path(e).endswith("/redemptions")


def refused_with(codes: set[str]) -> Callable[[Entry], bool]:
    return lambda e: is_approval(e) and e.get("status") == 409 and e.get("error") in codes


def lines(entries: Iterable[Entry], match: Callable[[Entry], bool]) -> list[str]:
    return [request_line(e) for e in entries if match(e)]


# -- audit evidence -----------------------------------------------------------------------
def _reports(o: Observed) -> list[tuple[int, dict[str, Any]]]:
    out = []
    if o.scheduled is not None:
        out.append((o.scheduled_id, o.scheduled))
    if o.triggered is not None:
        out.append((o.triggered_id, o.triggered))
    return out


def violations(o: Observed, codes: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Counts of these violation codes over the campaigns run, and the audit's examples."""
    wanted = set(codes)
    counts: dict[str, int] = {}
    examples: list[str] = []
    for campaign_id, report in _reports(o):
        for code, n in report["violations"].items():
            if code in wanted and n:
                counts[code] = counts.get(code, 0) + n
        for ex in report["violationExamples"]:
            if ex["code"] in wanted:
                examples.append(f"audit {campaign_id}: {ex['code']} at {ex['at']}: {ex['detail']}")
    return counts, examples


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items()))


def _check(
    name: str, title: str, failed: bool, detail: str, evidence: list[str] | None = None
) -> CheckResult:
    status: Status = "fail" if failed else "pass"
    return CheckResult(f"flow.{name}", "flow", title, status, detail, capped(evidence or []))


# -- the checks ---------------------------------------------------------------------------
def evaluate(o: Observed) -> list[CheckResult]:
    out = [_settled(o)]
    if o.scheduled is not None:
        out += [_scheduled_delivered(o), _customers_fetched(o, o.scheduled)]
        if o.channel_deliveries is not None:
            out.append(_channel_delivered(o, o.channel_deliveries))
    if o.triggered is not None:
        out += [_triggered_delivered(o), _triggered_approved(o, o.triggered)]
    out += [
        _violation_check(
            o,
            "only_validated_approved",
            "only customers validated for the campaign are approved",
            ONLY_VALIDATED,
        ),
        _violation_check(
            o, "no_duplicate_approvals", "no customer or event is approved twice", NO_DUPLICATES
        ),
    ]
    if o.scheduled is not None:
        out.append(_approvals_before_clearance(o, o.scheduled))
    out += [_redemptions(o), _other_violations(o)]
    return out


def simulator_called(o: Observed, sim_url: str) -> CheckResult:
    """The integrator called the simulator at all: if not, its app is pointed elsewhere
    (another URL, or a random port it could not know), and every flow finding follows."""
    title = "the integrator called the simulator"
    if o.requests:
        return _check("simulator_called", title, False, f"{len(o.requests)} request(s)")
    return _check(
        "simulator_called",
        title,
        True,
        f"your app never called the simulator at {sim_url}: point its Optimove and "
        "Promotions base URL there (with --simulator-port the URL is known before the run)",
        ["the simulator's journal has no request from the integrator"],
    )


def _settled(o: Observed) -> CheckResult:
    if o.settled:
        return _check(
            "settled",
            "the integrator finished its work within --wait",
            False,
            f"deliveries final and no new requests; settled after {o.waited_s:.1f} s",
        )
    pending = [
        f"webhook {d['eventId']} ({d['kind']}) still {d['status']} after {d['attempts']} attempt(s)"
        for d in [
            *([o.scheduled_delivery] if o.scheduled_delivery else []),
            *o.triggered_deliveries,
        ]
        if d["status"] == "pending"
    ]
    recent = [request_line(e) for e in o.requests[-10:]]
    return _check(
        "settled",
        "the integrator finished its work within --wait",
        True,
        f"still busy when --wait {o.wait_s:g} s ran out (checked what had happened by then)",
        [*pending, "last requests:", *recent] if recent else pending,
    )


def _attempt_line(a: dict[str, Any]) -> str:
    outcome = a["status"] if a["status"] is not None else a["error"]
    fault = f" [{a['fault']}]" if a.get("fault") else ""
    return f"attempt {a['attempt']}: POST {a['url']} → {outcome} ({a['latencyMs']} ms){fault}"


def _scheduled_delivered(o: Observed) -> CheckResult:
    d = o.scheduled_delivery
    title = "the EventTypeID 5 webhook reached the listener (2xx)"
    if d is None:
        return _check("scheduled_delivered", title, True, "no EventTypeID 5 webhook was written")
    attempts = [_attempt_line(a) for a in d.get("attemptLog", [])]
    if d["status"] == "delivered" or d.get("deliveredAt") is not None:
        again = " (one a deliberate re-send)" if d["eventId"] in o.resent else ""
        detail = f"delivered; {d['attempts']} attempt(s){again}"
        return _check("scheduled_delivered", title, False, detail, attempts)
    last = d["lastStatus"] if d["lastStatus"] is not None else d["lastError"]
    return _check(
        "scheduled_delivered",
        title,
        True,
        f"{d['status']} after {d['attempts']} attempt(s), last: {last}",
        attempts,
    )


def _triggered_delivered(o: Observed) -> CheckResult:
    title = "every triggered (CE v2) webhook reached the listener (2xx)"
    missed = [d for d in o.triggered_deliveries if d.get("deliveredAt") is None]
    total = len(o.triggered_deliveries)
    if not missed:
        return _check("triggered_delivered", title, False, f"{total} of {total} delivered")
    evidence = [
        f"webhook {d['eventId']}: {d['status']} after {d['attempts']} attempt(s), last: "
        f"{d['lastStatus'] if d['lastStatus'] is not None else d['lastError']}"
        for d in missed
    ]
    return _check(
        "triggered_delivered",
        title,
        True,
        f"{total - len(missed)} of {total} delivered",
        evidence,
    )


def _channel_delivered(o: Observed, found: list[dict[str, Any]]) -> CheckResult:
    title = "every EventTypeID 13 webhook (one per channel, at clearance) reached the listener"
    missed = [d for d in found if d.get("deliveredAt") is None]
    missing = len(o.channels) - len(found)
    detail = f"{len(found) - len(missed)} of {len(o.channels)} delivered"
    evidence = [
        f"webhook {d['eventId']}: {d['status']} after {d['attempts']} attempt(s), last: "
        f"{d['lastStatus'] if d['lastStatus'] is not None else d['lastError']}"
        for d in missed
    ]
    if missing > 0:
        evidence.append(f"{missing} EventTypeID 13 webhook(s) not written or not yet listed")
    return _check("channel_delivered", title, bool(missed) or missing > 0, detail, evidence)


def _customers_fetched(o: Observed, report: dict[str, Any]) -> CheckResult:
    title = "the scheduled campaign's customers were fetched (GetProcessedCampaignCustomers)"
    fetches = lines(o.requests, is_fetch(o.scheduled_id))
    counts, examples = violations(o, FETCHED)
    targeted, fetched = report["targeted"], report["fetched"]
    detail = (
        f"{fetched:,} rows fetched in {report['fetchCalls']} call(s) for {targeted:,} "
        "targeted customers"
    )
    if counts:
        detail += f"; {_counts(counts)}"
    if not fetches:
        fetches = [f"no GetProcessedCampaignCustomers request for CampaignID {o.scheduled_id}"]
    return _check(
        "customers_fetched", title, fetched < targeted or bool(counts), detail, fetches + examples
    )


def _triggered_approved(o: Observed, report: dict[str, Any]) -> CheckResult:
    title = "triggered events were validated and approved (CE v2 approval)"
    invalid = sum(report["invalid"].values())
    detail = (
        f"{report['eventsEmitted']} events: {report['validated']} valid, {invalid} not valid, "
        f"{report['approved']} approved"
    )
    if report["approved"] > 0:
        return _check("triggered_approved", title, False, detail)
    tried = _attempts(o, report, is_ce_approval, "CE v2 approval request in the journal")
    return _check("triggered_approved", title, True, detail, tried)


def _attempts(
    o: Observed, report: dict[str, Any], is_approval: Callable[[Entry], bool], what: str
) -> list[str]:
    """The integrator's validation and approval requests for the campaign, as evidence of
    what it tried; a line saying there were none otherwise."""
    validation = is_validation(report["campaign"]["promoCode"])
    tried = lines(o.requests, lambda e: validation(e) or is_approval(e))
    return tried or [f"no validateCustomers or {what}"]


def _violation_check(o: Observed, name: str, title: str, codes: tuple[str, ...]) -> CheckResult:
    counts, examples = violations(o, codes)
    if not counts:
        return _check(name, title, False, "no " + ", no ".join(codes))
    refused = lines(o.requests, refused_with(REFUSALS[codes]))
    return _check(name, title, True, _counts(counts), refused + examples)


def _approvals_before_clearance(o: Observed, report: dict[str, Any]) -> CheckResult:
    title = "customers were approved between execution and ClearanceRequiredBy"
    counts, examples = violations(o, IN_TIME)
    refused = lines(o.requests, refused_with(REFUSALS[IN_TIME]))
    sent = report["sent"]
    if counts:
        return _check(
            "approvals_before_clearance", title, True, _counts(counts), refused + examples
        )
    if sent == 0:
        detail = (
            f"nobody was approved before clearance ({report['validated']:,} validated, "
            f"{report['approved']:,} approved)"
        )
        tried = _attempts(o, report, is_core_approval, "UpdateCustomerPromotionStatus request")
        return _check("approvals_before_clearance", title, True, detail, tried)
    return _check("approvals_before_clearance", title, False, f"{sent:,} approved before clearance")


def _redemptions(o: Observed) -> CheckResult:
    title = "redemptions are reported only for approved allocations, once each"
    counts, examples = violations(o, REDEMPTIONS)
    redeemed = sum(r["redeemed"] for _, r in _reports(o))
    if not counts:
        return _check("redemptions_only_approved", title, False, f"{redeemed:,} redeemed")
    return _check(
        "redemptions_only_approved",
        title,
        True,
        _counts(counts),
        lines(o.requests, is_redemption) + examples,
    )


def _other_violations(o: Observed) -> CheckResult:
    title = "no other protocol violation in the audit"
    others = {
        code
        for _, report in _reports(o)
        for code, n in report["violations"].items()
        if n and code not in JUDGED
    }
    counts, examples = violations(o, others)
    if not counts:
        return _check("no_other_violations", title, False, "none")
    return _check("no_other_violations", title, True, _counts(counts), examples)
