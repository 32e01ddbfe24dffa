"""Run stories against an integrator under test, over the simulator's control API.

How the integrator under test is wired (the listener check's approach): the integrator is
configured once, before the run, with the simulator's base URL (its Optimove and
Promotions base URL) and the world's keys (the built-in world's are `demo-integrations-key`
and the webhook secret `whsec_b3B0…`; a story's own world file says its keys). The runner
prints both. Each story then gets a *fresh world in that same tenant*: the story's world is
loaded (`POST /_sim/scenario`, which replaces every campaign, promotion, ledger, fault
rule and the coverage), the journal is switched on, the integrator's listener URLs (from
`--integrator-url` and the paths) are registered, and the webhook retry schedule is
compressed. So the integrator keeps its configuration from story to story.

Campaign ids are renumbered per story (`offset`): an integrator remembers what it did per
campaign (webhooks seen, customers approved), and the same ids in the next story would
look to it like a re-delivery. Steps and expectations name the story's ids; evidence
shows both.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from simulator.listener_check.admin import CheckAborted, JournalTail, SimAdmin
from simulator.listener_check.runner import ensure_listening
from simulator.server_process import demo_scenario
from simulator.stories.model import Count, Expectation, Range, Step, Story, World

POLL_S = 0.1
RETRY_TIME_SCALE = 0.01  # the retry schedule (1, 5, 30, 120, 600 s) in about 8 s


@dataclass(frozen=True, slots=True)
class Target:
    """The integrator under test: where its listeners are."""

    url: str
    scheduled_path: str = "/optimove/events"
    triggered_path: str = "/optimove/triggered"
    secret: str | None = None  # the secret it verifies with (the world's when None)
    timeout_s: float = 10.0

    def at(self, path: str) -> str:
        return self.url.rstrip("/") + path


@dataclass(slots=True)
class Outcome:
    """One expectation's verdict, with the evidence a reader needs."""

    id: str
    passed: bool
    detail: str
    evidence: list[str] = field(default_factory=list)


@dataclass(slots=True)
class StoryResult:
    name: str
    description: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # the story could not run (not a finding about the integrator)
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.passed for o in self.outcomes)


def world_of(world: World, base: Path, offset: int) -> dict[str, Any]:
    """The scenario document of a story's world, campaigns renumbered by `offset`."""
    if world.builtin is not None:
        data = demo_scenario(world.customers or 200)
    else:
        path = base / str(world.file)
        try:
            loaded = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise CheckAborted(f"world file {path}: {error}") from None
        if not isinstance(loaded, dict):
            raise CheckAborted(f"world file {path}: not a scenario mapping")
        data = loaded
    data = copy.deepcopy(data)
    data.setdefault("clock", {})["mode"] = world.clock
    if world.start is not None:
        data["clock"]["start"] = world.start
    for item in data.get("promotions", []):
        item.update(world.promotions.get(str(item.get("id")), {}))
    for item in data.get("campaigns", []):
        item.update(world.campaigns.get(str(item.get("id")), {}))
        item["id"] = int(item["id"]) + offset
    data.pop("faults", None)  # a story arms its faults in its steps
    return data


