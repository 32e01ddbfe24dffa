"""Tenant operations: create, scenario load, reset, clock, auth (API keys and the legacy
login token), event listeners, the CE v2 webhook registration and legacy promotion codes."""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from simulator.domain import auth
from simulator.domain import promotions as promotion_rules
from simulator.domain.errors import DomainError, invalid, not_found
from simulator.domain.models import (
    CeWebhook,
    ClockState,
    OutboxEvent,
    PopulationSpec,
    Role,
    Tenant,
    Token,
)
from simulator.population import ATTRIBUTES, Population
from simulator.services import campaigns as campaign_service
from simulator.services import coverage
from simulator.services.campaigns import require_tenant
from simulator.services.promotions import add_promotion, build_promotion
from simulator.services.runtime import Runtime, clock_now
from simulator.specs import MAX_CHOSEN_CUSTOMERS, Scenario
from simulator.store.base import Tx

EVENT_TYPES = (1, 2, 3, 4, 5, 11, 13)


def new_key(role: Role) -> str:
    return f"sk_{role[:5]}_{secrets.token_urlsafe(18)}"


def _population(scenario: Scenario) -> PopulationSpec:
    p = scenario.population
    version = _new_version() if p.customers else None
    return PopulationSpec(p.seed, p.size, p.idPrefix, p.idWidth, p.selfExcludedPerMille, version)


def _new_version() -> str:
    # Random, not from `rt.ids`: two server processes seeded alike share one SQLite file,
    # and a repeated version would let one keep a stale cached population.
    return secrets.token_hex(8)


