"""The per-call benchmark runs and checks its answers (a smoke run, tiny counts)."""

from __future__ import annotations

import pytest

from loadtests import bench_calls


def test_the_per_call_benchmark_runs_both_loops(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SIM_SCENARIO", "SIM_JOURNAL", "SIM_STORE"):  # the benchmark sets them
        monkeypatch.setenv(name, "")
    assert bench_calls.main(["--calls", "20", "--events", "10"]) == 0
    out = capsys.readouterr().out
    assert "validateCustomers x1: " in out and " calls/s" in out
    assert "triggered event (validate + CE v2 approval): " in out
