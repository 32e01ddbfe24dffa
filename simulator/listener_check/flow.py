"""`--with-simulator`: drive both flows against the integrator and collect what the
simulator saw (the findings are judged in `findings.py`).

Steps: load a fresh demo world (scheduled campaign sized `customers`), switch the journal
on, compress the webhook retry schedule, register the integrator's listener URLs
(EventTypeID 5 and 4, 13 for each channel of the scheduled campaign, the CE v2 webhook);
execute the scheduled campaign and fire `events` triggered events; wait until the
integrator has settled (every webhook delivered or given up, and no new request from the
integrator for `settle_s`) or `wait_s` passes; re-send one webhook of each campaign with
its `webhook-id` (at-least-once: the integrator must not act twice) and settle again;
clear the scheduled campaign and wait for its EventTypeID 13 webhooks; read the audit
reports, the deliveries and the integrator's requests from the journal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simulator.listener_check.admin import JournalTail, SimAdmin
from simulator.listener_check.findings import Observed
from simulator.server_process import SCHEDULED, TRIGGERED, demo_scenario

POLL_S = 0.2
FINAL = {"delivered", "failed", "skipped"}
RETRY_TIME_SCALE = 0.01  # the default schedule (1, 5, 30, 120, 600 s) runs in about 8 s


@dataclass(frozen=True, slots=True)
class FlowOptions:
    scheduled_url: str | None  # None: the scheduled flow is not checked
    cancelled_url: str | None
    triggered_url: str | None  # None: the triggered flow is not checked
    secret: str | None
    channel_url: str | None = None  # None: no EventTypeID 13 listener is registered
    triggered_secret: str | None = None
    customers: int = 200
    events: int = 20
    wait_s: float = 60.0
    settle_s: float = 2.0
    timeout_s: float = 10.0

    @property
    def runs_a_campaign(self) -> bool:
        return self.scheduled_url is not None or (
            self.triggered_url is not None and self.events > 0
        )


def world(options: FlowOptions) -> dict[str, Any]:
    """The demo world sized for the check, signed with the integrator's secret (unsigned
    without one, so a listener that verifies nothing still gets its webhooks)."""
    scenario = demo_scenario(options.customers)
    if options.secret:
        scenario["tenant"]["webhookSecret"] = options.secret
    else:
        scenario["tenant"].pop("webhookSecret", None)
    return scenario


def channels(options: FlowOptions) -> list[int]:
    """The ChannelIDs of the world's scheduled campaign (one EventTypeID 13 each)."""
    found = [c for c in world(options)["campaigns"] if c["id"] == SCHEDULED]
    return list(found[0].get("channels", [])) if found else []


async def prepare(admin: SimAdmin, options: FlowOptions, *, load: bool) -> None:
    """A fresh world (`load`: on a simulator we did not start), the journal on, retries
    compressed, and the integrator's listeners registered."""
    if load:
        await admin.run(admin.control.load_scenario(world(options)))
        if options.secret:  # loading keeps a running simulator's secret: set ours
            await admin.run(admin.control.rotate_webhook_secret(options.secret, overlap_seconds=0))
    await admin.run(admin.control.set_journal(True))
    await admin.run(
        admin.control.set_webhook_config(
            time_scale=RETRY_TIME_SCALE, timeout_seconds=options.timeout_s
        )
    )
    for event_type, url in ((5, options.scheduled_url), (4, options.cancelled_url)):
        if url is not None:
            body = {"EventTypeID": event_type, "ListenerURL": url}
            await admin.post_api("/current/general/RegisterEventListener", body)
    if options.channel_url is not None and options.scheduled_url is not None:
        for channel in channels(options):
            body = {"EventTypeID": 13, "ListenerURL": options.channel_url, "ChannelID": channel}
            await admin.post_api("/current/general/RegisterEventListener", body)
    if options.triggered_url is not None:
        hook: dict[str, Any] = {"url": options.triggered_url}
        if options.triggered_secret:
            hook["secret"] = options.triggered_secret
        await admin.post_api("/conditional-execution/v2/triggered/webhooks/", hook)


