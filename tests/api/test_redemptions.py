"""Redemption reports (wire-contract §4 Redemptions, §8), on every store."""

from __future__ import annotations

from typing import Any

from tests.api.support import allocation_of, cid, emit_for, envelope, validate
from tests.helpers import SCHEDULED, SPINS, TRIGGERED, Sim


def approved_allocations(sim: Sim, *indices: int) -> list[tuple[str, int]]:
    """Validate and approve demo customers; their (allocationId, reward amount)."""
    sim.execute()
    results = validate(sim, [cid(i) for i in indices], SCHEDULED, "WELCOME50")
    assert sim.update_customer_promotion_status({cid(i): True for i in indices}).status_code == 200
    return [(allocation_of(r), r["effects"][0]["reward"]["amount"]) for r in results]


def redeem(
    sim: Sim, items: list[dict[str, Any]], promotion_id: str = "PR-WELCOME"
) -> dict[str, Any]:
    response = sim.report_redemptions(promotion_id, items)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_redeeming_an_approved_allocation_is_accepted_and_counted(sim: Sim) -> None:
    [(allocation, amount)] = approved_allocations(sim, 1)
    assert redeem(sim, [{"allocationId": allocation}]) == {"accepted": 1, "rejected": []}
    usage = sim.usage()
    assert usage["redemptions"] == 1
    assert usage["redeemedAmount"] == amount
    assert sim.report()["redeemed"] == 1


def test_redemption_amount_defaults_to_the_reward_amount(sim: Sim) -> None:
    allocations = approved_allocations(sim, 1, 2)
    redeem(sim, [{"allocationId": a} for a, _ in allocations])
    usage = sim.usage()
    assert usage["redemptions"] == 2
    assert usage["redeemedAmount"] == sum(amount for _, amount in allocations)


def test_explicit_redemption_amount_is_counted_as_given(sim: Sim) -> None:
    [(first, _), (second, _)] = approved_allocations(sim, 1, 2)
    body = redeem(
        sim,
        [
            {"allocationId": first, "amount": 123, "redeemedAt": "2026-11-27T10:00:00Z"},
            {"allocationId": second, "amount": 0},
        ],
    )
    assert body == {"accepted": 2, "rejected": []}
    usage = sim.usage()
    assert (usage["redemptions"], usage["redeemedAmount"]) == (2, 123)


def test_unknown_allocation_is_rejected_per_item(sim: Sim) -> None:
    [(allocation, amount)] = approved_allocations(sim, 1)
    body = redeem(sim, [{"allocationId": "AL_nope"}, {"allocationId": allocation}])
    assert body == {
        "accepted": 1,
        "rejected": [{"index": 0, "allocationId": "AL_nope", "reason": "unknown_allocation"}],
    }
    assert sim.usage()["redeemedAmount"] == amount


def test_reserved_but_unapproved_allocation_is_not_approved(sim: Sim) -> None:
    sim.execute()
    allocation = allocation_of(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0])
    before = sim.usage()
    body = redeem(sim, [{"allocationId": allocation}])
    assert body == {
        "accepted": 0,
        "rejected": [{"index": 0, "allocationId": allocation, "reason": "not_approved"}],
    }
    assert sim.usage() == before
    assert sim.report()["violations"].get("redeemed_not_approved") == 1


def test_released_allocation_is_not_approved(sim: Sim) -> None:
    sim.execute()
    allocation = allocation_of(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0])
    sim.update_customer_promotion_status({cid(1): False})
    body = redeem(sim, [{"allocationId": allocation}])
    assert body["rejected"] == [{"index": 0, "allocationId": allocation, "reason": "not_approved"}]


def test_redeeming_twice_is_duplicate_redemption(sim: Sim) -> None:
    [(allocation, amount)] = approved_allocations(sim, 1)
    redeem(sim, [{"allocationId": allocation}])
    before = sim.usage()
    body = redeem(sim, [{"allocationId": allocation, "amount": 999}])
    assert body == {
        "accepted": 0,
        "rejected": [{"index": 0, "allocationId": allocation, "reason": "duplicate_redemption"}],
    }
    assert sim.usage() == before
    assert before["redeemedAmount"] == amount


