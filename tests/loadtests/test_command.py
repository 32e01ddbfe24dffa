"""`optisim load`'s command line: what it refuses before starting anything, what it says
when locust is missing, and that every locustfile accepts the command line it is given."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from simulator.cli import main
from simulator.load.reports import Thresholds
from simulator.load.run import judge_run
from simulator.load.scenarios import SCENARIOS, Plan, worker_argv


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["api-capacity", "--deadline-seconds", "5"], "--deadline-seconds does not apply"),
        (["health-ceiling", "--customers", "1000"], "--customers does not apply"),
        (["large-list", "--shape", "soak"], "--shape does not apply"),
        (["webhook-burst", "--worker", "--processes", "2"], "--worker cannot be combined"),
        (["webhook-burst", "--master", "--processes", "2"], "--master cannot be combined"),
        (["large-list", "--customers", "6000000"], "6000000 is not in the range"),
        (["no-such-scenario"], "'no-such-scenario' is not one of"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["load", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_without_locust_it_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def no_locust(name: str, *args: object) -> object:
        return None if name == "locust" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", no_locust)
    result = CliRunner().invoke(main, ["load", "webhook-burst"])
    assert result.exit_code == 2
    assert "pip install 'optisim[load]'" in result.output


def test_every_scenario_is_a_locustfile_in_loadtests() -> None:
    root = Path(__file__).resolve().parents[2] / "loadtests"
    assert {s.locustfile() for s in SCENARIOS.values()} == {
        root / "webhook_burst.py",
        root / "large_list.py",
        root / "api_capacity.py",
        root / "health_ceiling.py",
    }


def test_a_worker_gets_only_the_file_and_its_master() -> None:
    """Options and the host travel from the master with each run."""
    argv = worker_argv(SCENARIOS["large-list"], "10.0.0.1", 5557, ["--loglevel", "ERROR"])
    assert argv[3:] == [
        "-f", str(SCENARIOS["large-list"].locustfile()), "--worker",
        "--master-host", "10.0.0.1", "--master-port", "5557", "--loglevel", "ERROR",
    ]  # fmt: skip


def test_the_locust_command_line_carries_the_plan(tmp_path: Path) -> None:
    plan = Plan(
        SCENARIOS["webhook-burst"],
        tmp_path,
        users=8,
        run_time_s=2.5,
        shape="step",
        listener_url="http://127.0.0.1:9/hook",
        master=True,
        expect_workers=3,
    )
    argv = plan.argv("http://sim:8900")
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--host"] == "http://sim:8900" and pairs["-u"] == "8"
    assert pairs["-t"] == "3s"  # locust takes whole seconds: rounded up
    assert pairs["--shape"] == "step" and pairs["--listener-url"] == "http://127.0.0.1:9/hook"
    assert pairs["--csv"] == str(tmp_path / "locust") and "--headless" in argv
    assert pairs["--expect-workers"] == "3" and "--customers" not in argv


def test_a_run_that_wrote_no_statistics_could_not_be_set_up(tmp_path: Path) -> None:
    (tmp_path / "locust.log").write_text("error: unrecognized arguments: --nope\n")
    plan = Plan(SCENARIOS["health-ceiling"], tmp_path, users=1, run_time_s=1)
    console = Console(record=True, width=200)
    assert judge_run(plan, 2, Thresholds(), console) == 2
    assert "unrecognized arguments: --nope" in console.export_text()


def test_a_failed_setup_is_reported_as_such_not_as_a_threshold(tmp_path: Path) -> None:
    header = "Type,Name,Request Count,Failure Count,Median Response Time,Max Response Time"
    header += ",Requests/s,95%,99%\n"
    (tmp_path / "locust_stats.csv").write_text(header + ",Aggregated,0,0,0,0,0,N/A,N/A\n")
    (tmp_path / "results.json").write_text('{"scenario": "large-list", "error": "no listener"}')
    plan = Plan(SCENARIOS["large-list"], tmp_path, users=1, run_time_s=1)
    console = Console(record=True, width=200)
    assert judge_run(plan, 2, Thresholds(max_failure_ratio=0), console) == 2
    assert "the scenario's setup failed: no listener" in console.export_text()
