"""The processes `optisim load` starts: the simulator, the reference client, locust.

Each writes its output to a log file in the report directory; `stop` ends it (SIGTERM,
then SIGKILL after a grace period) and is safe to call twice.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from simulator.control_client import ControlClient, ControlError
from simulator.server_process import free_port

HOST = "127.0.0.1"
JOURNAL_SIZE = 200_000  # the scenarios read approvals from it; 10,000 is too few at speed


class StartError(RuntimeError):
    """A process did not start (the message carries the end of its log)."""


def world_file() -> Path:
    """`loadtests/world.yaml`: the demo tenant's keys and 5,000,000 customers (the world
    docker-compose.yml serves too)."""
    spec = importlib.util.find_spec("loadtests")
    if spec is None or not spec.submodule_search_locations:
        raise StartError("the loadtests package is not installed (pip install optisim)")
    return Path(next(iter(spec.submodule_search_locations))) / "world.yaml"


class Child:
    """A subprocess with its output in `log`."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        try:
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self._out.close()
            raise

    def tail(self, chars: int = 2000) -> str:
        self._out.flush()
        return self.log.read_text("utf-8", errors="replace")[-chars:]

    def wait_ready(self, url: str, timeout_s: float = 60.0) -> None:
        """Until `url` answers 200; StartError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StartError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    def wait(self, timeout_s: float | None) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            raise

    def stop(self, grace_s: float = 15.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()


def start_simulator(workdir: Path, store: str) -> tuple[Child, str]:
    """`optisim serve` on a free port with the load world; returns it and its URL."""
    port = free_port()
    world = world_file()
    argv = [
        sys.executable, "-c", "from simulator.cli import main; main()", "serve",
        "--host", HOST, "--port", str(port), "--scenario", str(world), "--store", store,
        "--sqlite-path", str(workdir / "optisim.sqlite"),
    ]  # fmt: skip
    env = {"SIM_JOURNAL_SIZE": str(JOURNAL_SIZE)}
    child = Child("the simulator", argv, workdir / "simulator.log", env)
    url = f"http://{HOST}:{port}"
    child.wait_ready(f"{url}/_sim/health")
    return child, url


def start_reference_client(
    workdir: Path, simulator_url: str, api_key: str, webhook_secret: str
) -> tuple[Child, str]:
    """`reference-client run` on a free port; it registers its listeners with the
    simulator as it starts. Returns it and its listener's base URL."""
    port = free_port()
    argv = [
        sys.executable, "-m", "reference_client.cli", "run",
        "--optimove-url", simulator_url, "--api-key", api_key,
        "--webhook-secret", webhook_secret,
        "--listener-host", HOST, "--listener-port", str(port),
        "--no-progress", "--log-level", "WARNING", "--log-format", "text",
    ]  # fmt: skip
    child = Child("the reference client", argv, workdir / "reference-client.log", {})
    url = f"http://{HOST}:{port}"
    child.wait_ready(f"{url}/health")
    return child, url


def wait_registered(simulator_url: str, admin_key: str, listener: str, timeout_s: float) -> None:
    """Until the tenant's CE v2 webhook and EventTypeID 5 listener point at `listener`
    (the client registers them just after its listener starts answering)."""
    deadline = time.monotonic() + timeout_s
    with ControlClient(simulator_url, admin_key, timeout=5.0) as sim:
        while time.monotonic() < deadline:
            try:
                tenant = sim.get_tenant()
            except ControlError as exc:
                raise StartError(f"the simulator refused to show the tenant: {exc}") from exc
            hook = tenant.ceWebhook.url if tenant.ceWebhook is not None else ""
            if hook.startswith(listener) and tenant.listeners.get("5", "").startswith(listener):
                return
            time.sleep(0.1)
    raise StartError(f"the reference client did not register {listener} in {timeout_s:.0f} s")
