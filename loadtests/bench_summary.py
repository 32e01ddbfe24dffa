"""Delivery summary cost at a full retention: `summary()` with 20,000 kept deliveries.

    .venv/bin/python -m loadtests.bench_summary [--kept 20000] [--number 50]

Fills a memory and a SQLite delivery log with `--kept` finished deliveries of one tenant
(two kinds, four campaigns, delivered, failed and skipped ones, varied lags), then times
`summary(tenant)` and `summary(tenant, kind=..., campaign_id=...)` with `timeit` and
prints milliseconds per call. A microbenchmark, not a test: it prints, never fails on a
target.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import timeit
from dataclasses import replace
from pathlib import Path

from simulator.domain.models import Attempt, Delivery
from simulator.store.base import DeliveryLog
from simulator.store.deliveries import MemoryDeliveryLog, SqliteDeliveryLog
from simulator.store.sqlite import SqliteStore


def fill(log: DeliveryLog, kept: int) -> None:
    made = [
        Delivery(
            "t",
            f"e{i}",
            i + 1,
            ("triggered", "executed")[i % 2],
            7001 + i % 4,
            b"{}",
            created_at=1000.0 + i * 0.01,
        )
        for i in range(kept)
    ]
    log.ingest("t", made, kept)
    claimed = log.claim(10_000.0, kept, 30.0)
    results: list[tuple[Delivery, Attempt | None]] = []
    for i, d in enumerate(claimed):
        if i % 10 == 9:
            results.append((replace(d, status="failed", attempts=3), None))
        elif i % 10 == 8:
            results.append((replace(d, status="skipped"), None))
        else:
            done = d.created_at + 0.002 + (i % 997) * 0.0013
            results.append((replace(d, status="delivered", attempts=1, delivered_at=done), None))
    log.finish(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kept", type=int, default=20_000)
    parser.add_argument("--number", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        SqliteStore(path).close()
        logs: list[tuple[str, DeliveryLog]] = [
            ("memory", MemoryDeliveryLog()),
            ("sqlite", SqliteDeliveryLog(path)),
        ]
        print(f"summary() at {args.kept:,} kept deliveries, ms per call (timeit)")
        for name, log in logs:
            started = time.perf_counter()
            fill(log, args.kept)
            print(f"  {name:7} fill (ingest, claim, finish) {time.perf_counter() - started:7.2f} s")
            assert log.summary("t").total == args.kept
            for label, call in (
                ("all", lambda log=log: log.summary("t")),
                (
                    "kind+campaign",
                    lambda log=log: log.summary("t", kind="executed", campaign_id=7002),
                ),
            ):
                best = min(timeit.repeat(call, number=args.number, repeat=3)) / args.number
                print(f"  {name:7} {label:14} {best * 1000:9.3f} ms")
            log.close()


if __name__ == "__main__":
    main()
