"""`optisim contract listener`: the listener checks, and with a simulator the flow checks.

Without a simulator only the integrator's listener is needed. With one (`with_simulator`)
the checker starts a simulator process (on `simulator_port`, or a free port), or uses a
running one (`simulator_url`, with `admin_key`), and the integrator's app must call that
simulator's base URL for the Optimove and Promotions APIs: the checker prints it. The
probes run first (their webhooks name campaigns the world does not have), then the flow.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulator.listener_check.admin import CheckAborted, SimAdmin
from simulator.listener_check.findings import evaluate, simulator_called
from simulator.listener_check.flow import FlowOptions, prepare, run_flow, world
from simulator.listener_check.model import Report
from simulator.listener_check.probes import KINDS, Target, run_probes
from simulator.server_process import ADMIN, INTEGRATIONS, SimulatorProcess, StartError

__all__ = ["CheckAborted", "ListenerCheckOptions", "checked_simulator", "run_listener_check"]


@dataclass(frozen=True, slots=True)
class ListenerCheckOptions:
    url: str
    scheduled_path: str = "/optimove/events"
    cancelled_path: str | None = None  # default: scheduled_path
    channel_path: str | None = None  # EventTypeID 13; default: scheduled_path
    triggered_path: str = "/optimove/triggered"
    kinds: tuple[str, ...] = KINDS
    secret: str | None = None
    triggered_secret: str | None = None  # the CE v2 registration's own secret
    timeout_s: float = 10.0
    with_simulator: bool = False
    simulator_url: str | None = None
    simulator_port: int | None = None
    admin_key: str = ADMIN
    customers: int = 200
    events: int = 20
    wait_s: float = 60.0
    settle_s: float = 2.0

    def target_url(self, kind: str) -> str:
        path = {
            "scheduled": self.scheduled_path,
            "cancelled": self.cancelled_path or self.scheduled_path,
            "channel": self.channel_path or self.scheduled_path,
            "triggered": self.triggered_path,
        }[kind]
        return self.url.rstrip("/") + path

    def targets(self) -> list[Target]:
        return [
            Target(
                kind,
                self.target_url(kind),
                (self.triggered_secret or self.secret) if kind == "triggered" else self.secret,
            )
            for kind in KINDS
            if kind in self.kinds
        ]

    def flow(self) -> FlowOptions:
        def url(kind: str) -> str | None:
            return self.target_url(kind) if kind in self.kinds else None

        return FlowOptions(
            scheduled_url=url("scheduled"),
            cancelled_url=url("cancelled"),
            channel_url=url("channel"),
            triggered_url=url("triggered"),
            secret=self.secret,
            triggered_secret=self.triggered_secret,
            customers=self.customers,
            events=self.events,
            wait_s=self.wait_s,
            settle_s=self.settle_s,
            timeout_s=self.timeout_s,
        )


async def ensure_listening(url: str, timeout_s: float) -> None:
    """`CheckAborted` when nothing accepts a connection at `url`: one clear "could not run"
    instead of a connection error per probe."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckAborted(f"--url {url!r} is not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port), timeout=timeout_s
        )
    except (OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise CheckAborted(
            f"nothing is listening at {url} ({reason}): start your listener first"
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def checked_simulator(
    scenario: dict[str, Any],
    workdir: Path,
    port: int | None,
    say: Callable[[str], None],
) -> AsyncIterator[SimulatorProcess]:
    """A simulator process for a check (journal on), ready, its URL announced; stopped
    on exit. A port in use, or a process that does not start, is `CheckAborted`: "could
    not run", not a traceback (the listener check and `optimove story run` share this)."""
    try:  # a port in use is refused here, not found out later from odd answers
        process = SimulatorProcess(scenario, workdir, port=port, journal=True)
    except StartError as exc:
        raise CheckAborted(str(exc)) from exc
    try:
        say(f"starting a simulator at {process.url}")
        try:
            await process.wait_ready()
        except RuntimeError as exc:
            raise CheckAborted(str(exc)) from exc
        say(
            f"simulator ready: your integrator must call {process.url} (Optimove and "
            f"Promotions base URL) with X-API-KEY {INTEGRATIONS}"
        )
        if port is None:
            say(
                f"note: {process.url} is on a random port, so your app must be pointed "
                "at it now; to configure it beforehand, pass --simulator-port"
            )
        yield process
    finally:
        process.stop()


async def run_listener_check(
    options: ListenerCheckOptions, say: Callable[[str], None] = lambda _: None
) -> Report:
    """Run the checks; `CheckAborted` when nothing listens at the URL, or the simulator
    cannot be started or driven."""
    started = time.perf_counter()
    if not options.with_simulator:
        await ensure_listening(options.url, options.timeout_s)
        checks = await run_probes(options.targets(), options.timeout_s)
        return Report(options.url, None, checks, time.perf_counter() - started)
    with tempfile.TemporaryDirectory(prefix="optisim-contract-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            if options.simulator_url:
                sim_url, admin_key = options.simulator_url.rstrip("/"), options.admin_key
                say(f"using the simulator at {sim_url}: its world is replaced by the demo world")
            else:
                process = await stack.enter_async_context(
                    checked_simulator(world(options.flow()), Path(tmp), options.simulator_port, say)
                )
                sim_url, admin_key = process.url, ADMIN
            async with SimAdmin(sim_url, admin_key) as admin:
                await admin.run(admin.control.health())
                await ensure_listening(options.url, options.timeout_s)  # after the simulator:
                flow = options.flow()  # its own problems are named first
                await prepare(admin, flow, load=bool(options.simulator_url))
                checks = await run_probes(options.targets(), options.timeout_s)
                if flow.runs_a_campaign:
                    observed = await run_flow(admin, flow, say)
                    # First: an app that never called the simulator explains every other
                    # flow finding (it was pointed elsewhere).
                    checks = [simulator_called(observed, sim_url), *checks, *evaluate(observed)]
                else:
                    say("no campaign to run (--kinds has no scheduled, and no triggered events)")
    return Report(options.url, sim_url, checks, time.perf_counter() - started)
