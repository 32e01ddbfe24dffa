"""`optisim demo`: the simulator and the reference client, both flows, end to end.

The one place that composes the two (import-linter allows no other): it starts the
simulator as a server process on a free port (in-memory store, the demo world sized by
`--customers`), runs the reference client's listener and flows in this process, executes
the scheduled campaign, fires a burst of triggered events, lets both flows finish, clears
the campaign on the simulator clock, and prints what happened on both sides. On purpose it
also re-sends one webhook (the client must deduplicate it) and repeats one approval (the
simulator must refuse it). Exit status 1 when the audit finds any other violation.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table

from reference_client import (
    CampaignSummary,
    ClientConfig,
    Integrator,
    MemoryJournal,
    TierTotal,
    create_listener_app,
)
from reference_client.loop import run as run_loop
from simulator.control_client import AsyncControlClient
from simulator.server_process import (
    ADMIN,
    INTEGRATIONS,
    PLAIN,
    SCHEDULED,
    TRIGGERED,
    SimulatorProcess,
    demo_scenario,
    free_port,
)

__all__ = ["ClientBeside", "DemoOptions", "demo", "reference_client_beside", "run_demo"]
DEMO_SECRET = "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"  # the demo tenant's webhook secret
EXPECTED_VIOLATIONS = {"duplicate_approval": 1}  # the one the demo makes on purpose


@dataclass
class DemoOptions:
    customers: int = 10_000
    events: int = 1_000
    rate: float = 1_000.0
    timeout_s: float = 600.0
    quiet: bool = False


@dataclass
class DemoResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


async def _wait_for(check: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"timed out waiting for {what}")


def demo(options: DemoOptions, console: Console) -> DemoResult:
    """`optisim demo`: `run_demo` on the event loop the reference client runs on in
    production (`reference_client.loop`: uvloop where installed, the collector tuned)."""
    return run_loop(run_demo(options, console))


async def run_demo(options: DemoOptions, console: Console) -> DemoResult:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="optisim-demo-") as tmp:
        sim = SimulatorProcess(demo_scenario(options.customers), Path(tmp))
        try:
            await sim.wait_ready()
            async with reference_client_beside(sim.url, show_progress=not options.quiet) as side:
                return await _flows(sim, side, options, console, started)
        finally:
            sim.stop()


@dataclass
class ClientBeside:
    """The reference client running in this process next to a simulator."""

    integrator: Integrator
    journal: MemoryJournal  # what the client approved (the demo repeats one of those)
    listener_url: str
    control: AsyncControlClient  # the simulator's control API, with the demo admin key
    admin: httpx.AsyncClient  # the public API (Optimove, Promotions) with the admin key


@contextlib.asynccontextmanager
async def reference_client_beside(
    simulator_url: str, *, show_progress: bool = False
) -> AsyncIterator[ClientBeside]:
    """Start the reference client's listener (a free port) and flows in this process,
    register its listeners on the simulator (demo keys and secret) and compress the
    simulator's retry schedule x0.01; stop everything on exit. Used by the demo and by
    `loadtests/bench_e2e.py`."""
    listener_port = free_port()
    config = ClientConfig(
        optimove_url=simulator_url,
        promotions_url=simulator_url,
        api_key=INTEGRATIONS,
        listener_host="127.0.0.1",
        listener_port=listener_port,
        webhook_secret=DEMO_SECRET,
    )
    journal = MemoryJournal()
    integrator = Integrator(config, journal=journal, show_progress=show_progress)
    server = uvicorn.Server(
        uvicorn.Config(
            create_listener_app(integrator),
            host="127.0.0.1",
            port=listener_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    serving = asyncio.create_task(server.serve())
    admin = httpx.AsyncClient(base_url=simulator_url, headers={"X-API-KEY": ADMIN}, timeout=60)
    control = AsyncControlClient(simulator_url, ADMIN, timeout=60)
    listener_url = f"http://127.0.0.1:{listener_port}"
    try:
        await integrator.start()
        while not server.started:
            await asyncio.sleep(0.01)
        await integrator.register_listeners(listener_url)
        await control.set_webhook_config(time_scale=0.01)
        yield ClientBeside(integrator, journal, listener_url, control, admin)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM) or failed: stop within a second rather than let
        # in-flight flows drain for ten (they would only retry against a stopping world).
        integrator.drain_timeout_s = 0.5
        raise
    finally:
        await admin.aclose()
        await control.aclose()
        await integrator.stop()
        server.should_exit = True
        await serving


async def _flows(
    sim: SimulatorProcess,
    side: ClientBeside,
    options: DemoOptions,
    console: Console,
    started: float,
) -> DemoResult:
    integrator, control = side.integrator, side.control
    say = console.print if not options.quiet else (lambda *a, **k: None)
    say(f"[bold]optisim demo[/bold]: simulator {sim.url}, reference client {side.listener_url}")
    say(
        f"executing campaign {SCHEDULED} ({options.customers:,} customers) and {PLAIN} (no "
        f"Promotions promotion: approved without validation), and firing "
        f"{options.events:,} triggered events at {options.rate:,.0f}/s"
    )
    flows_started = time.perf_counter()
    for campaign_id in (SCHEDULED, PLAIN):
        await control.execute_campaign(campaign_id)
    if options.events:
        await control.emit_events(TRIGGERED, count=options.events, rate=options.rate)

    async def flows_done() -> bool:
        summaries = integrator.summaries()
        triggered = summaries.get(TRIGGERED)
        done = all(
            (s := summaries.get(cid)) is not None and s.finished_at is not None
            for cid in (SCHEDULED, PLAIN)
        )
        events = triggered.events_processed if triggered is not None else 0
        return done and events >= options.events

    await _wait_for(flows_done, options.timeout_s, "both flows to finish")
    await integrator.wait_idle(options.timeout_s)
    flows_s = time.perf_counter() - flows_started
    demonstrated = await _demonstrate(side, options.timeout_s)
    window = await control.get_campaign(SCHEDULED)
    await control.advance_clock(window.clearanceWindowMinutes * 60 + 1)
    report = await _collect(side)
    report["demonstrated"] = demonstrated
    report["scaled"] = {"customers": options.customers, **_scaled(report)}
    report["webhooks"]["scheduled"]["lagMsWithoutResent"] = await _lag_without(
        side.control, "scheduled", demonstrated["webhookResent"]
    )
    report["timings"] = {"flows_s": flows_s, "total_s": time.perf_counter() - started}
    report["client"] = {str(cid): _summary_dict(s) for cid, s in integrator.summaries().items()}
    problems = _check(report, integrator.summaries(), options)
    if not options.quiet:
        _print(console, report, integrator.summaries(), problems)
    return DemoResult(not problems, problems, report)


async def _demonstrate(side: ClientBeside, timeout_s: float) -> dict[str, Any]:
    """Show the two safety nets: a re-sent webhook is deduplicated by the client, and a
    repeated approval is refused by the simulator with `duplicate_approval`."""
    integrator, journal, admin = side.integrator, side.journal, side.admin
    deliveries = await side.control.list_deliveries(kind="scheduled", limit=1)
    webhook_id = deliveries[0].eventId
    before = integrator.summaries()[SCHEDULED].duplicates_skipped
    await side.control.resend_delivery(webhook_id)

    async def deduplicated() -> bool:
        return integrator.summaries()[SCHEDULED].duplicates_skipped > before

    await _wait_for(deduplicated, min(timeout_s, 30), "the re-sent webhook")
    refused: dict[str, Any] = {"status": None}
    approved = sorted(journal.approved(SCHEDULED))
    if approved:  # approve one the client approved already: the simulator must refuse it
        usage = (await admin.get("/v1/promotions/PR-WELCOME")).json()["usage"]
        r = await admin.post(
            "/current/integrations/UpdateCustomerPromotionStatus",
            json={
                "TimeStamp": "",
                "CampaignID": SCHEDULED,
                "PromosUpdated": [{"CustomerID": approved[0], "Status": True}],
            },
        )
        after = (await admin.get("/v1/promotions/PR-WELCOME")).json()["usage"]
        refused = {
            "status": r.status_code,
            "error": r.json().get("error") if r.status_code != 200 else None,
            "customer": approved[0],
            "budgetUnchanged": after == usage,
        }
    return {"webhookResent": webhook_id, "duplicateApproval": refused}


async def _collect(side: ClientBeside) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cid in (SCHEDULED, PLAIN, TRIGGERED):
        out[str(cid)] = (await side.control.get_campaign_report(cid)).model_dump(mode="json")
    promotions = (await side.admin.get("/v1/promotions")).json()
    out["promotions"] = {p["id"]: p["usage"] for p in promotions}
    out["promotionUnits"] = {
        p["id"]: {"rewardKind": p.get("rewardKind"), "currency": p.get("currency")}
        for p in promotions
    }
    out["webhooks"] = {
        kind: (await side.control.summarize_deliveries(kind=kind)).model_dump(mode="json")
        for kind in ("scheduled", "triggered")
    }
    return out


def _scaled(report: dict[str, Any]) -> dict[str, Any]:
    """The welcome promotion's budget and audience cap, which `demo_scenario` scales to
    `--customers` (the built-in demo world's are for 10,000)."""
    usage = report["promotions"].get("PR-WELCOME", {})
    return {"budget": usage.get("budgetTotal"), "audienceCap": usage.get("audienceCap")}


async def _lag_without(control: AsyncControlClient, kind: str, left_out: str) -> dict[str, Any]:
    """Delivery lag percentiles of `kind` without the webhook re-sent on purpose (its
    lag would count from its first send to the deliberate re-send)."""
    lags = sorted(
        [
            d.deliveredAt - d.createdAt
            async for d in _deliveries(control, kind)
            if d.deliveredAt is not None and d.eventId != left_out
        ]
    )

    def pct(p: float) -> float | None:
        return round(lags[min(len(lags) - 1, int(p * len(lags)))] * 1000, 3) if lags else None

    return {"p50": pct(0.5), "p99": pct(0.99)}


async def _deliveries(control: AsyncControlClient, kind: str) -> AsyncIterator[Any]:
    after = 0
    while True:
        page = await control.list_deliveries(kind=kind, after=after, limit=1000)  # type: ignore[arg-type]
        for d in page:
            yield d
        if len(page) < 1000:
            return
        after = page[-1].seq


def _summary_dict(s: CampaignSummary) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in asdict(s).items() if not k.startswith("_")}
    for key, value in data.items():
        if isinstance(value, datetime):
            data[key] = value.isoformat()
    return data


