"""Core-path benchmark: one simulator server process against a bare FastAPI baseline.

    /work/venv/bin/python -m loadtests.bench_core [--quick]

Measures, on ONE uvicorn process each (server pinned to one core, client to the other,
see docs/performance-notes.md), with the bare app (`loadtests/baseline_app.py`) measured
in the same run and the ratio printed:

1. paging a 1,000,000-customer campaign in pages of 10,000 (customers/s, bytes only and
   parsed with orjson);
2. validateCustomers with 1,000 contexts per call (customers/s);
3. validateCustomers with 1 context per call (requests/s, with wrk when installed,
   else an asyncio client with 32 connections), also once with the journal on;
4. UpdateCustomerPromotionStatus with 10,000 items per call (customers/s, median call);
5. the server's RSS holding the executed 1,000,000-customer campaign.

A benchmark, not a test: it prints a table and exits non-zero only when something errors
(a server that does not start, a non-200 answer, a wrong page), never for a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from simulator.server_process import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = "127.0.0.1"

ADMIN_KEY = "large-admin-key"
CAMPAIGN_ID = 9001
PROMOCODE = "MEGA10"
POPULATION = 1_000_000
ID_PREFIX = "C"
ID_WIDTH = 7
PAGE = 10_000
UPDATE_BLOCK = 10_000
VALIDATE_BATCH = 1_000

PAGE_PATH = "/current/customers/GetProcessedCampaignCustomers"
VALIDATE_PATH = f"/v1/promocodes/{PROMOCODE}/validateCustomers"
UPDATE_PATH = "/current/integrations/UpdateCustomerPromotionStatus"
EXECUTE_PATH = f"/_sim/campaigns/{CAMPAIGN_ID}/execute"
REPORT_PATH = f"/_sim/campaigns/{CAMPAIGN_ID}/report"

# Disjoint customer-index ranges, so every validation is a new reservation.
RANGE_VALIDATE_BATCH = 0  # validateCustomers x1000: [0, 200,000)
RANGE_UPDATE = 200_000  # UpdateCustomerPromotionStatus blocks: [200,000, 300,000)
RANGE_SINGLE = 300_000  # validateCustomers x1 runs: 100,000 each from here
RANGE_SINGLE_SPAN = 100_000
RANGE_WARMUP = 950_000  # warm-up calls: [950,000, 1,000,000)

console = Console(width=None if sys.stdout.isatty() else 150)


class BenchError(Exception):
    """Something went wrong (not a missed target): the run exits non-zero."""


def customer_id(index: int) -> str:
    return f"{ID_PREFIX}{index:0{ID_WIDTH}d}"


# -- configuration --------------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    quick: bool
    pages: int  # pages of 10,000 per paging pass
    page_rounds: int  # passes per mode (median reported)
    page_connections: int
    batch_calls: int  # validateCustomers x1000 calls per round
    batch_rounds: int
    batch_connections: int
    single_seconds: float  # one wrk / asyncio run of validateCustomers x1
    single_rounds: int
    single_connections: int
    update_blocks: int  # disjoint 10,000-customer blocks (median call reported)
    use_wrk: bool

    @classmethod
    def build(cls, quick: bool, use_wrk: bool) -> Config:
        if quick:
            return cls(quick, 10, 1, 2, 5, 1, 2, 2.0, 1, 32, 2, use_wrk)
        return cls(quick, POPULATION // PAGE, 3, 2, 50, 3, 2, 5.0, 3, 32, 7, use_wrk)


# -- processes --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pinning:
    server_cpu: int | None
    client_cpu: int | None
    taskset: str | None

    @classmethod
    def detect(cls) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls(None, None, None)
        return cls(cpus[-1], cpus[0], shutil.which("taskset"))

    def pin_client(self) -> None:
        if self.client_cpu is not None:
            os.sched_setaffinity(0, {self.client_cpu})

    def describe(self) -> str:
        if self.server_cpu is None:
            return "no pinning (fewer than 2 CPUs)"
        how = "taskset" if self.taskset else "sched_setaffinity"
        return f"server on CPU {self.server_cpu} ({how}), client on CPU {self.client_cpu}"


class Server:
    """A uvicorn process on a free 127.0.0.1 port, pinned to the server CPU."""

    def __init__(
        self, name: str, app: list[str], env: dict[str, str], pinning: Pinning, root: Path = ROOT
    ) -> None:
        self.name = name
        self.port = free_port()
        safe = re.sub(r"[^\w.-]", "_", name)
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix=f"bench-{safe}-", suffix=".log", delete=False
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
        # BENCH_SIM_<NAME>=value sets SIM_<NAME> on the server: an A/B of one setting
        # (e.g. BENCH_SIM_METRICS=false) with everything else equal.
        base_env.update(
            {
                k.removeprefix("BENCH_"): v
                for k, v in os.environ.items()
                if k.startswith("BENCH_SIM_")
            }
        )
        base_env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(root), os.environ.get("PYTHONPATH")])
        )
        cmd = [PYTHON, "-m", "uvicorn", *app]
        cmd += ["--host", HOST, "--port", str(self.port), "--no-access-log"]
        cmd += ["--log-level", "warning"]
        if pinning.server_cpu is not None and pinning.taskset:
            cmd = [pinning.taskset, "-c", str(pinning.server_cpu), *cmd]
        try:
            self.proc = subprocess.Popen(
                cmd,
                cwd=root,
                env={**base_env, **env},
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
        except OSError:
            self.log.close()
            os.unlink(self.log.name)
            raise
        if pinning.server_cpu is not None and not pinning.taskset:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {pinning.server_cpu})

    @property
    def pid(self) -> int:
        return self.proc.pid  # taskset execs uvicorn: the same pid

    def wait_ready(self, health_path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0) as s:
                    s.sendall(f"GET {health_path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
                    if s.recv(64).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise BenchError(f"no VmRSS for {self.name} (pid {self.pid})")

    def cpu_seconds(self) -> float:
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def load_average() -> float:
    """The 1-minute load average (other processes competing for the two cores)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def client_cpu_seconds() -> float:
    """This process's CPU plus its waited-for children's (wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class Span:
    """Wall and CPU time of one measured phase (server CPU from /proc)."""

    server: Server
    wall: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    def note(self, work: float = 0.0) -> str:
        """CPU use during the phase; with `work`, also the rate per server CPU-second, which
        other processes stealing the server's core (a busy machine) barely change."""
        if self.wall <= 0:
            return ""
        text = (
            f"CPU server {100 * self.server_cpu / self.wall:.0f}% "
            f"client {100 * self.client_cpu / self.wall:.0f}%"
        )
        if work and self.server_cpu > 0:
            text += f", {work / self.server_cpu:,.0f} per server-CPU-s"
        return text


