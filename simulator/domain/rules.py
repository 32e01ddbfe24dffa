"""The catalogue of business rules, for coverage: which of Promotions' and Optimove's rules
an integrator's traffic exercised (`GET /_sim/coverage`, `optisim coverage`).

The catalogue is built from the constants the rules themselves use (`validation.REASONS`,
`approvals.APPROVAL_REASONS`, `redemptions.REDEMPTION_REASONS`, the audit's refusal
tables), so a new reason added there is in the catalogue at once; the codes the domain
raises as whole-call refusals are listed here, and a test walks every `DomainError(...)`
in the code and fails on a code this module does not know.

A rule id is `group.name`: `validate.budget_exhausted`, `approve.duplicate_approval`,
`lifecycle.cleared`, `fault.api.truncate`, `answer.retried`. A promotion's tiers are rules
of its own, `tier.<promotionId>.<tierId>`, listed per tenant (`tier_rules`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from simulator.domain.approvals import APPROVAL_REASONS
from simulator.domain.models import Promotion
from simulator.domain.redemptions import REDEMPTION_REASONS
from simulator.domain.validation import REASONS

# The fault kinds of `simulator.faults` (API and webhook actions); a test checks they match.
API_FAULTS = ("latency", "error", "rate_limit", "drop_connection", "truncate")
WEBHOOK_FAULTS = ("duplicate", "reorder", "delay", "drop")

# Whole-call refusals the domain raises (DomainError codes) beyond the per-item reasons.
REFUSALS = {
    "campaign_cancelled": "a call on a cancelled campaign is refused",
    "campaign_not_executed": "a scheduled campaign takes no call before it executes",
    "clearance_closed": "approvals are closed at ClearanceRequiredBy",
    "promocode_mismatch": "validateCustomers with a promocode the campaign does not use",
    "campaign_type_mismatch": "validateCustomers naming the wrong campaign type",
    "unknown_event": "a CE v2 approval of an event never emitted for that customer",
    "approval_rejected": "an approval batch refused for several reasons at once",
    "invalid_transition": "a lifecycle step the campaign's or promotion's state forbids",
    "promotion_archived": "an archived promotion cannot change state",
    "tiers_locked": "a promotion that has been active keeps its tiers",
    "token_expired": "a legacy token expires 20 minutes after its last use",
    "too_many_requests": "a login while the user's token is valid, or within a second",
    "unauthorized": "a call without a valid key or token",
    "forbidden": "an integrations key calling an admin operation",
    "invalid_request": "input that breaks a business-level shape rule",
    "campaign_exists": "a campaign id is unique per tenant",
    "promotion_exists": "a promotion id is unique per tenant",
    "tenant_exists": "a tenant id is unique",
    "target_group_too_large": "a campaign's target group fits its population",
    "promocode_exists": "a promo code belongs to one promotion",
    "too_many_customers": "a tenant's chosen customers are capped",
    "username_taken": "a legacy username belongs to one tenant",
    "too_many_tenants": "at most SIM_MAX_TENANTS tenants exist at once",
    "unknown_object": "an unknown campaign, promotion, promocode... (another tenant's too)",
}


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    summary: str

    @property
    def group(self) -> str:
        """The id's first part: `validate`, `approve`, `tier`, `fault`…"""
        return self.id.split(".", 1)[0]


def _rules() -> dict[str, Rule]:
    out: list[Rule] = [
        Rule("validate.valid", "a customer validated: a reward reserved"),
        *(Rule(f"validate.{r}", f"validateCustomers refuses a customer: {r}") for r in REASONS),
        Rule("approve.approved", "an approval commits the reservation"),
        Rule("approve.released", "Status false / approved false releases it"),
        Rule("approve.without_promotion", "approved by a record (no Promotions)"),
        *(Rule(f"approve.{r}", f"an approval item is refused: {r}") for r in APPROVAL_REASONS),
        Rule("redeem.accepted", "a redemption of an approved reward is accepted"),
        *(Rule(f"redeem.{r}", f"a redemption item is refused: {r}") for r in REDEMPTION_REASONS),
        Rule("lifecycle.executed", "a scheduled campaign executes (EventTypeID 5)"),
        Rule("lifecycle.cleared", "a campaign clears at ClearanceRequiredBy"),
        Rule("lifecycle.cancelled", "a campaign is cancelled (EventTypeID 4)"),
        Rule("lifecycle.event_emitted", "a triggered event is emitted (CE v2)"),
        *(Rule(f"refused.{code}", text) for code, text in REFUSALS.items()),
        *(Rule(f"fault.api.{a}", f"an injected API fault: {a}") for a in API_FAULTS),
        *(Rule(f"fault.webhook.{a}", f"an injected webhook fault: {a}") for a in WEBHOOK_FAULTS),
        Rule("answer.retried", "after a fault the integrator sent the call again"),
        Rule("answer.reconciled", "a retry found the change applied (duplicate)"),
        Rule("answer.gave_up", "after a fault the integrator never sent it again"),
        Rule("webhook.delivered", "the integrator accepted a webhook (2xx)"),
        Rule("webhook.deduplicated", "a re-sent webhook-id did not act twice"),
        Rule("webhook.signature_rejected", "a webhook the listener refused (4xx)"),
    ]
    return {rule.id: rule for rule in out}


CATALOGUE: dict[str, Rule] = _rules()


def rule_id(rule: str) -> str:
    """The id itself, after checking it is catalogued (the code raising a rule names it
    through this, so an uncatalogued id fails the first test that reaches it)."""
    if rule not in CATALOGUE:
        raise KeyError(f"rule {rule!r} is not in the catalogue (simulator/domain/rules.py)")
    return rule


def refusal(code: str) -> str:
    """The rule of a whole-call refusal code (`DomainError.code`): a CE v2 approval refused
    for its one event is that approval reason; an injected 5xx is its fault."""
    if code in APPROVAL_REASONS:
        return rule_id(f"approve.{code}")
    if code == "injected_fault":
        return rule_id("fault.api.error")
    if code.startswith("unknown_") and code != "unknown_event":
        return rule_id("refused.unknown_object")
    return rule_id(f"refused.{code}")


def tier_rules(promotions: Iterable[Promotion]) -> list[Rule]:
    """One rule per tier of each promotion: a customer rewarded at that tier."""
    return [
        Rule(f"tier.{p.id}.{t.id}", f"promotion {p.id}: tier {t.name or t.id}")
        for p in promotions
        for t in p.tiers
    ]


def known(rule: str) -> bool:
    return rule in CATALOGUE or rule.startswith("tier.")