class StoryRun:
    def __init__(
        self,
        admin: SimAdmin,
        target: Target,
        story: Story,
        base: Path,
        say: Callable[[str], None],
        offset: int,
    ) -> None:
        self.admin = admin
        self.target = target
        self.story = story
        self.base = base
        self.say = say
        self.offset = offset
        self.tail = JournalTail(admin)
        self.result = StoryResult(story.name, story.description)

    def cid(self, story_id: int) -> int:
        return story_id + self.offset

    def note(self, line: str) -> None:
        self.result.log.append(line)
        self.say(f"  {self.story.name}: {line}")

    async def run(self) -> StoryResult:
        started = time.monotonic()
        try:
            await self.prepare()
            for step in self.story.steps:
                await self.step(step)
            await self.tail.poll()
            for i, expectation in enumerate(self.story.expect):
                self.result.outcomes.append(await self.judge(i, expectation))
        except CheckAborted as exc:
            self.result.error = str(exc)
        self.result.seconds = time.monotonic() - started
        return self.result

    async def prepare(self) -> None:
        world = world_of(self.story.world, self.base, self.offset)
        a, control = self.admin, self.admin.control
        await a.run(control.load_scenario(world))
        if self.target.secret:  # a loaded world keeps the running tenant's secret: set it
            await a.run(control.rotate_webhook_secret(self.target.secret, overlap_seconds=0))
        await a.run(control.clear_faults())
        await a.run(control.set_journal(True))
        await a.run(
            control.set_webhook_config(
                time_scale=RETRY_TIME_SCALE, timeout_seconds=self.target.timeout_s
            )
        )
        # The integrator's listeners, registered as its own setup would (Optimove's API).
        scheduled = self.target.at(self.target.scheduled_path)
        for event_type in (5, 4):
            body = {"EventTypeID": event_type, "ListenerURL": scheduled}
            await a.post_api("/current/general/RegisterEventListener", body)
        for campaign in world.get("campaigns", []):
            for channel in campaign.get("channels", []):
                body = {"EventTypeID": 13, "ListenerURL": scheduled, "ChannelID": channel}
                await a.post_api("/current/general/RegisterEventListener", body)
        hook = {"url": self.target.at(self.target.triggered_path)}
        await a.post_api("/conditional-execution/v2/triggered/webhooks/", hook)
        await self.tail.skip_past()

    async def step(self, step: Step) -> None:
        a, control = self.admin, self.admin.control
        action = step.action
        if step.execute is not None:
            await a.run(control.execute_campaign(self.cid(step.execute)))
            self.note(f"executed campaign {step.execute}")
        elif step.cancel is not None:
            await a.run(control.cancel_campaign(self.cid(step.cancel)))
            self.note(f"cancelled campaign {step.cancel}")
        elif step.clear is not None:
            await a.run(control.clear_campaign(self.cid(step.clear)))
            self.note(f"cleared campaign {step.clear} (its ClearanceRequiredBy came)")
        elif step.emit is not None:
            await self.emit(step)
        elif step.advance is not None:
            await a.run(control.advance_clock(step.advance))
            self.note(f"advanced the simulator clock {step.advance:g} s")
        elif step.faults is not None:
            rules = [r.model_dump(mode="json", exclude_none=True) for r in step.faults]
            await a.run(control.set_faults(rules, seed=1))
            self.note(f"armed {len(rules)} fault rule(s)")
        elif step.clear_faults:
            await a.run(control.clear_faults())
            self.note("cleared the fault rules")
        elif step.rotate_secret is not None:
            rotate = step.rotate_secret
            await a.run(
                control.rotate_webhook_secret(rotate.secret, overlap_seconds=rotate.overlapSeconds)
            )
            self.note(f"rotated the webhook secret (overlap {rotate.overlapSeconds} s)")
        elif step.resend is not None:
            found = await a.deliveries(self.cid(step.resend))
            ids = [i for i, d in found.items() if d["status"] == "delivered"]
            for event_id in ids:
                await a.run(control.resend_delivery(event_id))
            self.note(f"re-sent {len(ids)} delivered webhook(s) of campaign {step.resend}")
        elif step.settle is not None:
            settled, waited = await self.settle(step.settle.quiet, step.settle.deadline)
            state = "settled" if settled else "did NOT settle"
            self.note(f"the integrator {state} after {waited:.1f} s")
        elif step.sleep is not None:
            await asyncio.sleep(step.sleep)
        else:  # pragma: no cover - the model allows no other step
            raise CheckAborted(f"unknown step {action}")

    async def emit(self, step: Step) -> None:
        e = step.emit
        assert e is not None
        customers = (
            None
            if e.customers is None
            else [{"customerId": c, "context": e.context} for c in e.customers]
        )
        found = await self.admin.run(
            self.admin.control.emit_events(
                self.cid(e.campaign),
                count=e.count,
                customers=customers,
                context=e.context,
                rate=e.rate,  # the simulator paces their webhooks
            )
        )
        self.note(f"emitted {found.count} triggered event(s) of campaign {e.campaign}")

    async def settle(self, quiet: float, deadline_s: float) -> tuple[bool, float]:
        """Wait until no webhook is pending and the integrator has sent nothing for
        `quiet` seconds; False when `deadline_s` passes first."""
        started = last = time.monotonic()
        while True:
            new = await self.tail.poll()
            pending = await self.admin.run(
                self.admin.control.list_deliveries(status="pending", limit=1)
            )
            now = time.monotonic()
            if new or pending:
                last = now
            elif now - last >= quiet:
                return True, now - started
            if now - started >= deadline_s:
                return False, now - started
            await asyncio.sleep(POLL_S)

    # -- expectations ---------------------------------------------------------------------
    async def judge(self, index: int, x: Expectation) -> Outcome:
        if x.covered is not None:
            return await self.judge_covered(index, x.covered)
        if x.clearance_met is not None:
            return await self.judge_clearance(index, x.clearance_met)
        assert x.campaign is not None
        return await self.judge_campaign(index, x)

    async def report(self, story_id: int) -> dict[str, Any]:
        found = await self.admin.run(self.admin.control.get_campaign_report(self.cid(story_id)))
        return found.model_dump()

    def label(self, story_id: int) -> str:
        return f"campaign {story_id} (run as {self.cid(story_id)})"

    async def judge_campaign(self, index: int, x: Expectation) -> Outcome:
        assert x.campaign is not None
        r = await self.report(x.campaign)
        wrong: list[str] = []
        seen: list[str] = []
        counts: dict[str, Count | None] = {
            "validated": x.validated,
            "approved": x.approved,
            "released": x.released,
            "redeemed": x.redeemed,
            "sent": x.sent,
        }
        for name, want in counts.items():
            if want is not None:
                _compare(name, int(r[name]), want, wrong, seen)
        for name, want in (x.refused or {}).items():
            _compare(
                f"approvals refused {name}",
                int(r["approvalsRefused"].get(name, 0)),
                want,
                wrong,
                seen,
            )
        for name, want in (x.invalid or {}).items():
            _compare(f"validations {name}", int(r["invalid"].get(name, 0)), want, wrong, seen)
        evidence = [f"audit of {self.label(x.campaign)}: " + ", ".join(_audit_line(r))]
        if x.violations is not None:
            allowed = set() if x.violations == "none" else set(x.violations)
            bad = {k: v for k, v in r["violations"].items() if k not in allowed}
            if bad:
                wrong.append(
                    "protocol violations: " + ", ".join(f"{k}: {v}" for k, v in sorted(bad.items()))
                )
                evidence += [
                    f"violation {v['code']} at {v['at']}: {v['detail']}"
                    for v in r["violationExamples"]
                    if v["code"] in bad
                ]
            else:
                seen.append(
                    "no protocol violation" + (f" beyond {sorted(allowed)}" if allowed else "")
                )
        evidence += await self.refusal_evidence(r)
        ident = f"expect[{index}].campaign_{x.campaign}"
        if wrong:
            return Outcome(ident, False, "; ".join(wrong), evidence + self.result.log)
        return Outcome(ident, True, "; ".join(seen), evidence)

    async def refusal_evidence(self, r: dict[str, Any]) -> list[str]:
        """The integrator's refused calls from the journal (method, path, status, error)."""
        refused = [e for e in self.tail.entries if e.get("error")][:5]
        return [
            f"journal #{e['seq']}: {e['method']} {e['path']} → {e['status']} {e['error']}"
            + (f" (injected fault {e['fault']})" if e.get("fault") else "")
            for e in refused
        ]

    async def judge_covered(self, index: int, wanted: list[str]) -> Outcome:
        body = (await self.admin.run(self.admin.control.get_coverage())).model_dump()
        rows = {row["id"]: row for row in body["rules"]}
        missing, seen = [], []
        for glob in wanted:
            matched = [i for i in rows if fnmatch.fnmatchcase(i, glob)]
            hit = [i for i in matched if rows[i]["count"]]
            if not matched:
                missing.append(f"{glob} (no such rule)")
            elif not hit:
                missing.append(glob)
            else:
                seen += [
                    f"{i}: {rows[i]['count']}"
                    + (f" (journal #{rows[i]['example']})" if rows[i]["example"] else "")
                    for i in hit
                ]
        ident = f"expect[{index}].covered"
        evidence = [
            f"covered: {', '.join(seen) or 'nothing asked for'}",
            f"coverage of the story: {body['covered']} of {body['total']} rules",
        ]
        if missing:
            return Outcome(
                ident, False, f"never exercised: {', '.join(missing)}", evidence + self.result.log
            )
        return Outcome(ident, True, f"all {len(wanted)} rule(s) exercised", evidence)

    async def judge_clearance(self, index: int, story_id: int) -> Outcome:
        r = await self.report(story_id)
        ident = f"expect[{index}].clearance_met_{story_id}"
        status = r["campaign"]["status"]
        late = {
            "approvals refused clearance_closed": r["approvalsRefused"].get("clearance_closed", 0),
            "validations clearance_closed": r["invalid"].get("clearance_closed", 0),
        }
        evidence = [
            f"{self.label(story_id)} is {status}; ClearanceRequiredBy "
            f"{r['campaign'].get('clearanceRequiredBy')}",
            "audit: " + ", ".join(_audit_line(r)),
        ]
        if status != "cleared":
            return Outcome(
                ident,
                False,
                f"the campaign never reached ClearanceRequiredBy "
                f"(it is {status}): add a clear or advance step",
                evidence,
            )
        after = {k: v for k, v in late.items() if v}
        if after:
            return Outcome(
                ident,
                False,
                "the integrator was still working after ClearanceRequiredBy: "
                + ", ".join(f"{k}: {v}" for k, v in after.items()),
                evidence + self.result.log,
            )
        return Outcome(ident, True, "every call came before ClearanceRequiredBy", evidence)


