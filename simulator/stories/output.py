"""Story results for people (rich) and CI (JUnit XML: a testsuite per story, a testcase
per expectation; JSON)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape

from simulator.listener_check.output import xml_safe
from simulator.stories.runner import StoryResult

SUITE = "optisim stories"


def print_results(results: list[StoryResult], console: Console) -> None:
    for r in results:
        mark = "[green]pass[/green]" if r.ok else "[bold red]FAIL[/bold red]"
        if r.error is not None:
            mark = "[bold yellow]could not run[/bold yellow]"
        console.print(f"{mark} [bold]{escape(r.name)}[/bold] ({r.seconds:.1f} s)")
        if r.error is not None:
            console.print(f"    {escape(r.error)}", soft_wrap=True)
        for o in r.outcomes:
            sign = "[green]✓[/green]" if o.passed else "[bold red]✗[/bold red]"
            console.print(f"  {sign} {escape(o.id)}: {escape(o.detail)}", soft_wrap=True)
            if not o.passed:
                for line in o.evidence:
                    console.print(f"      {escape(line)}", soft_wrap=True)
    passed = sum(1 for r in results if r.ok)
    verdict = "[green]passed[/green]" if passed == len(results) else "[bold red]failed[/bold red]"
    console.print(f"{verdict}: {passed} of {len(results)} stories passed")


def junit_xml(results: list[StoryResult]) -> ET.ElementTree[ET.Element]:
    cases = sum(max(1, len(r.outcomes)) for r in results)
    failures = sum(1 for r in results for o in r.outcomes if not o.passed)
    errors = sum(1 for r in results if r.error is not None)
    totals = {"tests": str(cases), "failures": str(failures), "errors": str(errors)}
    root = ET.Element("testsuites", {"name": SUITE, **totals})
    for r in results:
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": r.name,
                "tests": str(max(1, len(r.outcomes))),
                "failures": str(sum(1 for o in r.outcomes if not o.passed)),
                "errors": "1" if r.error is not None else "0",
                "time": f"{r.seconds:.3f}",
            },
        )
        if r.error is not None:
            case = ET.SubElement(suite, "testcase", {"classname": f"story.{r.name}", "name": "run"})
            ET.SubElement(case, "error", {"message": xml_safe(r.error), "type": "CouldNotRun"})
            continue
        for o in r.outcomes:
            case = ET.SubElement(suite, "testcase", {"classname": f"story.{r.name}", "name": o.id})
            if not o.passed:
                failure = ET.SubElement(
                    case, "failure", {"message": xml_safe(o.detail), "type": "StoryExpectation"}
                )
                failure.text = xml_safe("\n".join(o.evidence))
            else:
                ET.SubElement(case, "system-out").text = xml_safe(
                    "\n".join([o.detail, *o.evidence])
                )
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: list[StoryResult], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    junit_xml(results).write(path, encoding="utf-8", xml_declaration=True)


def as_json(results: list[StoryResult]) -> dict[str, Any]:
    return {
        "ok": all(r.ok for r in results),
        "stories": [{**asdict(r), "ok": r.ok} for r in results],
    }


def write_json(results: list[StoryResult], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(orjson.dumps(as_json(results), option=orjson.OPT_INDENT_2))