class _Flow:
    def __init__(self, admin: SimAdmin, options: FlowOptions) -> None:
        self.admin = admin
        self.options = options
        self.tail = JournalTail(admin)
        self.campaigns: list[int] = []
        if options.scheduled_url is not None:
            self.campaigns.append(SCHEDULED)
        if options.triggered_url is not None and options.events:
            self.campaigns.append(TRIGGERED)

    async def webhook_ids(self) -> set[str]:
        found = await self.admin.run(self.admin.control.list_outbox(limit=10_000))
        return {e.id for e in found if e.campaignId in self.campaigns}

    async def settle(self, expected: set[str], deadline: float) -> bool:
        """Wait until every expected webhook is delivered or given up and the integrator
        has sent no request for `settle_s`; False when `deadline` comes first."""
        last_activity = time.monotonic()
        while True:
            new = await self.tail.poll()
            statuses: dict[str, str] = {}
            for campaign_id in self.campaigns:
                for event_id, d in (await self.admin.deliveries(campaign_id)).items():
                    statuses[event_id] = d["status"]
            busy = new > 0 or any(statuses.get(i) not in FINAL for i in expected)
            now = time.monotonic()
            if busy:
                last_activity = now
            elif now - last_activity >= self.options.settle_s:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(POLL_S)

    async def resend_one_each(self) -> set[str]:
        """Re-send the first delivered webhook of each campaign (same `webhook-id`)."""
        resent = set()
        for campaign_id in self.campaigns:
            delivered = [
                i
                for i, d in (await self.admin.deliveries(campaign_id)).items()
                if d["status"] == "delivered"
            ]
            if delivered:
                await self.admin.run(self.admin.control.resend_delivery(delivered[0]))
                resent.add(delivered[0])
        return resent

    async def run(self, say: Callable[[str], None]) -> Observed:
        o = self.options
        await self.tail.skip_past()
        started = time.monotonic()
        deadline = started + o.wait_s
        if SCHEDULED in self.campaigns:
            await self.admin.run(self.admin.control.execute_campaign(SCHEDULED))
        if TRIGGERED in self.campaigns:
            await self.admin.run(self.admin.control.emit_events(TRIGGERED, count=o.events))
        done = []
        if SCHEDULED in self.campaigns:
            done.append(f"executed campaign {SCHEDULED} ({o.customers:,} customers)")
        if TRIGGERED in self.campaigns:
            done.append(f"fired {o.events:,} triggered events of campaign {TRIGGERED}")
        say(f"{' and '.join(done)}; waiting for the integrator (at most {o.wait_s:g} s)")
        expected = await self.webhook_ids()
        settled = await self.settle(expected, deadline)
        resent: set[str] = set()
        if settled:
            resent = await self.resend_one_each()
            if resent:
                say(f"re-sent {len(resent)} webhook(s) with the same webhook-id")
                later = max(deadline, time.monotonic() + 2 * o.settle_s + o.timeout_s)
                settled = await self.settle(expected, later)
        waited = time.monotonic() - started
        if SCHEDULED in self.campaigns:
            await self.admin.run(self.admin.control.clear_campaign(SCHEDULED))
            if self.watches_channels:
                await self.channel_settle(max(deadline, time.monotonic() + 2 * o.timeout_s))
        await self.tail.poll()
        return await self.observe(settled, waited, resent)

    @property
    def watches_channels(self) -> bool:
        return self.options.channel_url is not None and bool(channels(self.options))

    async def channel_deliveries(self) -> list[dict[str, Any]]:
        found = await self.admin.deliveries(SCHEDULED)
        return [d for d in found.values() if d["kind"] == "channel"]

    async def channel_settle(self, deadline: float) -> None:
        """Wait until every EventTypeID 13 webhook of the cleared campaign is delivered or
        given up (they are written at clearance, after the integrator has settled)."""
        want = len(channels(self.options))
        while time.monotonic() < deadline:
            found = await self.channel_deliveries()
            if len(found) >= want and all(d["status"] in FINAL for d in found):
                return
            await asyncio.sleep(POLL_S)

    async def observe(self, settled: bool, waited: float, resent: set[str]) -> Observed:
        report = {
            cid: (await self.admin.run(self.admin.control.get_campaign_report(cid))).model_dump()
            for cid in self.campaigns
        }
        scheduled_delivery = None
        if SCHEDULED in self.campaigns:
            found = await self.admin.deliveries(SCHEDULED)
            first = next((i for i, d in found.items() if d["kind"] == "scheduled"), None)
            if first is not None:
                detail = await self.admin.run(self.admin.control.get_delivery(first))
                scheduled_delivery = detail.model_dump()
        triggered = []
        if TRIGGERED in self.campaigns:
            triggered = list((await self.admin.deliveries(TRIGGERED)).values())
        channel = None
        if SCHEDULED in self.campaigns and self.watches_channels:
            channel = await self.channel_deliveries()
        return Observed(
            scheduled_id=SCHEDULED,
            triggered_id=TRIGGERED,
            scheduled=report.get(SCHEDULED),
            triggered=report.get(TRIGGERED),
            scheduled_delivery=scheduled_delivery,
            triggered_deliveries=triggered,
            channel_deliveries=channel,
            channels=channels(self.options) if channel is not None else [],
            requests=list(self.tail.entries),
            resent=resent,
            settled=settled,
            waited_s=waited,
            wait_s=self.options.wait_s,
        )


async def run_flow(admin: SimAdmin, options: FlowOptions, say: Callable[[str], None]) -> Observed:
    return await _Flow(admin, options).run(say)
