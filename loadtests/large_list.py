"""Large customer list: a scheduled campaign of N customers (up to 5,000,000; the
simulator's population is computed, not stored) executed against the integrator.

    locust -f loadtests/large_list.py --host http://127.0.0.1:8900 --headless -u 1 \\
        --customers 1000000 --clearance-minutes 30 -t 40m

The coordinator creates a promotion that rewards everyone and a scheduled campaign
targeting the first N customers, executes it (the simulator sends the EventTypeID 5
webhook to the integrator's listener) and follows the integrator's calls in the
simulator's journal until it has fetched the list and approved or released every customer
it validated, or until `ClearanceRequiredBy` has passed. Then the run stops by itself.

Statistics:
- WEBHOOK `listener acknowledgement`: the EventTypeID 5 delivery attempt(s);
- INTEGRATOR `get_processed_campaign_customers`, `validate_customers`, `approve`: each
  call of the integrator as the simulator served it (latency from the journal);
- E2E `webhook to last approval`: one sample, the whole campaign;
- AUDIT `ClearanceRequiredBy met` (fails when the integrator was still working when the
  campaign cleared, or approved or validated after it) and `every validated customer
  decided once` (fails on customers left reserved or approved twice);
- GET `get_campaign_report`: the one user reads the audit every second, so the run also
  shows the control API answering while the integrator works the list.
The throughput of each step (customers per second over the step's span) is in the results
file (`--results-file`) and the log.
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from loadtests import common
from loadtests.common import E2E, INTEGRATOR, LOG, WEBHOOK
from loadtests.control import Control, SetupError, epoch, flat_promotion, run_suffix
from loadtests.measure import APPROVE, FETCH, VALIDATE, Step, audit_scheduled, classify, complete

__all__ = ["ReportReader"]
MAX_CUSTOMERS = 5_000_000
COMPLETE_QUIET_S = 1.5  # no integrator call for this long after the counts add up


@events.init_command_line_parser.add_listener
def _arguments(parser: Any, **_: Any) -> None:
    common.add_arguments(parser)
    parser.add_argument(
        "--customers",
        type=int,
        default=100_000,
        env_var="OPTISIM_CUSTOMERS",
        help=f"customers the campaign targets (at most {MAX_CUSTOMERS:,})",
    )
    parser.add_argument(
        "--clearance-minutes",
        type=float,
        default=30.0,
        env_var="OPTISIM_CLEARANCE_MINUTES",
        help="ClearanceRequiredBy = execution + this",
    )


class ReportReader(FastHttpUser):
    """Reads the campaign's audit once a second while the integrator works."""

    wait_time = constant(1)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        assert options is not None
        self.path = f"/_sim/campaigns/{options.campaign_id}/report"
        self.headers = {"X-API-KEY": options.admin_key}

    @task
    def get_campaign_report(self) -> None:
        self.client.get(self.path, headers=self.headers, name="get_campaign_report")


