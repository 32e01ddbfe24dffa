"""The simulator's control API as the listener check uses it (the typed control client,
admin key), and `JournalTail`, which collects the integrator's requests from the request
journal."""

from __future__ import annotations

from collections.abc import Awaitable
from types import TracebackType
from typing import Any, TypeVar

import httpx

from simulator.control_client import AsyncControlClient, ControlError, Unreachable

JOURNAL_PAGE = 10_000
T = TypeVar("T")


class CheckAborted(Exception):
    """The check could not run (the simulator is unreachable or refused a control call):
    not a finding about the integrator."""


class SimAdmin:
    """The control client, with its failures turned into `CheckAborted`."""

    def __init__(self, url: str, admin_key: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.control = AsyncControlClient(self.url, admin_key, timeout=timeout_s)

    async def __aenter__(self) -> SimAdmin:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.control.aclose()

    async def run(self, call: Awaitable[T]) -> T:
        """The answer of a control call; `CheckAborted` when it fails."""
        try:
            return await call
        except Unreachable as exc:
            raise CheckAborted(f"simulator {self.url} unreachable: {exc.message}") from exc
        except ControlError as exc:
            raise CheckAborted(
                f"simulator refused {exc.method} {exc.path}: {exc.status} {exc.error}: "
                f"{exc.message}"
            ) from exc

    async def post_api(self, path: str, body: dict[str, Any]) -> None:
        """A call to the simulator's Optimove API (not `/_sim`) with the admin key, e.g. to
        register the integrator's listeners as its own setup would."""
        try:
            response = await self.control.http.post(
                self.url + path, json=body, headers={"X-API-KEY": self.control.admin_key or ""}
            )
        except httpx.HTTPError as exc:
            raise CheckAborted(f"simulator {self.url} unreachable: {exc!r}") from exc
        if response.is_error:
            raise CheckAborted(
                f"simulator refused POST {path}: {response.status_code} {response.text[:300]}"
            )

    async def deliveries(self, campaign_id: int) -> dict[str, dict[str, Any]]:
        """The campaign's webhook deliveries by `webhook-id`."""
        found = await self.run(self.control.list_deliveries(campaign_id=campaign_id, limit=10_000))
        return {d.eventId: d.model_dump() for d in found}


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
            page = await self.admin.run(
                self.admin.control.get_journal(after=self.after, limit=JOURNAL_PAGE)
            )
            if not page.entries:
                return new
            self.after = page.entries[-1].seq
            for entry in page.entries:
                if not entry.path.startswith("/_sim"):
                    self.entries.append(entry.model_dump())
                    new += 1
            if len(page.entries) < JOURNAL_PAGE:
                return new
