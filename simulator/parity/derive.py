"""A world derived from a recording (pure): the base world (the built-in demo) plus the
campaigns, promo codes and customers the recording shows that the base lacks.

What a recording shows: a scheduled campaign's webhook (its id), the requests that name a
campaign (`CampaignID` in core queries and bodies, `campaignData` of a validation with
its promo code and action), and the customers in the answers and requests (`CustomerID`,
`customerId`). Promotions' rules (tiers, budgets) are not visible in a recording, so a
promo code the base world does not own becomes a code without a Promotions promotion
(approved without validation) and the notes say so: pass `--scenario` for the real
rules."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from simulator.parity.compare import PLACEHOLDER

CUSTOMER_KEYS = {"customerid"}


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _body(part: dict[str, Any]) -> Any:
    return part.get("body", {}).get("json")


def derive_scenario(
    records: list[dict[str, Any]], base: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """(the derived scenario, notes on what was derived and what could not be)."""
    campaigns: dict[int, dict[str, Any]] = {}
    customers: dict[int, list[str]] = {}
    redacted = False

    def campaign(cid: Any) -> dict[str, Any] | None:
        if isinstance(cid, bool) or not isinstance(cid, int):
            return None
        return campaigns.setdefault(cid, {})

    for r in records:
        req, resp = r["request"], r["response"]
        body = _body(req)
        if r["kind"] == "webhook":
            if isinstance(body, dict):
                campaign(body.get("CampaignID"))
            continue
        found = campaign(_query_campaign(req.get("query", "")))
        if isinstance(body, dict):
            found = campaign(body.get("CampaignID")) or found
            data = body.get("campaignData")
            if isinstance(data, dict) and (c := campaign(data.get("campaignId"))) is not None:
                found = c
                parts = req["path"].split("/")
                if "promocodes" in parts and parts.index("promocodes") + 1 < len(parts):
                    c["promoCode"] = parts[parts.index("promocodes") + 1]
                if isinstance(data.get("actionId"), int):
                    c["actionId"] = data["actionId"]
        if found is None:
            continue
        cid = next(k for k, v in campaigns.items() if v is found)
        for part in (body, _body(resp)):
            for key, value in _walk(part):
                if key.lower() in CUSTOMER_KEYS and isinstance(value, str):
                    if PLACEHOLDER.match(value):
                        redacted = True
                    elif value not in customers.setdefault(cid, []):
                        customers[cid].append(value)

    world = copy.deepcopy(base)
    notes: list[str] = []
    known = {c["id"] for c in world.get("campaigns", [])}
    owned = {code for p in world.get("promotions", []) for code in p.get("promocodes", [])}
    owned |= {p["promoCode"] for p in world.get("promoCodes", [])}
    for cid, seen in sorted(campaigns.items()):
        if cid in known:
            continue
        code = seen.get("promoCode") or f"PARITY{cid}"
        ids = customers.get(cid, [])
        target: dict[str, Any] = {"ids": ids} if ids else {"size": 100}
        world.setdefault("campaigns", []).append(
            {
                "id": cid,
                "type": "scheduled",
                "promoCode": code,
                "actionId": seen.get("actionId", 1),
                "actionName": "derived from the recording",
                "targetGroup": target,
                "clearanceWindowMinutes": 30,
            }
        )
        notes.append(f"campaign {cid}: scheduled, promo code {code}, target {target}")
        if code not in owned:
            owned.add(code)
            world.setdefault("promoCodes", []).append(
                {"promoCode": code, "promotionName": f"{code} (derived)"}
            )
            notes.append(f"promo code {code}: no Promotions rules in a recording (pass --scenario)")
    prefix = world.get("population", {}).get("idPrefix", "C")
    chosen = {c["id"] for c in world.get("population", {}).get("customers", [])}
    for cid in sorted(customers):
        for customer in customers[cid]:
            generated = customer.startswith(prefix) and customer[len(prefix) :].isdigit()
            if not generated and customer not in chosen:
                chosen.add(customer)
                world.setdefault("population", {}).setdefault("customers", []).append(
                    {"id": customer, "attributes": {}}
                )
                notes.append(f"customer {customer}: added with no attributes")
    if redacted:
        notes.append("customer ids are redacted: targets are sized, not listed")
    return world, notes


def _query_campaign(query: str) -> int | None:
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        if name.lower() == "campaignid" and value.isdigit():
            return int(value)
    return None
