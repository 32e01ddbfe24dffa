"""Many clients validating and approving against one tight budget at once, over real
sockets, on each store (the SQLite store with two server processes is covered in
tests/store/test_sqlite_processes.py): the ledger ends exact."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest

from simulator.app import create_app
from simulator.scenario import builtin_scenario
from simulator.settings import SimSettings
from tests.client.support import ThreadServer
from tests.conftest import open_store

BUDGET = 60 * 500
HEADERS = {"X-API-KEY": "demo-admin-key"}


def tight_app(store_kind: str, path: Path) -> object:
    scenario = builtin_scenario("demo")
    promotions = [
        p.model_copy(
            update={"budget": BUDGET, "audienceCap": 50, "tiers": p.tiers[-1:]}  # 500 each
        )
        if p.id == "PR-WELCOME"
        else p
        for p in scenario.promotions
    ]
    scenario = scenario.model_copy(update={"promotions": promotions})
    return create_app(
        SimSettings(webhooks=False), store=open_store(store_kind, path), scenario=scenario
    )


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_concurrent_clients_never_overspend_or_double_approve(
    store_kind: str, tmp_path: Path
) -> None:
    statuses: Counter[int] = Counter()
    approved_200: Counter[str] = Counter()
    lock = threading.Lock()

    with ThreadServer(tight_app(store_kind, tmp_path / "c.sqlite")) as server:
        httpx.post(f"{server.url}/_sim/campaigns/48213/execute", headers=HEADERS).raise_for_status()

        def worker(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as c:
                # 12 workers over 200 customers, overlapping: each customer is contended
                for start in range(0, 200, 10):
                    ids = [f"C{(start + n * 3 + k) % 200:07d}" for k in range(10)]
                    body = {
                        "campaignData": {"campaignId": 48213},
                        "contexts": [{"customerId": i} for i in ids],
                    }
                    r = c.post("/v1/promocodes/WELCOME50/validateCustomers", json=body)
                    valid = [x["customerId"] for x in r.json()["contexts"] if x["valid"]]
                    for customer in valid:
                        a = c.post(
                            "/current/integrations/UpdateCustomerPromotionStatus",
                            json={
                                "TimeStamp": "",
                                "CampaignID": 48213,
                                "PromosUpdated": [{"CustomerID": customer, "Status": True}],
                            },
                        )
                        with lock:
                            statuses[a.status_code] += 1
                            if a.status_code == 200:
                                approved_200[customer] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        usage = httpx.get(f"{server.url}/v1/promotions/PR-WELCOME", headers=HEADERS).json()["usage"]
        report = httpx.get(f"{server.url}/_sim/campaigns/48213/report", headers=HEADERS).json()

    assert set(statuses) <= {200, 409}, statuses
    assert max(approved_200.values()) == 1  # nobody approved twice
    approved = len(approved_200)
    assert approved == 50  # the audience cap (50 x 500 fits the budget of 60 x 500)
    assert usage["budgetCommitted"] == approved * 500
    assert usage["budgetReserved"] == 0
    assert usage["budgetCommitted"] + usage["budgetReserved"] <= BUDGET
    assert usage["audienceCommitted"] == approved <= usage["audienceCap"]
    assert report["approved"] == approved
    assert report["approvalsRefused"].get("duplicate_approval", 0) == statuses[409]


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_concurrent_approvals_without_a_ledger_approve_each_customer_once(
    store_kind: str, tmp_path: Path
) -> None:
    """Campaign 48215's code has no Promotions promotion (wire-contract §2.1, rev 2): its
    approvals reserve nothing, but a customer is still approved once, however many clients
    race to approve them, and the campaign is sent to exactly those at clearance."""
    statuses: Counter[int] = Counter()
    approved_200: Counter[str] = Counter()
    lock = threading.Lock()
    pool = [f"C{50_000 + i:07d}" for i in range(60)]  # 48215 targets 50,000..50,499

    with ThreadServer(tight_app(store_kind, tmp_path / "p.sqlite")) as server:
        httpx.post(f"{server.url}/_sim/campaigns/48215/execute", headers=HEADERS).raise_for_status()

        def worker(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=HEADERS, timeout=30) as c:
                for k in range(len(pool)):
                    customer = pool[(n * 5 + k) % len(pool)]
                    a = c.post(
                        "/current/integrations/UpdateCustomerPromotionStatus",
                        json={
                            "TimeStamp": "",
                            "CampaignID": 48215,
                            "PromosUpdated": [{"CustomerID": customer, "Status": True}],
                        },
                    )
                    with lock:
                        statuses[a.status_code] += 1
                        if a.status_code == 200:
                            approved_200[customer] += 1

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)
        cleared = httpx.post(f"{server.url}/_sim/campaigns/48215/clear", headers=HEADERS)
        cleared.raise_for_status()
        report = httpx.get(f"{server.url}/_sim/campaigns/48215/report", headers=HEADERS).json()

    assert set(statuses) <= {200, 409}, statuses
    assert sorted(approved_200) == pool and set(approved_200.values()) == {1}
    assert statuses[409] == 8 * len(pool) - len(pool)
    assert report["approved"] == report["sent"] == len(pool)
    assert report["approvalsRefused"] == {"duplicate_approval": statuses[409]}
