"""The scenarios `optisim load` runs (locustfiles in `loadtests/`) and the locust command
line for one run."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Listener = Literal["triggered", "scheduled"]
ADMIN = "demo-admin-key"  # the demo tenant's keys and secret (simulator/scenarios/demo.yaml)
INTEGRATIONS = "demo-integrations-key"
DEMO_SECRET = "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"


@dataclass(frozen=True)
class Scenario:
    name: str
    module: str
    about: str
    listener: Listener | None  # the integrator listener it needs (None: no integrator)
    shaped: bool  # follows --shape (users and run time are the shape's peak and length)
    users: int
    run_time_s: float | None  # None: until the scenario ends by itself (large-list)
    customers: int | None = None  # default --customers (None: the option does not apply)
    end_to_end: bool = False  # has E2E rows, so --deadline-seconds applies

    def locustfile(self) -> Path:
        spec = importlib.util.find_spec(self.module)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"{self.module} is not installed (pip install optisim)")
        return Path(spec.origin)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "webhook-burst",
            "loadtests.webhook_burst",
            "triggered events fired at the integrator's listener along a load shape",
            "triggered",
            shaped=True,
            users=20,
            run_time_s=30,
            end_to_end=True,
        ),
        Scenario(
            "large-list",
            "loadtests.large_list",
            "a scheduled campaign of --customers executed against the integrator",
            "scheduled",
            shaped=False,
            users=1,
            run_time_s=None,
            customers=100_000,
            end_to_end=True,
        ),
        Scenario(
            "api-capacity",
            "loadtests.api_capacity",
            "Optimove and Promotions routes under concurrent users; ledger invariants",
            None,
            shaped=True,
            users=32,
            run_time_s=30,
            customers=20_000,
        ),
        Scenario(
            "health-ceiling",
            "loadtests.health_ceiling",
            "one locust process's request ceiling (GET /_sim/health), beside wrk's",
            None,
            shaped=False,
            users=32,
            run_time_s=15,
        ),
    )
}


@dataclass
class Plan:
    """Everything the locust command line needs (the CLI's options, resolved)."""

    scenario: Scenario
    out: Path
    users: int
    run_time_s: float
    shape: str = "spike"
    steps: int = 4
    events_per_call: int = 10
    customers: int | None = None
    clearance_minutes: float = 30.0
    batch: int = 20
    settle_s: float = 10.0
    admin_key: str = ADMIN
    listener_url: str | None = None
    processes: int | None = None
    master: bool = False
    expect_workers: int = 1
    master_bind_port: int | None = None
    extra: list[str] = field(default_factory=list)

    @property
    def csv_prefix(self) -> Path:
        return self.out / "locust"

    @property
    def html(self) -> Path:
        return self.out / "report.html"

    @property
    def results(self) -> Path:
        return self.out / "results.json"

    def argv(self, host: str) -> list[str]:
        """The locust command line of the coordinating process (local or master)."""
        s = self.scenario
        argv = [
            sys.executable, "-m", "locust", "-f", str(s.locustfile()), "--headless",
            "--host", host, "--csv", str(self.csv_prefix), "--html", str(self.html),
            "-u", str(self.users), "-r", str(self.users), "-t", f"{math.ceil(self.run_time_s)}s",
            "--results-file", str(self.results), "--admin-key", self.admin_key,
            "--settle-seconds", f"{self.settle_s:g}",
        ]  # fmt: skip
        if s.shaped:
            argv += ["--shape", self.shape, "--steps", str(self.steps)]
        if s.name == "webhook-burst":
            argv += ["--events-per-call", str(self.events_per_call)]
        if s.name == "large-list":
            argv += ["--clearance-minutes", f"{self.clearance_minutes:g}"]
        if s.name == "api-capacity":
            argv += ["--batch", str(self.batch)]
        if self.customers is not None:
            argv += ["--customers", str(self.customers)]
        if self.listener_url:
            argv += ["--listener-url", self.listener_url]
        if self.processes is not None:
            argv += ["--processes", str(self.processes)]
        if self.master:
            argv += ["--master", "--expect-workers", str(self.expect_workers)]
            if self.master_bind_port is not None:
                argv += ["--master-bind-port", str(self.master_bind_port)]
        return argv + self.extra


def worker_argv(
    scenario: Scenario, master_host: str, master_port: int | None, extra: list[str]
) -> list[str]:
    """A worker for a master on another machine: options and host come from the master."""
    argv = [sys.executable, "-m", "locust", "-f", str(scenario.locustfile()), "--worker"]
    argv += ["--master-host", master_host]
    if master_port is not None:
        argv += ["--master-port", str(master_port)]
    return argv + extra
