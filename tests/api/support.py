"""Builders and readers shared by the rule-by-rule API tests.

Everything goes through the wire: promotions via `POST /v1/promotions` (admin key),
campaigns via `POST /_sim/campaigns`, triggered events via `/_sim/campaigns/{id}/events`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from simulator.population import Population
from tests.helpers import SCHEDULED, Sim

PROMO = "PR-TEST"
CODE = "TESTCODE"
POPULATION = Population()  # the demo population: seed 42, 100,000 customers


def cid(index: int) -> str:
    """The demo population's customer id of `index` (C0000000 ...)."""
    return POPULATION.customer_id(index)


def tier(
    tier_id: str,
    amount: int | None = None,
    *,
    when: list[dict[str, Any]] | None = None,
    reward: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": tier_id,
        "name": f"tier {tier_id}",
        "when": when or [],
        "reward": reward or {"type": "amount", "amount": amount, "currency": "EUR"},
    }


def promotion_body(
    promotion_id: str = PROMO,
    codes: tuple[str, ...] = (CODE,),
    *,
    kind: str = "amount",
    budget: int = 1_000_000,
    cap: int = 1000,
    limit: int = 1,
    daily: int | None = None,
    tiers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": promotion_id,
        "name": f"promotion {promotion_id}",
        "promocodes": list(codes),
        "rewardKind": kind,
        "budget": budget,
        "audienceCap": cap,
        "perCustomerLimit": limit,
        "tiers": tiers if tiers is not None else [tier("T-ALL", 100)],
    }
    if kind == "amount":
        body["currency"] = "EUR"
    if daily is not None:
        body["periodCaps"] = {"daily": daily}
    return body


def active_promotion(sim: Sim, **kw: Any) -> dict[str, Any]:
    """Create a promotion through the wire and activate it."""
    body = promotion_body(**kw)
    created = sim.create_promotion(body)
    assert created.status_code == 201, created.text
    activated = sim.activate(body["id"])
    assert activated.status_code == 200, activated.text
    return dict(activated.json())


def scheduled_campaign(
    sim: Sim,
    campaign_id: int,
    code: str = CODE,
    *,
    size: int = 100,
    offset: int = 0,
    window: float = 30,
    execute: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "id": campaign_id,
        "type": "scheduled",
        "promoCode": code,
        "actionId": 5,
        "actionName": f"campaign {campaign_id}",
        "targetGroup": {"size": size, "offset": offset},
        "clearanceWindowMinutes": window,
        **extra,
    }
    created = sim.create_campaign(body)
    assert created.status_code == 201, created.text
    if execute:
        executed = sim.execute(campaign_id)
        assert executed.status_code == 200, executed.text
        return dict(executed.json())
    return dict(created.json())


def triggered_campaign(sim: Sim, campaign_id: int, code: str = CODE) -> dict[str, Any]:
    body = {
        "id": campaign_id,
        "type": "triggered",
        "promoCode": code,
        "actionId": 9,
        "actionName": f"triggered {campaign_id}",
        "seriesId": 77,
        "trigger": "deposit",
    }
    created = sim.create_campaign(body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def emit_for(
    sim: Sim, campaign_id: int, customer_id: str, context: dict[str, Any] | None = None
) -> str:
    """Emit one triggered event for `customer_id`; its event id, read from the webhook
    written to the outbox (as an integrator learns it)."""
    response = sim.emit(
        campaign_id, customers=[{"customerId": customer_id, "context": context or {}}]
    )
    assert response.status_code == 201, response.text
    webhook = sim.outbox(kind="triggered", limit=10_000)[-1]["body"]
    assert webhook["user"]["user_id"] == customer_id
    assert webhook["campaign"]["id"] == campaign_id
    return str(webhook["eventId"])


def validate(
    sim: Sim,
    contexts: Sequence[str | Mapping[str, Any]],
    campaign_id: int,
    code: str = CODE,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """validateCustomers expecting 200; the per-context results."""
    bodies = [{"customerId": c} if isinstance(c, str) else dict(c) for c in contexts]
    response = sim.validate_customers(bodies, campaign_id, code, dry_run)
    assert response.status_code == 200, response.text
    return list(response.json()["contexts"])


def reasons(results: list[dict[str, Any]]) -> list[str | None]:
    return [r["reason"] for r in results]


def allocation_of(result: dict[str, Any]) -> str:
    assert result["valid"], result
    return str(result["effects"][0]["allocationId"])


def envelope(response: Any, status: int, error: str, *needles: str) -> dict[str, Any]:
    """Assert an error envelope: status, `error` code and message substrings."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict), body
    assert body["status"] == status, body
    assert body["error"] == error, body
    for needle in needles:
        assert needle in body["message"], body
    return dict(body)


def core_error(response: Any, status: int, *needles: str) -> str:
    """Assert a core-API error: the body is a JSON string naming the problem."""
    assert response.status_code == status, response.text
    assert response.text.startswith('"'), response.text
    message = response.json()
    assert isinstance(message, str)
    for needle in needles:
        assert needle in message, message
    return message


def ledger(
    sim: Sim, promotion_id: str = "PR-WELCOME", campaign_id: int = SCHEDULED
) -> dict[str, Any]:
    """What a refused call must not change: the promotion's usage and the campaign's
    state counters (not the audit's refusal counters, which record the refusal)."""
    report = sim.report(campaign_id)
    keep = ("targeted", "validated", "approved", "released", "redeemed", "sent", "eventsEmitted")
    return {
        "usage": sim.usage(promotion_id),
        "status": report["campaign"]["status"],
        **{k: report[k] for k in keep},
    }


def world(
    sim: Sim, campaign_id: int = SCHEDULED, promotion_id: str = "PR-WELCOME"
) -> dict[str, Any]:
    """Everything observable of the tenant: usage, full report, outbox and listeners."""
    return {
        "usage": sim.usage(promotion_id),
        "report": sim.report(campaign_id),
        "outbox": sim.outbox(limit=10_000),
        "listeners": sim.get("/current/general/GetRegisteredEventListeners").json(),
        "promotions": sim.get("/v1/promotions").json(),
    }


def core_time(text: str) -> datetime:
    """Parse a core-API time, `YYYY-MM-DD HH:MM:SS` (UTC)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
