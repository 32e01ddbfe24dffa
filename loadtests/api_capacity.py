"""API capacity: the Optimove and Promotions routes under concurrent users, with the
ledger's invariants checked at the end, to show the simulator is not the bottleneck.

    locust -f loadtests/api_capacity.py --host http://127.0.0.1:8900 --headless \\
        --shape step --steps 4 -u 64 -t 2m

The coordinator creates a fresh tenant (its own keys: nothing else runs on it) with a
scheduled campaign of `--customers` customers, executed, on a promotion whose budget runs
out at half of them and whose audience cap at 60 %, and a triggered campaign on a
promotion without limits. Each user then plays an impatient integrator, as fast as it can:
pages the processed list, validates blocks of `--batch` customers drawn at random (users
overlap, so they race for the same customers), approves what it validated, releases some,
reads the promotion, reports redemptions, and runs triggered events through CE v2
(emit, validate, approve). A refusal that only a race explains (`duplicate_approval`,
`not_validated`, `already_approved`) is not a failure: it is the simulator doing its job.

At the end, AUDIT rows check each promotion's ledger against the campaign's approvals
(no overspend, audience within its cap, every approval committed exactly once; see
`loadtests/measure.py`): a failure means the simulator broke a rule under concurrency.
"""

from __future__ import annotations

import random
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

from loadtests import common, shapes
from loadtests.common import LOG
from loadtests.control import EUR_1, Control, SetupError, flat_promotion, run_suffix
from loadtests.measure import ledger_invariants
from loadtests.shapes import ShapeFromOptions

__all__ = ["Integrator", "ShapeFromOptions"]

SCHEDULED, TRIGGERED = 1, 2
PROMOTION, PROMOCODE = "PR-CAP", "CAP10"
EVENT_PROMOTION, EVENT_PROMOCODE = "PR-CAP-EVENTS", "CAPEVENT"
REWARD = 10 * EUR_1
EVENT_REWARD = 2 * EUR_1
PAGE = 1_000
RACES = {"duplicate_approval", "not_validated", "already_approved"}
# Another user released the customer's reservation and a third validated it again: our
# approval committed the new allocation, and the id we kept is the released one.
REDEMPTION_RACES = {"not_approved"}
APPROVE_PATH = "/current/integrations/UpdateCustomerPromotionStatus"
FETCH_PATH = "/current/customers/GetProcessedCampaignCustomers"


@events.init_command_line_parser.add_listener
def _arguments(parser: Any, **_: Any) -> None:
    common.add_arguments(parser)
    shapes.add_arguments(parser, default="step")
    parser.add_argument(
        "--customers",
        type=int,
        default=20_000,
        env_var="OPTISIM_CUSTOMERS",
        help="customers of the scheduled campaign the users race for",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=20,
        env_var="OPTISIM_BATCH",
        help="customers per validateCustomers and approval call",
    )
    parser.add_argument(
        "--api-key",
        default="",
        include_in_web_ui=False,
        help="set by the coordinator's setup: the fresh tenant's integrations key",
    )