def _spelled(names: dict[str, str], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes with each name spelled as the tenant first spelled it (names ignore
    case, as CustomerAttributes does), recording new spellings in `names`."""
    return {names.setdefault(n.lower(), n): v for n, v in attributes.items()}


def _clock(scenario: Scenario, wall: float) -> ClockState:
    start = scenario.clock.start
    if scenario.clock.mode == "manual":
        return ClockState("manual", 0.0, start or clock_now(ClockState(), wall))
    offset = (start - clock_now(ClockState(), wall)).total_seconds() if start else 0.0
    return ClockState("realtime", offset)


def _users(
    rt: Runtime, tenant: Tenant, scenario: Scenario, builtin: bool
) -> dict[str, tuple[str, str]]:
    """The scenario's legacy users for this tenant. A built-in scenario's users belong to
    its own tenant (`tenant.id`): any other tenant loading a built-in gets generated
    credentials of the same roles instead (`demo-<tenant id>`, a random password), so
    every copy of the demo can log in to itself. Usernames held by another tenant are
    refused."""
    declared = scenario.tenant.users
    users: dict[str, tuple[str, str]]
    if builtin and tenant.id != scenario.tenant.id:
        users = {f"{u.username}-{tenant.id}": (secrets.token_urlsafe(12), u.role) for u in declared}
    else:
        users = {u.username: (u.password, u.role) for u in declared}
    taken = auth.username_taken(users, rt.store.user_tenant, tenant.id)
    if taken is not None:
        raise taken
    return users or tenant.users


def _apply(
    rt: Runtime, tx: Tx, tenant: Tenant, scenario: Scenario, builtin: bool = False
) -> Tenant:
    """Replace the tenant's world with the scenario's (keys, id and numeric id stay)."""
    tx.reset()
    tenant = replace(
        tenant,
        clock=_clock(scenario, rt.wall()),
        population=_population(scenario),
        webhook_secret=scenario.tenant.webhookSecret or tenant.webhook_secret,
        users=_users(rt, tenant, scenario, builtin),
        legacy_promotions={c.promoCode: c.promotionName for c in scenario.promoCodes},
    )
    tx.put_tenant(tenant)
    tx.clear_customers()
    names: dict[str, str] = {}
    for customer in scenario.population.customers:
        tx.put_customer(customer.id, _spelled(names, customer.attributes))
    now = rt.now(tenant)
    for spec in scenario.promotions:
        promotion = build_promotion(spec, now)
        if spec.status == "active":
            promotion = promotion_rules.activate(promotion)
        add_promotion(tx, promotion)
    for campaign_spec in scenario.campaigns:
        campaign_service.create_campaign_in(rt, tx, tenant, campaign_spec)
    return tenant


def create_tenant(
    rt: Runtime,
    scenario: Scenario,
    *,
    tenant_id: str | None = None,
    name: str | None = None,
    builtin: bool = False,
) -> tuple[Tenant, list[tuple[str, Role]]]:
    """A new isolated tenant with fresh keys (one admin, one integrations) and the
    scenario's world. Used by parallel test runs: nothing is shared between tenants. Its
    integer id (`TenantID` in webhooks) is numbered by the store: a scenario's
    `tenant.numericId` is for the scenario's own tenant only. A copy of a built-in
    scenario gets generated legacy credentials (shown in the answer); a scenario whose
    legacy username another tenant holds is refused (`username_taken`, 409). At most
    `SIM_MAX_TENANTS` tenants exist at once (`too_many_tenants`, 409)."""
    tenant_id = tenant_id or f"t-{secrets.token_hex(6)}"
    with rt.store.transaction(tenant_id) as tx:
        if tx.tenant() is not None:
            raise DomainError("tenant_exists", f"tenant {tenant_id!r} already exists")
        if tx.tenant_count() >= rt.max_tenants:
            raise DomainError(
                "too_many_tenants",
                f"this server holds at most {rt.max_tenants:,} tenants (SIM_MAX_TENANTS): "
                "delete one (DELETE /_sim/tenants/{id}) first",
                {"limit": rt.max_tenants},
            )
        tenant = Tenant(
            tenant_id,
            name or scenario.tenant.name,
            clock_now(ClockState(), rt.wall()),
            numeric_id=tx.next_tenant_number(),
        )
        tx.put_tenant(tenant)
        for role in ("admin", "integrations"):
            tx.add_key(new_key(role), role)
        _apply(rt, tx, tenant, scenario, builtin)
        return require_tenant(tx), tx.keys()


def _check_number_free(rt: Runtime, tenant_id: str, number: int) -> None:
    """A scenario's fixed `numericId` must not be another tenant's already."""
    for other in rt.store.tenant_ids():
        if other == tenant_id:
            continue
        with rt.store.transaction(other) as tx:
            found = tx.tenant()
        if found is not None and found.numeric_id == number:
            raise invalid("tenant.numericId", f"{number} is the numericId of another tenant")


def _number_the_unnumbered(rt: Runtime, skip: str) -> None:
    """Tenants of a store written before tenants had integer ids get one (at startup)."""
    for tenant_id in rt.store.tenant_ids():
        if tenant_id == skip:
            continue
        with rt.store.transaction(tenant_id) as tx:
            tenant = tx.tenant()
            if tenant is not None and tenant.numeric_id == 0:
                tx.put_tenant(replace(tenant, numeric_id=tx.next_tenant_number()))


def ensure_scenario_tenant(rt: Runtime, scenario: Scenario) -> tuple[Tenant, bool]:
    """Create the scenario's own tenant (its id, keys and `numericId`) unless it exists
    already; without a `numericId` the store numbers it. Tenants found without a number
    (a store written before tenants had one) are given one now, the scenario's own its
    `numericId` when it declares one.

    Safe when several server processes share one SQLite file: the first one creates it,
    the others find it. Returns (tenant, created)."""
    spec = scenario.tenant
    if spec.numericId is not None:
        _check_number_free(rt, spec.id, spec.numericId)
    _number_the_unnumbered(rt, skip=spec.id)
    with rt.store.transaction(spec.id) as tx:
        existing = tx.tenant()
        if existing is not None:
            if existing.numeric_id == 0:
                number = spec.numericId or tx.next_tenant_number()
                existing = replace(existing, numeric_id=number)
                tx.put_tenant(existing)
            return existing, False
        for key in spec.keys:
            owner = rt.store.lookup_key(key.key)
            if owner is not None and owner[0] != spec.id:
                raise invalid("tenant.keys", f"key {key.key[:6]}… belongs to another tenant")
        tenant = Tenant(
            spec.id,
            spec.name,
            clock_now(ClockState(), rt.wall()),
            numeric_id=spec.numericId or tx.next_tenant_number(),
        )
        tx.put_tenant(tenant)
        for key in spec.keys:
            tx.add_key(key.key, key.role)
        return _apply(rt, tx, tenant, scenario), True


def load_scenario(
    rt: Runtime, tenant_id: str, scenario: Scenario, *, builtin: bool = False
) -> Tenant:
    """Load a scenario into the caller's tenant, replacing its state (keys stay). A
    built-in loaded into a tenant other than its own gets generated legacy credentials;
    a legacy username another tenant holds is refused (`username_taken`, 409)."""
    with rt.store.transaction(tenant_id) as tx:
        return _apply(rt, tx, require_tenant(tx), scenario, builtin)


def reset_tenant(rt: Runtime, tenant_id: str) -> Tenant:
    """Forget promotions, campaigns, allocations, events and outbox; clock back to realtime.
    Keys, population, users and secrets stay."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        tx.reset()
        tenant = replace(
            tenant, clock=ClockState(), listeners={}, ce_webhook=None, legacy_promotions={}
        )
        tx.put_tenant(tenant)
        return tenant


def delete_tenant(rt: Runtime, tenant_id: str) -> list[str]:
    """Forget the tenant entirely, on either store: its world, chosen customers, keys,
    login tokens and legacy usernames; its keys are refused from now on. Returns the
    credentials it had (the caller drops what it keeps per key). Unknown → 404."""
    credentials = rt.store.delete_tenant(tenant_id)
    if credentials is None:
        raise not_found("tenant", tenant_id)
    rt.forget(tenant_id)
    return credentials


@dataclass(frozen=True, slots=True)
class CustomerView:
    """One customer as the control API shows it."""

    customer_id: str
    index: int
    explicit: bool
    attributes: dict[str, Any]


def _view(population: Population, customer_id: str) -> CustomerView | None:
    index = population.index_of(customer_id)
    if index is None:
        return None
    return CustomerView(customer_id, index, index >= population.size, population.attributes(index))


def get_customer(rt: Runtime, tenant_id: str, customer_id: str) -> CustomerView:
    """A customer's attributes: computed, chosen, or computed with chosen ones laid over."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        found = _view(rt.population(tenant, tx), customer_id)
        if found is None:
            raise DomainError(
                "unknown_customer", f"customer {customer_id!r} is not in the population"
            )
        return found


def put_customer(
    rt: Runtime, tenant_id: str, customer_id: str, attributes: Mapping[str, Any]
) -> tuple[CustomerView, bool]:
    """Add an explicit customer, or replace a customer's chosen attributes (a generated
    customer's are laid over its computed ones, which come back where not chosen).
    Returns the customer and whether it is new. Tier conditions, target groups frozen
    from now on and CustomerAttributes see the change at once; processed lists already
    frozen keep their customers (a new customer joins no executed campaign)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        population = rt.population(tenant, tx)
        created = population.index_of(customer_id) is None
        if created and population.count - population.size >= MAX_CHOSEN_CUSTOMERS:
            raise DomainError(
                "too_many_customers",
                f"a tenant holds at most {MAX_CHOSEN_CUSTOMERS:,} explicit customers",
            )
        names = dict(population.chosen.names) if population.chosen else {}
        for name in ATTRIBUTES:
            names[name.lower()] = name
        tx.put_customer(customer_id, _spelled(names, attributes))
        spec = replace(tenant.population, chosen_version=_new_version())
        tenant = replace(tenant, population=spec)
        tx.put_tenant(tenant)
        view = _view(rt.population(tenant, tx), customer_id)
        assert view is not None
        return view, created


def get_tenant(rt: Runtime, tenant_id: str) -> tuple[Tenant, datetime]:
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        return tenant, rt.now(tenant)


# -- clock -------------------------------------------------------------------------------
def set_clock(
    rt: Runtime, tenant_id: str, mode: Literal["realtime", "manual"], at: datetime | None
) -> tuple[Tenant, datetime, int]:
    """Switch the clock mode and optionally jump to `at`; due work runs right after."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        current = rt.now(tenant)
        target = at or current
        wall_now = clock_now(ClockState(), rt.wall())
        if mode == "manual":
            clock = ClockState("manual", 0.0, target)
        else:
            clock = ClockState("realtime", (target - wall_now).total_seconds())
        tx.put_tenant(replace(tenant, clock=clock))
    done = campaign_service.run_due(rt, tenant_id)
    tenant, now = get_tenant(rt, tenant_id)
    return tenant, now, done


def advance_clock(rt: Runtime, tenant_id: str, seconds: float) -> tuple[Tenant, datetime, int]:
    """Move the clock forward (either mode) and run whatever falls due, such as
    clearances at `ClearanceRequiredBy` and executions at `executeAt`."""
    if seconds < 0:
        raise invalid("seconds", "the clock only moves forward")
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        clock = tenant.clock
        if clock.mode == "manual" and clock.manual_now is not None:
            clock = replace(clock, manual_now=clock.manual_now + timedelta(seconds=seconds))
        else:
            clock = replace(clock, offset_s=clock.offset_s + seconds)
        tx.put_tenant(replace(tenant, clock=clock))
    done = campaign_service.run_due(rt, tenant_id)
    tenant, now = get_tenant(rt, tenant_id)
    return tenant, now, done


# -- auth --------------------------------------------------------------------------------
def _same(expected: str, given: str) -> bool:
    """Passwords compared in constant time, as UTF-8 bytes: `compare_digest` refuses str
    with non-ASCII characters (a TypeError, which was a 500 for a password like `é`)."""
    return secrets.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )


def login(rt: Runtime, username: str, password: str) -> str:
    """Legacy `general/login`: a token for `Authorization-Token` (wire-contract §2). The
    token is a GUID, as Optimove's login diagrams show and a v1.6-era client requires (it
    accepts only a 36-character token). With the login limits on (the default), a login
    the rules of `auth.login_retry_after` refuse is `too_many_requests` (429) with
    `details.retryAfter`, and issues no token."""
    # The username index names the one tenant holding the user (usernames are unique
    # across tenants), so a login reads one tenant, not every tenant.
    tenant_id = rt.store.user_tenant(username)
    if tenant_id is not None:
        with rt.store.transaction(tenant_id) as tx:
            tenant = tx.tenant()
            user = tenant.users.get(username) if tenant else None
            if tenant is not None and user is not None and _same(user[0], password):
                now = rt.wall()
                previous = tenant.logins.get(username)
                if rt.login_limits and previous is not None:
                    held = rt.store.lookup_token(previous[0])
                    wait = auth.login_retry_after(held, previous[1], now, rt.token_ttl_s)
                    if wait is not None:
                        coverage.hit_tenant(tenant.id, "refused.too_many_requests")
                        raise DomainError(
                            "too_many_requests",
                            "Too many requests: log in again only when your token has "
                            "expired, and at most once a second",
                            {"retryAfter": wait},
                        )
                token = str(uuid.uuid4())
                role: Role = "admin" if user[1] == "admin" else "integrations"
                tx.put_token(Token(token, tenant_id, role, now))
                tx.put_tenant(replace(tenant, logins={**tenant.logins, username: (token, now)}))
                return token
    raise DomainError("unauthorized", "Unauthorized")


def purge_tokens(rt: Runtime) -> int:
    """Delete the login tokens expired for longer than the retention, so tokens nobody
    uses again do not pile up. Until then an expired token still answers 403
    `Authorization-Token Expired`, the answer a client re-logs in on; after, it is an
    unknown token (401). Returns how many went."""
    cutoff = auth.expiry_cutoff(rt.wall(), rt.token_ttl_s + rt.token_retention_s)
    return rt.store.purge_tokens(cutoff)


def authenticate_token(rt: Runtime, token: str) -> tuple[str, Role]:
    """The token's tenant and role; it expires 20 minutes after its last use → 403."""
    found = rt.store.lookup_token(token)
    if found is None:
        raise DomainError("unauthorized", "Unauthorized")
    now = rt.wall()
    if auth.expired(found, now, rt.token_ttl_s):
        coverage.hit_tenant(found.tenant_id, "refused.token_expired")
        raise DomainError("token_expired", "Authorization-Token Expired")
    rt.store.touch_token(token, now)
    return found.tenant_id, found.role


