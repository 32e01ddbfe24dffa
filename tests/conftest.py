"""Factory fixtures: a fresh simulator per test, on every store (memory and SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.app import create_app
from simulator.scenario import builtin_scenario
from simulator.services.runtime import SeededIds
from simulator.settings import SimSettings
from simulator.specs import Scenario
from simulator.store.base import Store
from simulator.store.memory import MemoryStore
from tests.helpers import Sim

STORES = ["memory", "sqlite"]


def manual_demo(**population: Any) -> Scenario:
    """The demo scenario on a manual clock (optionally with another population)."""
    scenario = builtin_scenario("demo")
    update: dict[str, Any] = {"clock": scenario.clock.model_copy(update={"mode": "manual"})}
    if population:
        update["population"] = scenario.population.model_copy(update=population)
    return scenario.model_copy(update=update)


def open_store(kind: str, path: Path) -> Store:
    if kind == "sqlite":
        from simulator.store.sqlite import SqliteStore

        return SqliteStore(path)
    return MemoryStore()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_sim(tmp_path: Path, store_kind: str) -> Iterator[Callable[..., Sim]]:
    """Build simulators: `make_sim(scenario=..., settings=..., wall=...)`; all closed after."""
    clients: list[TestClient] = []

    def make(
        scenario: Scenario | None = None,
        settings: SimSettings | None = None,
        wall: Callable[[], float] | None = None,
        store: Store | None = None,
        seed: int = 1,
    ) -> Sim:
        store = store or open_store(store_kind, tmp_path / f"sim-{len(clients)}.sqlite")
        app = create_app(
            settings or SimSettings(),
            store=store,
            wall=wall,
            ids=SeededIds(seed),
            scenario=scenario or manual_demo(),
        )
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Sim(client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Sim:
    """The demo world on a manual clock, on each store."""
    return make_sim()
