"""What business-rule coverage costs on the hot path (issue 13): the per-request context
variable, a small validate's hits, and a 1,000-context validate's, filed in the log.

    python -m loadtests.bench_coverage

Prints microseconds per request (best of several repeats; a micro benchmark of the
recording alone, not of a request).
"""

from __future__ import annotations

import timeit

from simulator.domain.models import Reward
from simulator.domain.validation import ContextResult
from simulator.services import coverage
from simulator.services.promotions import _cover_validation


def main() -> None:
    log = coverage.CoverageLog()
    reward = Reward("amount", 500)
    valid = [
        ContextResult(f"C{i}", None, True, None, "T-BASE", "b", reward, "AL") for i in range(1000)
    ]
    mixed = valid[:900] + [
        ContextResult(f"X{i}", None, False, "budget_exhausted") for i in range(100)
    ]

    def nothing() -> None:
        _, token = coverage.start()
        coverage.stop(token)

    def run(results: list[ContextResult]) -> None:
        hits, token = coverage.start()
        _cover_validation(48213, "PR-WELCOME", results)
        coverage.stop(token)
        log.record("demo", hits, 1)

    cases = [
        ("a request that exercises no rule", nothing, 20_000),
        ("validate, 1 context", lambda: run(valid[:1]), 20_000),
        ("validate, 1,000 valid contexts", lambda: run(valid), 500),
        ("validate, 900 valid + 100 budget_exhausted", lambda: run(mixed), 500),
    ]
    for label, fn, number in cases:
        best = min(timeit.repeat(fn, number=number, repeat=7)) / number
        print(f"{label:45} {best * 1e6:8.2f} µs")


if __name__ == "__main__":
    main()
