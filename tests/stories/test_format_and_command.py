"""The story format's errors name the bad field; `optisim story list|run` end to end
(JUnit and JSON parsed, exit codes 0 / 1 / 2)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from simulator.cli import main
from simulator.server_process import free_port
from simulator.stories.library import builtin, names
from simulator.stories.model import StoryError, parse_story
from tests.client.support import ThreadServer
from tests.stories.broken_integrator import Broken

GOOD = """
name: mine
world: {builtin: demo}
steps:
  - emit: {campaign: 7001, count: 2}
  - settle: {quiet: 0.5, deadline: 30}
expect:
  - campaign: 7001
    approved: 2
"""


def test_every_shipped_story_parses_and_is_listed() -> None:
    assert len(names()) >= 12
    for name in names():
        story, _ = builtin(name)
        assert story.name == name
        assert story.description
    result = CliRunner().invoke(main, ["story", "list"])
    assert result.exit_code == 0
    assert "budget-runs-out" in result.output and "at most 10 distinct customers" in result.output


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            GOOD.replace("approved: 2", "aproved: 2"),
            "unknown field `aproved` (did you mean `approved`?)",
        ),
        (GOOD.replace("count: 2", "count: -2"), "steps[0].emit.count"),
        (
            GOOD.replace("- emit: {campaign: 7001, count: 2}", "- {execute: 1, cancel: 1}"),
            "a step is exactly one of",
        ),
        (GOOD.replace("{builtin: demo}", "{}"), "world: give either builtin or file"),
        (GOOD.replace("approved: 2", "approved: {min: x}"), "expect[0].approved"),
        ("steps: [", "not valid YAML"),
    ],
)
def test_a_bad_story_names_the_field(text: str, needle: str) -> None:
    with pytest.raises(StoryError) as caught:
        parse_story(text, source="mine.yaml")
    assert needle in str(caught.value)
    assert str(caught.value).startswith("mine.yaml: ")


def test_a_bad_story_file_is_could_not_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("approved: 2", "aproved: 2"))
    result = CliRunner().invoke(main, ["story", "run", str(bad), "--integrator-url", "http://x"])
    assert result.exit_code == 2
    assert "aproved" in result.output


def test_run_passes_writes_junit_and_json_and_fails_a_broken_integrator(
    simulator: ThreadServer, tmp_path: Path
) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(GOOD)
    junit, report = tmp_path / "out" / "stories.xml", tmp_path / "out" / "stories.json"
    with ThreadServer(Broken(simulator.url)) as clean:
        args = [
            "story",
            "run",
            str(mine),
            "--builtin",
            "happy-path-triggered",
            "--integrator-url",
            clean.url,
            "--simulator-url",
            simulator.url,
            "--junit-xml",
            str(junit),
            "--json",
            str(report),
        ]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    root = ET.parse(junit).getroot()
    assert {s.get("name") for s in root.iter("testsuite")} == {"mine", "happy-path-triggered"}
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert json.loads(report.read_text())["ok"] is True
    with ThreadServer(Broken(simulator.url, approve_first=True)) as broken:
        args = [
            "story",
            "run",
            "--builtin",
            "happy-path-scheduled",
            "--integrator-url",
            broken.url,
            "--simulator-url",
            simulator.url,
            "--junit-xml",
            str(junit),
        ]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "approved_without_validation" in result.output
    failures = list(ET.parse(junit).getroot().iter("failure"))
    assert failures and "approved_without_validation" in failures[0].get("message", "")


def test_no_simulator_at_the_url_is_could_not_run() -> None:
    args = [
        "story",
        "run",
        "--builtin",
        "happy-path-triggered",
        "--integrator-url",
        "http://127.0.0.1:9",
        "--simulator-url",
        f"http://127.0.0.1:{free_port()}",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "could not run the stories" in result.output


def test_run_starts_a_simulator_on_the_port_the_integrator_was_configured_with(
    tmp_path: Path,
) -> None:
    port = free_port()  # the documented flow: the app is configured before the run
    with ThreadServer(Broken(f"http://127.0.0.1:{port}")) as app:
        args = [
            "story",
            "run",
            "--builtin",
            "happy-path-triggered",
            "--integrator-url",
            app.url,
            "--simulator-port",
            str(port),
            "--json",
            str(tmp_path / "r.json"),
        ]
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert f"your integrator must call http://127.0.0.1:{port}" in result.output
    assert json.loads((tmp_path / "r.json").read_text())["ok"] is True


def test_a_simulator_port_in_use_is_could_not_run_not_a_traceback() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = [
            "story", "run", "--builtin", "happy-path-triggered",
            "--integrator-url", "http://127.0.0.1:9", "--simulator-port", str(port),
        ]  # fmt: skip
        result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "could not run the stories" in result.output and f"port {port}" in result.output
