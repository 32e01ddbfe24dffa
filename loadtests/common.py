"""What the locust scenarios share: their common options, who coordinates, custom request
events, the results file.

The coordinator is the process that runs the test alone (`LocalRunner`) or the master of a
distributed run (`MasterRunner`): it sets the world up in `test_start` (before users are
sent to workers), watches the simulator's records, audits at the end and writes the
results. What workers need from the setup (a campaign id, keys) travels to them as option
values: a master sends its parsed options with every spawn message.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import gevent
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from loadtests.control import Control, SetupError

LOG = logging.getLogger("optisim.load")
logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per control call otherwise
DEMO_ADMIN = "demo-admin-key"

# Request types of the custom events (the first column of locust's statistics).
WEBHOOK = "WEBHOOK"  # one delivery attempt: the listener's acknowledgement latency
E2E = "E2E"  # end to end: event to approval, webhook to last approval
INTEGRATOR = "INTEGRATOR"  # the integrator's calls, as the simulator served them
AUDIT = "AUDIT"  # end-of-run checks: one request per item checked, failed when broken


def add_arguments(parser: Any) -> None:
    """Options every scenario takes (each also an `OPTISIM_*` environment variable)."""
    parser.add_argument(
        "--admin-key",
        default=DEMO_ADMIN,
        env_var="OPTISIM_ADMIN_KEY",
        is_secret=True,
        help="an admin key of the simulator tenant to load (default: the demo tenant's)",
    )
    parser.add_argument(
        "--listener-url",
        default="",
        env_var="OPTISIM_LISTENER_URL",
        help="register this URL as the integrator's listener first, put back after the "
        "run (default: use the one the integrator registered itself); a CE v2 "
        "registration is moved, its own signing secret kept",
    )
    parser.add_argument(
        "--results-file",
        default="",
        env_var="OPTISIM_RESULTS_FILE",
        help="write the scenario's results (audit, throughputs) here as JSON",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=10.0,
        env_var="OPTISIM_SETTLE_SECONDS",
        help="after the load, wait this long without progress before auditing",
    )
    parser.add_argument(
        "--poll-seconds",
        type=float,
        default=0.5,
        env_var="OPTISIM_POLL_SECONDS",
        help="how often the coordinator reads the simulator's records",
    )
    parser.add_argument(
        "--campaign-id",
        type=int,
        default=0,
        include_in_web_ui=False,
        help="set by the coordinator's setup (it reaches workers with the spawn message)",
    )


STOP_USERS, USERS_STOPPED = "optisim-stop-users", "optisim-users-stopped"
_stopped_workers: set[str] = set()


@events.init.add_listener
def _stop_messages(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):

        def stop_users(**_: Any) -> None:
            runner.stop()
            runner.send_message(USERS_STOPPED, {"worker": runner.client_id})

        runner.register_message(STOP_USERS, stop_users)
    elif isinstance(runner, MasterRunner):
        runner.register_message(
            USERS_STOPPED, lambda msg, **_: _stopped_workers.add(msg.data["worker"])
        )


def stop_workers(environment: Environment, timeout_s: float = 30.0) -> None:
    """Before a master audits: stop the users on every worker and wait until they say so.

    When a shape ends a headless run, locust's master fires `test_stop` and only then
    tells the workers to quit, so their users would go on calling while the audit reads
    the simulator (and the statistics would count calls the audit never saw)."""
    runner = environment.runner
    if not isinstance(runner, MasterRunner):
        return
    workers = {client.id for client in runner.clients.all}
    _stopped_workers.clear()
    runner.send_message(STOP_USERS)
    deadline = time.monotonic() + timeout_s
    while not workers <= _stopped_workers and time.monotonic() < deadline:
        gevent.sleep(0.05)
    if not workers <= _stopped_workers:
        LOG.warning("%d worker(s) did not stop their users", len(workers - _stopped_workers))


def coordinating(environment: Environment) -> bool:
    """True in the process that sets up, watches and audits (never in a worker)."""
    return isinstance(environment.runner, LocalRunner | MasterRunner)


def control(environment: Environment) -> Control:
    options = environment.parsed_options
    assert environment.host, "give the simulator's URL with --host"
    return Control(environment.host, options.admin_key if options else DEMO_ADMIN)


def fire(
    environment: Environment,
    request_type: str,
    name: str,
    ms: float,
    exception: Exception | None = None,
) -> None:
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=ms,
        response_length=0,
        exception=exception,
        context={},
    )


def fire_audit(environment: Environment, name: str, passed: int, failures: list[str]) -> None:
    """`passed` successes and one failure per message: a row whose failure count is the
    number of broken items."""
    for _ in range(passed):
        fire(environment, AUDIT, name, 0.0)
    for message in failures:
        fire(environment, AUDIT, name, 0.0, AuditFailure(message))


class AuditFailure(Exception):
    """An end-of-run check that failed (the message names what and how many)."""


def abort(environment: Environment, scenario: str, error: Exception) -> None:
    """The setup failed: say why (log and results file), exit 2, stop the run."""
    LOG.error("%s: setup failed: %s", scenario, error)
    write_results(environment, {"scenario": scenario, "error": str(error)})
    environment.process_exit_code = 2
    runner = environment.runner
    if runner is not None:
        gevent.spawn_later(0.1, runner.quit)  # not from inside the runner's own start


class Coordinator(Protocol):
    """A scenario's coordinator: set up by `start(environment)`, judged by `finish()`."""

    setup: dict[str, Any]
    ctrl: Control

    def finish(self) -> dict[str, Any]: ...


