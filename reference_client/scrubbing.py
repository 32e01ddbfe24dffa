"""Scrubbing: the integrator's own eligibility rules, applied to the targeted list before
anyone is validated (step 2 of the scheduled flow).

A rule is any callable `(customer, ctx) -> str | None`: the reason to scrub, or None to
keep. Rules run in order and the first reason wins; counts are kept per rule name (the
callable's `rule_name`, else its `__name__`). A rule may list the customer attributes it
reads in an `attributes` tuple; the flow asks GetProcessedCampaignCustomers for them.

Fail safe: a rule that raises scrubs the customer (never reward when unsure) and is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from reference_client.models import Customer
from reference_client.platform.wallet import Wallet

LOG = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
TRUE_TEXT = frozenset({"true", "1", "yes", "y"})


@dataclass(frozen=True, slots=True)
class ScrubContext:
    """What a rule may consult besides the customer."""

    campaign_id: int
    wallet: Wallet
    now: datetime


class Rule(Protocol):
    def __call__(self, customer: Customer, ctx: ScrubContext, /) -> str | None: ...


def rule_name(rule: Callable[..., Any]) -> str:
    return str(getattr(rule, "rule_name", None) or getattr(rule, "__name__", type(rule).__name__))


def required_attributes(rules: Iterable[Callable[..., Any]]) -> list[str]:
    """The union of the attributes the rules read, in first-seen order."""
    names: dict[str, None] = {}
    for rule in rules:
        for name in getattr(rule, "attributes", ()):
            names.setdefault(str(name), None)
    return list(names)


def _reads(*attributes: str) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        fn.attributes = attributes  # type: ignore[attr-defined]
        return fn

    return mark


@_reads("SelfExcluded")
def self_excluded(customer: Customer, ctx: ScrubContext) -> str | None:
    """Scrub customers who excluded themselves (responsible gaming: they must not be
    offered bonuses, whatever Optimove's targeting said)."""
    value = customer.attributes.get("SelfExcluded", "")
    return "self_excluded" if value.strip().lower() in TRUE_TEXT else None


def blocked_countries(countries: Iterable[str]) -> Rule:
    """Scrub customers whose `Country` attribute is in `countries` (e.g. a market where
    bonuses are not licensed)."""
    blocked = frozenset(c.strip().upper() for c in countries)

    @_reads("Country")
    def blocked_countries(customer: Customer, ctx: ScrubContext) -> str | None:
        country = customer.attributes.get("Country", "").strip().upper()
        return f"country_blocked:{country}" if country in blocked else None

    return blocked_countries


def min_balance(amount: int) -> Rule:
    """Scrub customers whose real-time balance on our platform is below `amount` (minor
    units): data Optimove does not have. The wallet is asked at scrub time."""

    @_reads("Balance")
    def min_balance(customer: Customer, ctx: ScrubContext) -> str | None:
        balance = ctx.wallet.balance(customer.customer_id)
        return "balance_below_minimum" if balance < amount else None

    return min_balance


def default_rules(blocked: Sequence[str] = ("FR",), minimum: int = 0) -> list[Rule]:
    """The shipped example rules, as configured (`blocked_countries`, `min_balance`)."""
    rules: list[Rule] = [self_excluded]
    if blocked:
        rules.append(blocked_countries(blocked))
    if minimum > 0:
        rules.append(min_balance(minimum))
    return rules


def scrub(
    customers: Iterable[Customer], rules: Sequence[Rule], ctx: ScrubContext
) -> tuple[list[Customer], dict[str, int]]:
    """The kept customers, and how many each rule scrubbed."""
    kept: list[Customer] = []
    counts: dict[str, int] = {}
    names = [rule_name(rule) for rule in rules]
    for customer in customers:
        for name, rule in zip(names, rules, strict=True):
            try:
                reason = rule(customer, ctx)
            except Exception:
                LOG.exception(
                    "scrubbing rule %s failed; scrubbing %s to be safe",
                    name,
                    customer.customer_id,
                    extra={"rule": name, "customer_id": customer.customer_id},
                )
                reason = "rule_error"
            if reason is not None:
                counts[name] = counts.get(name, 0) + 1
                break
        else:
            kept.append(customer)
    return kept, counts
