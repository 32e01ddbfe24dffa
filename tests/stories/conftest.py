"""Fixtures for the story suite: one simulator per module (the runner loads a fresh world
into it for each story), no ACF_/OPTISIM_ environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from simulator.app import create_app
from simulator.settings import SimSettings
from tests.client.support import ThreadServer


@pytest.fixture(autouse=True)
def _no_acf_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.upper().startswith(("ACF_", "OPTISIM_")):
            monkeypatch.delenv(name)
    yield


@pytest.fixture(scope="module")
def simulator() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server