@contextlib.contextmanager
def measured(server: Server) -> Iterator[Span]:
    span = Span(server)
    cpu0, client0, t0 = server.cpu_seconds(), client_cpu_seconds(), time.perf_counter()
    yield span
    span.wall = time.perf_counter() - t0
    span.server_cpu = server.cpu_seconds() - cpu0
    span.client_cpu = client_cpu_seconds() - client0


# -- a minimal HTTP/1.1 keep-alive client (cheap enough not to dominate) ----------------------
class Connection:
    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.head_extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()

    async def request(
        self, method: str, target: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = f"{method} {target} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\n{self.head_extra}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write((head + "\r\n").encode())
        if body:
            self.writer.write(body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return status, b"".join(chunks)
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        raise BenchError(f"{method} {target}: response without length ({status})")


def expect(status: int, body: bytes, what: str, wanted: int = 200) -> None:
    if status != wanted:
        raise BenchError(f"{what}: HTTP {status} {body[:300]!r}")


async def one_call(port: int, method: str, target: str, body: bytes | None = None) -> bytes:
    async with Connection(port, {"X-API-KEY": ADMIN_KEY}) as conn:
        status, data = await conn.request(method, target, body)
    expect(status, data, f"{method} {target}")
    return data


async def fan_out(
    port: int, connections: int, jobs: list[Any], work: Callable[[Connection, Any], Any]
) -> list[Any]:
    """Run `work(conn, job)` for every job over `connections` keep-alive connections."""
    results: list[Any] = [None] * len(jobs)
    queue = iter(enumerate(jobs))

    async def worker() -> None:
        async with Connection(port, {"X-API-KEY": ADMIN_KEY}) as conn:
            for i, job in queue:
                results[i] = await work(conn, job)

    await asyncio.gather(*(worker() for _ in range(max(1, min(connections, len(jobs))))))
    return results


def validate_body(indices: range | list[int]) -> bytes:
    return orjson.dumps(
        {
            "campaignData": {"campaignId": CAMPAIGN_ID},
            "contexts": [{"customerId": customer_id(i)} for i in indices],
        }
    )


def update_body(indices: range) -> bytes:
    return orjson.dumps(
        {
            "TimeStamp": "2026-11-27 10:00:00",
            "CampaignID": CAMPAIGN_ID,
            "PromosUpdated": [{"CustomerID": customer_id(i), "Status": True} for i in indices],
        }
    )


# -- measurements -----------------------------------------------------------------------------
@dataclass
class Figure:
    value: float
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


async def page_pass(server: Server, cfg: Config, parse: bool) -> Figure:
    targets = [
        f"{PAGE_PATH}?CampaignID={CAMPAIGN_ID}&$top={PAGE}&$skip={n * PAGE}"
        for n in range(cfg.pages)
    ]

    async def fetch(conn: Connection, target: str) -> int:
        status, body = await conn.request("GET", target)
        expect(status, body, f"GET {target}")
        if parse:
            rows = orjson.loads(body)
            if len(rows) != PAGE or "CustomerID" not in rows[0]:
                raise BenchError(f"{server.name} {target}: {len(rows)} rows, wanted {PAGE}")
            return len(rows)
        if not body.startswith(b'[{"CustomerID":'):
            raise BenchError(f"{server.name} {target}: unexpected body {body[:80]!r}")
        return len(body)

    with measured(server) as span:
        got = await fan_out(server.port, cfg.page_connections, targets, fetch)
    customers = cfg.pages * PAGE
    figure = Figure(customers / span.wall, span.note(customers))
    figure.extra["MB"] = (sum(got) / 1e6) if not parse else 0.0
    return figure


async def batch_validate_round(server: Server, cfg: Config, first: int) -> Figure:
    bodies = [
        validate_body(range(first + c * VALIDATE_BATCH, first + (c + 1) * VALIDATE_BATCH))
        for c in range(cfg.batch_calls)
    ]

    async def call(conn: Connection, body: bytes) -> None:
        status, data = await conn.request("POST", VALIDATE_PATH, body)
        expect(status, data, f"{server.name} validateCustomers x{VALIDATE_BATCH}")
        if data.count(b'"valid":true') != VALIDATE_BATCH:
            raise BenchError(f"{server.name}: not all {VALIDATE_BATCH} contexts valid")

    with measured(server) as span:
        await fan_out(server.port, cfg.batch_connections, bodies, call)
    customers = cfg.batch_calls * VALIDATE_BATCH
    return Figure(customers / span.wall, span.note(customers))


async def update_blocks(server: Server, cfg: Config, validate_first: bool) -> Figure:
    """Validate each 10,000-customer block (untimed), then approve it in one timed call."""
    times = []
    cpu = []
    for b in range(cfg.update_blocks):
        block = range(RANGE_UPDATE + b * UPDATE_BLOCK, RANGE_UPDATE + (b + 1) * UPDATE_BLOCK)
        if validate_first:
            bodies = [
                validate_body(block[i : i + VALIDATE_BATCH])
                for i in range(0, UPDATE_BLOCK, VALIDATE_BATCH)
            ]

            async def call(conn: Connection, body: bytes) -> None:
                status, data = await conn.request("POST", VALIDATE_PATH, body)
                expect(status, data, f"{server.name} validate before update")

            await fan_out(server.port, 2, bodies, call)
        body = update_body(block)
        async with Connection(server.port, {"X-API-KEY": ADMIN_KEY}) as conn:
            with measured(server) as span:
                status, data = await conn.request("POST", UPDATE_PATH, body)
        expect(status, data, f"{server.name} UpdateCustomerPromotionStatus block {b}")
        times.append(span.wall)
        cpu.append(span.server_cpu)
    median = statistics.median(times)
    note = (
        f"median call {median * 1000:.1f} ms of {len(times)} "
        f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}); "
        f"CPU server {100 * sum(cpu) / sum(times):.0f}%"
    )
    if sum(cpu) > 0:
        note += f", {UPDATE_BLOCK * len(times) / sum(cpu):,.0f} per server-CPU-s"
    return Figure(UPDATE_BLOCK / median, note, {"median_s": median})


