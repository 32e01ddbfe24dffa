"""action.yml (the composite GitHub Action), kept true without GitHub: its inputs and
outputs are wired, every `optisim` command it runs is a real command with real options,
and its start step, run here as the runner would run it (bash, the runner's files and
variables in a temporary directory), starts a simulator and gives its URL and keys."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
import yaml

from simulator.cli import main
from tests.cli.support import wait_gone

ROOT = Path(__file__).resolve().parents[2]
ACTION: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text("utf-8"))
STEPS: list[dict[str, Any]] = ACTION["runs"]["steps"]


def expressions(text: str) -> list[str]:
    return re.findall(r"\$\{\{\s*([^}]+?)\s*\}\}", text)


def commands(script: str) -> list[list[str]]:
    """Each shell command of a step's script, as argv (pipes, redirections and `||` end a
    command; `nohup` is dropped)."""
    out = []
    for line in script.replace("\\\n", " ").splitlines():
        if line.strip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv: list[str] = []
        for token in [*lexer, ";"]:
            if token in {"|", "||", "&&", ";", "&", ">", ">>", "2>&1", "{", "}"} or (
                set(token) <= set("|&;<>")
            ):
                if argv:
                    out.append(argv)
                argv = []
            else:
                argv.append(token)
    return [a[1:] if a[0] == "nohup" else a for a in out]


def step_env(step: dict[str, Any]) -> dict[str, str]:
    """A step's env with the inputs' defaults in place of `${{ inputs.NAME }}`."""
    defaults = {name: str(spec["default"]) for name, spec in ACTION["inputs"].items()}
    return {
        key: re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: defaults[m.group(1)], str(v))
        for key, v in step.get("env", {}).items()
    }


def optisim_commands() -> list[list[str]]:
    """Every `optisim` command line, with the step's variables at their default values
    (the script's own, such as $READY, as a file name)."""
    found = []
    for step in STEPS:
        env = step_env(step)
        for argv in commands(step["run"]):
            if argv[0] == "optisim":
                found.append(
                    [env.get(t[1:], "file.json") if t.startswith("$") else t for t in argv[1:]]
                )
    return found


def resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command an argv names, and the rest of the argv."""
    command: click.Command = main
    rest = list(argv)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        assert sub is not None, f"optisim has no command {rest[0]!r} ({argv})"
        command, rest = sub, rest[1:]
    return command, rest


def test_the_action_is_composite_and_documented() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["name"] and ACTION["description"]
    for name, spec in {**ACTION["inputs"], **ACTION["outputs"]}.items():
        assert spec.get("description"), name
    assert all(step.get("shell") == "bash" for step in STEPS if "run" in step)


def test_every_input_is_used_and_every_used_input_exists() -> None:
    used = {
        e.removeprefix("inputs.")
        for step in STEPS
        for value in step.get("env", {}).values()
        for e in expressions(str(value))
        if e.startswith("inputs.")
    }
    assert used == set(ACTION["inputs"])
    for step in STEPS:  # inputs reach scripts through env only (no ${{ }} in shell code)
        assert not expressions(step["run"]), step["name"]


def test_every_output_is_written_by_the_start_step() -> None:
    start = next(s for s in STEPS if s.get("id") == "start")
    for name, spec in ACTION["outputs"].items():
        assert expressions(spec["value"]) == [f"steps.start.outputs.{name}"]
    written = set(re.findall(r'echo "([\w-]+)=', start["run"]))
    # The rest come from `optisim wait --print github-output` (checked by running it below).
    assert written == {"log"}


def test_every_optisim_command_it_runs_is_real_with_real_options() -> None:
    seen = optisim_commands()
    assert [argv[0] for argv in seen] == ["serve", "wait", "wait"]
    for argv in seen:
        command, rest = resolve(argv)
        options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        for token in rest:
            if token.startswith("--"):
                assert token.split("=")[0] in options, f"{argv}: {token} is not an option"
        ctx = command.make_context(argv[0], rest)
        ctx.close()  # the values parse


def test_the_install_step_uses_a_virtualenv() -> None:
    install = commands(STEPS[0]["run"])
    assert install[0][1:3] == ["-m", "venv"]
    assert install[1][1:4] == ["-m", "pip", "install"]


def test_the_start_step_serves_and_outputs_the_url_and_keys(tmp_path: Path) -> None:
    start = next(s for s in STEPS if s.get("id") == "start")
    env_of_step = step_env(start)
    runner = {
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_ENV": str(tmp_path / "env"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-e", "-c", start["run"]],
        env={**os.environ, **runner, **env_of_step},
        capture_output=True,
        text=True,
        timeout=120,
    )
    ready = tmp_path / "optisim-ready.json"
    pid = json.loads(ready.read_text("utf-8"))["pid"] if ready.exists() else None
    try:
        assert done.returncode == 0, done.stderr
        outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().split())
        assert set(outputs) == set(ACTION["outputs"])
        assert outputs["admin-key"] == "demo-admin-key"
        assert outputs["integrations-key"] == "demo-integrations-key"
        assert outputs["webhook-secret"].startswith("whsec_")
        assert httpx.get(outputs["url"] + "/_sim/health", timeout=5).status_code == 200
        exported = (tmp_path / "env").read_text().split()
        assert exported == [f"OPTISIM_URL={outputs['url']}", "OPTISIM_ADMIN_KEY=demo-admin-key"]
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
            wait_gone(int(json.loads(ready.read_text("utf-8"))["url"].rsplit(":", 1)[1]))


def test_the_readme_cli_examples_are_real_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the files the examples name exist here
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## The CLI: poke a running simulator", 1)[1].split("\n## ", 1)[0]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    seen = 0
    for line in block.splitlines():
        line = line.split("#", 1)[0].replace("export $(", "").replace(")", "").rstrip(" &")
        if not line.startswith("optisim "):
            continue
        argv = shlex.split(line)[1:]
        for name in argv:
            if name.endswith((".yaml", ".json")):
                (tmp_path / name).write_text("{}", "utf-8")
        command, rest = resolve(argv)
        command.make_context(argv[0], rest).close()  # arguments and options parse
        seen += 1
    assert seen >= 12