def coordinate(
    scenario: str, start: Callable[[Environment], Coordinator], *, settle_s: float = 0.0
) -> None:
    """Register the scenario's lifecycle with locust: in the coordinating process only,
    `start` sets the world up at `test_start` (a `SetupError` aborts the run with exit 2);
    at `test_stop` the workers' users are stopped first, `settle_s` lets their last calls
    land, then `finish` audits and the results file is written."""
    running: list[Coordinator] = []

    @events.test_start.add_listener
    def _start(environment: Environment, **_: Any) -> None:
        if not coordinating(environment):
            return
        try:
            running.append(start(environment))
        except SetupError as exc:
            abort(environment, scenario, exc)

    @events.test_stop.add_listener
    def _stop(environment: Environment, **_: Any) -> None:
        if not running:
            return
        coordinator = running.pop()
        stop_workers(environment)
        if settle_s:
            gevent.sleep(settle_s)
        try:
            results = coordinator.finish()
        except SetupError as exc:
            results = {**coordinator.setup, "error": str(exc)}
            environment.process_exit_code = 2
        finally:
            coordinator.ctrl.close()
        write_results(environment, results)


@events.quitting.add_listener
def _last_csv_write(environment: Environment, **_: Any) -> None:
    """Locust rewrites its CSV statistics every second and not once more at the end, so
    the rows fired by the final audit could miss the file: give the writer one more turn."""
    options = environment.parsed_options
    if coordinating(environment) and getattr(options, "csv_prefix", None):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.25)


def write_results(environment: Environment, results: dict[str, Any]) -> None:
    options = environment.parsed_options
    LOG.info("results: %s", json.dumps(results, default=str))
    path = getattr(options, "results_file", "") if options else ""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=2, default=str), "utf-8")


def restore_listener(
    env: Any, setup: dict[str, Any], register: Callable[[str], Any], what: str
) -> None:
    """Put back the listener registration `--listener-url` replaced (the integrator's own,
    recorded as `replacedListener` in the run's setup), so the simulator is left as the run
    found it. A failure is logged: the run's results matter more than the clean-up."""
    replaced = setup.get("replacedListener")
    wanted = getattr(env.parsed_options, "listener_url", None)
    if replaced and replaced != wanted:
        try:
            register(replaced)
        except Exception:
            logging.getLogger(__name__).exception("could not restore the %s %s", what, replaced)
