"""What the metrics cost a request: an in-process A/B of the whole ASGI stack (no HTTP).

    python -m loadtests.bench_metrics [--requests 5000] [--rounds 5]

Builds two simulators that differ only in `SIM_METRICS` (on / off) and sends each the
same requests straight into the ASGI app, interleaving the rounds (ABBA) so that load on
a shared machine and the order hit both alike:

1. a 1-context `validateCustomers` dry run (the express lane);
2. the same request with the express lane off (FastAPI's routing and dependencies);
3. `GET /_sim/clock` (a control route; FastAPI).

Per case it prints the median and the best round of each (on a shared machine the best
rounds are the steadiest figure). It also times (timeit) the recorder call alone, and
what prometheus-client's own `Counter.inc` plus `Histogram.observe` on a labelled child
would cost instead. A benchmark, not a test: it prints figures (µs per request).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
import timeit
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram

from simulator.app import create_app
from simulator.metrics.recorders import REQUEST_BUCKETS, RequestStats
from simulator.scenario import builtin_scenario
from simulator.settings import SimSettings

ADMIN = b"demo-admin-key"
VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"
BODY = orjson.dumps(
    {"campaignData": {"campaignId": 48213}, "contexts": [{"customerId": "C0000001"}]}
)


def scope(method: str, path: str, query: bytes, body: bytes) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"x-api-key", ADMIN)]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def per_request(app: Any, template: dict[str, Any], body: bytes, n: int) -> float:
    """Mean µs per request over `n` requests (each answer checked for a 200)."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.perf_counter()
    for _ in range(n):
        await app(dict(template), receive, send)
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected statuses {sorted(set(statuses))}")
    return elapsed / n * 1e6


def make(metrics: bool, express: bool) -> Any:
    settings = SimSettings(metrics=metrics, express=express, journal=False, webhooks=False)
    return create_app(settings, scenario=builtin_scenario("demo"))


def recorder_costs(n: int) -> tuple[float, float]:
    """µs per call: our recorder, and prometheus-client's counter + histogram child."""
    stats = RequestStats()
    fake = {"route": object(), "path": VALIDATE}
    ours = min(timeit.repeat(lambda: stats.observe(fake, 200, 0.0003), number=n, repeat=5))
    registry = CollectorRegistry()
    labels = ["surface", "operation", "status"]
    counter = Counter("r", "r", labels, registry=registry).labels("p", "v", "200")
    histogram = Histogram("d", "d", labels, registry=registry, buckets=REQUEST_BUCKETS)
    child = histogram.labels("p", "v", "200")

    def theirs() -> None:
        counter.inc()
        child.observe(0.0003)

    library = min(timeit.repeat(theirs, number=n, repeat=5))
    return ours / n * 1e6, library / n * 1e6


async def main(requests: int, rounds: int) -> None:
    cases = {
        "validateCustomers, 1 context (express lane)": (True, "POST", VALIDATE, BODY),
        "validateCustomers, 1 context (FastAPI)": (False, "POST", VALIDATE, BODY),
        "GET /_sim/clock (FastAPI)": (True, "GET", "/_sim/clock", b""),
    }
    print(f"{requests} requests per round, {rounds} rounds, on and off interleaved\n")
    for name, (express, method, path, body) in cases.items():
        query = b"dryRun=true" if body else b""
        template = scope(method, path, query, body)
        # A third app, metrics off too ("control"): its distance from "off" is the noise
        # floor (an A/A comparison).
        apps = {m: make(m == "on", express) for m in ("on", "off", "control")}
        for app in apps.values():  # warm up: build the middleware stack, fill caches
            execute = scope("POST", "/_sim/campaigns/48213/execute", b"", b"")
            await per_request(app, execute, b"", 1)  # validations need an executed campaign
            await per_request(app, template, body, 200)
        gc.collect()
        gc.freeze()  # as the server does (simulator.app.tune_gc): the worlds are long-lived
        figures: dict[str, list[float]] = {m: [] for m in apps}
        order = list(apps)
        for i in range(rounds):
            for which in order if i % 2 else order[::-1]:  # ABBA: no order bias
                figures[which].append(await per_request(apps[which], template, body, requests))
        median = {k: statistics.median(v) for k, v in figures.items()}
        best = {k: min(v) for k, v in figures.items()}
        print(f"{name}:")
        for label, got in (("median", median), ("best round", best)):
            print(
                f"  {label}: off {got['off']:.1f} µs, on {got['on']:.1f} µs "
                f"({got['on'] - got['off']:+.1f}); A/A control (off too) "
                f"{got['control']:.1f} µs ({got['control'] - got['off']:+.1f})"
            )
    ours, library = recorder_costs(200_000)
    print(
        f"recorder call alone: {ours:.3f} µs; prometheus-client Counter.inc + "
        f"Histogram.observe on a labelled child: {library:.3f} µs"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds))
