"""The report for people (a rich table and the findings with their evidence) and for CI
(JUnit XML: one testcase per check; JSON)."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.listener_check.model import Report

# Characters XML 1.0 cannot carry (control characters a listener may answer with).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MARKS = {
    "pass": "[green]pass[/green]",
    "fail": "[bold red]FAIL[/bold red]",
    "skip": "[dim]skip[/dim]",
}
SUITE = "optisim contract listener"


def print_report(report: Report, console: Console) -> None:
    table = Table(title=f"{SUITE}: {report.url}", title_justify="left")
    table.add_column("check")
    table.add_column("result")
    table.add_column("what was seen")
    for c in report.checks:
        table.add_row(c.id, MARKS[c.status], escape(c.detail))
    console.print(table)
    for c in report.failed:
        console.print(f"[bold red]✗ {c.id}[/bold red] — {escape(c.title)}: {escape(c.detail)}")
        for line in c.evidence:
            console.print(f"    {escape(line)}", soft_wrap=True)
    counts = {s: sum(1 for c in report.checks if c.status == s) for s in ("pass", "fail", "skip")}
    verdict = "[green]passed[/green]" if report.ok else "[bold red]failed[/bold red]"
    console.print(
        f"{verdict}: {counts['pass']} passed, {counts['fail']} failed, {counts['skip']} skipped "
        f"in {report.seconds:.1f} s"
        + (f" (simulator {report.simulator_url})" if report.simulator_url else "")
    )


def junit_xml(report: Report) -> ET.ElementTree[ET.Element]:
    """JUnit XML as CI systems read it: a failure carries the finding as its message and
    the evidence as its text; a skipped check says why."""
    failures = len(report.failed)
    skipped = sum(1 for c in report.checks if c.status == "skip")
    totals = {
        "tests": str(len(report.checks)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": f"{report.seconds:.3f}",
    }
    root = ET.Element("testsuites", {"name": SUITE, **totals})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE,
            **totals,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": socket.gethostname(),
        },
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("url", report.url), ("simulator_url", report.simulator_url)):
        if value:
            ET.SubElement(props, "property", {"name": name, "value": value})
    for c in report.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": f"optisim.{c.group}", "name": c.id, "time": f"{c.seconds:.3f}"},
        )
        if c.status == "fail":
            message = xml_safe(f"{c.title}: {c.detail}")
            kind = {"message": message, "type": "ContractViolation"}
            failure = ET.SubElement(case, "failure", kind)
            failure.text = xml_safe("\n".join(c.evidence))
        elif c.status == "skip":
            ET.SubElement(case, "skipped", {"message": xml_safe(c.detail)})
        elif c.evidence:
            ET.SubElement(case, "system-out").text = xml_safe("\n".join(c.evidence))
    ET.indent(root)
    return ET.ElementTree(root)


def xml_safe(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold replaced by U+FFFD."""
    return NOT_XML.sub("\ufffd", text)


def write_junit(report: Report, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # CI: `reports/…` may not exist
    junit_xml(report).write(path, encoding="utf-8", xml_declaration=True)


def write_json(report: Report, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(orjson.dumps(as_json(report), option=orjson.OPT_INDENT_2))


def as_json(report: Report) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "url": report.url,
        "simulatorUrl": report.simulator_url,
        "seconds": round(report.seconds, 3),
        "checks": [asdict(c) for c in report.checks],
    }
