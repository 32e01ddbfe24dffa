"""Campaigns whose promo code reaches no Promotions promotion (codes added with
`integrations/AddPromotions` only: the plain Conditional Execution Bonus Flow) approve
targeted customers without validation (wire-contract §2.1, rev 2), on every store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from simulator.scenario import builtin_scenario, parse_scenario
from simulator.settings import SimSettings
from tests.api.support import (
    active_promotion,
    cid,
    emit_for,
    envelope,
    reasons,
    scheduled_campaign,
    triggered_campaign,
    validate,
)
from tests.helpers import SCHEDULED, Sim

BONUS = "BONUS-OWN"  # a code added with AddPromotions, no Promotions promotion behind it
PLAIN, PLAIN_TRIGGERED = 61001, 61002


def add_code(sim: Sim, code: str = BONUS) -> None:
    body = [{"PromoCode": code, "PromotionName": "the platform's own bonus"}]
    response = sim.post("/current/integrations/AddPromotions", body)
    assert response.status_code == 200, response.text


def plain_campaign(sim: Sim, **kw: Any) -> None:
    """The campaign executed and its list fetched, as an integrator does first."""
    add_code(sim)
    scheduled_campaign(sim, PLAIN, BONUS, size=50, **kw)
    assert sim.get_processed_campaign_customers(PLAIN).status_code == 200


def rejected(response: Any) -> list[dict[str, str]]:
    return list(response.json()["details"]["rejected"])


def test_a_campaign_on_an_unknown_code_is_still_refused(sim: Sim) -> None:
    body = {"id": PLAIN, "type": "scheduled", "promoCode": "NOWHERE", "targetGroup": {"size": 5}}
    envelope(sim.create_campaign(body), 404, "unknown_promocode", "AddPromotions")


def test_targeted_customers_are_approved_without_validation(sim: Sim) -> None:
    plain_campaign(sim)
    before = sim.usage()
    response = sim.update_customer_promotion_status({cid(1): True, cid(2): True}, PLAIN)
    assert response.status_code == 200, response.text
    report = sim.report(PLAIN)
    assert (report["approved"], report["validated"]) == (2, 0)
    assert report["violations"] == {}
    assert sim.usage() == before  # no ledger anywhere was touched


def test_duplicates_and_release_after_approval_are_still_refused(sim: Sim) -> None:
    plain_campaign(sim)
    assert sim.update_customer_promotion_status({cid(1): True}, PLAIN).status_code == 200
    again = sim.update_customer_promotion_status({cid(1): True, cid(2): True}, PLAIN)
    envelope(again, 409, "duplicate_approval")
    assert rejected(again) == [{"CustomerID": cid(1), "reason": "duplicate_approval"}]
    back = sim.update_customer_promotion_status({cid(1): False}, PLAIN)
    envelope(back, 409, "already_approved")
    twice = sim.update_customer_promotion_status([(cid(3), True), (cid(3), True)], PLAIN)
    envelope(twice, 409, "duplicate_approval")
    report = sim.report(PLAIN)
    assert report["approved"] == 1  # nothing of the refused calls applied
    assert report["violations"]["duplicate_approval"] == 2


def test_not_targeted_still_applies(sim: Sim) -> None:
    plain_campaign(sim)
    outside = sim.update_customer_promotion_status({cid(500): True}, PLAIN)
    envelope(outside, 409, "not_targeted")


def test_status_false_without_an_approval_is_a_no_op(sim: Sim) -> None:
    plain_campaign(sim)
    assert sim.update_customer_promotion_status({cid(4): False}, PLAIN).status_code == 200
    assert sim.report(PLAIN)["approved"] == sim.report(PLAIN)["released"] == 0


def test_clearance_sends_the_approved_and_closes_approvals(sim: Sim) -> None:
    plain_campaign(sim, window=10)
    assert sim.update_customer_promotion_status({cid(1): True, cid(2): True}, PLAIN).is_success
    assert sim.advance(601).status_code == 200
    assert sim.report(PLAIN)["sent"] == 2
    late = sim.update_customer_promotion_status({cid(3): True}, PLAIN)
    envelope(late, 409, "clearance_closed")


def test_a_cancelled_campaign_refuses_approvals(sim: Sim) -> None:
    plain_campaign(sim)
    assert sim.cancel(PLAIN).status_code == 200
    envelope(sim.update_customer_promotion_status({cid(1): True}, PLAIN), 409, "campaign_cancelled")


def test_not_validated_still_applies_where_a_promotion_is_behind_the_code(sim: Sim) -> None:
    add_code(sim, "WELCOME50")  # also in GetPromotions: the Promotions promotion decides
    assert sim.execute().status_code == 200
    response = sim.update_customer_promotion_status({cid(1): True}, SCHEDULED)
    envelope(response, 409, "not_validated")


def test_approving_without_validation_is_still_a_violation_on_a_promotions_campaign(
    sim: Sim,
) -> None:
    assert sim.execute().status_code == 200
    assert sim.get_processed_campaign_customers().status_code == 200
    envelope(sim.update_customer_promotion_status({cid(1): True}, SCHEDULED), 409, "not_validated")
    assert sim.report()["violations"] == {"approved_without_validation": 1}


def test_the_audit_counts_everything_and_flags_only_real_violations(sim: Sim) -> None:
    plain_campaign(sim, window=10)
    approved = {cid(i): True for i in range(5)}
    assert sim.update_customer_promotion_status(approved, PLAIN).status_code == 200
    envelope(sim.update_customer_promotion_status({cid(0): True}, PLAIN), 409, "duplicate_approval")
    envelope(sim.update_customer_promotion_status({cid(1): False}, PLAIN), 409, "already_approved")
    envelope(sim.update_customer_promotion_status({cid(99): True}, PLAIN), 409, "not_targeted")
    assert sim.update_customer_promotion_status({cid(9): False}, PLAIN).status_code == 200
    assert sim.advance(601).status_code == 200
    envelope(sim.update_customer_promotion_status({cid(6): True}, PLAIN), 409, "clearance_closed")
    report = sim.report(PLAIN)
    counts = ("targeted", "fetched", "validated", "approved", "released", "sent")
    assert {k: report[k] for k in counts} == {
        "targeted": 50,
        "fetched": 50,
        "validated": 0,
        "approved": 5,
        "released": 0,  # a Status false without an approval is a no-op
        "sent": 5,
    }
    assert report["duplicatesRefused"] == 1
    assert report["approvalsRefused"] == {
        "duplicate_approval": 1,
        "already_approved": 1,
        "not_targeted": 1,
        "clearance_closed": 1,
    }
    assert report["violations"] == {
        "duplicate_approval": 1,
        "released_after_approval": 1,
        "approved_not_targeted": 1,
        "approved_after_clearance": 1,
    }  # and no approved_without_validation: this campaign has no validation to skip


def test_ignore_mode_makes_a_repeat_a_no_op_here_too(make_sim: Callable[..., Sim]) -> None:
    sim = make_sim(settings=SimSettings(duplicate_approvals="ignore"))
    plain_campaign(sim)
    assert sim.update_customer_promotion_status({cid(1): True}, PLAIN).status_code == 200
    again = [(cid(1), True), (cid(2), True), (cid(2), True)]
    assert sim.update_customer_promotion_status(again, PLAIN).status_code == 200
    assert sim.report(PLAIN)["approved"] == 2


def test_a_promotion_taking_the_code_later_gives_the_campaign_a_ledger(sim: Sim) -> None:
    plain_campaign(sim)
    assert sim.update_customer_promotion_status({cid(1): True}, PLAIN).status_code == 200
    active_promotion(sim, promotion_id="PR-LATE", codes=(BONUS,))
    # The customer approved before has had this campaign's reward: never reserved again.
    results = validate(sim, [cid(1), cid(2)], PLAIN, BONUS)
    assert reasons(results) == ["customer_limit_reached", None]
    envelope(sim.update_customer_promotion_status({cid(1): True}, PLAIN), 409, "duplicate_approval")
    envelope(sim.update_customer_promotion_status({cid(3): True}, PLAIN), 409, "not_validated")
    assert sim.update_customer_promotion_status({cid(2): True}, PLAIN).status_code == 200
    report = sim.report(PLAIN)
    assert (report["approved"], report["validated"]) == (2, 1)
    assert report["violations"]["approved_without_validation"] == 1
    usage = sim.usage("PR-LATE")
    assert (usage["budgetCommitted"], usage["audienceCommitted"]) == (100, 1)


def test_validation_of_such_a_code_is_404_which_tells_the_client(sim: Sim) -> None:
    plain_campaign(sim)
    response = sim.validate_customers([{"customerId": cid(1)}], PLAIN, BONUS)
    envelope(response, 404, "unknown_promocode")


def test_triggered_events_are_approved_without_validation_once(sim: Sim) -> None:
    add_code(sim)
    triggered_campaign(sim, PLAIN_TRIGGERED, BONUS)
    event = emit_for(sim, PLAIN_TRIGGERED, cid(7))
    first = sim.approve_triggered_event(cid(7), event, campaign_id=PLAIN_TRIGGERED)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "approved"
    again = sim.approve_triggered_event(cid(7), event, campaign_id=PLAIN_TRIGGERED)
    envelope(again, 409, "duplicate_approval")
    declined = sim.approve_triggered_event(cid(7), event, False, campaign_id=PLAIN_TRIGGERED)
    envelope(declined, 409, "already_approved")
    unknown = sim.approve_triggered_event(cid(8), event, campaign_id=PLAIN_TRIGGERED)
    envelope(unknown, 404, "unknown_event")
    assert sim.report(PLAIN_TRIGGERED)["approved"] == 1
    later = emit_for(sim, PLAIN_TRIGGERED, cid(8))
    assert sim.cancel(PLAIN_TRIGGERED).status_code == 200
    cancelled = sim.approve_triggered_event(cid(8), later, campaign_id=PLAIN_TRIGGERED)
    envelope(cancelled, 409, "campaign_cancelled")


def test_a_promotions_campaign_still_needs_validation_for_triggered_events(sim: Sim) -> None:
    event = emit_for(sim, 7001, cid(7), {"depositAmount": 5000})
    response = sim.approve_triggered_event(cid(7), event, campaign_id=7001)
    envelope(response, 409, "not_validated")
    validate(sim, [{"customerId": cid(7), "eventId": event, "session": {"depositAmount": 5000}}],
             7001, "DEPOSIT10")  # fmt: skip
    assert sim.approve_triggered_event(cid(7), event, campaign_id=7001).status_code == 200


def test_a_triggered_event_approved_without_a_ledger_is_not_validated_later(sim: Sim) -> None:
    add_code(sim)
    triggered_campaign(sim, PLAIN_TRIGGERED, BONUS)
    event = emit_for(sim, PLAIN_TRIGGERED, cid(7))
    assert sim.approve_triggered_event(cid(7), event, campaign_id=PLAIN_TRIGGERED).is_success
    active_promotion(sim, promotion_id="PR-LATE", codes=(BONUS,))
    context = {"customerId": cid(7), "eventId": event}
    assert reasons(validate(sim, [context], PLAIN_TRIGGERED, BONUS)) == ["customer_limit_reached"]
    later = emit_for(sim, PLAIN_TRIGGERED, cid(7))
    refused = sim.approve_triggered_event(cid(7), later, campaign_id=PLAIN_TRIGGERED)
    envelope(refused, 409, "not_validated")  # the campaign has a ledger now


def test_scenarios_declare_such_codes(make_sim: Callable[..., Sim]) -> None:
    scenario = parse_scenario(
        """
        tenant: {keys: [{key: demo-admin-key, role: admin}]}
        promoCodes: [{promoCode: OWN10, promotionName: Own ten}]
        campaigns:
          - {id: 5, type: scheduled, promoCode: OWN10, targetGroup: {size: 3}}
        """
    )
    sim = make_sim(scenario=scenario)
    assert sim.get("/current/integrations/GetPromotions").json() == [
        {"PromoCode": "OWN10", "PromotionName": "Own ten"}
    ]
    assert sim.execute(5).status_code == 200
    assert sim.update_customer_promotion_status({cid(0): True}, 5).status_code == 200


def test_a_scenario_campaign_on_an_undeclared_code_names_the_field() -> None:
    bad = "campaigns:\n  - {id: 5, type: scheduled, promoCode: OWN10, targetGroup: {size: 3}}\n"
    try:
        parse_scenario(bad)
    except Exception as error:  # DomainError: a 400 naming the campaign's promoCode
        assert "campaigns[0].promoCode" in str(error) and "promoCodes" in str(error)
    else:
        raise AssertionError("an undeclared promo code was accepted")


def test_the_demo_world_has_a_campaign_without_promotions() -> None:
    demo = builtin_scenario("demo")
    codes = {c.promoCode for c in demo.promoCodes}
    assert any(c.promoCode in codes for c in demo.campaigns if c.type == "scheduled")
