"""What the hot paths count: plain Python, no locks, no prometheus-client.

A request costs one dict lookup, one `bisect` and three list increments here; the
Prometheus families are built from these cells only when `/_sim/metrics` is scraped
(`collectors.py`). prometheus-client's own `Histogram.observe` takes a lock per bucket
and value (measured with `python -m loadtests.bench_metrics`), and everything here runs
on the event loop's thread, so the cells need no lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

# Seconds. Requests: the express lane answers in ~0.1 ms, a 10,000-item approval in
# ~100 ms. Webhooks: an acknowledgement is a LAN round trip; a lag includes retries.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0, 600.0)


def surface_of(path: str) -> str:
    """The surface a path belongs to: promotions (`/v1/...`), ce_v2
    (`/conditional-execution/...`), control (`/_sim/...`), docs, or core (every other
    path is a core spelling, wire-contract §2)."""
    if path.startswith("/v1/"):
        return "promotions"
    if path.startswith("/conditional-execution/"):
        return "ce_v2"
    if path.startswith("/_sim/"):
        return "control"
    if path in ("/docs", "/redoc", "/openapi.json") or path.startswith("/docs/"):
        return "docs"
    return "core"


class Histograms:
    """Histograms by a label key: per key `[bucket counts..., +Inf count, sum]`, the
    buckets not cumulative (Prometheus' cumulative `le` counts are summed at scrape)."""

    __slots__ = ("bounds", "cells")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.cells: dict[Any, list[float]] = {}

    def observe(self, key: Any, value: float) -> None:
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = [0] * (len(self.bounds) + 2)
        cell[bisect_left(self.bounds, value)] += 1  # the first bound >= value: `le`
        cell[-1] += value

    def items(self) -> Iterator[tuple[Any, list[tuple[str, float]], float]]:
        """(key, cumulative `le` buckets ending with +Inf, sum) per key."""
        for key, cell in list(self.cells.items()):
            running = 0.0
            buckets = []
            for bound, n in zip((*self.bounds, float("inf")), cell[:-1], strict=True):
                running += n
                buckets.append((_le(bound), running))
            yield key, buckets, cell[-1]


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


class RequestStats:
    """Requests by route (FastAPI's or the express lane's: both put the same `APIRoute` in
    the scope) and status, with their durations. Requests no route matched (404, 405,
    413 before routing) count under their surface with the operation `unmatched`, so a
    scan of random paths adds no label values."""

    __slots__ = ("histograms", "routes")

    def __init__(self) -> None:
        self.histograms = Histograms(REQUEST_BUCKETS)
        self.routes: dict[int, Any] = {}  # id → route (routes compare by value: unhashable)

    def observe(self, scope: Any, status: int, seconds: float) -> None:
        route = scope.get("route")
        if route is None:
            key: tuple[Any, int] = (surface_of(scope["path"]), status)
        else:
            key = (id(route), status)
        cells = self.histograms.cells
        cell = cells.get(key)
        if cell is None:
            if route is not None:  # first: a scrape (in a thread on SQLite) reads cells
                self.routes[id(route)] = route
            cell = cells[key] = [0] * (len(REQUEST_BUCKETS) + 2)
        cell[bisect_left(REQUEST_BUCKETS, seconds)] += 1
        cell[-1] += seconds

    def items(self) -> Iterator[tuple[tuple[str, str, str], list[tuple[str, float]], float]]:
        """((surface, operation, status), buckets, sum)."""
        for (where, status), buckets, total in self.histograms.items():
            if isinstance(where, str):
                yield (where, "unmatched", str(status)), buckets, total
            else:
                route = self.routes[where]
                operation = getattr(route, "operation_id", None) or route.name
                yield (surface_of(route.path), operation, str(status)), buckets, total


class DeliveryStats:
    """Webhook attempts by kind and outcome; acknowledgement latency of every attempt that
    got an HTTP answer; delivery lag (from the event entering the delivery log to its 2xx,
    retries and pacing included) of every delivered event."""

    __slots__ = ("ack", "attempts", "lag")

    def __init__(self) -> None:
        self.attempts: dict[tuple[str, str], int] = {}
        self.ack = Histograms(ACK_BUCKETS)
        self.lag = Histograms(LAG_BUCKETS)

    def attempt(self, kind: str, outcome: str, ack_s: float | None) -> None:
        key = (kind, outcome)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if ack_s is not None:
            self.ack.observe(kind, ack_s)

    def delivered(self, kind: str, lag_s: float) -> None:
        self.lag.observe(kind, max(lag_s, 0.0))
