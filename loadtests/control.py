"""The simulator's control API as the load scenarios use it: set a world up, fire events,
read deliveries, attempts, the journal and the audit. Plain httpx (no locust import), so
the scenarios' coordinator greenlets and the tests share it; under locust's gevent
monkey-patching its sockets cooperate like any other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

PAGE = 10_000  # the control API's largest page
EUR_1 = 100  # a reward of EUR 1.00, in minor units
APPROVAL_PATH = "/conditional-execution/v2/triggered/approval"
NO_LIMIT = 2**53  # the largest budget or cap a promotion takes


class SetupError(Exception):
    """The world could not be set up (the message says what to do about it)."""


def run_suffix() -> str:
    """Six hex digits that make this run's promotion and campaign ids unique."""
    return secrets.token_hex(3).upper()


def epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time with `Z` or an offset."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class Control:
    """An admin key's view of one tenant."""

    def __init__(self, base_url: str, admin_key: str, timeout: float = 60.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers={"X-API-KEY": admin_key}, timeout=timeout
        )

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise SetupError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise SetupError(f"{method} {path}: {response.status_code} {response.text[:400]}")
        return response.json() if response.content else None

    # -- the world ------------------------------------------------------------------------
    def tenant(self) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", "/_sim/tenant")
        return found

    def create_tenant(self, scenario: dict[str, Any], name: str) -> dict[str, str]:
        """A fresh tenant with the scenario's world; returns its keys by role."""
        body = {"name": name, "scenario": scenario}
        keys: dict[str, str] = self.call("POST", "/_sim/tenants", json=body)["keys"]
        return keys

    def create_promotion(self, body: dict[str, Any]) -> None:
        self.call("POST", "/v1/promotions", json=body)
        self.call("PATCH", f"/v1/promotions/{body['id']}/activate")

    def create_campaign(self, body: dict[str, Any]) -> int:
        """Create the campaign under a free random id (a taken one is tried again)."""
        for _ in range(5):
            campaign_id = 1_000_000 + secrets.randbelow(2**31 - 1_000_001)
            response = self.http.post("/_sim/campaigns", json={**body, "id": campaign_id})
            if response.status_code == 201:
                return campaign_id
            if "campaign_exists" not in response.text:
                raise SetupError(f"POST /_sim/campaigns: {response.status_code} {response.text}")
        raise SetupError("no free campaign id after 5 tries")

    def execute(self, campaign_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("POST", f"/_sim/campaigns/{campaign_id}/execute")
        return found

    def report(self, campaign_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/_sim/campaigns/{campaign_id}/report")
        return found

    def usage(self, promotion_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/v1/promotions/{promotion_id}")["usage"]
        return found

    def clock_offset(self) -> float:
        """Simulator clock minus wall clock, in seconds (0 for an unshifted realtime clock)."""
        before = time.time()
        now = epoch(self.call("GET", "/_sim/clock")["now"])
        return now - (before + time.time()) / 2

    # -- listeners ------------------------------------------------------------------------
    def triggered_webhook(self) -> str | None:
        response = self.http.get("/conditional-execution/v2/triggered/webhooks/")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SetupError(f"GET CE v2 webhook: {response.status_code} {response.text}")
        url: str = response.json()["url"]
        return url

    def register_triggered_webhook(self, url: str) -> None:
        self.call("POST", "/conditional-execution/v2/triggered/webhooks/", json={"url": url})

    def scheduled_listener(self) -> str | None:
        """The EventTypeID 5 listener's URL, if one is registered."""
        for row in self.call("GET", "/current/general/GetRegisteredEventListeners"):
            if row["EventTypeID"] == 5:
                url: str = row["ListenerURL"]
                return url
        return None

    def register_scheduled_listener(self, url: str) -> None:
        body = {"EventTypeID": 5, "ListenerURL": url}
        self.call("POST", "/current/general/RegisterEventListener", json=body)

    # -- records --------------------------------------------------------------------------
    def journal_enabled(self) -> bool:
        return bool(self.call("GET", "/_sim/journal", params={"limit": 1})["enabled"])

    def enable_journal(self) -> None:
        self.call("PUT", "/_sim/journal", json={"enabled": True})

    def journal(self, after: int, path: str | None = None) -> Iterator[dict[str, Any]]:
        """Every journal entry after `after` (seq), oldest first, page by page."""
        params: dict[str, Any] = {"limit": PAGE}
        if path is not None:
            params["path"] = path
        while True:
            entries = self.call("GET", "/_sim/journal", params={**params, "after": after})
            yield from entries["entries"]
            if len(entries["entries"]) < PAGE:
                return
            after = entries["entries"][-1]["seq"]

    def journal_end(self) -> int:
        """The newest journal seq (entries after it are new)."""
        last = 0
        for entry in self.journal(0):
            last = entry["seq"]
        return last

    def deliveries(self, campaign_id: int, kind: str, after: int) -> list[dict[str, Any]]:
        params = {"campaignId": campaign_id, "kind": kind, "after": after, "limit": PAGE}
        found: list[dict[str, Any]] = self.call("GET", "/_sim/deliveries", params=params)[
            "deliveries"
        ]
        return found

    def delivery_summary(self, campaign_id: int, kind: str) -> dict[str, Any]:
        params = {"campaignId": campaign_id, "kind": kind}
        found: dict[str, Any] = self.call("GET", "/_sim/deliveries/summary", params=params)
        return found

    def attempts(self, since: float) -> Iterator[dict[str, Any]]:
        """Delivery attempts recorded after `since` (wall seconds), oldest first."""
        for _ in range(1000):
            page = self.call("GET", "/_sim/attempts", params={"after": since, "limit": PAGE})
            yield from page["attempts"]
            if len(page["attempts"]) < PAGE:
                return
            # A hair before the last one: an equal time on the next page is not skipped
            # (the caller drops what it saw already).
            since = page["attempts"][-1]["at"] - 1e-6


def flat_promotion(
    promotion_id: str,
    promocode: str,
    *,
    reward: int = EUR_1,
    budget: int = NO_LIMIT,
    audience_cap: int = NO_LIMIT,
    per_customer_limit: int = 1,
) -> dict[str, Any]:
    """A promotion whose one tier rewards everyone the same amount (so the ledger can be
    checked exactly: committed budget = approvals x reward)."""
    return {
        "id": promotion_id,
        "name": f"optisim load {promotion_id}",
        "promocodes": [promocode],
        "rewardKind": "amount",
        "currency": "EUR",
        "budget": budget,
        "audienceCap": audience_cap,
        "perCustomerLimit": per_customer_limit,
        "tiers": [
            {
                "id": "T-ALL",
                "name": "Everyone",
                "when": [],
                "reward": {"type": "amount", "amount": reward, "currency": "EUR"},
            }
        ],
    }
