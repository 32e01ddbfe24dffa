"""The SQLite store under real server processes: state survives a SIGKILL and a restart,
and two processes sharing one file never overspend a budget or commit anything twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import ADMIN, SCHEDULED, TRIGGERED

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def client(self, key: str = ADMIN) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"X-API-KEY": key}, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def start_servers(tmp_path: Path) -> Iterator[Callable[[Path, int], list[Server]]]:
    """Start `count` processes of `uvicorn simulator.cli:app_from_env`, each on a free port
    over the SQLite file `db`, and wait until all answer; every server started is killed
    at teardown, whatever the test did."""
    started: list[Server] = []

    def launch(db: Path) -> Server:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
        env.update(
            SIM_STORE="sqlite",
            SIM_SQLITE_PATH=str(db),
            SIM_SCENARIO="demo",
            SIM_CLOCK="manual",
            PYTHONPATH=str(REPO),
        )
        log = tmp_path / f"server-{len(started)}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "simulator.cli:app_from_env",
                    "--factory",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        started.append(server)
        return server

    def ready(server: Server) -> bool:
        try:
            health = httpx.get(f"{server.base}/_sim/health", timeout=1)
        except httpx.TransportError:
            return False
        # Not ours if another program took the port between free_port() and the bind.
        return health.status_code == 200 and health.json().get("store") == "SqliteStore"

    def start(db: Path, count: int = 1) -> list[Server]:
        servers = [launch(db) for _ in range(count)]  # started together: they race on the file
        for _ in range(200):
            for i, server in enumerate(servers):
                if server.process.poll() is None:
                    continue
                if "address already in use" in server.output() and len(started) < 10:
                    servers[i] = launch(db)  # lost the port to someone else: try another
                else:
                    code = server.process.returncode
                    pytest.fail(f"server exited with {code}:\n{server.output()}")
            if all(ready(server) for server in servers):
                return servers
            time.sleep(0.1)
        pytest.fail(f"no answer on /_sim/health within 20 s:\n{servers[0].output()}")

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
        server.process.wait(timeout=10)


def kill(server: Server) -> None:
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=10)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


# -- restart -----------------------------------------------------------------------------------
def customers(start: int, stop: int) -> list[str]:
    return [f"C{i:07d}" for i in range(start, stop)]


def validate(c: httpx.Client, ids: list[str], campaign_id: int = SCHEDULED) -> dict[str, Any]:
    body = {
        "campaignData": {"campaignId": campaign_id},
        "contexts": [{"customerId": i} for i in ids],
    }
    return dict(ok(c.post("/v1/promocodes/WELCOME50/validateCustomers", json=body)))


def approve(
    c: httpx.Client, items: dict[str, bool], campaign_id: int = SCHEDULED
) -> httpx.Response:
    return c.post(
        "/current/integrations/UpdateCustomerPromotionStatus",
        json={
            "TimeStamp": "2026-11-27 10:00:00",
            "CampaignID": campaign_id,
            "PromosUpdated": [{"CustomerID": k, "Status": v} for k, v in items.items()],
        },
    )


def approve_event(c: httpx.Client, customer_id: str, event_id: str) -> httpx.Response:
    return c.post(
        "/conditional-execution/v2/triggered/approval",
        json={
            "campaignId": TRIGGERED,
            "customerId": customer_id,
            "eventId": event_id,
            "approved": True,
        },
    )


def snapshot(c: httpx.Client) -> dict[str, Any]:
    """Everything a restart must keep, as the wire shows it."""
    return {
        "welcome": ok(c.get("/v1/promotions/PR-WELCOME")),
        "deposit": ok(c.get("/v1/promotions/PR-DEPOSIT")),
        "promotions": ok(c.get("/v1/promotions")),
        "report": ok(c.get(f"/_sim/campaigns/{SCHEDULED}/report")),
        "triggered_report": ok(c.get(f"/_sim/campaigns/{TRIGGERED}/report")),
        "campaigns": ok(c.get("/_sim/campaigns")),
        "outbox": ok(c.get("/_sim/outbox", params={"limit": 10_000})),
        "tenant": ok(c.get("/_sim/tenant")),
    }


def processed_page(c: httpx.Client) -> Any:
    """The first page of the processed list (counted in the report as a fetch)."""
    return ok(
        c.get(
            "/current/customers/GetProcessedCampaignCustomers",
            params={"CampaignID": SCHEDULED, "$top": 20},
        )
    )


def test_state_survives_sigkill_and_restart(
    start_servers: Callable[[Path, int], list[Server]], tmp_path: Path
) -> None:
    db = tmp_path / "sim.sqlite"
    [first] = start_servers(db, 1)
    with first.client() as c:
        ok(c.post(f"/_sim/campaigns/{SCHEDULED}/execute"))
        result = validate(c, customers(0, 10))
        allocations = {
            x["customerId"]: x["effects"][0]["allocationId"]
            for x in result["contexts"]
            if x["valid"]
        }
        assert len(allocations) >= 6
        approved = dict.fromkeys(customers(0, 5), True) | {"C0000005": False}
        ok(approve(c, approved))
        redeemed = ok(
            c.post(
                "/v1/promotions/PR-WELCOME/redemptions",
                json={"redemptions": [{"allocationId": allocations["C0000000"]}]},
            )
        )
        assert redeemed["accepted"] == 1
        ok(c.post(f"/_sim/campaigns/{TRIGGERED}/events", json={"count": 3}), 201)
        events = ok(c.get("/_sim/outbox", params={"kind": "triggered"}))["events"]
        assert len(events) == 3
        event = events[0]["body"]
        customer, event_id = event["user"]["user_id"], event["eventId"]
        session = {**event["context"], "depositAmount": 5000}
        deposit = ok(
            c.post(
                "/v1/promocodes/DEPOSIT10/validateCustomers",
                json={
                    "campaignData": {"campaignId": TRIGGERED},
                    "contexts": [{"customerId": customer, "eventId": event_id, "session": session}],
                },
            )
        )
        assert deposit["contexts"][0]["valid"], deposit
        ok(approve_event(c, customer, event_id))
        page = processed_page(c)
        before = snapshot(c)
    assert before["welcome"]["usage"]["budgetCommitted"] > 0
    assert before["report"]["approved"] == 5
    assert len(before["outbox"]["events"]) == 4

    kill(first)
    [second] = start_servers(db, 1)
    with second.client() as c:
        assert snapshot(c) == before
        assert processed_page(c) == page
        duplicate = approve(c, {"C0000000": True})
        assert duplicate.status_code == 409, duplicate.text
        assert approve_event(c, customer, event_id).status_code == 409
        again = validate(c, ["C0000001", "C0000010"])["contexts"]
        assert again[0]["effects"][0]["allocationId"] == allocations["C0000001"]
        assert again[1]["valid"]
        assert snapshot(c)["report"]["approved"] == 5
        ok(c.post("/_sim/clock/advance", json={"seconds": 1801}))
        assert ok(c.get(f"/_sim/campaigns/{SCHEDULED}"))["status"] == "cleared"
        assert ok(c.get(f"/_sim/campaigns/{SCHEDULED}/report"))["sent"] == 5
        seqs = [e["seq"] for e in ok(c.get("/_sim/outbox"))["events"]]
        assert seqs == list(range(1, len(seqs) + 1))


# -- two processes, one file -------------------------------------------------------------------
REWARD = 500
BUDGET = 50 * REWARD
AUDIENCE_CAP = 40
CAMPAIGN = 1


def tight_scenario() -> dict[str, Any]:
    return {
        "tenant": {"id": "tight", "name": "Tight budget"},
        "clock": {"mode": "manual", "start": "2026-11-27T09:00:00Z"},
        "population": {"size": 1000, "selfExcludedPerMille": 0},
        "promotions": [
            {
                "id": "PR-TIGHT",
                "name": "Tight",
                "promocodes": ["TIGHT"],
                "rewardKind": "amount",
                "currency": "EUR",
                "budget": BUDGET,
                "audienceCap": AUDIENCE_CAP,
                "perCustomerLimit": 1,
                "status": "active",
                "tiers": [
                    {
                        "id": "T-FLAT",
                        "name": "Flat",
                        "reward": {"type": "amount", "amount": REWARD, "currency": "EUR"},
                    }
                ],
            }
        ],
        "campaigns": [
            {
                "id": CAMPAIGN,
                "type": "scheduled",
                "promoCode": "TIGHT",
                "targetGroup": {"size": 1000},
                "clearanceWindowMinutes": 600,
            }
        ],
    }


def test_two_processes_share_one_file_without_overspending(
    start_servers: Callable[[Path, int], list[Server]], tmp_path: Path
) -> None:
    db = tmp_path / "shared.sqlite"
    servers = start_servers(db, 2)
    with servers[0].client() as c:
        created = ok(c.post("/_sim/tenants", json={"scenario": tight_scenario()}), 201)
    key = created["keys"]["admin"]
    with servers[1].client(key) as c:  # the other process sees the new tenant at once
        ok(c.post(f"/_sim/campaigns/{CAMPAIGN}/execute"))

    lock = threading.Lock()
    statuses: list[int] = []
    allocation_of: dict[str, set[str]] = {}  # customer → allocation ids seen
    approvals_ok: list[str] = []
    errors: list[BaseException] = []
    pool = customers(0, 120)

    def worker(server: Server, n: int) -> None:
        # Overlapping windows of the pool, so threads race on the same customers.
        mine = pool[(n * 7) % len(pool) :] + pool[: (n * 7) % len(pool)]
        try:
            with server.client(key) as c:
                for start in range(0, 40, 4):
                    batch = mine[start : start + 4]
                    body = {
                        "campaignData": {"campaignId": CAMPAIGN},
                        "contexts": [{"customerId": i} for i in batch],
                    }
                    r = c.post("/v1/promocodes/TIGHT/validateCustomers", json=body)
                    got = r.json() if r.status_code == 200 else {"contexts": []}
                    with lock:
                        statuses.append(r.status_code)
                        for x in got["contexts"]:
                            if x["valid"]:
                                ids = allocation_of.setdefault(x["customerId"], set())
                                ids.add(x["effects"][0]["allocationId"])
                    # Approve this batch's valid customers one by one, and one of another
                    # thread's customers: each is 200 once, 409 for every repeat.
                    targets = [x["customerId"] for x in got["contexts"] if x["valid"]]
                    for customer in [*targets, mine[(start + 30) % len(mine)]]:
                        a = approve(c, {customer: True}, CAMPAIGN)
                        with lock:
                            statuses.append(a.status_code)
                            if a.status_code == 200:
                                approvals_ok.append(customer)
        except BaseException as error:  # reported by the main thread
            with lock:
                errors.append(error)

    threads = [
        threading.Thread(target=worker, args=(server, n)) for n in range(8) for server in servers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    logs = "\n".join(server.output() for server in servers)
    assert errors == [], logs
    assert set(statuses) <= {200, 409}, (sorted(set(statuses)), logs)

    with servers[1].client(key) as c:
        usage = ok(c.get("/v1/promotions/PR-TIGHT"))["usage"]
        report = ok(c.get(f"/_sim/campaigns/{CAMPAIGN}/report"))
    allowed = min(BUDGET // REWARD, AUDIENCE_CAP)
    # One allocation per customer, however many threads and processes validated them.
    assert all(len(ids) == 1 for ids in allocation_of.values())
    assert len(allocation_of) == allowed
    assert usage["budgetReserved"] + usage["budgetCommitted"] == allowed * REWARD <= BUDGET
    assert usage["audienceReserved"] + usage["audienceCommitted"] == allowed <= AUDIENCE_CAP
    # No double commit: every approved customer was approved exactly once.
    assert len(approvals_ok) == len(set(approvals_ok))
    assert set(approvals_ok) <= set(allocation_of)
    assert usage["budgetCommitted"] == len(approvals_ok) * REWARD
    assert usage["audienceCommitted"] == len(approvals_ok)
    assert report["approved"] == len(approvals_ok)
    for server in servers:
        assert server.process.poll() is None, server.output()
        assert "sqlite" not in server.output().lower(), server.output()


def test_two_processes_approve_each_customer_once_without_a_ledger(
    start_servers: Callable[[Path, int], list[Server]], tmp_path: Path
) -> None:
    """The demo's campaign 48215 has no Promotions promotion behind its code (approval
    records, wire-contract §2.1 rev 2): two processes racing on the same customers still
    approve each exactly once."""
    plain = 48215
    servers = start_servers(tmp_path / "plain.sqlite", 2)
    with servers[0].client() as c:
        ok(c.post(f"/_sim/campaigns/{plain}/execute"))
    pool = customers(50_000, 50_040)  # 48215 targets 50,000..50,499
    lock = threading.Lock()
    statuses: list[int] = []
    approvals_ok: list[str] = []
    errors: list[BaseException] = []

    def worker(server: Server, n: int) -> None:
        try:
            with server.client() as c:
                for k in range(len(pool)):
                    customer = pool[(n * 3 + k) % len(pool)]
                    a = approve(c, {customer: True}, plain)
                    with lock:
                        statuses.append(a.status_code)
                        if a.status_code == 200:
                            approvals_ok.append(customer)
        except BaseException as error:  # reported by the main thread
            with lock:
                errors.append(error)

    threads = [
        threading.Thread(target=worker, args=(server, n)) for n in range(4) for server in servers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    logs = "\n".join(server.output() for server in servers)
    assert errors == [], logs
    assert set(statuses) <= {200, 409}, (sorted(set(statuses)), logs)
    assert sorted(approvals_ok) == pool  # each exactly once
    with servers[1].client() as c:
        report = ok(c.get(f"/_sim/campaigns/{plain}/report"))
    assert report["approved"] == len(pool)
    assert report["approvalsRefused"] == {"duplicate_approval": len(statuses) - len(pool)}
