"""The processes `optisim load` starts: the simulator, the reference client, locust.

Each is a `Child` of simulator/server_process.py (the one way optisim starts processes)
writing its output to a log file in the report directory.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

from simulator.control_client import ControlClient, ControlError
from simulator.server_process import Child, StartError, free_port, serve_argv

__all__ = [
    "Child",
    "StartError",
    "start_reference_client",
    "start_simulator",
    "wait_registered",
    "world_file",
]

HOST = "127.0.0.1"
JOURNAL_SIZE = 200_000  # the scenarios read approvals from it; 10,000 is too few at speed


def world_file() -> Path:
    """`loadtests/world.yaml`: the demo tenant's keys and 5,000,000 customers (the world
    docker-compose.yml serves too)."""
    spec = importlib.util.find_spec("loadtests")
    if spec is None or not spec.submodule_search_locations:
        raise StartError("the loadtests package is not installed (pip install optisim)")
    return Path(next(iter(spec.submodule_search_locations))) / "world.yaml"


def start_simulator(workdir: Path, store: str) -> tuple[Child, str]:
    """`optisim serve` on a free port with the load world; returns it and its URL."""
    port = free_port()
    world = world_file()
    argv = serve_argv(
        "--host", HOST, "--port", str(port), "--scenario", str(world), "--store", store,
        "--sqlite-path", str(workdir / "optisim.sqlite"),
    )  # fmt: skip
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
