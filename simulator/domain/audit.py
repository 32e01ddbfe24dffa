"""The campaign audit: counts of what the integrator did and the protocol violations seen.

A violation is a call the Advanced Control Flow says an integrator must not make: approving
a customer it did not validate, approving twice, approving after `ClearanceRequiredBy`,
validating a customer the campaign did not target, redeeming what was not approved.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from simulator.domain.models import CampaignStats, Violation

MAX_EXAMPLES = 20

# Refusal code → the violation it reveals.
APPROVAL_VIOLATIONS = {
    "not_validated": "approved_without_validation",
    "not_targeted": "approved_not_targeted",
    "duplicate_approval": "duplicate_approval",
    "already_approved": "released_after_approval",
    "clearance_closed": "approved_after_clearance",
    "campaign_cancelled": "approved_cancelled_campaign",
    "campaign_not_executed": "approved_before_execution",
}
VALIDATION_VIOLATIONS = {
    "not_targeted": "validated_not_targeted",
    "clearance_closed": "validated_after_clearance",
}
REDEMPTION_VIOLATIONS = {
    "not_approved": "redeemed_not_approved",
    "duplicate_redemption": "duplicate_redemption",
    "unknown_allocation": "redeemed_unknown_allocation",
    "wrong_promotion": "redeemed_wrong_promotion",
}


def _bump(counts: dict[str, int], key: str, by: int = 1) -> dict[str, int]:
    out = dict(counts)
    out[key] = out.get(key, 0) + by
    return out


def violate(
    stats: CampaignStats, code: str, detail: str, now: datetime, n: int = 1
) -> CampaignStats:
    examples = stats.examples
    if len(examples) < MAX_EXAMPLES:
        examples = (*examples, Violation(code, now, detail))
    return replace(stats, violations=_bump(stats.violations, code, n), examples=examples)


def record_fetch(stats: CampaignStats, rows: int) -> CampaignStats:
    return replace(stats, fetch_calls=stats.fetch_calls + 1, fetched=stats.fetched + rows)


def record_validation(
    stats: CampaignStats, valid: int, reasons: list[tuple[str, str]], now: datetime
) -> CampaignStats:
    """Count valid results and invalid ones by reason; `reasons` is (customer, reason)."""
    invalid = dict(stats.invalid)
    for _, reason in reasons:
        invalid[reason] = invalid.get(reason, 0) + 1
    stats = replace(stats, validated=stats.validated + valid, invalid=invalid)
    for reason, violation in VALIDATION_VIOLATIONS.items():
        who = [customer for customer, r in reasons if r == reason]
        if who:
            stats = violate(
                stats, violation, f"{len(who)} customer(s), e.g. {who[:5]}", now, len(who)
            )
    return stats


def record_redemptions(
    stats: CampaignStats, accepted: int, refused: list[tuple[str, str]], now: datetime
) -> CampaignStats:
    """Count accepted redemptions and refusals; `refused` is (allocationId, reason)."""
    counts = dict(stats.redemptions_refused)
    for _, reason in refused:
        counts[reason] = counts.get(reason, 0) + 1
    stats = replace(stats, redeemed=stats.redeemed + accepted, redemptions_refused=counts)
    for reason, violation in REDEMPTION_VIOLATIONS.items():
        who = [a for a, r in refused if r == reason]
        if who:
            stats = violate(stats, violation, f"{len(who)} item(s), e.g. {who[:5]}", now, len(who))
    return stats


def record_approvals(
    stats: CampaignStats, approved: int, released: int, now: datetime
) -> CampaignStats:
    stats = replace(stats, approved=stats.approved + approved, released=stats.released + released)
    if approved and stats.fetched == 0 and stats.targeted:
        stats = violate(stats, "approved_before_fetch", "approved customers never fetched", now)
    return stats


def record_refusal(
    stats: CampaignStats, code: str, rejected: list[dict[str, str]], now: datetime
) -> CampaignStats:
    """An approval call refused as a whole (409): count each reason and each violation."""
    reasons = [r["reason"] for r in rejected] or [code]
    refused = dict(stats.approvals_refused)
    for reason in reasons:
        refused[reason] = refused.get(reason, 0) + 1
    stats = replace(stats, approvals_refused=refused)
    for reason in set(reasons):
        violation = APPROVAL_VIOLATIONS.get(reason)
        if violation is None:
            continue
        who = [r["CustomerID"] for r in rejected if r["reason"] == reason][:5]
        n = reasons.count(reason)
        stats = violate(stats, violation, f"{n} item(s), e.g. {who}" if who else code, now, n)
    return stats
