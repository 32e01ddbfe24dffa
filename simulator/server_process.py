"""The simulator as a separate server process, and the sized demo world it is started with.

Shared by the two commands that start a simulator of their own: `optisim demo` and
`optisim contract listener --with-simulator`. A separate process (not a thread) so the
simulator has its own core and its own event loop, as it has in production use.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from simulator.scenario import builtin_scenario
from simulator.settings import SimSettings

# The demo world's fixed names (simulator/scenarios/demo.yaml). PLAIN's promo code has no
# Promotions promotion: its customers are approved without validation (wire-contract §2.1).
SCHEDULED, TRIGGERED, PLAIN = 48213, 7001, 48215
ADMIN = "demo-admin-key"
INTEGRATIONS = "demo-integrations-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def demo_scenario(customers: int) -> dict[str, Any]:
    """The built-in demo world with the scheduled campaign sized to `customers` and the
    welcome promotion's budget and audience cap scaled with it, so that some customers
    run into the cap and the budget (the report then shows those reasons too)."""
    data: dict[str, Any] = builtin_scenario("demo").model_dump(mode="json", exclude_none=True)
    data["population"]["size"] = max(100_000, customers)
    for promotion in data["promotions"]:
        if promotion["id"] == "PR-WELCOME":
            promotion["audienceCap"] = int(customers * 0.97)
            promotion["budget"] = customers * 1_000
    for campaign in data["campaigns"]:
        if campaign["id"] == SCHEDULED:
            campaign["targetGroup"] = {"size": customers}
    return data


class SimulatorProcess:
    """The simulator as a separate server process (in-memory store), stopped on exit.

    `port`: a fixed port (so an integrator's app can be configured with the URL before
    the simulator starts), else a free one. `journal`: record requests (the listener check
    reads its evidence from the journal; the demo switches it off for speed). `factory`:
    another uvicorn app factory (a test's wrapped app); `env`: more SIM_* settings."""

    def __init__(
        self,
        scenario: dict[str, Any],
        workdir: Path,
        *,
        port: int | None = None,
        journal: bool = False,
        factory: str = "simulator.cli:app_from_env",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        path = workdir / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False), "utf-8")
        env = {
            **os.environ,
            "SIM_SCENARIO": str(path),
            "SIM_STORE": "memory",
            "SIM_HOST": "127.0.0.1",
            "SIM_PORT": str(self.port),
            "SIM_JOURNAL": "true" if journal else "false",
            **(env or {}),
        }
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                factory,
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
                *uvicorn_cli_args(SimSettings()),  # request-head limits and timeouts
            ],
            env=env,
        )

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"the simulator exited with {self.proc.returncode} "
                        f"(is port {self.port} already in use?)"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/_sim/health")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError("the simulator did not start in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


# uvicorn's http protocol with the request-head limits (simulator/serving.py; named, not
# imported: serving imports uvicorn, which the pytest plugin, a user of this module, must
# not load in its own process).
HEAD_LIMITED_PROTOCOL = "simulator.serving:HeadLimitedProtocol"


def uvicorn_cli_args(settings: SimSettings) -> list[str]:
    """The request-head limits as `python -m uvicorn` options (the environment carries the
    rest): the same as `simulator.serving.uvicorn_options` in process."""
    return [
        "--http",
        HEAD_LIMITED_PROTOCOL,
        "--h11-max-incomplete-event-size",
        str(settings.max_head_bytes),
        "--timeout-keep-alive",
        str(settings.keep_alive_seconds),
    ]
