"""Fixtures for the reference-client suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _no_acf_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """ClientConfig reads ACF_* variables: a developer's shell must not leak into tests."""
    for name in list(os.environ):
        if name.upper().startswith("ACF_"):
            monkeypatch.delenv(name)
    yield
