"""Fault injection rules, seeded so a run can be replayed exactly.

Rules apply to the API (per operation id, or `*`) or to webhooks (per kind, or `*`), on a
probability or on the Nth matching call. Every decision is a pure function of (seed, rule,
call number or event id and attempt), so the same requests give the same faults. Rules live
in the server process (like the journal), per tenant; a scenario file may carry them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from simulator.wire import WireModel

ApiAction = Literal["latency", "error", "rate_limit", "drop_connection", "truncate"]
WebhookAction = Literal["duplicate", "reorder", "delay", "drop"]
_MASK = (1 << 64) - 1


class FaultRule(WireModel):
    """One fault: where it applies, when it fires, and what it does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: Literal["api", "webhook"]
    operation: Annotated[str, Field(max_length=128)] = Field(
        "*",
        description="API: an operation id such as validate_customers; webhook: "
        "scheduled, cancelled, channel (EventTypeID 13) or triggered; `*` for all",
    )
    action: Literal[
        "latency",
        "error",
        "rate_limit",
        "drop_connection",
        "truncate",
        "duplicate",
        "reorder",
        "delay",
        "drop",
    ]
    probability: Annotated[float, Field(ge=0, le=1)] | None = None
    nth: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="fire on the Nth match only"
    )
    status: Literal[500, 502, 503, 504] = 503
    latencyMs: Annotated[float, Field(ge=0, le=60_000)] = 0
    latencyMaxMs: Annotated[float, Field(ge=0, le=60_000)] | None = Field(
        None, description="with latencyMs: a uniform draw between the two"
    )
    retryAfter: Annotated[int, Field(ge=0, le=3600)] = 1
    delaySeconds: Annotated[float, Field(ge=0, le=3600)] = 1.0
    windowSeconds: Annotated[float, Field(gt=0, le=3600)] = 1.0

    @model_validator(mode="after")
    def _fits_target(self) -> FaultRule:
        api = self.action in ("latency", "error", "rate_limit", "drop_connection", "truncate")
        if api != (self.target == "api"):
            raise ValueError(f"action {self.action!r} does not apply to target {self.target!r}")
        if self.probability is None and self.nth is None:
            raise ValueError("give probability or nth")
        return self


def _unit(*parts: int | str) -> float:
    """A deterministic number in [0, 1) from the parts (splitmix64 over a string hash)."""
    x = 0
    for part in parts:
        for ch in str(part).encode():
            x = (x * 1_099_511_628_211 + ch) & _MASK
        x = (x + 0x9E3779B97F4A7C15) & _MASK
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
        x ^= x >> 31
    return x / 2**64


@dataclass(frozen=True, slots=True)
class Fired:
    rule: FaultRule
    draw: float  # a second deterministic number, for distributions

    @property
    def tag(self) -> str:
        return self.rule.action if self.rule.action != "error" else f"error_{self.rule.status}"

    def latency_s(self) -> float:
        low = self.rule.latencyMs
        high = self.rule.latencyMaxMs if self.rule.latencyMaxMs is not None else low
        return (low + (high - low) * self.draw) / 1000


@dataclass
class _TenantFaults:
    seed: int
    rules: list[FaultRule] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)


class FaultRegistry:
    """Per-tenant rules and their match counters (for `nth`)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._tenants: dict[str, _TenantFaults] = {}
        self._lock = threading.Lock()

    def active(self, tenant_id: str) -> bool:
        found = self._tenants.get(tenant_id)
        return found is not None and bool(found.rules)

    def set_rules(self, tenant_id: str, rules: list[FaultRule], seed: int | None = None) -> None:
        with self._lock:
            self._tenants[tenant_id] = _TenantFaults(
                self.seed if seed is None else seed, list(rules), [0] * len(rules)
            )

    def rules(self, tenant_id: str) -> tuple[int, list[FaultRule]]:
        found = self._tenants.get(tenant_id)
        return (found.seed, list(found.rules)) if found else (self.seed, [])

    def clear(self, tenant_id: str) -> None:
        with self._lock:
            self._tenants.pop(tenant_id, None)

    def api(self, tenant_id: str, operation: str) -> list[Fired]:
        """Faults that fire for this API call (counted per rule among matching calls)."""
        return self._decide(tenant_id, "api", operation, None)

    def webhook(self, tenant_id: str, kind: str, event_id: str, attempt: int) -> list[Fired]:
        """Faults for one delivery attempt: decided by (seed, rule, event id, attempt) so
        they do not depend on the order in which concurrent deliveries happen."""
        return self._decide(tenant_id, "webhook", kind, f"{event_id}#{attempt}")

    def _decide(self, tenant_id: str, target: str, operation: str, key: str | None) -> list[Fired]:
        found = self._tenants.get(tenant_id)
        if found is None:
            return []
        fired: list[Fired] = []
        with self._lock:
            for i, rule in enumerate(found.rules):
                if rule.target != target or rule.operation not in ("*", operation):
                    continue
                found.counts[i] += 1
                n = found.counts[i]
                ident: str | int = key if key is not None else n
                if rule.nth is not None:
                    hit = n == rule.nth
                else:
                    hit = _unit(found.seed, i, ident) < (rule.probability or 0)
                if hit:
                    fired.append(Fired(rule, _unit(found.seed, i, ident, "draw")))
        return fired


class RateLimiter:
    """The real API's limit (optimove-api-facts §1.3): `limit` requests per `window`
    seconds per API key, over a sliding window. Off unless switched on."""

    def __init__(self, limit: int = 50, window_s: float = 10.0, enabled: bool = False) -> None:
        self.limit = limit
        self.window_s = window_s
        self.enabled = enabled
        self._tenants: set[str] = set()
        self._hits: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def set_tenant(self, tenant_id: str, enabled: bool) -> None:
        if enabled:
            self._tenants.add(tenant_id)
        else:
            self._tenants.discard(tenant_id)

    def forget(self, tenant_id: str, keys: list[str]) -> None:
        """The tenant was deleted: drop its switch and its keys' windows."""
        with self._lock:
            self._tenants.discard(tenant_id)
            for key in keys:
                self._hits.pop(key, None)

    def applies(self, tenant_id: str) -> bool:
        return self.enabled or tenant_id in self._tenants

    def check(self, key: str, now: float) -> float | None:
        """None when the call may go ahead, else the seconds until it would."""
        with self._lock:
            hits = [t for t in self._hits.get(key, []) if t > now - self.window_s]
            if len(hits) >= self.limit:
                self._hits[key] = hits
                return hits[0] + self.window_s - now
            hits.append(now)
            self._hits[key] = hits
            return None