WRK_SCRIPT = """
counter = 0
tid = tid or 0
base = 0
span = 1
nthreads = 1
threads_seen = 0

function setup(thread)
  thread:set("tid", threads_seen)
  threads_seen = threads_seen + 1
end

function init(args)
  base = tonumber(args[1])
  span = tonumber(args[2])
  nthreads = tonumber(args[3])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-API-KEY"] = "%(key)s"
end

function request()
  local i = base + ((counter * nthreads + tid) %% span)
  counter = counter + 1
  local body = string.format(
    '{"campaignData":{"campaignId":%(campaign)d},' ..
    '"contexts":[{"customerId":"%(prefix)s%%0%(width)dd"}]}', i)
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK_JSON {\\"requests\\":%%d,\\"duration_us\\":%%d,\\"status\\":%%d,\\"connect\\":%%d," ..
    "\\"read\\":%%d,\\"write\\":%%d,\\"timeout\\":%%d,\\"p50_us\\":%%d,\\"p99_us\\":%%d}\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_single(server: Server, cfg: Config, base: int, span_n: int, seconds: float) -> Figure:
    wrk = shutil.which("wrk")
    assert wrk is not None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(
            WRK_SCRIPT
            % {"key": ADMIN_KEY, "campaign": CAMPAIGN_ID, "prefix": ID_PREFIX, "width": ID_WIDTH}
        )
        script = f.name
    try:
        cmd = [wrk, "-t1", f"-c{cfg.single_connections}", f"-d{max(1, round(seconds))}s"]
        cmd += ["-s", script, f"http://{HOST}:{server.port}{VALIDATE_PATH}"]
        cmd += ["--", str(base), str(span_n), "1"]
        with measured(server) as span:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(script)
    match = re.search(r"^WRK_JSON (\{.*\})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    res = orjson.loads(match.group(1))
    if res["status"] or res["connect"] or res["read"] or res["write"]:
        raise BenchError(f"wrk against {server.name}: errors {res}")
    rate = res["requests"] / (res["duration_us"] / 1e6)
    latency = f"p50 {res['p50_us'] / 1000:.1f} ms p99 {res['p99_us'] / 1000:.1f} ms"
    note = f"{latency}; {span.note(res['requests'])}"
    if res["timeout"]:
        note += f"; {res['timeout']} timeouts"
    return Figure(rate, note)


async def python_single(
    server: Server, cfg: Config, base: int, span_n: int, seconds: float
) -> Figure:
    """Fallback without wrk: `single_connections` concurrent keep-alive connections."""
    counter = itertools.count()
    bodies_done = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal bodies_done
        async with Connection(server.port, {"X-API-KEY": ADMIN_KEY}) as conn:
            while time.perf_counter() < deadline:
                i = base + next(counter) % span_n
                status, data = await conn.request("POST", VALIDATE_PATH, validate_body([i]))
                expect(status, data, f"{server.name} validateCustomers x1")
                bodies_done += 1

    with measured(server) as span:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(worker() for _ in range(cfg.single_connections)))
    return Figure(bodies_done / span.wall, f"asyncio client; {span.note(bodies_done)}")


async def single_validate(server: Server, cfg: Config, base: int, seconds: float) -> Figure:
    if cfg.use_wrk:
        return await asyncio.to_thread(wrk_single, server, cfg, base, RANGE_SINGLE_SPAN, seconds)
    return await python_single(server, cfg, base, RANGE_SINGLE_SPAN, seconds)


# -- results table ----------------------------------------------------------------------------
@dataclass
class Row:
    metric: str
    sim: str
    base: str
    ratio: str
    target: str
    result: str
    note: str = ""
    short: str = ""  # label in the details table
    order: float = 0.0  # position in the tables (measurement order differs)


def rate(value: float, unit: str = "/s") -> str:
    return f"{value:,.0f}{unit}"


def pick(figures: list[Figure]) -> Figure:
    """The median figure (by value) of several rounds, keeping its note."""
    ordered = sorted(figures, key=lambda f: f.value)
    return ordered[len(ordered) // 2]


def throughput_row(
    metric: str,
    sim: Figure,
    base: Figure,
    target: float | None,
    *,
    short: str,
    order: float,
    unit: str = "/s",
) -> Row:
    ratio = sim.value / base.value if base.value else float("nan")
    if target is None:
        verdict, target_text = "info", ""
    else:
        verdict = "PASS" if sim.value >= target else "MISS"
        target_text = f">= {rate(target, unit)}"
    note = f"sim: {sim.note} | bare: {base.note}" if sim.note or base.note else ""
    return Row(
        metric,
        rate(sim.value, unit),
        rate(base.value, unit),
        f"{ratio:.2f}x",
        target_text,
        verdict,
        note,
        short,
        order,
    )


def print_table(rows: list[Row], cfg: Config, pinning: Pinning, extra: list[str]) -> None:
    mode = "QUICK (scaled down)" if cfg.quick else "full"
    table = Table(
        title=f"optisim core benchmark - {mode} - one uvicorn process per server",
        caption="ratio = simulator / bare FastAPI, measured in this run; medians of rounds",
        show_lines=True,
    )
    table.add_column("metric", justify="left", max_width=62)
    for name in ("simulator", "bare FastAPI", "ratio", "target"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("result", justify="center", no_wrap=True)
    style = {"PASS": "green", "MISS": "bold red", "info": "dim"}
    rows = sorted(rows, key=lambda r: r.order)
    for r in rows:
        verdict = f"[{style.get(r.result, '')}]{r.result}[/]"
        table.add_row(r.metric, r.sim, r.base, r.ratio, r.target, verdict)
    console.print(table)
    details = Table(title="details", show_header=False, show_lines=False, box=None)
    details.add_column("metric", no_wrap=True, style="bold")
    details.add_column("notes")
    for r in rows:
        if r.note:
            details.add_row(r.short or r.metric, r.note)
    details.add_row("setup", f"{pinning.describe()}; " + "; ".join(extra))
    console.print(details)


# -- the run ----------------------------------------------------------------------------------
def sim_app() -> list[str]:
    return ["simulator.cli:app_from_env", "--factory"]


def sim_env(journal: bool) -> dict[str, str]:
    return {"SIM_SCENARIO": "large", "SIM_JOURNAL": str(journal).lower(), "SIM_STORE": "memory"}


async def run(cfg: Config, servers: dict[str, Server], rows: list[Row], extra: list[str]) -> None:
    sim, bare, journal = servers["sim"], servers["bare"], servers["journal"]
    for server, health in ((sim, "/_sim/health"), (bare, "/health"), (journal, "/_sim/health")):
        server.wait_ready(health)

    # 5. memory, and the execution itself
    rss_idle = sim.rss_mb()
    t0 = time.perf_counter()
    await one_call(sim.port, "POST", EXECUTE_PATH)
    execute_ms = (time.perf_counter() - t0) * 1000
    rss_executed = sim.rss_mb()
    await one_call(journal.port, "POST", EXECUTE_PATH)
    rss_bare_idle = bare.rss_mb()

    # 1. paging (a warm-up page first, then bytes-only and parsed passes, interleaved)
    warm = f"{PAGE_PATH}?CampaignID={CAMPAIGN_ID}&$top={PAGE}&$skip=0"
    for server in (sim, bare):
        await one_call(server.port, "GET", warm)
    paging: dict[tuple[str, bool], list[Figure]] = {}
    for _ in range(cfg.page_rounds):
        for parse in (False, True):
            for server in (sim, bare):
                paging.setdefault((server.name, parse), []).append(
                    await page_pass(server, cfg, parse)
                )
    rss_paged = sim.rss_mb()
    rss_bare_paged = bare.rss_mb()
    customers = cfg.pages * PAGE
    for parse, label in ((False, "bytes only"), (True, "parsed (orjson.loads)")):
        rows.append(
            throughput_row(
                f"1. paging {customers:,} customers, pages of {PAGE:,}: customers/s, {label}",
                pick(paging[("sim", parse)]),
                pick(paging[("bare", parse)]),
                1_000_000,
                short=f"1. paging, {label.split()[0]}",
                order=1.1 if parse else 1.0,
            )
        )
    mb = pick(paging[("sim", False)]).extra["MB"]
    extra.append(f"paging: {cfg.page_connections} connections, {mb:.1f} MB per pass")

    # the first validation builds the population's Faker name pools (once per process)
    cold_ms: dict[str, float] = {}
    for server in (sim, bare, journal):
        t0 = time.perf_counter()
        await one_call(server.port, "POST", VALIDATE_PATH, validate_body([POPULATION - 1]))
        cold_ms[server.name] = (time.perf_counter() - t0) * 1000
    rows.append(
        Row(
            "first validateCustomers call after start (cold): ms",
            f"{cold_ms['sim']:,.0f} ms",
            f"{cold_ms['bare']:,.0f} ms",
            f"{cold_ms['sim'] / cold_ms['bare']:.0f}x",
            "",
            "info",
            f"journal-on server: {cold_ms['journal']:,.0f} ms",
            "first validation (cold)",
            9.0,
        )
    )

    # 3. validateCustomers x1 (wrk), with a short warm-up on each server; before test 2 so
    # the journal-on and journal-off servers hold the same state while measured
    if not cfg.quick:  # the cold call above already warmed the route for a smoke run
        for server in (sim, bare, journal):
            await single_validate(server, cfg, RANGE_WARMUP, 1.0)
    single: dict[str, list[Figure]] = {"sim": [], "bare": [], "journal": []}
    for r in range(cfg.single_rounds):
        for server in (sim, bare, journal):
            base = RANGE_SINGLE + r * RANGE_SINGLE_SPAN
            single[server.name].append(await single_validate(server, cfg, base, cfg.single_seconds))
    sim1, bare1, jour1 = pick(single["sim"]), pick(single["bare"]), pick(single["journal"])
    row = throughput_row(
        "3. validateCustomers, 1 context/call: requests/s",
        sim1,
        bare1,
        None,
        short="3. validate x1",
        order=3.0,
    )
    share = sim1.value / bare1.value
    row.target = ">= 0.60x bare"
    row.result = "PASS" if share >= 0.60 else "MISS"
    rows.append(row)
    row = throughput_row(
        "3b. same, journal ON (SIM_JOURNAL=true)",
        jour1,
        bare1,
        None,
        short="3b. validate x1, journal on",
        order=3.1,
    )
    row.note = f"{jour1.value / sim1.value:.2f}x of journal off | " + row.note
    rows.append(row)
    client = (
        f"wrk -t1 -c{cfg.single_connections}"
        if cfg.use_wrk
        else f"asyncio client, {cfg.single_connections} connections"
    )
    extra.append(f"validate x1: {client}, {cfg.single_rounds} x {cfg.single_seconds:.0f} s")

    # 2. validateCustomers x1000
    for server in (sim, bare):
        await one_call(
            server.port,
            "POST",
            VALIDATE_PATH,
            validate_body(range(RANGE_WARMUP, RANGE_WARMUP + VALIDATE_BATCH)),
        )
    batch: dict[str, list[Figure]] = {"sim": [], "bare": []}
    for r in range(cfg.batch_rounds):
        first = RANGE_VALIDATE_BATCH + r * cfg.batch_calls * VALIDATE_BATCH
        for server in (sim, bare):
            batch[server.name].append(await batch_validate_round(server, cfg, first))
    rows.append(
        throughput_row(
            f"2. validateCustomers, {VALIDATE_BATCH:,} contexts/call: customers/s",
            pick(batch["sim"]),
            pick(batch["bare"]),
            100_000,
            short="2. validate x1000",
            order=2.0,
        )
    )
    # each round's sim/bare pair ran back to back: their ratios show how much of the
    # ratio above is the machine's drift between rounds
    paired = [s.value / b.value for s, b in zip(batch["sim"], batch["bare"], strict=True)]
    extra.append(
        f"validate x1000: {cfg.batch_calls} calls per round, {cfg.batch_connections} connections;"
        f" ratio of each round's pair {' / '.join(f'{r:.2f}' for r in paired)}"
    )

    # 4. UpdateCustomerPromotionStatus x10,000 (each block validated first, untimed)
    upd_sim = await update_blocks(sim, cfg, validate_first=True)
    upd_bare = await update_blocks(bare, cfg, validate_first=False)
    rows.append(
        throughput_row(
            f"4. UpdateCustomerPromotionStatus, {UPDATE_BLOCK:,} items/call: customers/s",
            upd_sim,
            upd_bare,
            200_000,
            short="4. update x10000",
            order=4.0,
        )
    )
    report = orjson.loads(await one_call(sim.port, "GET", REPORT_PATH))
    approved = report.get("approved")
    wanted = cfg.update_blocks * UPDATE_BLOCK
    if approved != wanted:
        raise BenchError(f"simulator report: approved={approved}, wanted {wanted}")
    extra.append(f"sim report: approved {approved:,}, validated {report.get('validated'):,}")

    # 5. memory rows
    rows.append(
        Row(
            "5. RSS holding the executed 1M campaign (after execute, before paging)",
            f"{rss_executed:.1f} MB",
            f"{rss_bare_idle:.1f} MB",
            f"{rss_executed / rss_bare_idle:.2f}x",
            "< 300 MB",
            "PASS" if rss_executed < 300 else "MISS",
            f"sim idle before execute {rss_idle:.1f} MB; execute took {execute_ms:.0f} ms",
            "5. RSS after execute",
            5.0,
        )
    )
    rows.append(
        Row(
            "5b. RSS after paging everything",
            f"{rss_paged:.1f} MB",
            f"{rss_bare_paged:.1f} MB",
            f"{rss_paged / rss_bare_paged:.2f}x",
            "",
            "info",
            f"sim at the end of the run {sim.rss_mb():.1f} MB (after all reservations)",
            "5b. RSS after paging",
            5.1,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m loadtests.bench_core", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="scaled-down smoke run (< ~30 s)")
    parser.add_argument("--no-wrk", action="store_true", help="use the asyncio client for test 3")
    parser.add_argument(
        "--sim-root",
        type=Path,
        default=ROOT,
        help="directory to import `simulator` from (default: this checkout), e.g. a snapshot",
    )
    args = parser.parse_args(argv)
    cfg = Config.build(args.quick, use_wrk=not args.no_wrk and shutil.which("wrk") is not None)
    pinning = Pinning.detect()
    pinning.pin_client()  # before spawning: children start on the client CPU, then move
    console.print(
        f"[bold]optisim core benchmark[/bold] ({'quick' if cfg.quick else 'full'}), "
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {pinning.describe()}"
    )
    started = time.perf_counter()
    rows: list[Row] = []
    extra: list[str] = []
    load_before = load_average()
    if load_before > 0.5:
        console.print(
            f"[yellow]warning:[/yellow] load average {load_before:.2f} before starting: other "
            "processes compete for the CPUs; compare ratios, not absolute figures"
        )
    servers: dict[str, Server] = {}
    failed: BaseException | None = None
    try:
        root = args.sim_root.resolve()
        servers["sim"] = Server("sim", sim_app(), sim_env(journal=False), pinning, root)
        servers["bare"] = Server("bare", ["loadtests.baseline_app:app"], {}, pinning)
        servers["journal"] = Server("journal", sim_app(), sim_env(journal=True), pinning, root)
        extra.append(f"simulator imported from {root}")
        asyncio.run(run(cfg, servers, rows, extra))
    except (BenchError, OSError, asyncio.IncompleteReadError, subprocess.SubprocessError) as error:
        failed = error
    except Exception as error:  # a bug or an unexpected answer: keep the traceback
        console.print_exception()
        failed = error
    except KeyboardInterrupt as error:
        failed = error
    finally:
        for server in servers.values():
            server.stop()
    extra.append(f"load average {load_before:.2f} at start, {load_average():.2f} at end")
    extra.append(f"total {time.perf_counter() - started:.1f} s")
    if rows:
        print_table(rows, cfg, pinning, extra)
    if failed is not None:
        console.print(f"[bold red]benchmark error:[/bold red] {type(failed).__name__}: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
