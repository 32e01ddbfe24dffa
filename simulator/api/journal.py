"""The request journal: a capped ring buffer of recent requests per tenant.

Lives in the server process's memory (with several SQLite server processes, each keeps its
own). It can be switched off for load runs, where it would only cost time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Journal:
    size: int = 10_000
    enabled: bool = True
    _entries: dict[str, deque[dict[str, Any]]] = field(default_factory=dict)
    _seq: int = 0

    def record(self, tenant_id: str, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        ring = self._entries.get(tenant_id)
        if ring is None:
            ring = self._entries[tenant_id] = deque(maxlen=self.size)
        self._seq += 1
        entry["seq"] = self._seq
        ring.append(entry)

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
        self._entries.pop(tenant_id, None)