def test_repeat_within_one_batch_is_duplicate_redemption(sim: Sim) -> None:
    [(allocation, amount)] = approved_allocations(sim, 1)
    body = redeem(sim, [{"allocationId": allocation}, {"allocationId": allocation}])
    assert body == {
        "accepted": 1,
        "rejected": [{"index": 1, "allocationId": allocation, "reason": "duplicate_redemption"}],
    }
    usage = sim.usage()
    assert (usage["redemptions"], usage["redeemedAmount"]) == (1, amount)


def test_allocation_of_another_promotion_is_wrong_promotion(sim: Sim) -> None:
    [(allocation, _)] = approved_allocations(sim, 1)
    sim.execute(SPINS)
    before = sim.usage("PR-SPINS")
    body = redeem(sim, [{"allocationId": allocation}], "PR-SPINS")
    assert body == {
        "accepted": 0,
        "rejected": [{"index": 0, "allocationId": allocation, "reason": "wrong_promotion"}],
    }
    assert sim.usage("PR-SPINS") == before
    assert sim.usage()["redemptions"] == 0


def test_items_are_independent_and_indices_are_zero_based(sim: Sim) -> None:
    [(first, a1), (second, a2)] = approved_allocations(sim, 1, 2)
    sim.execute(SPINS)
    body = redeem(
        sim,
        [
            {"allocationId": first},
            {"allocationId": "AL_unknown"},
            {"allocationId": first},
            {"allocationId": second, "amount": 7},
        ],
    )
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "allocationId": "AL_unknown", "reason": "unknown_allocation"},
        {"index": 2, "allocationId": first, "reason": "duplicate_redemption"},
    ]
    usage = sim.usage()
    assert (usage["redemptions"], usage["redeemedAmount"]) == (2, a1 + 7)
    assert a2 > 0


def test_negative_amount_is_400_and_nothing_is_recorded(sim: Sim) -> None:
    [(allocation, _)] = approved_allocations(sim, 1)
    before = sim.usage()
    response = sim.report_redemptions(
        "PR-WELCOME", [{"allocationId": allocation}, {"allocationId": allocation, "amount": -1}]
    )
    envelope(response, 400, "invalid_request", "redemptions[1].amount")
    assert sim.usage() == before


def test_schema_failure_of_one_item_refuses_the_whole_call(sim: Sim) -> None:
    [(allocation, _)] = approved_allocations(sim, 1)
    before = sim.usage()
    response = sim.report_redemptions(
        "PR-WELCOME", [{"allocationId": allocation}, {"allocationId": 42}]
    )
    envelope(response, 400, "invalid_request", "redemptions[1].allocationId")
    assert sim.usage() == before


def test_redemptions_on_an_unknown_promotion_is_404(sim: Sim) -> None:
    [(allocation, _)] = approved_allocations(sim, 1)
    before = sim.usage()
    response = sim.report_redemptions("PR-NOPE", [{"allocationId": allocation}])
    envelope(response, 404, "unknown_promotion", "PR-NOPE")
    assert sim.usage() == before


def test_empty_redemption_list_is_400(sim: Sim) -> None:
    envelope(sim.report_redemptions("PR-WELCOME", []), 400, "invalid_request", "redemptions")


def test_more_than_10000_redemptions_is_400(sim: Sim) -> None:
    items = [{"allocationId": f"AL_{i}"} for i in range(10_001)]
    envelope(sim.report_redemptions("PR-WELCOME", items), 400, "invalid_request", "redemptions")


def test_triggered_allocation_can_be_redeemed_after_ce_approval(sim: Sim) -> None:
    event = emit_for(sim, TRIGGERED, cid(5), {"depositAmount": 30_000})
    ctx = {"customerId": cid(5), "eventId": event, "session": {"depositAmount": 30_000}}
    allocation = allocation_of(validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0])
    assert redeem(sim, [{"allocationId": allocation}], "PR-DEPOSIT")["rejected"][0]["reason"] == (
        "not_approved"
    )
    assert sim.approve_triggered_event(cid(5), event).status_code == 200
    assert redeem(sim, [{"allocationId": allocation}], "PR-DEPOSIT") == {
        "accepted": 1,
        "rejected": [],
    }
    usage = sim.usage("PR-DEPOSIT")
    assert (usage["redemptions"], usage["redeemedAmount"]) == (1, 3_000)
