"""Webhook burst: optisim fires triggered events at the integrator's listener following a
load shape (spike, step ramp or soak), and measures how the integrator keeps up.

    locust -f loadtests/webhook_burst.py --host http://127.0.0.1:8900 --headless \\
        --shape spike -u 50 -t 60s --events-per-call 10

Each user asks the simulator for `--events-per-call` triggered events a second
(`POST /_sim/campaigns/{id}/events`), so the rate at a moment is users x events-per-call.
The simulator delivers each event as a signed CE v2 webhook to the integrator's listener
(the one the integrator registered, or `--listener-url`); the integrator validates the
customer and approves the event.

Statistics, besides the `emit_events` calls:
- WEBHOOK `listener acknowledgement`: each delivery attempt's latency, from the
  simulator's attempt log; a non-2xx answer, a timeout or a refused connection fails;
- E2E `event to approval`: from the event entering the simulator's delivery log to the
  approval call the simulator journaled, paired first-in first-out (`loadtests/measure.py`);
- AUDIT `every event decided once`: at the end, one per emitted event; one failure per
  event never approved (nor declined, nor found ineligible) and per duplicate approval.

Counts come from what the simulator saw, never from locust's own rows: locust does not
count a request still in flight when its user is stopped (the `emit_events` row can show
12 calls when the simulator served 14). The results' `emitCalls` is the number of emit
calls the simulator's journal answered with a 2xx; `eventsEmitted` is its event count.

The world: a promotion without limits that rewards everyone and a triggered campaign on
it, created for this run in the admin key's tenant, so every event must end in exactly one
approval. Run it on a tenant nobody else is using: the journal does not say which
campaign an approval call was for.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import gevent
from locust import FastHttpUser, constant_throughput, events, task
from locust.env import Environment

from loadtests import common, shapes
from loadtests.common import E2E, LOG, WEBHOOK
from loadtests.control import (
    APPROVAL_PATH,
    PAGE,
    Control,
    SetupError,
    flat_promotion,
    run_suffix,
)
from loadtests.measure import AttemptWindow, FifoPairing, audit_triggered
from loadtests.shapes import ShapeFromOptions

__all__ = ["EventSource", "ShapeFromOptions"]


@events.init_command_line_parser.add_listener
def _arguments(parser: Any, **_: Any) -> None:
    common.add_arguments(parser)
    shapes.add_arguments(parser, default="spike")
    parser.add_argument(
        "--events-per-call",
        type=int,
        default=10,
        env_var="OPTISIM_EVENTS_PER_CALL",
        help="triggered events each user asks for per second",
    )


class EventSource(FastHttpUser):
    """One user: `--events-per-call` triggered events a second, through the control API."""

    wait_time = constant_throughput(1)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        assert options is not None
        self.path = f"/_sim/campaigns/{options.campaign_id}/events"
        self.body = {"count": options.events_per_call}
        self.headers = {"X-API-KEY": options.admin_key}

    @task
    def emit_events(self) -> None:
        self.client.post(self.path, json=self.body, headers=self.headers, name="emit_events")


class AckFailure(Exception):
    """A delivery attempt the listener did not acknowledge with a 2xx."""


class BurstObserver:
    """The coordinator's watch over the run: attempts, deliveries and approvals."""

    def __init__(self, environment: Environment, ctrl: Control, setup: dict[str, Any]) -> None:
        self.env = environment
        self.ctrl = ctrl
        self.setup = setup
        self.campaign_id: int = setup["campaignId"]
        self.journal_after: int = setup.pop("journalAfter")
        options = environment.parsed_options
        self.poll_s = float(getattr(options, "poll_seconds", 0.5))
        self.settle_s = float(getattr(options, "settle_seconds", 10.0))
        self.window = AttemptWindow()
        self.pairing = FifoPairing()
        self.ids: set[str] = set()
        self.delivery_after = 0
        self.emit_after = self.journal_after
        self.emit_path = f"/_sim/campaigns/{self.campaign_id}/events"
        self.emit_calls = 0
        self.acks = 0
        self.ack_failures = 0
        self.stopping = False
        self.greenlet = gevent.spawn(self._loop)

    @classmethod
    def start(cls, environment: Environment) -> BurstObserver:
        ctrl = common.control(environment)
        options = environment.parsed_options
        assert options is not None
        notes: list[str] = []
        replaced = None
        if options.listener_url:  # the registration it moves comes back in `finish`
            replaced = ctrl.triggered_webhook()
            if replaced is None:
                ctrl.register_triggered_webhook(options.listener_url)
            else:  # moved, not replaced: a secret of its own signs on, and stays
                ctrl.point_triggered_webhook(options.listener_url)
        listener = ctrl.triggered_webhook()
        if listener is None:
            raise SetupError(
                "no CE v2 webhook is registered on the simulator: start the integrator "
                "first (it registers its listener) or give --listener-url"
            )
        if not ctrl.journal_enabled():
            ctrl.enable_journal()  # approvals are read from it
            notes.append("the simulator's journal was off: switched on for the run")
        suffix = run_suffix()
        promotion, promocode = f"PR-BURST-{suffix}", f"BURST{suffix}"
        ctrl.create_promotion(flat_promotion(promotion, promocode, per_customer_limit=1_000_000))
        campaign_id = ctrl.create_campaign(
            {
                "type": "triggered",
                "promoCode": promocode,
                "actionId": 21,
                "actionName": "optisim load: webhook burst",
                "seriesId": 900,
                "trigger": "deposit",
            }
        )
        options.campaign_id = campaign_id  # sent to the workers with the spawn message
        setup = {
            "scenario": "webhook-burst",
            "campaignId": campaign_id,
            "promotionId": promotion,
            "listener": listener,
            "notes": notes,
            "journalAfter": ctrl.journal_end(),
            "replacedListener": replaced,
        }
        LOG.info("webhook burst: campaign %d, listener %s", campaign_id, listener)
        return cls(environment, ctrl, setup)

    # -- watching -------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self.stopping:
            try:
                self.poll()
            except Exception:  # a slow or restarting simulator: keep watching
                LOG.exception("reading the simulator's records failed")
            gevent.sleep(self.poll_s)

    def poll(self) -> None:
        # Attempts first: a delivery is in the log before it is attempted, so reading the
        # deliveries second finds the delivery of every attempt read.
        attempts = self.window.take(self.ctrl.attempts(self.window.since))
        while True:
            page = self.ctrl.deliveries(self.campaign_id, "triggered", self.delivery_after)
            for d in page:
                self.ids.add(d["eventId"])
            self.pairing.add_events(d["createdAt"] for d in page)
            if page:
                self.delivery_after = page[-1]["seq"]
            if len(page) < PAGE:
                break
        for a in attempts:
            if a["eventId"] in self.ids:
                self._acknowledgement(a)
        approvals = []
        for entry in self.ctrl.journal(self.journal_after, APPROVAL_PATH):
            self.journal_after = entry["seq"]
            if entry["status"] == 200:
                approvals.append(entry["at"])
        self.pairing.add_approvals(approvals)
        for entry in self.ctrl.journal(self.emit_after, self.emit_path):
            self.emit_after = entry["seq"]
            if entry["method"] == "POST" and 200 <= entry["status"] < 300:
                self.emit_calls += 1
        for seconds in self.pairing.pairs():
            common.fire(self.env, E2E, "event to approval", seconds * 1000)

    def _acknowledgement(self, attempt: Mapping[str, Any]) -> None:
        status = attempt["status"]
        self.acks += 1
        failure = None
        if status is None or not 200 <= status < 300:
            self.ack_failures += 1
            failure = AckFailure(attempt["error"] or f"HTTP {status}")
        common.fire(self.env, WEBHOOK, "listener acknowledgement", attempt["latencyMs"], failure)

    # -- the end --------------------------------------------------------------------------
    def finish(self) -> dict[str, Any]:
        try:
            return self._finish()
        finally:
            self._restore_listener()

    def _restore_listener(self) -> None:
        common.restore_listener(
            self.env, self.setup, self.ctrl.point_triggered_webhook, "CE v2 webhook"
        )

    def _finish(self) -> dict[str, Any]:
        """Wait for the integrator to catch up (or for `--settle-seconds` without progress),
        then audit every event and return the results."""
        self.stopping = True
        self.greenlet.join(timeout=60)
        last: tuple[int, ...] = ()
        progressed = time.monotonic()
        while True:
            report = self.ctrl.report(self.campaign_id)
            summary = self.ctrl.delivery_summary(self.campaign_id, "triggered")
            # Read the records after the state: an attempt is logged, and an approval
            # journaled, a moment after the state that counts it changes.
            gevent.sleep(0.05)
            self.poll()
            audit = audit_triggered(report)
            pending = summary["byStatus"].get("pending", 0)
            settled = pending == 0 and self.acks >= summary["attempts"]
            if audit.missing == 0 and settled and not self.pairing.events:
                break
            state = (audit.decided, summary["byStatus"].get("delivered", 0), self.pairing.paired)
            if state != last:
                last, progressed = state, time.monotonic()
            elif time.monotonic() - progressed >= self.settle_s:
                break
            gevent.sleep(self.poll_s)
        failures = ["event never approved"] * audit.missing
        failures += ["event approved twice"] * audit.duplicates
        common.fire_audit(self.env, "every event decided once", audit.decided, failures)
        span = None
        if self.pairing.first_event is not None and self.pairing.last_approval is not None:
            span = self.pairing.last_approval - self.pairing.first_event
        return {
            **self.setup,
            "eventsEmitted": report["eventsEmitted"],
            "emitCalls": self.emit_calls,
            "deliveries": summary["byStatus"],
            "deliveryRate": summary["achievedRate"],
            "deliveryLagMs": summary["lagMs"],
            "acknowledgements": self.acks,
            "acknowledgementFailures": self.ack_failures,
            "approvalsTimed": self.pairing.paired,
            "eventsNotTimed": len(self.pairing.events),
            "handledPerSecond": round(audit.decided / span, 1) if span else None,
            "audit": {
                "expected": audit.expected,
                "decided": audit.decided,
                "missing": audit.missing,
                "duplicates": audit.duplicates,
                "approved": report["approved"],
                "declined": report["released"],
                "ineligible": report["invalid"],
                "violations": report["violations"],
            },
        }


common.coordinate("webhook-burst", BurstObserver.start)
