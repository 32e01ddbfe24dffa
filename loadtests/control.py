"""The simulator's control API as the load scenarios use it: set a world up, fire events,
read deliveries, attempts, the journal and the audit. The `/_sim` calls go through the
typed control client (`simulator.control_client`, httpx underneath, no FastAPI), the few
Optimove API calls through plain httpx; no locust import, so the scenarios' coordinator
greenlets and the tests share it; under locust's gevent monkey-patching its sockets
cooperate like any other. Answers are handed on as plain dicts (what `measure.py` reads).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import httpx

from simulator.control_client import Conflict, ControlClient, ControlError
from simulator.domain.models import WebhookKind

PAGE = 10_000  # the control API's largest page
EUR_1 = 100  # a reward of EUR 1.00, in minor units
APPROVAL_PATH = "/conditional-execution/v2/triggered/approval"
NO_LIMIT = 2**53  # the largest budget or cap a promotion takes
T = TypeVar("T")


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
        self.sim = ControlClient(base_url, admin_key, http=self.http)

    def close(self) -> None:
        self.http.close()

    def run(self, call: Callable[[], T]) -> T:
        """A control client call, its failure a `SetupError` naming the call."""
        try:
            return call()
        except ControlError as exc:
            raise SetupError(str(exc)) from exc

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
        return self.run(self.sim.get_tenant).model_dump()

    def create_tenant(self, scenario: dict[str, Any], name: str) -> dict[str, str]:
        """A fresh tenant with the scenario's world; returns its keys by role."""
        return self.run(lambda: self.sim.create_tenant(name=name, scenario=scenario)).keys

    def create_promotion(self, body: dict[str, Any]) -> None:
        self.call("POST", "/v1/promotions", json=body)
        self.call("PATCH", f"/v1/promotions/{body['id']}/activate")

    def create_campaign(self, body: dict[str, Any]) -> int:
        """Create the campaign under a free random id (a taken one is tried again)."""
        for _ in range(5):
            campaign_id = 1_000_000 + secrets.randbelow(2**31 - 1_000_001)
            try:
                return self.sim.create_campaign({**body, "id": campaign_id}).id
            except Conflict as exc:
                if exc.error != "campaign_exists":
                    raise SetupError(str(exc)) from exc
            except ControlError as exc:
                raise SetupError(str(exc)) from exc
        raise SetupError("no free campaign id after 5 tries")

    def execute(self, campaign_id: int) -> dict[str, Any]:
        return self.run(lambda: self.sim.execute_campaign(campaign_id)).model_dump()

    def report(self, campaign_id: int) -> dict[str, Any]:
        return self.run(lambda: self.sim.get_campaign_report(campaign_id)).model_dump()

    def usage(self, promotion_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/v1/promotions/{promotion_id}")["usage"]
        return found

    def clock_offset(self) -> float:
        """Simulator clock minus wall clock, in seconds (0 for an unshifted realtime clock)."""
        before = time.time()
        now = epoch(self.run(self.sim.get_clock).now)
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

    def point_triggered_webhook(self, url: str) -> None:
        """The CE v2 registration pointed at `url`, its id and signing secret kept."""
        self.run(lambda: self.sim.point_triggered_webhook(url))

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
        return self.run(lambda: self.sim.get_journal(limit=1)).enabled

    def enable_journal(self) -> None:
        self.run(lambda: self.sim.set_journal(True))

    def journal(self, after: int, path: str | None = None) -> Iterator[dict[str, Any]]:
        """Every journal entry after `after` (seq), oldest first, page by page."""
        entries = self.sim.iter_journal(after=after, path=path)
        while True:
            entry = self.run(lambda: next(entries, None))
            if entry is None:
                return
            yield entry.model_dump()

    def journal_end(self) -> int:
        """The newest journal seq (entries after it are new)."""
        last = 0
        for entry in self.journal(0):
            last = entry["seq"]
        return last

    def deliveries(self, campaign_id: int, kind: WebhookKind, after: int) -> list[dict[str, Any]]:
        found = self.run(
            lambda: self.sim.list_deliveries(
                campaign_id=campaign_id, kind=kind, after=after, limit=PAGE
            )
        )
        return [d.model_dump() for d in found]

    def delivery_summary(self, campaign_id: int, kind: WebhookKind) -> dict[str, Any]:
        found = self.run(lambda: self.sim.summarize_deliveries(campaign_id=campaign_id, kind=kind))
        return found.model_dump()

    def attempts(self, since: float) -> Iterator[dict[str, Any]]:
        """Delivery attempts recorded after `since` (wall seconds), oldest first."""
        for _ in range(1000):
            page = self.run(partial(self.sim.list_attempts, after=since, limit=PAGE))
            for attempt in page:
                yield attempt.model_dump()
            if len(page) < PAGE:
                return
            # A hair before the last one: an equal time on the next page is not skipped
            # (the caller drops what it saw already).
            since = page[-1].at - 1e-6


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
