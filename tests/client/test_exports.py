"""The public surface: a sorted `__all__` whose every name resolves (httpx's habit)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import reference_client

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_sorted_and_complete() -> None:
    names = reference_client.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(reference_client, name) is not None


def test_the_client_never_imports_the_simulator() -> None:
    code = (
        "import sys, reference_client, reference_client.cli; "
        "print(any(m == 'simulator' or m.startswith('simulator.') for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