def _check(
    report: dict[str, Any], summaries: dict[int, CampaignSummary], options: DemoOptions
) -> list[str]:
    problems = []
    violations: dict[str, int] = {}
    for cid in (SCHEDULED, PLAIN, TRIGGERED):
        for code, n in report[str(cid)]["violations"].items():
            violations[code] = violations.get(code, 0) + n
    unexpected = {
        k: v - EXPECTED_VIOLATIONS.get(k, 0)
        for k, v in violations.items()
        if v != EXPECTED_VIOLATIONS.get(k, 0)
    }
    if unexpected:
        problems.append(f"protocol violations in the audit: {unexpected}")
    for cid in (SCHEDULED, PLAIN):
        ours, theirs = report[str(cid)]["approved"], summaries[cid].approved
        if ours != theirs or not ours:
            problems.append(f"campaign {cid} approved: simulator {ours} vs client {theirs}")
    refused = report["demonstrated"]["duplicateApproval"]
    if refused.get("error") != "duplicate_approval" or not refused.get("budgetUnchanged"):
        problems.append(f"the repeated approval was not refused cleanly: {refused}")
    trig = report[str(TRIGGERED)]
    if options.events and trig["eventsEmitted"] != options.events:
        problems.append(f"triggered events emitted {trig['eventsEmitted']} != {options.events}")
    return problems


