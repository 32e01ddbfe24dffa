"""The request journal: a capped ring buffer of recent requests per tenant.

Lives in the server process's memory (with several SQLite server processes, each keeps its
own). Each tenant can switch its own journal off (load runs, where it would only cost
time); the server setting is the default of tenants that did not choose. Memory is bounded
twice: `size` entries per tenant, and a process-wide `budget` shared fairly — when the
process holds more than the budget, the oldest entries go from tenants holding more than
an equal share, so a busy tenant never pushes out a quiet tenant's few entries.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Journal:
    size: int = 10_000
    enabled: bool = True  # the default of tenants that did not switch theirs
    budget: int = 200_000
    _entries: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    _switch: dict[str, bool] = field(default_factory=dict)
    _seq: int = 0
    _held: int = 0  # entries held across all tenants
    _victims: deque[str] = field(default_factory=deque)  # rotation of tenants to trim

    def enabled_for(self, tenant_id: str) -> bool:
        return self._switch.get(tenant_id, self.enabled)

    def switch(self, tenant_id: str, enabled: bool) -> None:
        """This tenant's journal on or off; other tenants keep theirs."""
        self._switch[tenant_id] = enabled

    def record(self, tenant_id: str, entry: dict[str, Any]) -> None:
        if not self.enabled_for(tenant_id) or self.size == 0 or self.budget == 0:
            return
        ring = self._entries.get(tenant_id)
        if ring is None:
            ring = self._entries[tenant_id] = deque()
            self._victims.append(tenant_id)
        self._seq += 1
        entry["seq"] = self._seq
        ring.append(entry)
        self._held += 1
        if len(ring) > self.size:
            ring.popleft()
            self._held -= 1
        while self._held > self.budget:
            self._trim_one()

    def _trim_one(self) -> None:
        """Drop the oldest entry of the next tenant (in rotation) holding more than an
        equal share of the budget; one exists whenever the budget is exceeded."""
        share = max(1, self.budget // max(1, len(self._entries)))
        for _ in range(len(self._victims)):
            tenant_id = self._victims[0]
            self._victims.rotate(-1)
            ring = self._entries.get(tenant_id)
            if ring is not None and len(ring) > share:
                ring.popleft()
                self._held -= 1
                return
        # unreachable while held > budget >= share * tenants; keep the bound regardless
        tenant_id = max(self._entries, key=lambda t: len(self._entries[t]))
        self._entries[tenant_id].popleft()
        self._held -= 1

    def held(self, tenant_id: str | None = None) -> int:
        """Entries held, by one tenant or by the process."""
        if tenant_id is None:
            return self._held
        return len(self._entries.get(tenant_id, ()))

    def entries(
        self,
        tenant_id: str,
        *,
        after: int = 0,
        limit: int = 100,
        path: str | None = None,
        status: int | None = None,
    ) -> list[dict[str, Any]]:
        out = []
        for entry in self._entries.get(tenant_id, ()):
            if entry["seq"] <= after:
                continue
            if path is not None and path.lower() not in entry["path"].lower():
                continue
            if status is not None and entry["status"] != status:
                continue
            out.append(entry)
            if len(out) >= limit:
                break
        return out

    def fill(self) -> dict[str, int]:
        """Entries held per tenant (each ring holds at most `size`)."""
        return {tenant_id: len(ring) for tenant_id, ring in list(self._entries.items())}

    def clear(self, tenant_id: str) -> None:
        ring = self._entries.pop(tenant_id, None)
        if ring is not None:
            self._held -= len(ring)
            self._victims.remove(tenant_id)

    def forget(self, tenant_id: str) -> None:
        """The tenant is gone: its entries and its switch."""
        self.clear(tenant_id)
        self._switch.pop(tenant_id, None)
