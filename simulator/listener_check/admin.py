"""The simulator's control API as the listener check uses it (over HTTP, admin key), and
`JournalTail`, which collects the integrator's requests from the request journal."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

JOURNAL_PAGE = 10_000


class CheckAborted(Exception):
    """The check could not run (the simulator is unreachable or refused a control call):
    not a finding about the integrator."""


class SimAdmin:
    def __init__(self, url: str, admin_key: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(
            base_url=self.url, headers={"X-API-KEY": admin_key}, timeout=timeout_s
        )

    async def __aenter__(self) -> SimAdmin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.http.aclose()

    async def call(self, method: str, path: str, **kw: Any) -> Any:
        """The JSON answer of a control call; `CheckAborted` when it fails."""
        try:
            response = await self.http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise CheckAborted(f"simulator {self.url} unreachable: {exc!r}") from exc
        if response.is_error:
            raise CheckAborted(
                f"simulator refused {method} {path}: {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content else None

    async def deliveries(self, campaign_id: int) -> dict[str, dict[str, Any]]:
        """The campaign's webhook deliveries by `webhook-id`."""
        found = await self.call(
            "GET", "/_sim/deliveries", params={"campaignId": campaign_id, "limit": 10_000}
        )
        return {d["eventId"]: d for d in found["deliveries"]}


class JournalTail:
    """Reads the tenant's request journal incrementally and keeps the integrator's requests
    (everything but `/_sim`, which is the checker's own control traffic)."""

    def __init__(self, admin: SimAdmin) -> None:
        self.admin = admin
        self.after = 0
        self.entries: list[dict[str, Any]] = []

    async def skip_past(self) -> None:
        """Start after everything recorded so far."""
        await self.poll()
        self.entries.clear()

    async def poll(self) -> int:
        """Fetch new entries; returns how many of them are the integrator's."""
        new = 0
        while True:
            page = await self.admin.call(
                "GET", "/_sim/journal", params={"after": self.after, "limit": JOURNAL_PAGE}
            )
            entries: list[dict[str, Any]] = page["entries"]
            if not entries:
                return new
            self.after = entries[-1]["seq"]
            for entry in entries:
                if not entry["path"].startswith("/_sim"):
                    self.entries.append(entry)
                    new += 1
            if len(entries) < JOURNAL_PAGE:
                return new
