"""The one way optisim starts a server process, and the sized demo world it is started with.

Used by every command that starts processes of its own: `optisim demo` and
`optisim contract listener --with-simulator` (the simulator), and `optisim load` (the
simulator, the reference client and locust, through `simulator/load/processes.py`). A
separate process (not a thread) so the simulator has its own core and its own event loop,
as it has in production use.

Processes that behave:
- a child runs in a session of its own, so a Ctrl-C at the terminal reaches only the
  command, which then stops its children in order (the simulator does not vanish under a
  client still sending to it: that was hundreds of retry lines after every Ctrl-C);
- `stop_on_signals()` turns SIGTERM into the same clean exit as Ctrl-C, so a CI runner
  cancelling a job leaves no simulator behind holding its port;
- a child is told its parent's pid (`OPTISIM_PARENT_PID`) and stops itself when that
  process is gone, even after a SIGKILL that no handler sees (on Linux the kernel also
  sends it SIGTERM then: PR_SET_PDEATHSIG);
- a fixed port already in use is an error before anything starts (`PortInUse`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
import yaml

from simulator.scenario import builtin_scenario
from simulator.settings import SimSettings

# The demo world's fixed names (simulator/scenarios/demo.yaml). PLAIN's promo code has no
# Promotions promotion: its customers are approved without validation (wire-contract §2.1).
SCHEDULED, TRIGGERED, PLAIN = 48213, 7001, 48215
ADMIN = "demo-admin-key"
INTEGRATIONS = "demo-integrations-key"
HOST = "127.0.0.1"
PARENT_ENV = "OPTISIM_PARENT_PID"


class StartError(RuntimeError):
    """A process did not start (the message says why, with the end of its log if any)."""


class PortInUse(StartError):
    """A fixed port is taken by another process."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use (stop what listens there, or choose "
            "another port; 0 picks a free one)"
        )
        self.port = port


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (0: a free port), bound as uvicorn binds it;
    `PortInUse` when the port is taken. Binding first is what lets a command say
    "serving at …" only when it will."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if port:
            raise PortInUse(host, port) from error
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ensure_port_free(port: int, host: str = HOST) -> None:
    """`PortInUse` when something already listens on host:port."""
    bind_socket(host, port).close()


def _die_with_parent() -> None:
    """In the forked child (Linux): SIGTERM when the parent dies, even by SIGKILL
    (prctl PR_SET_PDEATHSIG), for children that cannot watch for it themselves (the
    reference client, locust); `optisim serve` also runs `watch_parent`."""
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Child:
    """A subprocess in a session of its own; its output goes to `log` (or ours when None).

    `stop` ends it (SIGTERM, then SIGKILL after a grace period) and is safe to call twice."""

    def __init__(
        self, name: str, argv: list[str], log: Path | None, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log
        self._out: IO[bytes] | None = log.open("wb") if log is not None else None
        try:
            self.proc = subprocess.Popen(
                argv,
                env={**os.environ, **(env or {}), PARENT_ENV: str(os.getpid())},
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=subprocess.STDOUT if self._out is not None else None,
                start_new_session=True,  # a terminal's Ctrl-C is ours to handle, not its
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError:
            if self._out is not None:
                self._out.close()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, chars: int = 2000) -> str:
        if self._out is None or self.log is None:
            return ""
        self._out.flush()
        return self.log.read_text("utf-8", errors="replace")[-chars:]

    def _exited(self) -> StartError:
        tail = self.tail()
        end = f":\n{tail}" if tail else ""
        return StartError(f"{self.name} exited with {self.proc.returncode}{end}")

    def wait_ready(self, url: str, timeout_s: float = 60.0) -> None:
        """Until `url` answers 200; StartError if the process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._exited()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise StartError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    async def wait_ready_async(self, url: str, timeout_s: float = 60.0) -> None:
        """`wait_ready` for an event loop."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise self._exited()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
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
        if self._out is not None:
            self._out.close()


def serve_argv(*options: str) -> list[str]:
    """The command line of `optisim serve OPTIONS` with this interpreter."""
    return [sys.executable, "-c", "from simulator.cli import main; main()", "serve", *options]


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


DEFAULT_FACTORY = "simulator.cli:app_from_env"


class SimulatorProcess:
    """The simulator as a separate server process (in-memory store), stopped on exit.

    `port`: a fixed port (so an integrator's app can be configured with the URL before
    the simulator starts; `PortInUse` when it is taken), else a free one. `journal`:
    record requests (the listener check reads its evidence from the journal; the demo
    switches it off for speed). `factory`: another uvicorn app factory (a test's wrapped
    app), served by `python -m uvicorn` with the same head limits; `env`: more SIM_*
    settings."""

    def __init__(
        self,
        scenario: dict[str, Any],
        workdir: Path,
        *,
        port: int | None = None,
        journal: bool = False,
        factory: str = DEFAULT_FACTORY,
        env: dict[str, str] | None = None,
    ) -> None:
        if port:
            ensure_port_free(port)
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        path = workdir / "scenario.yaml"
        path.write_text(yaml.safe_dump(scenario, sort_keys=False), "utf-8")
        extra = dict(env or {})
        if factory == DEFAULT_FACTORY:
            argv = serve_argv(
                "--host", HOST, "--port", str(self.port), "--scenario", str(path),
                "--store", "memory", "--journal" if journal else "--no-journal", "--quiet",
            )  # fmt: skip
        else:  # settings by environment, as `optisim serve` hands them to its app factory
            journal_env = "true" if journal else "false"
            extra = {"SIM_SCENARIO": str(path), "SIM_STORE": "memory", "SIM_JOURNAL": journal_env}
            extra.update(env or {})
            argv = [
                sys.executable, "-m", "uvicorn", factory, "--factory",
                "--host", HOST, "--port", str(self.port),
                "--log-level", "warning", "--no-access-log",
                *uvicorn_cli_args(SimSettings()),  # request-head limits and timeouts
            ]  # fmt: skip
        self.child = Child("the simulator", argv, None, env=extra)
        self.proc = self.child.proc

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        try:
            await self.child.wait_ready_async(f"{self.url}/_sim/health", timeout_s)
        except StartError as error:
            raise RuntimeError(str(error)) from error

    def stop(self) -> None:
        self.child.stop()


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    # Whatever Ctrl-C does now: asyncio.Runner cancels its main task (so `finally` blocks
    # and async context managers run in order), else KeyboardInterrupt is raised.
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (and SIGHUP) act as Ctrl-C does, so the command's `finally` blocks stop
    its children; the previous handlers come back on exit. Use around the part of a
    command that owns processes."""
    previous = {sig: signal.signal(sig, _as_ctrl_c) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def watch_parent() -> None:
    """In a child started by `Child`: SIGTERM ourselves once the parent is gone, so a
    simulator never outlives the command that started it (even a SIGKILLed one)."""
    raw = os.environ.pop(PARENT_ENV, None)
    if not raw or not raw.isdigit():
        return
    parent = int(raw)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # alive, under another user
                continue
            if os.getppid() != parent:  # re-parented: the pid may have been reused
                break
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="optisim-parent-watch", daemon=True).start()


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
