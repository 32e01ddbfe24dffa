"""The simulator the `optisim_server` fixture starts: `optisim`'s own server process on a
free port (simulator/server_process.py), the demo world, the journal on."""

from __future__ import annotations

import time
from pathlib import Path

from simulator.control_client import ControlClient, ControlError
from simulator.server_process import ADMIN, SimulatorProcess, demo_scenario

START_TIMEOUT_S = 60.0


class StartedServer:
    """A simulator process started for a test session; `stop()` ends it."""

    admin_key = ADMIN

    def __init__(self, workdir: Path) -> None:
        self.process = SimulatorProcess(demo_scenario(1_000), workdir, journal=True)
        self.url = self.process.url
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with ControlClient(self.url, timeout=2.0) as client:
            while True:
                code = self.process.proc.poll()
                if code is not None:
                    raise RuntimeError(
                        f"the optisim simulator exited with {code} before it answered "
                        f"(port {self.process.port})"
                    )
                try:
                    client.health()
                    return
                except ControlError as exc:
                    if time.monotonic() >= deadline:
                        raise RuntimeError(
                            f"the optisim simulator at {self.url} did not answer within "
                            f"{START_TIMEOUT_S:g} s: {exc.message}"
                        ) from exc
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()
