"""The dispatcher's lifecycle: stopping an app must be safe whatever the relay is doing.

The app's shutdown (lifespan) cancels the dispatcher, then closes the delivery log and the
store. Two ways this went wrong, each checked in a child process (the failure is a crash
of the process or a hang, which must not take the test run with it):

- with the SQLite store the relay's IO runs in worker threads, which cancellation does
  not stop, so a worker could still be using a connection that `close()` closes: a
  segfault;
- the relay waits with `asyncio.wait_for(wake.wait(), poll)`; on Python 3.11 a cancel
  that lands as the wake event is set (every non-GET `/_sim` call sets it) is swallowed,
  the relay keeps running and the shutdown waits for it forever.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.webhooks.support import REPO

CYCLES = 60
BUDGET_S = 6.0
SCRIPT = f"""
import os, random, tempfile, threading, time
from pathlib import Path
from fastapi.testclient import TestClient
from simulator.app import create_app
from simulator.services.runtime import SeededIds
from simulator.settings import SimSettings
from simulator.store.sqlite import SqliteStore
from tests.conftest import manual_demo

admin = {{"X-API-KEY": "demo-admin-key"}}
with tempfile.TemporaryDirectory() as tmp:
    store = SqliteStore(Path(tmp) / "sim.sqlite")
    app = create_app(SimSettings(), store=store, ids=SeededIds(1), scenario=manual_demo())
    started = time.monotonic()
    done = 0
    while done < {CYCLES} and time.monotonic() - started < {BUDGET_S}:
        client = TestClient(app)
        client.__enter__()  # lifespan: the dispatcher starts
        if done == 0:
            for _ in range(40):  # more tenants: each relay step reads longer
                client.post("/_sim/tenants", json={{}}, headers=admin)
        time.sleep(random.uniform(0, 0.06))
        client.post("/_sim/deliveries/resend-failed", json={{}}, headers=admin)  # wakes it
        stopped = threading.Event()

        def watchdog() -> None:
            if not stopped.wait(10):
                print("hang: the app did not stop within 10 s, cycle", done, flush=True)
                os._exit(3)

        threading.Thread(target=watchdog, daemon=True).start()
        client.__exit__(None, None, None)  # lifespan: the dispatcher stops, stores close
        stopped.set()
        done += 1
    print("ok", done)
"""


@pytest.mark.slow
def test_stopping_a_sqlite_app_right_after_a_control_call_neither_crashes_nor_hangs() -> None:
    try:
        child = subprocess.run(
            [sys.executable, "-X", "faulthandler", "-c", SCRIPT],
            cwd=REPO,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as hung:
        raise AssertionError("starting and stopping the app hung") from hung
    out = child.stdout.decode(errors="replace")
    err = child.stderr.decode(errors="replace")
    assert child.returncode == 0, (
        f"exit {child.returncode} (-11: segfault, 3: hang at shutdown)\n{out}\n{err[-3000:]}"
    )
    assert out.startswith("ok"), out