def world(customers: int) -> dict[str, Any]:
    """The fresh tenant's scenario (see the module docstring)."""
    return {
        "population": {"seed": 42, "size": customers, "idPrefix": "C", "idWidth": 8},
        "promotions": [
            {
                **flat_promotion(
                    PROMOTION,
                    PROMOCODE,
                    reward=REWARD,
                    budget=REWARD * (customers // 2),
                    audience_cap=customers * 6 // 10,
                ),
                "status": "active",
            },
            {
                **flat_promotion(
                    EVENT_PROMOTION,
                    EVENT_PROMOCODE,
                    reward=EVENT_REWARD,
                    per_customer_limit=1_000_000,
                ),
                "status": "active",
            },
        ],
        "campaigns": [
            {
                "id": SCHEDULED,
                "type": "scheduled",
                "promoCode": PROMOCODE,
                "targetGroup": {"size": customers},
                "clearanceWindowMinutes": 24 * 60,
            },
            {"id": TRIGGERED, "type": "triggered", "promoCode": EVENT_PROMOCODE},
        ],
    }


def customer_id(index: int) -> str:
    return f"C{index:08d}"


class Integrator(FastHttpUser):
    """An integrator in a hurry: every route of both flows, no pause between calls."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        assert options is not None
        self.customers = int(options.customers)
        self.batch = max(1, min(int(options.batch), 1000))
        self.key = {"X-API-KEY": options.api_key}
        self.admin = {"X-API-KEY": options.admin_key}
        self.rng = random.Random()
        self.valid: list[str] = []  # customers this user validated (holding a reservation)
        self.allocations: dict[str, str] = {}  # customer -> allocationId
        self.approved: list[str] = []  # allocations this user approved, not yet redeemed

    def _take(self, pool: list[str], n: int) -> list[str]:
        taken, pool[:] = pool[:n], pool[n:]
        return taken

    @task(3)
    def get_processed_campaign_customers(self) -> None:
        skip = self.rng.randrange(max(1, self.customers // PAGE)) * PAGE
        path = f"{FETCH_PATH}?CampaignID={SCHEDULED}&$top={PAGE}&$skip={skip}"
        self.client.get(path, headers=self.key, name="get_processed_campaign_customers")

    @task(6)
    def validate_customers(self) -> None:
        start = self.rng.randrange(max(1, self.customers - self.batch + 1))
        ids = [customer_id(i) for i in range(start, min(start + self.batch, self.customers))]
        body = {
            "campaignData": {"campaignId": SCHEDULED, "campaignType": "scheduled"},
            "contexts": [{"customerId": c} for c in ids],
        }
        with self.client.post(
            f"/v1/promocodes/{PROMOCODE}/validateCustomers",
            json=body,
            headers=self.key,
            name="validate_customers",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            for result in response.json()["contexts"]:
                if result["valid"]:
                    self.valid.append(result["customerId"])
                    self.allocations[result["customerId"]] = result["effects"][0]["allocationId"]

    @task(4)
    def update_customer_promotion_status(self) -> None:
        customers = self._take(self.valid, self.batch)
        for _ in range(2):  # once more without the customers a race took
            if not customers:
                return
            raced = self._update(customers, True, "update_customer_promotion_status")
            if raced is None:
                self.approved += [self.allocations.pop(c) for c in customers]
                return
            for customer in raced:
                self.allocations.pop(customer, None)
            customers = [c for c in customers if c not in raced]

    @task(1)
    def release(self) -> None:
        customers = self._take(self.valid, 1)
        if customers:
            self._update(customers, False, "update_customer_promotion_status [release]")
            self.allocations.pop(customers[0], None)

    def _update(self, customers: list[str], status: bool, name: str) -> set[str] | None:
        """Approve (or release) the customers; None when applied, else the customers a race
        took (the call is refused as a whole)."""
        body = {
            "TimeStamp": "",
            "CampaignID": SCHEDULED,
            "PromosUpdated": [{"CustomerID": c, "Status": status} for c in customers],
        }
        with self.client.post(
            APPROVE_PATH, json=body, headers=self.key, name=name, catch_response=True
        ) as response:
            if response.status_code == 200:
                return None
            error = response.json() if response.status_code == 409 else {}
            rejected = error.get("details", {}).get("rejected", []) if error else []
            reasons = {r["reason"] for r in rejected} or {error.get("error")}
            if response.status_code == 409 and reasons <= RACES:
                response.success()
                return {r["CustomerID"] for r in rejected} or set(customers)
            response.failure(f"HTTP {response.status_code} {sorted(map(str, reasons))}")
            return set(customers)

    @task(2)
    def get_promotion(self) -> None:
        self.client.get(f"/v1/promotions/{PROMOTION}", headers=self.key, name="get_promotion")

    @task(1)
    def report_redemptions(self) -> None:
        allocations = self._take(self.approved, 10)
        if not allocations:
            return
        body = {"redemptions": [{"allocationId": a} for a in allocations]}
        with self.client.post(
            f"/v1/promotions/{PROMOTION}/redemptions",
            json=body,
            headers=self.key,
            name="report_redemptions",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            reasons = {r["reason"] for r in response.json()["rejected"]}
            if not reasons <= REDEMPTION_RACES:
                response.failure(f"redemptions rejected: {sorted(reasons)}")

    @task(2)
    def triggered_event(self) -> None:
        """CE v2: an event for a random customer, validated and approved."""
        customer = customer_id(self.rng.randrange(self.customers))
        context = {"depositAmount": 5_000}
        emitted = self.client.post(
            f"/_sim/campaigns/{TRIGGERED}/events",
            json={"customers": [{"customerId": customer, "context": context}]},
            headers=self.admin,
            name="emit_events",
        )
        if emitted.status_code != 201:
            return
        event_id = emitted.json()["eventIds"][0]
        body = {
            "campaignData": {"campaignId": TRIGGERED, "campaignType": "triggered"},
            "contexts": [{"customerId": customer, "eventId": event_id, "session": context}],
        }
        validated = self.client.post(
            f"/v1/promocodes/{EVENT_PROMOCODE}/validateCustomers",
            json=body,
            headers=self.key,
            name="validate_customers [event]",
        )
        if validated.status_code != 200 or not validated.json()["contexts"][0]["valid"]:
            return
        approval = {
            "campaignId": TRIGGERED,
            "customerId": customer,
            "eventId": event_id,
            "approved": True,
        }
        self.client.post(
            "/conditional-execution/v2/triggered/approval",
            json=approval,
            headers=self.key,
            name="approve_triggered_event",
        )


class Invariants:
    """The coordinator: sets the tenant up, checks the ledger at the end."""

    def __init__(self, environment: Environment, ctrl: Control, setup: dict[str, Any]) -> None:
        self.env = environment
        self.ctrl = ctrl
        self.setup = setup

    @classmethod
    def start(cls, environment: Environment) -> Invariants:
        options = environment.parsed_options
        assert options is not None
        customers = int(options.customers)
        if customers < 100:
            raise SetupError("--customers must be at least 100")
        creator = common.control(environment)
        try:
            suffix = run_suffix()
            keys = creator.create_tenant(world(customers), f"optisim load api-capacity {suffix}")
        finally:
            creator.close()
        options.admin_key, options.api_key = keys["admin"], keys["integrations"]
        assert environment.host
        ctrl = Control(environment.host, keys["admin"])
        ctrl.execute(SCHEDULED)
        LOG.info("api capacity: a fresh tenant, %d customers", customers)
        return cls(environment, ctrl, {"scenario": "api-capacity", "customers": customers})

    def snapshot(self) -> tuple[dict[str, Any], ...]:
        """Usage and reports read twice until they agree (workers may still be finishing
        their last calls when the coordinator stops)."""
        previous: tuple[dict[str, Any], ...] = ()
        for _ in range(20):
            current = (
                self.ctrl.usage(PROMOTION),
                self.ctrl.report(SCHEDULED),
                self.ctrl.usage(EVENT_PROMOTION),
                self.ctrl.report(TRIGGERED),
            )
            if current == previous:
                return current
            previous = current
            gevent.sleep(0.5)
        raise SetupError("the ledger kept changing after the users stopped")

    def finish(self) -> dict[str, Any]:
        usage, report, event_usage, event_report = self.snapshot()
        checks = [
            (PROMOTION, c)
            for c in ledger_invariants(usage, int(report["approved"]), REWARD, per_customer_limit=1)
        ]
        checks += [
            (EVENT_PROMOTION, c)
            for c in ledger_invariants(
                event_usage, int(event_report["approved"]), EVENT_REWARD, 1_000_000
            )
        ]
        for promotion, check in checks:
            failures = [f"{promotion}: {check.detail}"] if not check.ok else []
            common.fire_audit(self.env, f"invariant: {check.name}", int(check.ok), failures)
        return {
            **self.setup,
            "invariants": [
                {"promotion": p, "name": c.name, "ok": c.ok, "detail": c.detail} for p, c in checks
            ],
            "scheduled": {
                key: report[key]
                for key in ("validated", "invalid", "approved", "released", "approvalsRefused")
            },
            "triggered": {
                key: event_report[key]
                for key in ("eventsEmitted", "validated", "invalid", "approved")
            },
            "usage": {PROMOTION: usage, EVENT_PROMOTION: event_usage},
        }


common.coordinate("api-capacity", Invariants.start, settle_s=1.0)
