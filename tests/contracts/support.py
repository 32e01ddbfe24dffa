"""Shared pieces of the contract tests: the committed documents, a fresh simulator (in
process, or a fresh tenant of a running one), and the schemathesis configuration
(deterministic in CI, larger and random on request)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from simulator.app import create_app
from simulator.scenario import builtin_scenario
from simulator.services.runtime import SeededIds
from simulator.settings import SimSettings
from simulator.specs import Scenario

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SURFACES = ("optimove-core", "ce-v2", "promotions", "control")
ADMIN = "demo-admin-key"
AUTH = {"X-API-KEY": ADMIN}

# CI: a modest, derandomized run (most of its cases come from the coverage phase, which
# max-examples does not limit; 5 fuzzing examples keep tests/contracts near 90 s on 2 cores).
# Locally: OPTISIM_FUZZ_EXAMPLES=500 OPTISIM_FUZZ_SEED=random (or a number, to replay a run).
EXAMPLES = int(os.environ.get("OPTISIM_FUZZ_EXAMPLES", "5"))
_SEED = os.environ.get("OPTISIM_FUZZ_SEED", "")
DERANDOMIZE = _SEED == ""
SEED: int | None = None if _SEED in ("", "random") else int(_SEED)
# OPTISIM_FUZZ_STORE=sqlite runs the simulators on a SQLite file instead of in memory.
STORE = os.environ.get("OPTISIM_FUZZ_STORE", "memory")
STATEFUL_SCENARIOS = int(os.environ.get("OPTISIM_FUZZ_SCENARIOS", "8"))
STATEFUL_STEPS = int(os.environ.get("OPTISIM_FUZZ_STEPS", "6"))

# OPTISIM_CONTRACT_URL (or `pytest --contract-url URL`): the schemathesis tests send their
# requests to the simulator running there instead of one in process. Each operation test
# (and each stateful scenario) gets a new tenant of it, made with the admin key
# OPTISIM_CONTRACT_KEY (default: the demo's).
URL: str | None = os.environ.get("OPTISIM_CONTRACT_URL", "").rstrip("/") or None
URL_KEY = os.environ.get("OPTISIM_CONTRACT_KEY", ADMIN)
# OPTISIM_CONTRACT_OPERATIONS=id,id,...: only these operations (by operationId, any surface)
# in the per-operation tests; the stateful test always follows links across all of them.
OPERATIONS = [o for o in os.environ.get("OPTISIM_CONTRACT_OPERATIONS", "").split(",") if o]


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CONTRACTS / f"{name}.json").read_text("utf-8"))
    return document


@functools.cache
def _scratch() -> str:
    """One directory for the SQLite files of this test process, removed at exit."""
    path = tempfile.mkdtemp(prefix="optisim-contracts-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def _demo() -> Scenario:
    """The demo world on a manual clock (parsed once: scenarios are immutable)."""
    scenario = builtin_scenario("demo")
    return scenario.model_copy(
        update={"clock": scenario.clock.model_copy(update={"mode": "manual"})}
    )


def fresh_app(*, executed: bool = False, store: str | None = None) -> FastAPI:
    """The demo world on a manual clock, seeded ids, in memory (or `store="sqlite"`, in a
    new file); no webhook delivery and no process-wide GC tuning (these apps live inside
    the test process). `executed`: campaign 48213 is executed, so its processed list,
    validation and approval can be reached."""
    scenario = _demo()
    settings = SimSettings(webhooks=False, gc_freeze=False)
    if (store or STORE) == "sqlite":
        path = Path(tempfile.mkdtemp(dir=_scratch())) / "sim.sqlite"
        settings = SimSettings(webhooks=False, gc_freeze=False, store="sqlite", sqlite_path=path)
    app = create_app(settings, ids=SeededIds(1), scenario=scenario)
    if executed:  # without entering the client: the app's lifespan is not started
        response = TestClient(app).post("/_sim/campaigns/48213/execute", headers=AUTH)
        assert response.status_code == 200, response.text
    return app


def remote_tenant(url: str, key: str) -> dict[str, str]:
    """A new tenant of the simulator at `url`, made like `fresh_app(executed=True)`: the demo
    world, a manual clock, campaign 48213 executed. Returns the headers with its admin key."""

    def send(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{url}{path}", data, method=method)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=30) as response:  # raises on 4xx/5xx
            return json.loads(response.read() or b"null")

    created = send("POST", "/_sim/tenants", {"builtin": "demo"}, {"X-API-KEY": key})
    auth = {"X-API-KEY": created["keys"]["admin"]}
    send("PUT", "/_sim/clock", {"mode": "manual"}, auth)
    send("POST", "/_sim/campaigns/48213/execute", None, auth)
    return auth


# The configuration users' schemathesis CLI reads (README: "Use optisim in your CI"): which
# statuses positive_data_acceptance accepts where a body carries rules JSON Schema cannot
# state, which operations and phases are left out and why. The tests run with it too, so
# the in-process suite and the CLI judge alike.
CONFIG_FILE = CONTRACTS.parent / "schemathesis.toml"
# The operations that install fault rules on the caller's tenant (left out of the CLI run,
# where the rules would leak into the rest of it). In process, every operation test gets a
# fresh simulator and test_schemathesis.fuzz clears the rules after each of their requests,
# so they are fuzzed here.
ARMS_FAULTS = frozenset({"set_faults", "load_scenario"})


def project_operations() -> list[dict[str, Any]]:
    """The `[[operations]]` entries of schemathesis.toml, less those the in-process run
    does not need."""
    entries: list[dict[str, Any]] = tomllib.loads(CONFIG_FILE.read_text("utf-8"))["operations"]
    return [
        entry
        for entry in entries
        if not (entry.get("enabled") is False and set(_ids(entry)) <= ARMS_FAULTS)
    ]


def _ids(entry: dict[str, Any]) -> list[str]:
    ids = entry.get("include-operation-id", [])
    return [ids] if isinstance(ids, str) else list(ids)


# The deterministic (CI) run leaves out one duplicate, for time: load_scenario's body is the
# Scenario schema, which create_tenant's `scenario` property also is; create_tenant's coverage
# phase covers it (down to e.g. `scenario.promotions[].tiers[].reward.units`), load_scenario's
# would add 1,850 more cases, a third of the suite's time. load_scenario's examples and fuzzing
# phases still run, with every check; the larger run (OPTISIM_FUZZ_SEED set) covers both.
CI_PHASES = (
    [{"include-operation-id": ["load_scenario"], "phases": {"coverage": {"enabled": False}}}]
    if DERANDOMIZE
    else []
)


def schemathesis_config(
    *, stateful: bool = False, base_url: str | None = None, **generation: Any
) -> Any:
    """The project configuration (schemathesis.toml's operations), all generation modes,
    every phase but stateful (run by its own test), the seed when one was asked for;
    requests go to `base_url` when given (else to the ASGI app the schema is bound to)."""
    import schemathesis.config

    data: dict[str, Any] = {
        "generation": {"mode": "all", "max-examples": EXAMPLES, **generation},
        "phases": {"stateful": {"enabled": stateful}},
        "operations": [*project_operations(), *CI_PHASES],
    }
    if SEED is not None:
        data["seed"] = SEED
    if base_url is not None:
        data["base-url"] = base_url
    return schemathesis.config.SchemathesisConfig.from_dict(data)