def _compare(name: str, value: int, want: Count, wrong: list[str], seen: list[str]) -> None:
    if isinstance(want, Range):
        ok, expected = want.holds(value), str(want)
    else:
        ok, expected = value == want, str(want)
    (seen if ok else wrong).append(f"{name} {value}" + ("" if ok else f" (expected {expected})"))


def _audit_line(r: dict[str, Any]) -> list[str]:
    keys = (
        "targeted",
        "fetched",
        "validated",
        "approved",
        "released",
        "redeemed",
        "sent",
        "eventsEmitted",
    )
    out = [f"{k} {r[k]}" for k in keys if k in r]
    if r.get("invalid"):
        out.append("invalid " + ", ".join(f"{k} {v}" for k, v in sorted(r["invalid"].items())))
    if r.get("approvalsRefused"):
        out.append(
            "approvals refused "
            + ", ".join(f"{k} {v}" for k, v in sorted(r["approvalsRefused"].items()))
        )
    return out


async def run_stories(
    stories: list[tuple[Story, Path]],
    target: Target,
    sim_url: str,
    admin_key: str,
    say: Callable[[str], None] = lambda _: None,
) -> list[StoryResult]:
    """Run each story in a fresh world; `CheckAborted` when the simulator is unreachable."""
    results = []
    base = random.Random().randrange(1, 20_000) * 100_000  # ids stay below 2**31
    async with SimAdmin(sim_url, admin_key) as admin:
        await admin.run(admin.control.health())
        await ensure_listening(target.url, target.timeout_s)
        for n, (story, folder) in enumerate(stories):
            say(f"story {story.name}")
            run = StoryRun(admin, target, story, folder, say, base + n * 100_000)
            results.append(await run.run())
    return results