NBSP = "\u00a0"  # joins a label to its number: a narrow terminal wraps between items only


def _money(value: int, unit: dict[str, Any]) -> str:
    """A ledger figure in the promotion's unit: amounts are minor units (cents)."""
    if unit.get("rewardKind") == "amount":
        return f"{unit.get('currency') or ''}{NBSP}{value / 100:,.2f}".strip(NBSP)
    return f"{value:,}{NBSP}units"


def _print(
    console: Console,
    report: dict[str, Any],
    summaries: dict[int, CampaignSummary],
    problems: list[str],
) -> None:
    sched, plain, trig = (report[str(c)] for c in (SCHEDULED, PLAIN, TRIGGERED))
    cs, cp, ct = (summaries.get(c) for c in (SCHEDULED, PLAIN, TRIGGERED))
    units = report.get("promotionUnits", {})
    currencies = {u["currency"] for u in units.values() if u.get("rewardKind") == "amount"}
    currency = currencies.pop() if len(currencies) == 1 else ""
    table = Table(title="Campaigns", show_lines=False)
    table.add_column("")
    table.add_column(f"{SCHEDULED} scheduled", justify="right")
    table.add_column(f"{PLAIN} scheduled, no Promotions", justify="right")
    table.add_column(f"{TRIGGERED} triggered", justify="right")

    def row(name: str, a: Any, p: Any, b: Any = "") -> None:
        table.add_row(name, str(a), str(p), str(b))

    def each(key: str) -> tuple[str, str]:
        return f"{sched[key]:,}", f"{plain[key]:,}"

    def client(c: CampaignSummary | None, what: Any) -> str:
        return "-" if c is None else str(what(c))

    row("targeted / events", *each("targeted"), f"{trig['eventsEmitted']:,}")
    row("fetched", *each("fetched"), "")
    row(
        "scrubbed (client rules)",
        client(cs, lambda c: _fmt(c.scrubbed_by_rule)),
        client(cp, lambda c: _fmt(c.scrubbed_by_rule)),
    )
    row("validated (valid)", *each("validated"), f"{trig['validated']:,}")
    row(
        "ineligible by reason",
        _fmt(sched["invalid"]),
        _fmt(plain["invalid"]),
        _fmt(trig["invalid"]),
    )
    for key in ("approved", "released", "redeemed"):
        row(key, *each(key), f"{trig[key]:,}")
    row("sent at clearance", *each("sent"), "")
    row(
        f"rewards by tier{f' ({currency})' if currency else ''}",
        *(client(c, lambda c: _fmt(c.rewards_by_tier)) for c in (cs, cp, ct)),
    )
    row(
        "webhook duplicates skipped",
        *(client(c, lambda c: c.duplicates_skipped) for c in (cs, cp, ct)),
    )
    row("HTTP retries (client)", *(client(c, lambda c: c.retries) for c in (cs, cp, ct)))
    console.print(table)

    # One column per promotion (three), one row per figure: fits 80 columns whole.
    usage = Table(title="Budget and audience (simulator ledger)")
    usage.add_column("")
    promotions = report["promotions"]
    for pid in promotions:
        usage.add_column(pid, justify="right", no_wrap=True)
    figures: tuple[tuple[str, Any], ...] = (
        ("budget committed", lambda u, unit: _money(u["budgetCommitted"], unit)),
        ("of budget", lambda u, unit: _money(u["budgetTotal"], unit)),
        ("reserved", lambda u, unit: _money(u["budgetReserved"], unit)),
        ("released", lambda u, unit: _money(u["budgetReleased"], unit)),
        ("audience committed", lambda u, unit: f"{u['audienceCommitted']:,}"),
        ("of audience cap", lambda u, unit: f"{u['audienceCap']:,}"),
        ("redemptions", lambda u, unit: f"{u['redemptions']:,}"),
    )
    for label, figure in figures:
        usage.add_row(label, *(figure(u, units.get(pid, {})) for pid, u in promotions.items()))
    console.print(usage)
    scaled = report.get("scaled")
    if scaled and scaled.get("budget") is not None:
        console.print(
            f"PR-WELCOME's budget and audience cap are scaled to --customers "
            f"{scaled['customers']:,}: budget "
            f"{_money(scaled['budget'], units.get('PR-WELCOME', {}))}, "
            f"audience cap {scaled['audienceCap']:,} (so that some customers reach them)"
        )

    demo = report["demonstrated"]
    hooks = Table(title="Webhooks")
    hooks.add_column("")
    kinds = report["webhooks"]
    for kind in kinds:
        hooks.add_column(kind, justify="right", no_wrap=True)

    def on_purpose(kind: str) -> int:
        return 1 if kind == "scheduled" and demo.get("webhookResent") else 0

    def lag(s: dict[str, Any]) -> dict[str, Any]:
        return s.get("lagMsWithoutResent") or s["lagMs"]  # type: ignore[no-any-return]

    rows: tuple[tuple[str, Any], ...] = (
        ("delivered", lambda k, s: str(s["byStatus"].get("delivered", 0))),
        ("attempts", lambda k, s: str(s["attempts"])),
        ("retries", lambda k, s: str(max(0, s["retries"] - on_purpose(k)))),
        ("re-sent on purpose", lambda k, s: str(on_purpose(k))),
        ("lag p50 ms", lambda k, s: _ms(lag(s)["p50"])),
        ("lag p99 ms", lambda k, s: _ms(lag(s)["p99"])),
        ("rate/s", lambda k, s: str(s["achievedRate"] or "-")),
    )
    for label, value in rows:
        hooks.add_row(label, *(value(k, s) for k, s in kinds.items()))
    console.print(hooks)
    if cs is not None:
        steps = ", ".join(f"{k} {v:.2f}s" for k, v in cs.timings.items())
        console.print(f"scheduled flow steps: {steps}")
    t = report["timings"]
    console.print(f"flows finished in {t['flows_s']:.2f} s; demo total {t['total_s']:.2f} s")
    console.print(
        f"on purpose: webhook {demo['webhookResent']} re-sent (not a retry; its lag is left "
        f"out above) → deduplicated by the client; "
        f"a repeated approval → {demo['duplicateApproval'].get('status')} duplicate_approval "
        f"(budget unchanged: {demo['duplicateApproval'].get('budgetUnchanged')})"
    )
    if problems:
        for p in problems:
            console.print(f"[red]problem:[/red] {p}")
    else:
        console.print(
            "[green]audit: no protocol violations[/green] (besides the one shown on purpose)"
        )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _fmt(counts: dict[str, Any]) -> str:
    if not counts:
        return "-"
    # One item per line: a narrow terminal then wraps between items, never inside one.
    return "\n".join(f"{k}{NBSP}{_value(v)}" for k, v in sorted(counts.items()))


def _value(v: Any) -> str:
    if isinstance(v, TierTotal):
        if not v.amount and not v.units:  # the platform's own reward: nothing from Promotions
            return f"{v.count:,}"
        what = f"{v.amount / 100:,.2f}" if v.amount else f"{v.units:,} units"
        return f"{v.count:,}{NBSP}({what})".replace(" ", NBSP)
    return f"{v:,}" if isinstance(v, int) else str(v)
