"""The parity report: a rich table, JSON, JUnit XML (one test case per rule) and HTML
(every recorded and optisim value escaped)."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.table import Table

from simulator.parity.replay import ParityResult


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 200 else text[:197] + "..."


def as_json(result: ParityResult) -> dict[str, Any]:
    return {
        "recording": result.recording,
        "exchanges": result.exchanges,
        "cues": result.cues,
        "divergences": len(result.divergences),
        "rules": [
            {
                "rule": rule,
                "verdict": items[0].verdict,
                "why": items[0].why,
                "count": len(items),
                "examples": [
                    {
                        "seq": d.seq,
                        "where": d.where,
                        "recorded": d.recorded,
                        "optisim": d.optisim,
                        "request": d.request,
                    }
                    for d in items[:5]
                ],
            }
            for rule, items in result.groups().items()
        ],
    }


def print_table(result: ParityResult, console: Console) -> None:
    console.print(
        f"parity: {result.exchanges} exchanges replayed, {len(result.divergences)} "
        f"divergences in {len(result.groups())} rules"
    )
    if not result.divergences:
        return
    table = Table(title="Divergences by rule")
    for col in ("rule", "n", "recorded", "optisim", "looks wrong"):
        table.add_column(col)
    for rule, items in result.groups().items():
        d = items[0]
        table.add_row(rule, str(len(items)), _short(d.recorded), _short(d.optisim), d.verdict)
    console.print(table)


def write_junit(result: ParityResult, path: Path) -> None:
    groups = result.groups()
    suite = ET.Element(
        "testsuite",
        name="optisim parity",
        tests=str(max(1, len(groups))),
        failures=str(len(groups)),
    )
    if not groups:
        ET.SubElement(suite, "testcase", classname="parity", name="recording matches optisim")
    for rule, items in groups.items():
        case = ET.SubElement(suite, "testcase", classname="parity", name=rule)
        d = items[0]
        failure = ET.SubElement(
            case, "failure", message=f"{d.verdict} looks wrong: {d.why}", type=d.kind
        )
        failure.text = "\n".join(
            f"#{x.seq} {x.where}: recorded {_short(x.recorded)} / optisim {_short(x.optisim)}"
            for x in items
        )
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def write_html(result: ParityResult, path: Path) -> None:
    rows = []
    for rule, items in result.groups().items():
        d = items[0]
        examples = "".join(
            f"<tr><td>#{x.seq}</td><td><code>{escape(x.request.get('method', ''))} "
            f"{escape(x.request.get('path', ''))}</code></td><td><code>{escape(x.where)}</code>"
            f"</td><td><pre>{escape(_short(x.recorded))}</pre></td>"
            f"<td><pre>{escape(_short(x.optisim))}</pre></td></tr>"
            for x in items
        )
        rows.append(
            f"<section><h2>{escape(rule)}</h2><p><b>{escape(d.verdict)} looks wrong</b>: "
            f"{escape(d.why)} ({len(items)} divergence{'s' * (len(items) != 1)})</p>"
            "<table><tr><th>#</th><th>request</th><th>where</th><th>recorded</th>"
            f"<th>optisim</th></tr>{examples}</table></section>"
        )
    body = "".join(rows) or "<p>No divergences: optisim answered as the recording.</p>"
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>optisim parity</title>"
        "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:4px;"
        "vertical-align:top}table{border-collapse:collapse}pre{margin:0}</style></head><body>"
        f"<h1>optisim parity: {escape(result.recording)}</h1><p>{result.exchanges} exchanges "
        f"replayed, {len(result.divergences)} divergences in {len(result.groups())} rules. "
        "Send a rule back as an issue with this report and the recording (README, "
        "“Sending a recording back”).</p>" + body + "</body></html>",
        "utf-8",
    )
