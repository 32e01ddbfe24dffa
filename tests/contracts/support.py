"""Shared pieces of the contract tests: the committed documents, a fresh simulator, and the
schemathesis configuration (deterministic in CI, larger and random on request)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from simulator.app import create_app
from simulator.scenario import builtin_scenario
from simulator.services.runtime import SeededIds
from simulator.settings import SimSettings

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
SURFACES = ("optimove-core", "ce-v2", "promotions", "control")
ADMIN = "demo-admin-key"
AUTH = {"X-API-KEY": ADMIN}

# CI: a modest, derandomized run. Locally: OPTISIM_FUZZ_EXAMPLES=500 OPTISIM_FUZZ_SEED=random
# (or a number, to replay a run).
EXAMPLES = int(os.environ.get("OPTISIM_FUZZ_EXAMPLES", "8"))
_SEED = os.environ.get("OPTISIM_FUZZ_SEED", "")
DERANDOMIZE = _SEED == ""
SEED: int | None = None if _SEED in ("", "random") else int(_SEED)
# OPTISIM_FUZZ_STORE=sqlite runs the simulators on a SQLite file instead of in memory.
STORE = os.environ.get("OPTISIM_FUZZ_STORE", "memory")
STATEFUL_SCENARIOS = int(os.environ.get("OPTISIM_FUZZ_SCENARIOS", "10"))
STATEFUL_STEPS = int(os.environ.get("OPTISIM_FUZZ_STEPS", "6"))


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CONTRACTS / f"{name}.json").read_text("utf-8"))
    return document


@functools.cache
def _scratch() -> str:
    """One directory for the SQLite files of this test process, removed at exit."""
    path = tempfile.mkdtemp(prefix="optisim-contracts-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def fresh_app(*, executed: bool = False, store: str | None = None) -> FastAPI:
    """The demo world on a manual clock, seeded ids, in memory (or `store="sqlite"`, in a
    new file); no webhook delivery and no process-wide GC tuning (these apps live inside
    the test process). `executed`: campaign 48213 is executed, so its processed list,
    validation and approval can be reached."""
    scenario = builtin_scenario("demo")
    scenario = scenario.model_copy(
        update={"clock": scenario.clock.model_copy(update={"mode": "manual"})}
    )
    settings = SimSettings(webhooks=False, gc_freeze=False)
    if (store or STORE) == "sqlite":
        path = Path(tempfile.mkdtemp(dir=_scratch())) / "sim.sqlite"
        settings = SimSettings(webhooks=False, gc_freeze=False, store="sqlite", sqlite_path=path)
    app = create_app(settings, ids=SeededIds(1), scenario=scenario)
    if executed:  # without entering the client: the app's lifespan is not started
        response = TestClient(app).post("/_sim/campaigns/48213/execute", headers=AUTH)
        assert response.status_code == 200, response.text
    return app


# Operations whose request bodies carry rules JSON Schema cannot state (the documents say
# them in words): unique tier ids within a promotion; `PUT …/tiers` rewards must fit the
# stored promotion's `rewardKind`; a scenario's campaigns must name its own promo codes and
# have unique ids, its keys must not belong to another tenant; emitted events name
# customers of the tenant's population. Schema-valid data may be refused with 400 there;
# every other check still applies to them.
UNSTATED_RULES = [
    "create_promotion",
    "set_promotion_tiers",
    "create_tenant",
    "load_scenario",
    "emit_events",
]
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def schemathesis_config(*, stateful: bool = False, **generation: Any) -> Any:
    """The project configuration: all generation modes, every phase but stateful (run by
    its own test), the seed when one was asked for."""
    import schemathesis.config

    data: dict[str, Any] = {
        "generation": {"mode": "all", "max-examples": EXAMPLES, **generation},
        "phases": {"stateful": {"enabled": stateful}},
        # Stateful only (the fuzz tests pass their checks explicitly): use_after_free
        # expects a 404 after DELETE, but DELETE /v1/promotions/{id} archives; the
        # promotion stays readable with status `archived` (wire-contract §4, §8).
        "checks": {"use_after_free": {"enabled": False}},
        "operations": [
            {
                "include-operation-id": UNSTATED_RULES,
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*POSITIVE_STATUSES, "400"]}
                },
            }
        ],
    }
    if SEED is not None:
        data["seed"] = SEED
    return schemathesis.config.SchemathesisConfig.from_dict(data)
