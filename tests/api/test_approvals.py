"""Approvals: the core batch UpdateCustomerPromotionStatus (wire-contract §2.1, §8) and the
CE v2 per-event approval (§3, §8), on every store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.settings import SimSettings
from tests.api.support import (
    PROMO,
    active_promotion,
    allocation_of,
    cid,
    core_error,
    emit_for,
    envelope,
    ledger,
    scheduled_campaign,
    validate,
)
from tests.helpers import SCHEDULED, TRIGGERED, Sim

UPDATE = "/current/integrations/UpdateCustomerPromotionStatus"


def executed_and_validated(sim: Sim, *indices: int) -> list[dict[str, Any]]:
    """Execute the demo campaign and validate customers `indices`; their results."""
    assert sim.execute().status_code == 200
    if not indices:
        return []
    return validate(sim, [cid(i) for i in indices], SCHEDULED, "WELCOME50")


def rejected(body: dict[str, Any]) -> list[dict[str, str]]:
    return list(body["details"]["rejected"])


# -- Status true / false ---------------------------------------------------------------------
def test_status_true_moves_budget_and_audience_from_reserved_to_committed(sim: Sim) -> None:
    results = executed_and_validated(sim, 1, 2)
    amounts = [r["effects"][0]["reward"]["amount"] for r in results]
    response = sim.update_customer_promotion_status({cid(1): True})
    assert response.status_code == 200
    assert response.content == b""
    usage = sim.usage()
    assert usage["budgetCommitted"] == amounts[0]
    assert usage["budgetReserved"] == amounts[1]
    assert usage["audienceCommitted"] == 1
    assert usage["audienceReserved"] == 1
    assert sim.report()["approved"] == 1


def test_status_false_releases_the_reservation(sim: Sim) -> None:
    results = executed_and_validated(sim, 1)
    amount = results[0]["effects"][0]["reward"]["amount"]
    assert sim.update_customer_promotion_status({cid(1): False}).status_code == 200
    usage = sim.usage()
    assert usage["budgetReserved"] == 0
    assert usage["budgetReleased"] == amount
    assert usage["audienceReserved"] == 0
    assert usage["budgetCommitted"] == 0
    assert sim.report()["released"] == 1


def test_status_false_without_a_reservation_is_a_no_op(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    assert sim.update_customer_promotion_status({cid(2): False}).status_code == 200
    assert ledger(sim) == before


def test_released_customer_can_be_validated_and_approved_again(sim: Sim) -> None:
    first = allocation_of(executed_and_validated(sim, 1)[0])
    sim.update_customer_promotion_status({cid(1): False})
    second = allocation_of(validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0])
    assert second != first
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    assert sim.usage()["audienceCommitted"] == 1


def test_mixed_true_and_false_batch_applies_every_item(sim: Sim) -> None:
    executed_and_validated(sim, 1, 2, 3)
    response = sim.update_customer_promotion_status({cid(1): True, cid(2): False, cid(3): True})
    assert response.status_code == 200
    usage = sim.usage()
    assert usage["audienceCommitted"] == 2
    assert usage["audienceReserved"] == 0
    assert usage["budgetReserved"] == 0
    report = sim.report()
    assert (report["approved"], report["released"]) == (2, 1)


def test_empty_batch_is_accepted_and_changes_nothing(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    assert sim.update_customer_promotion_status({}).status_code == 200
    assert ledger(sim) == before


# -- atomicity and reasons -----------------------------------------------------------------------
def test_one_bad_item_refuses_the_whole_batch_and_applies_nothing(sim: Sim) -> None:
    executed_and_validated(sim, 1, 2)
    before = ledger(sim)
    response = sim.update_customer_promotion_status({cid(1): True, cid(3): True, cid(2): False})
    body = envelope(response, 409, "not_validated")
    assert rejected(body) == [{"CustomerID": cid(3), "reason": "not_validated"}]
    assert ledger(sim) == before


def test_approving_twice_is_rejected_and_budget_unchanged(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    before = ledger(sim)
    body = envelope(sim.update_customer_promotion_status({cid(1): True}), 409, "duplicate_approval")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "duplicate_approval"}]
    assert ledger(sim) == before
    report = sim.report()
    assert report["duplicatesRefused"] == 1
    assert report["violations"].get("duplicate_approval") == 1


def test_customer_twice_in_one_batch_is_a_duplicate_listed_once(sim: Sim) -> None:
    executed_and_validated(sim, 1, 2)
    before = ledger(sim)
    response = sim.update_customer_promotion_status(
        [(cid(1), True), (cid(2), True), (cid(1), True)]
    )
    body = envelope(response, 409, "duplicate_approval")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "duplicate_approval"}]
    assert ledger(sim) == before


def test_customer_true_then_false_in_one_batch_is_a_duplicate(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    response = sim.update_customer_promotion_status([(cid(1), True), (cid(1), False)])
    body = envelope(response, 409, "duplicate_approval")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "duplicate_approval"}]
    assert ledger(sim) == before


def test_approving_a_customer_never_validated_is_not_validated(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    body = envelope(sim.update_customer_promotion_status({cid(2): True}), 409, "not_validated")
    assert rejected(body) == [{"CustomerID": cid(2), "reason": "not_validated"}]
    assert ledger(sim) == before
    assert sim.report()["violations"].get("approved_without_validation") == 1


def test_approving_a_released_customer_is_not_validated(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    sim.update_customer_promotion_status({cid(1): False})
    body = envelope(sim.update_customer_promotion_status({cid(1): True}), 409, "not_validated")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "not_validated"}]


def test_approving_a_customer_outside_the_processed_list_is_not_targeted(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    response = sim.update_customer_promotion_status({cid(10_000): True, "nobody": False})
    body = envelope(response, 409, "not_targeted")
    assert rejected(body) == [
        {"CustomerID": cid(10_000), "reason": "not_targeted"},
        {"CustomerID": "nobody", "reason": "not_targeted"},
    ]
    assert ledger(sim) == before


def test_releasing_an_approved_customer_is_already_approved(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    sim.update_customer_promotion_status({cid(1): True})
    before = ledger(sim)
    body = envelope(sim.update_customer_promotion_status({cid(1): False}), 409, "already_approved")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "already_approved"}]
    assert ledger(sim) == before


def test_not_targeted_takes_precedence_over_not_validated_and_duplicates(sim: Sim) -> None:
    executed_and_validated(sim)
    outsider = cid(20_000)
    response = sim.update_customer_promotion_status([(outsider, True), (outsider, True)])
    body = envelope(response, 409, "not_targeted")
    assert rejected(body) == [{"CustomerID": outsider, "reason": "not_targeted"}]


def test_not_validated_takes_precedence_over_a_repeat_in_the_batch(sim: Sim) -> None:
    executed_and_validated(sim)
    response = sim.update_customer_promotion_status([(cid(1), True), (cid(1), True)])
    body = envelope(response, 409, "not_validated")
    assert rejected(body) == [{"CustomerID": cid(1), "reason": "not_validated"}]


def test_mixed_reasons_give_approval_rejected_with_each_item_listed(sim: Sim) -> None:
    executed_and_validated(sim, 1, 3)
    sim.update_customer_promotion_status({cid(1): True})
    before = ledger(sim)
    response = sim.update_customer_promotion_status(
        [(cid(1), True), (cid(2), True), (cid(50_000), True), (cid(3), True)]
    )
    body = envelope(response, 409, "approval_rejected")
    assert sorted(rejected(body), key=lambda r: r["CustomerID"]) == [
        {"CustomerID": cid(1), "reason": "duplicate_approval"},
        {"CustomerID": cid(2), "reason": "not_validated"},
        {"CustomerID": cid(50_000), "reason": "not_targeted"},
    ]
    assert ledger(sim) == before


def test_refused_batch_counts_each_reason_in_the_report(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    sim.update_customer_promotion_status({cid(1): True})
    sim.update_customer_promotion_status([(cid(1), True), (cid(2), True)])
    refused = sim.report()["approvalsRefused"]
    assert refused == {"duplicate_approval": 1, "not_validated": 1}


# -- whole-call refusals --------------------------------------------------------------------------
def test_approval_after_clearance_required_by_is_clearance_closed(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    sim.advance(30 * 60 + 1)
    before = ledger(sim)
    response = sim.update_customer_promotion_status({cid(1): True})
    envelope(response, 409, "clearance_closed", str(SCHEDULED))
    assert ledger(sim) == before
    assert sim.report()["violations"].get("approved_after_clearance") == 1


def test_approval_after_a_manual_clear_is_clearance_closed(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    assert sim.clear().status_code == 200
    envelope(sim.update_customer_promotion_status({cid(1): True}), 409, "clearance_closed")


def test_approval_on_a_cancelled_campaign_is_campaign_cancelled(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    assert sim.cancel().status_code == 200
    before = ledger(sim)
    response = sim.update_customer_promotion_status({cid(1): True})
    envelope(response, 409, "campaign_cancelled", str(SCHEDULED))
    assert ledger(sim) == before


def test_more_than_10000_items_is_400_with_a_string_body(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    items = [(cid(i), True) for i in range(10_001)]
    core_error(sim.update_customer_promotion_status(items), 400, "PromosUpdated")
    assert ledger(sim) == before


def test_exactly_10000_items_is_not_refused_for_size(sim: Sim) -> None:
    sim.execute()
    for start in range(0, 2000, 1000):
        validate(sim, [cid(i) for i in range(start, start + 1000)], SCHEDULED, "WELCOME50")
    # 2,000 validated customers approved or released, 8,000 more released without a
    # reservation (a no-op)
    items = [(cid(i), i < 2000 and i % 2 == 0) for i in range(10_000)]
    assert sim.update_customer_promotion_status(items).status_code == 200
    usage = sim.usage()
    assert usage["audienceCommitted"] == 1000
    assert usage["audienceReserved"] == 0
    assert usage["budgetReserved"] == 0


def test_unknown_campaign_is_404_with_a_string_body(sim: Sim) -> None:
    executed_and_validated(sim, 1)
    before = ledger(sim)
    core_error(sim.update_customer_promotion_status({cid(1): True}, 424_242), 404, "424242")
    assert ledger(sim) == before


# -- SIM_DUPLICATE_APPROVALS=ignore ----------------------------------------------------------------
def test_ignore_mode_makes_a_repeat_approval_a_no_op(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(settings=SimSettings(duplicate_approvals="ignore"))
    executed_and_validated(sim, 1, 2)
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    before = ledger(sim)
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    assert ledger(sim) == before


def test_ignore_mode_applies_a_customer_twice_in_a_batch_once(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(settings=SimSettings(duplicate_approvals="ignore"))
    results = executed_and_validated(sim, 1, 2)
    amount = results[0]["effects"][0]["reward"]["amount"]
    response = sim.update_customer_promotion_status(
        [(cid(1), True), (cid(1), True), (cid(2), True)]
    )
    assert response.status_code == 200
    usage = sim.usage()
    assert usage["audienceCommitted"] == 2
    assert usage["budgetCommitted"] == amount + results[1]["effects"][0]["reward"]["amount"]


def test_ignore_mode_still_refuses_other_reasons(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(settings=SimSettings(duplicate_approvals="ignore"))
    executed_and_validated(sim, 1)
    sim.update_customer_promotion_status({cid(1): True})
    before = ledger(sim)
    response = sim.update_customer_promotion_status({cid(1): True, cid(2): True})
    body = envelope(response, 409, "not_validated")
    assert rejected(body) == [{"CustomerID": cid(2), "reason": "not_validated"}]
    assert ledger(sim) == before


# -- CE v2 per-event approval ----------------------------------------------------------------------
def triggered_reservation(sim: Sim, index: int = 5, deposit: int = 5000) -> tuple[str, str]:
    """An emitted and validated event of the demo triggered campaign: (customer, eventId)."""
    customer = cid(index)
    event = emit_for(sim, TRIGGERED, customer, {"depositAmount": deposit})
    ctx = {"customerId": customer, "eventId": event, "session": {"depositAmount": deposit}}
    assert validate(sim, [ctx], TRIGGERED, "DEPOSIT10")[0]["valid"] is True
    return customer, event


def test_ce_approval_true_commits_the_event_reservation(sim: Sim) -> None:
    customer, event = triggered_reservation(sim)
    response = sim.approve_triggered_event(customer, event)
    assert response.status_code == 200
    assert response.json() == {
        "campaignId": TRIGGERED,
        "customerId": customer,
        "eventId": event,
        "status": "approved",
    }
    usage = sim.usage("PR-DEPOSIT")
    assert (usage["budgetReserved"], usage["budgetCommitted"]) == (0, 500)
    assert (usage["audienceReserved"], usage["audienceCommitted"]) == (0, 1)


def test_ce_approval_false_declines_and_releases_the_reservation(sim: Sim) -> None:
    customer, event = triggered_reservation(sim)
    response = sim.approve_triggered_event(customer, event, approved=False)
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    usage = sim.usage("PR-DEPOSIT")
    assert (usage["budgetReserved"], usage["budgetReleased"]) == (0, 500)
    assert usage["audienceReserved"] == 0


def test_ce_decline_without_a_reservation_is_a_no_op(sim: Sim) -> None:
    customer = cid(5)
    event = emit_for(sim, TRIGGERED, customer, {"depositAmount": 5000})
    before = ledger(sim, "PR-DEPOSIT", TRIGGERED)
    response = sim.approve_triggered_event(customer, event, approved=False)
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert ledger(sim, "PR-DEPOSIT", TRIGGERED) == before


def test_ce_approval_of_an_unknown_event_is_404(sim: Sim) -> None:
    triggered_reservation(sim)
    before = ledger(sim, "PR-DEPOSIT", TRIGGERED)
    envelope(sim.approve_triggered_event(cid(5), "EV_unknown"), 404, "unknown_event", "EV_unknown")
    assert ledger(sim, "PR-DEPOSIT", TRIGGERED) == before


def test_ce_approval_of_another_customers_event_is_404(sim: Sim) -> None:
    _, event = triggered_reservation(sim)
    before = ledger(sim, "PR-DEPOSIT", TRIGGERED)
    envelope(sim.approve_triggered_event(cid(6), event), 404, "unknown_event", event)
    assert ledger(sim, "PR-DEPOSIT", TRIGGERED) == before


def test_ce_approval_on_an_unknown_campaign_is_404(sim: Sim) -> None:
    customer, event = triggered_reservation(sim)
    response = sim.approve_triggered_event(customer, event, campaign_id=7999)
    envelope(response, 404, "unknown_campaign", "7999")


def test_ce_approving_an_event_twice_is_duplicate_approval(sim: Sim) -> None:
    customer, event = triggered_reservation(sim)
    assert sim.approve_triggered_event(customer, event).status_code == 200
    before = ledger(sim, "PR-DEPOSIT", TRIGGERED)
    envelope(sim.approve_triggered_event(customer, event), 409, "duplicate_approval", event)
    assert ledger(sim, "PR-DEPOSIT", TRIGGERED) == before


def test_ce_approving_an_event_never_validated_is_not_validated(sim: Sim) -> None:
    customer = cid(5)
    event = emit_for(sim, TRIGGERED, customer, {"depositAmount": 5000})
    before = ledger(sim, "PR-DEPOSIT", TRIGGERED)
    envelope(sim.approve_triggered_event(customer, event), 409, "not_validated", event)
    assert ledger(sim, "PR-DEPOSIT", TRIGGERED) == before


def test_ce_approving_a_declined_event_is_not_validated(sim: Sim) -> None:
    customer, event = triggered_reservation(sim)
    sim.approve_triggered_event(customer, event, approved=False)
    envelope(sim.approve_triggered_event(customer, event), 409, "not_validated")


def test_ce_approval_commits_only_its_own_event(sim: Sim) -> None:
    customer, first = triggered_reservation(sim, deposit=5000)
    _, second = triggered_reservation(sim, deposit=20_000)
    assert sim.approve_triggered_event(customer, second).status_code == 200
    usage = sim.usage("PR-DEPOSIT")
    assert (usage["budgetReserved"], usage["budgetCommitted"]) == (500, 2000)
    assert (usage["audienceReserved"], usage["audienceCommitted"]) == (0, 1)
    assert sim.approve_triggered_event(customer, first, approved=False).status_code == 200
    usage = sim.usage("PR-DEPOSIT")
    assert (usage["budgetReserved"], usage["budgetReleased"]) == (0, 500)
    assert usage["audienceCommitted"] == 1


# -- audience buckets ---------------------------------------------------------------------------
def test_customer_holding_any_commitment_counts_in_audience_committed(sim: Sim) -> None:
    active_promotion(sim, limit=2)
    scheduled_campaign(sim, 9101)
    scheduled_campaign(sim, 9102)
    validate(sim, [cid(1)], 9101)
    validate(sim, [cid(1)], 9102)
    assert (sim.usage(PROMO)["audienceReserved"], sim.usage(PROMO)["audienceCommitted"]) == (1, 0)
    assert sim.update_customer_promotion_status({cid(1): True}, 9101).status_code == 200
    usage = sim.usage(PROMO)
    assert (usage["audienceReserved"], usage["audienceCommitted"]) == (0, 1)
    assert (usage["budgetReserved"], usage["budgetCommitted"]) == (100, 100)
    assert sim.update_customer_promotion_status({cid(1): False}, 9102).status_code == 200
    usage = sim.usage(PROMO)
    assert (usage["audienceReserved"], usage["audienceCommitted"]) == (0, 1)
    assert (usage["budgetReserved"], usage["budgetReleased"]) == (0, 100)
