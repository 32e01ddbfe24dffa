"""Delivery history memory benchmark (issue 17): 100,000 failed triggered deliveries.

    python -m loadtests.bench_retention [--deliveries 100000] [--keep 20000]

Drives the in-memory delivery log the way the dispatcher does (ingest, claim, two failed
attempts each, failed, pruned once per 1,000 as the dispatcher does once a second), with
the retention off and on, and prints the memory the log holds afterwards (tracemalloc) and
that the summary still counts every delivery; then the same on the SQLite log (file
size). A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

from simulator.domain.models import Attempt, Delivery
from simulator.store.base import DeliveryLog, Retention
from simulator.store.deliveries import MemoryDeliveryLog, SqliteDeliveryLog
from simulator.store.sqlite import SqliteStore

BODY = (
    b'{"eventId":"EV_0123456789ab","eventTime":"2026-11-27T10:00:00.000Z","user":{"user_id":'
    b'"C0001234","is_visitor":false},"campaign":{"id":7001,"series_id":900,"action":{"id":21,'
    b'"name":"Deposit match","promo_codes":["DEPOSIT10"],"channels":[]}},"context":'
    b'{"depositAmount":12345}}'
)


def drive(log: DeliveryLog, n: int, retention: Retention) -> float:
    """Fail `n` deliveries; returns the seconds it took."""
    started = time.perf_counter()
    now = time.time()
    for first in range(0, n, 1000):
        batch = [
            Delivery("t", f"msg_{i:012d}", i + 1, "triggered", 7001, BODY, created_at=now)
            for i in range(first, min(n, first + 1000))
        ]
        log.ingest("t", batch, batch[-1].seq)
        results: list[tuple[Delivery, Attempt | None]] = []
        for d in log.claim(now, 1000, 35.0):
            for number in (1, 2):
                error = "ClientConnectorError: Cannot connect to host 127.0.0.1:9 [refused]"
                a = Attempt("t", d.event_id, number, "http://127.0.0.1:9/ce", now, None, 0.4, error)
                results.append((d, a))
            failed = replace(d, status="failed", attempts=2, last_error="refused")
            results.append((failed, None))
        log.finish(results)
        if retention != Retention():
            log.prune("t", now, retention)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deliveries", type=int, default=100_000)
    ap.add_argument("--keep", type=int, default=20_000, help="finished deliveries kept")
    ap.add_argument("--keep-attempts", type=int, default=50_000)
    args = ap.parse_args()
    on = Retention(args.keep, args.keep_attempts, 86_400)
    for label, retention in (("off", Retention()), ("on", on)):
        tracemalloc.start()
        log = MemoryDeliveryLog()
        took = drive(log, args.deliveries, retention)
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        s = log.summary("t")
        print(
            f"memory log, retention {label}: {held / 2**20:.1f} MB held after "
            f"{args.deliveries:,} failed deliveries ({held / args.deliveries:.0f} B each); "
            f"kept {len(log.deliveries('t', limit=10**7)):,}, summary total {s.total:,} "
            f"{s.by_status}, attempts {s.attempts:,}; {took:.1f} s"
        )
    for label, retention in (("off", Retention()), ("on", on)):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "log.sqlite"
            SqliteStore(path).close()
            sqlite_log = SqliteDeliveryLog(path)
            took = drive(sqlite_log, args.deliveries, retention)
            sqlite_log._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = path.stat().st_size
            s = sqlite_log.summary("t")
            sqlite_log.close()
        print(
            f"SQLite log, retention {label}: file {size / 2**20:.1f} MB (freed pages are "
            f"reused, not returned); summary total {s.total:,}, attempts {s.attempts:,}; "
            f"{took:.1f} s"
        )


if __name__ == "__main__":
    main()
