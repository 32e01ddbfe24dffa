"""Reading locust's statistics CSV, judging a run against thresholds, printing a summary.

Thresholds (each only when given):
- `--max-p99-ms`: the 99th percentile of every request row (HTTP calls, webhook
  acknowledgements, the integrator's calls), not the end-to-end and audit rows;
- `--max-failure-ratio`: failures / requests over all rows (audit failures included);
- `--deadline-seconds`: the slowest end-to-end sample (event to approval, webhook to last
  approval) of every E2E row.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

E2E, AUDIT = "E2E", "AUDIT"  # request types the scenarios fire (loadtests/common.py)


@dataclass(frozen=True, slots=True)
class Row:
    """One row of locust's `*_stats.csv` (times in ms; None where locust wrote N/A)."""

    type: str
    name: str
    requests: int
    failures: int
    median: float | None
    p95: float | None
    p99: float | None
    max: float | None
    rps: float

    @property
    def total(self) -> bool:
        return self.name == "Aggregated"


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None


def read_stats(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8") as f:
        return [
            Row(
                r["Type"],
                r["Name"],
                int(r["Request Count"]),
                int(r["Failure Count"]),
                _number(r["Median Response Time"]),
                _number(r["95%"]),
                _number(r["99%"]),
                _number(r["Max Response Time"]),
                _number(r["Requests/s"]) or 0.0,
            )
            for r in csv.DictReader(f)
        ]


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_p99_ms: float | None = None
    max_failure_ratio: float | None = None
    deadline_s: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    check: str
    limit: str
    observed: str
    ok: bool


def judge(rows: list[Row], limits: Thresholds) -> list[Verdict]:
    """One verdict per threshold given (and per row it applies to)."""
    verdicts: list[Verdict] = []
    total = next((r for r in rows if r.total), None)
    if total is None or total.requests == 0:
        return [Verdict("requests recorded", "> 0", "0", False)]
    if limits.max_failure_ratio is not None:
        ratio = total.failures / total.requests
        verdicts.append(
            Verdict(
                "failure ratio",
                f"<= {limits.max_failure_ratio:g}",
                f"{ratio:.4f} ({total.failures:,} of {total.requests:,})",
                ratio <= limits.max_failure_ratio,
            )
        )
    for row in rows:
        if row.total or row.requests == 0:
            continue
        if limits.max_p99_ms is not None and row.type not in (E2E, AUDIT):
            p99 = row.p99 if row.p99 is not None else float("inf")
            verdicts.append(
                Verdict(
                    f"p99 {row.type} {row.name}",
                    f"<= {limits.max_p99_ms:g} ms",
                    f"{p99:g} ms",
                    p99 <= limits.max_p99_ms,
                )
            )
        if limits.deadline_s is not None and row.type == E2E:
            slowest = (row.max or 0.0) / 1000
            verdicts.append(
                Verdict(
                    f"deadline {row.name}",
                    f"<= {limits.deadline_s:g} s",
                    f"{slowest:.3f} s (slowest of {row.requests:,})",
                    slowest <= limits.deadline_s,
                )
            )
    return verdicts


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def stats_table(rows: list[Row], title: str) -> Table:
    table = Table(title=title)
    for column in ("type", "name", "requests", "failures", "median ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("type", "name") else "right")
    table.add_column("max ms", justify="right")
    table.add_column("req/s", justify="right")
    for r in rows:
        table.add_row(
            "" if r.total else r.type,
            f"[bold]{r.name}[/bold]" if r.total else r.name,
            f"{r.requests:,}",
            f"[red]{r.failures:,}[/red]" if r.failures else "0",
            _ms(r.median),
            _ms(r.p95),
            _ms(r.p99),
            _ms(r.max),
            f"{r.rps:,.1f}",
        )
    return table


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """`{"a": {"b": 1}}` -> ("a.b", 1); lists of mappings are numbered."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, name + ".")
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for i, item in enumerate(value):
                yield from flatten(item, f"{name}[{i}].")
        else:
            yield name, value


def results_table(results: Mapping[str, Any], skip: tuple[str, ...] = ("usage",)) -> Table:
    table = Table(title="Scenario results (results.json)", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for name, value in flatten({k: v for k, v in results.items() if k not in skip}):
        if value in ([], {}, None):
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        shown = f"{value:,}" if number and not name.endswith("Id") else value
        table.add_row(name, str(shown))
    return table


def verdict_table(verdicts: list[Verdict]) -> Table:
    table = Table(title="Thresholds")
    for column in ("check", "limit", "observed", ""):
        table.add_column(column)
    for v in verdicts:
        table.add_row(
            v.check, v.limit, v.observed, "[green]ok[/green]" if v.ok else "[red]BROKEN[/red]"
        )
    return table


def print_summary(
    console: Console,
    scenario: str,
    rows: list[Row],
    results: Mapping[str, Any] | None,
    verdicts: list[Verdict],
) -> None:
    console.print(stats_table(rows, f"optisim load {scenario}: locust statistics"))
    if results:
        console.print(results_table(results))
    if verdicts:
        console.print(verdict_table(verdicts))
