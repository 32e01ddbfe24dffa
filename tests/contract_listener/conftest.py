"""Fixtures for the `optisim contract listener` suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import ThreadServer


@pytest.fixture(autouse=True)
def _no_acf_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The reference client reads ACF_* variables: a developer's shell must not leak in."""
    for name in list(os.environ):
        if name.upper().startswith(("ACF_", "OPTISIM_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="module")
def simulator() -> Iterator[ThreadServer]:
    """One running simulator (uvicorn in a thread) for the module's `--simulator-url`
    runs: the checker loads a fresh world into it each time."""
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server
