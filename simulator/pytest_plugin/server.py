"""The simulator the `optisim_server` fixture starts: `optisim`'s own server process on a
free port (simulator/server_process.py), the demo world, the journal on."""

from __future__ import annotations

from pathlib import Path

from simulator.server_process import SimulatorProcess, demo_scenario

START_TIMEOUT_S = 60.0


class StartedServer:
    """A simulator process started for a test session; `stop()` ends it."""

    def __init__(self, workdir: Path) -> None:
        self.process = SimulatorProcess(demo_scenario(1_000), workdir, journal=True)
        self.url = self.process.url
        try:  # StartError with the log's tail if it exits or stays silent
            self.process.child.wait_ready(f"{self.url}/_sim/health", START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.process.stop()