# -- listeners and webhooks --------------------------------------------------------------
def _check_url(field: str, url: str) -> str:
    # The PyPI client percent-encodes the whole URL (optimove-api-facts §2.1); a plain URL
    # is never decoded (`%3A` in its path stays as it is).
    if url.lower().startswith(("http%3a%2f%2f", "https%3a%2f%2f")):
        url = unquote(url)
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        raise invalid(field, "must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 1024:
        raise invalid(field, "must be an http(s) URL")
    return url


def listener_key(event_type: int, channel_id: int | None) -> str:
    return str(event_type) if channel_id is None else f"{event_type}:{channel_id}"


def register_event_listener(
    rt: Runtime, tenant_id: str, event_type: int, url: str, channel_id: int | None
) -> None:
    """Register (or replace) the listener of an event type (EventTypeID 5: no ChannelID)."""
    if event_type not in EVENT_TYPES:
        raise invalid("EventTypeID", f"must be one of {', '.join(map(str, EVENT_TYPES))}")
    if event_type == 5 and channel_id is not None:
        raise invalid("ChannelID", "EventTypeID 5 is a general listener: no ChannelID")
    url = _check_url("ListenerURL", url)
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        listeners = {**tenant.listeners, listener_key(event_type, channel_id): url}
        tx.put_tenant(replace(tenant, listeners=listeners))


def unregister_event_listener(
    rt: Runtime, tenant_id: str, event_type: int, channel_id: int | None
) -> None:
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        key = listener_key(event_type, channel_id)
        if key not in tenant.listeners:
            raise DomainError("unknown_listener", f"no listener for EventTypeID {event_type}")
        listeners = {k: v for k, v in tenant.listeners.items() if k != key}
        tx.put_tenant(replace(tenant, listeners=listeners))


def get_registered_event_listeners(rt: Runtime, tenant_id: str) -> list[dict[str, Any]]:
    tenant, _ = get_tenant(rt, tenant_id)
    out = []
    for key, url in sorted(tenant.listeners.items()):
        event_type, _, channel = key.partition(":")
        out.append(
            {
                "EventTypeID": int(event_type),
                "ListenerURL": url,
                "ChannelID": int(channel) if channel else None,
            }
        )
    return out


def register_triggered_webhook(
    rt: Runtime, tenant_id: str, url: str, secret: str | None
) -> CeWebhook:
    """One CE v2 webhook per tenant; a new registration replaces the old one."""
    url = _check_url("url", url)
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        hook = CeWebhook(rt.ids.next("wh"), url, rt.now(tenant), secret)
        tx.put_tenant(replace(tenant, ce_webhook=hook))
        return hook


def point_triggered_webhook(rt: Runtime, tenant_id: str, url: str) -> CeWebhook:
    """Point the tenant's CE v2 registration at `url`, keeping its id, creation time and
    signing secret (404 without one). A control operation: registering again through
    the CE v2 API replaces the secret too. Load runs that send the webhooks to another
    listener for a while (`--listener-url`) move and restore the registration this way,
    and the secret never has to leave the simulator."""
    url = _check_url("url", url)
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        if tenant.ce_webhook is None:
            raise not_found("webhook", "triggered")
        hook = replace(tenant.ce_webhook, url=url)
        tx.put_tenant(replace(tenant, ce_webhook=hook))
        return hook


def get_triggered_webhook(rt: Runtime, tenant_id: str) -> CeWebhook:
    tenant, _ = get_tenant(rt, tenant_id)
    if tenant.ce_webhook is None:
        raise not_found("webhook", "triggered")
    return tenant.ce_webhook


def delete_triggered_webhook(rt: Runtime, tenant_id: str) -> None:
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        if tenant.ce_webhook is None:
            raise not_found("webhook", "triggered")
        tx.put_tenant(replace(tenant, ce_webhook=None))


# -- legacy promotion codes (integrations/AddPromotions etc.) ----------------------------
def add_promotions(rt: Runtime, tenant_id: str, items: list[tuple[str, str]]) -> None:
    """Add or replace promo codes (≤ 100 per call, as the real API)."""
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        tx.put_tenant(
            replace(tenant, legacy_promotions={**tenant.legacy_promotions, **dict(items)})
        )


def get_promotions(rt: Runtime, tenant_id: str) -> list[tuple[str, str]]:
    tenant, _ = get_tenant(rt, tenant_id)
    return sorted(tenant.legacy_promotions.items())


def delete_promotions(rt: Runtime, tenant_id: str, codes: list[str]) -> None:
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        kept = {k: v for k, v in tenant.legacy_promotions.items() if k not in set(codes)}
        tx.put_tenant(replace(tenant, legacy_promotions=kept))


def list_outbox(
    rt: Runtime, tenant_id: str, after: int, limit: int, kind: str | None
) -> list[OutboxEvent]:
    """Outbox events in write order, after sequence number `after`."""
    with rt.store.transaction(tenant_id) as tx:
        require_tenant(tx)
        return list(tx.outbox(after=after, limit=limit, kind=kind))


def rotate_webhook_secret(
    rt: Runtime, tenant_id: str, secret: str | None
) -> tuple[str, str | None]:
    """Make `secret` (or a new random one) the tenant's webhook secret; returns (new, old).
    The caller keeps the old one valid for an overlap, so receivers can switch safely."""
    new = secret or "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    with rt.store.transaction(tenant_id) as tx:
        tenant = require_tenant(tx)
        tx.put_tenant(replace(tenant, webhook_secret=new))
        return new, tenant.webhook_secret