class CampaignDriver:
    """The coordinator: executes the campaign, follows it, audits it, ends the run."""

    def __init__(self, environment: Environment, ctrl: Control, setup: dict[str, Any]) -> None:
        self.env = environment
        self.ctrl = ctrl
        self.setup = setup
        self.campaign_id: int = setup["campaignId"]
        self.promocode: str = setup.pop("promocode")
        self.journal_after: int = setup.pop("journalAfter")
        options = environment.parsed_options
        self.poll_s = float(getattr(options, "poll_seconds", 0.5))
        self.settle_s = float(getattr(options, "settle_seconds", 10.0))
        self.steps = {FETCH: Step(), VALIDATE: Step(), APPROVE: Step()}
        self.complete_before_clearance = False
        self.stop_requested = False
        self.results: dict[str, Any] | None = None
        self.greenlet = gevent.spawn(self._run)

    @classmethod
    def start(cls, environment: Environment) -> CampaignDriver:
        ctrl = common.control(environment)
        options = environment.parsed_options
        assert options is not None
        customers = int(options.customers)
        if not 1 <= customers <= MAX_CUSTOMERS:
            raise SetupError(f"--customers must be 1 to {MAX_CUSTOMERS:,}, not {customers:,}")
        replaced = None
        if options.listener_url:  # the registration it replaces comes back in `finish`
            replaced = ctrl.scheduled_listener()
            ctrl.register_scheduled_listener(options.listener_url)
        listener = ctrl.scheduled_listener()
        if listener is None:
            raise SetupError(
                "no EventTypeID 5 listener is registered on the simulator: start the "
                "integrator first (it registers its listener) or give --listener-url"
            )
        population = int(ctrl.tenant()["population"]["size"])
        if population < customers:
            raise SetupError(
                f"the tenant's population has {population:,} customers, fewer than "
                f"--customers {customers:,}: load a bigger world (`optisim load` starts "
                "its own simulator with one; or serve a scenario with population.size)"
            )
        if not ctrl.journal_enabled():
            ctrl.enable_journal()
        suffix = run_suffix()
        promotion, promocode = f"PR-LIST-{suffix}", f"LIST{suffix}"
        ctrl.create_promotion(flat_promotion(promotion, promocode))
        campaign_id = ctrl.create_campaign(
            {
                "type": "scheduled",
                "promoCode": promocode,
                "actionId": 40,
                "actionName": "optisim load: large list",
                "targetGroup": {"size": customers},
                "clearanceWindowMinutes": float(options.clearance_minutes),
            }
        )
        options.campaign_id = campaign_id  # sent to the workers with the spawn message
        setup = {
            "scenario": "large-list",
            "campaignId": campaign_id,
            "promotionId": promotion,
            "promocode": promocode,
            "customers": customers,
            "listener": listener,
            "journalAfter": ctrl.journal_end(),
            "replacedListener": replaced,
        }
        LOG.info(
            "large list: campaign %d, %d customers, listener %s", campaign_id, customers, listener
        )
        return cls(environment, ctrl, setup)

    # -- the run --------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self.results = self._follow()
        except Exception as exc:  # whatever it is, the run must end and say why
            LOG.exception("large list: following the campaign failed")
            self.results = {**self.setup, "error": f"{type(exc).__name__}: {exc}"}
            self.env.process_exit_code = 2
        runner = self.env.runner
        if not self.stop_requested and runner is not None:
            gevent.spawn(runner.quit)  # done: end the run (test_stop collects the results)

    def _follow(self) -> dict[str, Any]:
        executed = self.ctrl.execute(self.campaign_id)
        offset = self.ctrl.clock_offset()
        deadline = epoch(executed["clearanceRequiredBy"]) - offset  # wall clock
        webhook_at: float | None = None
        quiet_since = time.time()
        report = self.ctrl.report(self.campaign_id)
        while not self.stop_requested:
            gevent.sleep(self.poll_s)
            read_at = time.time()
            report = self.ctrl.report(self.campaign_id)
            if self._read_journal():
                quiet_since = time.time()
            if webhook_at is None:
                webhook_at = self._webhook_time()
            cleared = report["campaign"]["status"] == "cleared"
            if complete(report) and not cleared and read_at < deadline:
                self.complete_before_clearance = True
            quiet = time.time() - quiet_since
            # Complete and quiet for a moment: done. Past the deadline and quiet for the
            # settle time: the integrator gave up (or never started).
            if complete(report) and quiet >= COMPLETE_QUIET_S:
                break
            if time.time() > deadline and quiet >= self.settle_s:
                break
        self._read_journal()
        report = self.ctrl.report(self.campaign_id)
        return self._audit(report, deadline, webhook_at)

    def _read_journal(self) -> bool:
        """Fire the integrator's new calls as statistics; True if there were any."""
        seen = False
        for entry in self.ctrl.journal(self.journal_after):
            self.journal_after = entry["seq"]
            step = classify(entry, self.campaign_id, self.promocode)
            if step is None:
                continue
            seen = True
            self.steps[step].add(entry["at"], entry["ms"], entry["status"])
            failure = None
            if entry["status"] >= 400:
                failure = common.AuditFailure(
                    f"HTTP {entry['status']} {entry.get('error') or ''}".strip()
                )
            common.fire(self.env, INTEGRATOR, step, entry["ms"], failure)
        return seen

    def _webhook_time(self) -> float | None:
        """When the EventTypeID 5 webhook entered the delivery log; fires its attempts."""
        found = self.ctrl.deliveries(self.campaign_id, "scheduled", 0)
        if not found or found[0]["status"] == "pending":
            return None
        delivery = self.ctrl.call("GET", f"/_sim/deliveries/{found[0]['eventId']}")
        for attempt in delivery["attemptLog"]:
            ok = attempt["status"] is not None and 200 <= attempt["status"] < 300
            failure = None if ok else common.AuditFailure(attempt["error"] or "not acknowledged")
            common.fire(
                self.env, WEBHOOK, "listener acknowledgement", attempt["latencyMs"], failure
            )
        created: float = found[0]["createdAt"]
        return created

    def _audit(
        self, report: dict[str, Any], deadline: float, webhook_at: float | None
    ) -> dict[str, Any]:
        violations = report["violations"]
        late = violations.get("approved_after_clearance", 0)
        late += violations.get("validated_after_clearance", 0)
        cleared = report["campaign"]["status"] == "cleared"
        met = late == 0 and (self.complete_before_clearance or (not cleared and complete(report)))
        progress = (
            f"fetched {report['fetched']:,} of {report['targeted']:,}, "
            f"{report['validated']:,} validated, {report['approved']:,} approved"
        )
        why = []
        if late:
            why.append(f"{late:,} validations or approvals after ClearanceRequiredBy")
        if cleared and not self.complete_before_clearance:
            why.append(f"the campaign cleared before the integrator finished ({progress})")
        elif not cleared and not complete(report):
            why.append(f"the run ended before the integrator finished ({progress})")
        common.fire_audit(self.env, "ClearanceRequiredBy met", int(met), why)
        audit = audit_scheduled(report)
        failures = ["validated customers never approved nor released"] if audit.missing else []
        failures += ["customers approved twice"] if audit.duplicates else []
        common.fire_audit(
            self.env, "every validated customer decided once", int(audit.ok), failures
        )
        approvals_end = self.steps[APPROVE].last_end
        wall = None
        if webhook_at is not None and approvals_end is not None:
            wall = approvals_end - webhook_at
            common.fire(self.env, E2E, "webhook to last approval", wall * 1000)
        ineligible = sum(report["invalid"].values())
        return {
            **self.setup,
            "wallSeconds": None if wall is None else round(wall, 3),
            "clearanceMet": met,
            "clearanceMarginSeconds": None
            if approvals_end is None
            else round(deadline - approvals_end, 3),
            "steps": {
                "fetch": self.steps[FETCH].as_dict(int(report["fetched"])),
                "validate": self.steps[VALIDATE].as_dict(int(report["validated"]) + ineligible),
                "approve": self.steps[APPROVE].as_dict(
                    int(report["approved"]) + int(report["released"])
                ),
            },
            "audit": {
                "targeted": report["targeted"],
                "fetched": report["fetched"],
                "validated": report["validated"],
                "ineligible": report["invalid"],
                "approved": report["approved"],
                "released": report["released"],
                "missing": audit.missing,
                "duplicates": audit.duplicates,
                "violations": violations,
            },
        }

    def finish(self) -> dict[str, Any]:
        try:
            return self._finish()
        finally:
            self._restore_listener()

    def _restore_listener(self) -> None:
        common.restore_listener(
            self.env, self.setup, self.ctrl.register_scheduled_listener, "EventTypeID 5 listener"
        )

    def _finish(self) -> dict[str, Any]:
        """The run is stopping (by itself, or `--run-time` ran out): the results."""
        self.stop_requested = True
        if gevent.getcurrent() is not self.greenlet:
            self.greenlet.join(timeout=120)
        return self.results or {**self.setup, "error": "stopped before the campaign finished"}


common.coordinate("large-list", CampaignDriver.start)
