"""The coverage report for people (a rich table) and CI (JSON, JUnit XML), and its verdict
(`--min RATIO`, `--require RULE`). Pure: it reads the body of `GET /_sim/coverage`."""

from __future__ import annotations

import fnmatch
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

SUITE = "optisim coverage"


def problems(body: dict[str, Any], min_ratio: float | None, require: list[str]) -> list[str]:
    """Why the run fails: a ratio below `min_ratio`, or a required rule (a glob such as
    `validate.*` needs one of its rules covered) never exercised."""
    out = []
    if min_ratio is not None and body["ratio"] < min_ratio:
        out.append(
            f"coverage {body['ratio']:.1%} ({body['covered']} of {body['total']} rules) is "
            f"below --min {min_ratio:.1%}"
        )
    ids = {r["id"]: r["count"] for r in body["rules"]}
    for wanted in require:
        matched = [i for i in ids if fnmatch.fnmatchcase(i, wanted)]
        if not matched:
            out.append(f"required rule {wanted!r} is not in the catalogue")
        elif not any(ids[i] for i in matched):
            out.append(f"required rule {wanted!r} was never exercised")
    return out


def print_table(body: dict[str, Any], console: Console, *, show_all: bool) -> None:
    scope = f" (campaign {body['campaignId']})" if body.get("campaignId") else ""
    table = Table(title=f"{SUITE}{scope}", title_justify="left")
    for column in ("rule", "times", "example", "what it is"):
        table.add_column(column, justify="right" if column in ("times", "example") else "left")
    for r in body["rules"]:
        if not r["count"] and not show_all:
            continue
        times = str(r["count"]) if r["count"] else "[dim]0[/dim]"
        example = f"#{r['example']}" if r["example"] is not None else ""
        table.add_row(escape(r["id"]), times, example, escape(r["summary"]))
    console.print(table)
    console.print(
        f"{body['covered']} of {body['total']} rules covered ({body['ratio']:.1%})"
        + ("" if show_all else "; --all lists the uncovered ones too")
    )


def junit_xml(body: dict[str, Any], failures: list[str]) -> ET.ElementTree[ET.Element]:
    """One testcase per rule (uncovered: skipped), and one for the verdict."""
    rules = body["rules"]
    skipped = sum(1 for r in rules if not r["count"])
    totals = {
        "tests": str(len(rules) + 1),
        "failures": str(1 if failures else 0),
        "errors": "0",
        "skipped": str(skipped),
    }
    root = ET.Element("testsuites", {"name": SUITE, **totals})
    suite = ET.SubElement(root, "testsuite", {"name": SUITE, **totals})
    verdict = ET.SubElement(suite, "testcase", {"classname": "optisim.coverage", "name": "verdict"})
    if failures:
        failure = ET.SubElement(
            verdict, "failure", {"message": failures[0], "type": "CoverageBelowRequirement"}
        )
        failure.text = "\n".join(failures)
    for r in rules:
        case = ET.SubElement(
            suite, "testcase", {"classname": f"optisim.coverage.{r['group']}", "name": r["id"]}
        )
        if r["count"]:
            where = f" (e.g. journal entry #{r['example']})" if r["example"] is not None else ""
            ET.SubElement(case, "system-out").text = f"exercised {r['count']} time(s){where}"
        else:
            ET.SubElement(case, "skipped", {"message": f"never exercised: {r['summary']}"})
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(body: dict[str, Any], failures: list[str], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    junit_xml(body, failures).write(path, encoding="utf-8", xml_declaration=True)


def write_json(body: dict[str, Any], failures: list[str], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out = {"ok": not failures, "problems": failures, **body}
    Path(path).write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))
