"""`optisim tail`: the tenant's requests and webhook attempts as they happen (like
`stripe logs tail`), until --for seconds have passed or Ctrl-C."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import click
from rich.markup import escape

from simulator.control_client import ControlClient
from simulator.control_models import Attempt, JournalEntry
from simulator.verbs.common import Target, err, group_settings, option, out, target_options

PAGE = 1000
OWN = ("/_sim/journal", "/_sim/attempts")  # tail's own polling: not shown


def _clock(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%H:%M:%S.%f")[:-3]


def _request_line(e: JournalEntry) -> str:
    query = f"?{e.query}" if e.query else ""
    extra = "".join(f" [{k} {v}]" for k, v in (("error", e.error), ("fault", e.fault)) if v)
    colour = "green" if e.status < 400 else "yellow" if e.status < 500 else "red"
    return (
        f"{_clock(e.at)} request  {e.method} {escape(e.path + query)} "
        f"[{colour}]{e.status}[/{colour}] {e.ms:.1f} ms{escape(extra)}"
    )


def _attempt_line(a: Attempt) -> str:
    ok = a.status is not None and 200 <= a.status < 300
    colour = "green" if ok else "red"
    result = str(a.status) if a.status is not None else (a.error or "no answer")
    latency = f" {a.latencyMs:.1f} ms" if a.latencyMs is not None else ""
    extra = f" [fault {a.fault}]" if a.fault else ""
    error = f" ({a.error})" if a.error and a.status is not None else ""
    return (
        f"{_clock(a.at)} webhook  {a.eventId} attempt {a.attempt} → {escape(a.url)} "
        f"[{colour}]{escape(result)}[/{colour}]{latency}{escape(error + extra)}"
    )


def _last_seq(sim: ControlClient) -> int:
    seq = 0
    for entry in sim.iter_journal():
        seq = entry.seq
    return seq


def _new_attempts(sim: ControlClient, after: float) -> list[Attempt]:
    found: list[Attempt] = []
    while True:
        page = sim.list_attempts(after=after, limit=PAGE)
        found += page
        if len(page) < PAGE:
            return found
        after = page[-1].at


@click.command(context_settings=group_settings("tail"))
@option(
    "--for",
    "duration",
    type=click.FloatRange(0),
    default=None,
    help="stop after this many seconds (default: run until Ctrl-C)",
)
@option("--interval", type=click.FloatRange(0.05, 60), default=0.5, help="seconds between polls")
@option(
    "--all",
    "from_start",
    is_flag=True,
    default=False,
    help="start with what the journal and the attempt log hold already",
)
@target_options
def tail(target: Target, duration: float | None, interval: float, from_start: bool) -> None:
    """Print the tenant's requests (the journal) and webhook delivery attempts live.
    --json prints one JSON object per line ({"type": "request"|"webhook", ...})."""
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0
    with target.client() as sim:
        seq = 0 if from_start else _last_seq(sim)
        since = 0.0 if from_start else time.time()
        try:
            while True:
                lines: list[tuple[float, str, dict[str, object]]] = []
                for entry in sim.iter_journal(after=seq):
                    seq = entry.seq
                    if entry.method == "GET" and entry.path.startswith(OWN):
                        continue
                    lines.append(
                        (
                            entry.at,
                            _request_line(entry),
                            {"type": "request", **entry.model_dump(mode="json")},
                        )
                    )
                for attempt in _new_attempts(sim, since):
                    since = max(since, attempt.at)
                    lines.append(
                        (
                            attempt.at,
                            _attempt_line(attempt),
                            {"type": "webhook", **attempt.model_dump(mode="json")},
                        )
                    )
                for _, line, data in sorted(lines, key=lambda item: item[0]):
                    if target.as_json:
                        print(json.dumps(data), flush=True)
                    else:
                        out.print(line, highlight=False)
                shown += len(lines)
                if deadline is not None and time.monotonic() >= deadline:
                    break
                pause = (
                    interval
                    if deadline is None
                    else min(interval, max(0.0, deadline - time.monotonic()))
                )
                time.sleep(pause)
        except KeyboardInterrupt:
            pass
    if not target.as_json:
        err.print(f"{shown:,} line(s)")
