"""Which tenants the clock sweep visits: cost in proportion to activity (issue 17).

A realtime campaign executes at `executeAt` and clears at its deadline even when nobody
calls, so something must wake for it; visiting every tenant every second made 10,000 idle
tenants cost a core. Instead the sweep visits a tenant when it was written to (a control
call: campaigns, clock, scenario), when its next duty's wall-clock time has come (a heap),
and every tenant once at start and then every `full_every_s` as a safety net (another
server process on the same SQLite file may have scheduled something this one never saw).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable


class DutySweep:
    def __init__(self, tenant_ids: Callable[[], list[str]], full_every_s: float = 300.0) -> None:
        self._tenant_ids = tenant_ids
        self.full_every_s = full_every_s
        self._touched: set[str] = set()
        self._heap: list[tuple[float, str]] = []
        self._next: dict[str, float] = {}  # tenant → its next duty (wall clock)
        self._full_at: float | None = None  # None: a full pass is owed now

    def touch(self, tenant_id: str | None) -> None:
        """The tenant was written to: visit it at the next sweep."""
        if tenant_id is not None:
            self._touched.add(tenant_id)

    def forget(self, tenant_id: str) -> None:
        self._touched.discard(tenant_id)
        self._next.pop(tenant_id, None)  # its heap entries are now stale

    def due(self, now: float) -> list[str]:
        """The tenants to visit now."""
        visit, self._touched = self._touched, set()
        if self._full_at is None or now >= self._full_at:
            self._full_at = now + self.full_every_s
            visit.update(self._tenant_ids())
        while self._heap and self._heap[0][0] <= now:
            at, tenant_id = heapq.heappop(self._heap)
            if self._next.get(tenant_id) == at:
                del self._next[tenant_id]
                visit.add(tenant_id)
        return sorted(visit)

    def visited(self, tenant_id: str, next_at: float | None) -> None:
        """What the visit found: when the tenant's next duty falls due (None: none)."""
        if next_at is None:
            self._next.pop(tenant_id, None)
            return
        self._next[tenant_id] = next_at
        heapq.heappush(self._heap, (next_at, tenant_id))
