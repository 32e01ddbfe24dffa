"""Promotion lifecycle (wire-contract §4, §8) and campaign lifecycle (§5, §6, §7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.api.support import (
    CODE,
    POPULATION,
    PROMO,
    active_promotion,
    cid,
    core_time,
    envelope,
    iso,
    ledger,
    promotion_body,
    scheduled_campaign,
    tier,
    triggered_campaign,
    validate,
)
from tests.helpers import SCHEDULED, SPINS, TRIGGERED, Sim


def created(sim: Sim, **kw: Any) -> dict[str, Any]:
    response = sim.create_promotion(promotion_body(**kw))
    assert response.status_code == 201, response.text
    return dict(response.json())


# -- promotions -----------------------------------------------------------------------------
def test_created_promotion_is_a_draft_with_empty_usage(sim: Sim) -> None:
    body = created(sim, budget=5000, cap=10, limit=2, daily=3)
    assert body["id"] == PROMO
    assert body["status"] == "draft"
    assert body["promocodes"] == [CODE]
    assert body["rewardKind"] == "amount"
    assert (body["budget"], body["audienceCap"], body["perCustomerLimit"]) == (5000, 10, 2)
    assert body["periodCaps"]["daily"] == 3
    assert body["usage"] == {
        "budgetTotal": 5000,
        "budgetReserved": 0,
        "budgetCommitted": 0,
        "budgetReleased": 0,
        "audienceCap": 10,
        "audienceReserved": 0,
        "audienceCommitted": 0,
        "redemptions": 0,
        "redeemedAmount": 0,
    }
    assert sim.promotion(PROMO)["status"] == "draft"


def test_per_customer_limit_defaults_to_one(sim: Sim) -> None:
    body = promotion_body()
    del body["perCustomerLimit"]
    response = sim.create_promotion(body)
    assert response.status_code == 201, response.text
    assert response.json()["perCustomerLimit"] == 1


def test_draft_promotion_validates_as_promotion_not_active(sim: Sim) -> None:
    created(sim)
    scheduled_campaign(sim, 9101)
    assert validate(sim, [cid(1)], 9101)[0]["reason"] == "promotion_not_active"


def test_promotion_goes_draft_active_deactivated_active(sim: Sim) -> None:
    created(sim)
    scheduled_campaign(sim, 9101)
    response = sim.activate(PROMO)
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True
    response = sim.deactivate(PROMO)
    assert response.status_code == 200
    assert response.json()["status"] == "deactivated"
    assert validate(sim, [cid(2)], 9101)[0]["reason"] == "promotion_not_active"
    response = sim.activate(PROMO)
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert validate(sim, [cid(2)], 9101)[0]["valid"] is True


def test_deactivation_keeps_existing_reservations(sim: Sim) -> None:
    active_promotion(sim)
    scheduled_campaign(sim, 9101)
    validate(sim, [cid(1)], 9101)
    usage = sim.usage(PROMO)
    sim.deactivate(PROMO)
    assert sim.usage(PROMO) == usage
    # an already held allocation is still returned on re-validation (idempotency first)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True


def test_archived_promotion_cannot_be_activated(sim: Sim) -> None:
    active_promotion(sim)
    response = sim.archive(PROMO)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    envelope(sim.activate(PROMO), 409, "promotion_archived", PROMO)
    assert sim.promotion(PROMO)["status"] == "archived"


def test_archived_draft_cannot_be_activated(sim: Sim) -> None:
    created(sim)
    assert sim.archive(PROMO).status_code == 200
    envelope(sim.activate(PROMO), 409, "promotion_archived")
    assert sim.promotion(PROMO)["status"] == "archived"


def test_tiers_can_be_replaced_in_draft(sim: Sim) -> None:
    created(sim)
    response = sim.set_tiers(PROMO, [tier("T-NEW", 321)])
    assert response.status_code == 200, response.text
    assert [t["id"] for t in response.json()["tiers"]] == ["T-NEW"]
    assert sim.promotion(PROMO)["tiers"][0]["reward"]["amount"] == 321
    sim.activate(PROMO)
    scheduled_campaign(sim, 9101)
    assert validate(sim, [cid(1)], 9101)[0]["effects"][0]["reward"]["amount"] == 321


def test_tiers_are_locked_once_active(sim: Sim) -> None:
    active_promotion(sim)
    before = sim.promotion(PROMO)["tiers"]
    envelope(sim.set_tiers(PROMO, [tier("T-NEW", 1)]), 409, "tiers_locked", PROMO)
    assert sim.promotion(PROMO)["tiers"] == before


def test_tiers_stay_locked_after_deactivation(sim: Sim) -> None:
    active_promotion(sim)
    sim.deactivate(PROMO)
    before = sim.promotion(PROMO)["tiers"]
    envelope(sim.set_tiers(PROMO, [tier("T-NEW", 1)]), 409, "tiers_locked")
    assert sim.promotion(PROMO)["tiers"] == before


def test_duplicate_promotion_id_is_promotion_exists(sim: Sim) -> None:
    created(sim)
    before = sim.promotion(PROMO)
    response = sim.create_promotion(promotion_body(codes=("OTHER",), budget=1))
    envelope(response, 409, "promotion_exists", PROMO)
    assert sim.promotion(PROMO) == before


def test_duplicate_demo_promotion_id_is_promotion_exists(sim: Sim) -> None:
    before = sim.promotion("PR-WELCOME")
    response = sim.create_promotion(promotion_body("PR-WELCOME", ("FRESHCODE",)))
    envelope(response, 409, "promotion_exists", "PR-WELCOME")
    assert sim.promotion("PR-WELCOME") == before


def test_units_tier_in_an_amount_promotion_is_400(sim: Sim) -> None:
    body = promotion_body(tiers=[tier("T-1", reward={"type": "units", "units": 5})])
    envelope(sim.create_promotion(body), 400, "invalid_request", "tiers[0].reward.type")
    envelope(sim.get(f"/v1/promotions/{PROMO}"), 404, "unknown_promotion")


def test_amount_tier_in_a_units_promotion_is_400(sim: Sim) -> None:
    tiers = [tier("T-1", reward={"type": "units", "units": 5}), tier("T-2", 100)]
    body = promotion_body(kind="units", tiers=tiers)
    envelope(sim.create_promotion(body), 400, "invalid_request", "tiers[1].reward.type")
    envelope(sim.get(f"/v1/promotions/{PROMO}"), 404, "unknown_promotion")


def test_percent_tier_in_a_units_promotion_is_400(sim: Sim) -> None:
    pct = {"type": "percent", "percent": 10, "of": "session.x"}
    body = promotion_body(kind="units", tiers=[tier("T-1", reward=pct)])
    envelope(sim.create_promotion(body), 400, "invalid_request", "tiers[0].reward.type")


def test_percent_tier_fits_an_amount_promotion(sim: Sim) -> None:
    pct = {"type": "percent", "percent": 10, "of": "session.x", "max": 50}
    response = sim.create_promotion(promotion_body(tiers=[tier("T-1", reward=pct)]))
    assert response.status_code == 201, response.text


def test_put_tiers_with_a_mismatched_reward_is_400_and_tiers_unchanged(sim: Sim) -> None:
    created(sim)
    before = sim.promotion(PROMO)["tiers"]
    response = sim.set_tiers(PROMO, [tier("T-1", reward={"type": "units", "units": 5})])
    envelope(response, 400, "invalid_request", "tiers[0].reward.type")
    assert sim.promotion(PROMO)["tiers"] == before


def test_lifecycle_of_an_unknown_promotion_is_404(sim: Sim) -> None:
    envelope(sim.activate("PR-NOPE"), 404, "unknown_promotion", "PR-NOPE")
    envelope(sim.deactivate("PR-NOPE"), 404, "unknown_promotion")
    envelope(sim.archive("PR-NOPE"), 404, "unknown_promotion")
    envelope(sim.set_tiers("PR-NOPE", [tier("T", 1)]), 404, "unknown_promotion")


# -- campaigns: execution ------------------------------------------------------------------------
def test_execute_freezes_the_processed_list(sim: Sim) -> None:
    assert sim.get_processed_campaign_customers().status_code == 404
    response = sim.execute()
    assert response.status_code == 200
    assert response.json()["status"] == "executed"
    assert sim.campaign()["processedCustomers"] == 10_000
    page = sim.get_processed_campaign_customers(**{"$top": 10_000}).json()
    assert [row["CustomerID"] for row in page] == [cid(i) for i in range(10_000)]
    assert sim.report()["targeted"] == 10_000


def test_filtered_target_group_freezes_only_matching_customers(sim: Sim) -> None:
    sim.execute(SPINS)
    rows = sim.get_processed_campaign_customers(SPINS).json()
    assert len(rows) == 2000
    indices = [POPULATION.index_of(r["CustomerID"]) for r in rows]
    known = [i for i in indices if i is not None]
    assert len(known) == 2000
    assert all(i >= 20_000 for i in known)
    assert known == sorted(known)
    assert all(POPULATION.attributes(i)["Country"] in ("DE", "NL") for i in known)
    assert {r["PromoCode"] for r in rows} == {"SPINS25"}
    assert {r["ActionID"] for r in rows} == {18}


def test_execute_writes_a_type_5_event_with_clearance_required_by(sim: Sim) -> None:
    now = iso(sim.clock()["now"])
    campaign = sim.execute().json()
    [event] = sim.outbox(kind="scheduled")
    body = event["body"]
    assert set(body) == {
        "EventTypeID",
        "TimeStamp",
        "CampaignID",
        "ClearanceRequiredBy",
        "TenantID",
    }
    assert body["EventTypeID"] == 5
    assert body["CampaignID"] == SCHEDULED
    assert body["TenantID"] == 28209  # the demo tenant's fixed integer id (demo.yaml)
    stamp, deadline = core_time(body["TimeStamp"]), core_time(body["ClearanceRequiredBy"])
    assert stamp == now.replace(microsecond=0)
    assert deadline - stamp == timedelta(minutes=30)
    assert iso(campaign["clearanceRequiredBy"]) == now + timedelta(minutes=30)
    assert event["campaignId"] == SCHEDULED
    assert event["kind"] == "scheduled"


def test_clearance_window_of_the_campaign_sets_clearance_required_by(sim: Sim) -> None:
    sim.execute(SPINS)
    [event] = sim.outbox(kind="scheduled")
    body = event["body"]
    gap = core_time(body["ClearanceRequiredBy"]) - core_time(body["TimeStamp"])
    assert gap == timedelta(minutes=60)


def test_executing_twice_is_409_and_writes_no_second_event(sim: Sim) -> None:
    sim.execute()
    before = sim.campaign()
    response = sim.execute()
    assert response.status_code == 409
    assert response.json()["error"] == "invalid_transition"
    assert len(sim.outbox(kind="scheduled")) == 1
    assert sim.campaign() == before


def test_executing_an_unknown_campaign_is_404(sim: Sim) -> None:
    envelope(sim.execute(31_337), 404, "unknown_campaign", "31337")
    assert sim.outbox() == []


def test_execute_at_executes_when_the_clock_reaches_it(sim: Sim) -> None:
    active_promotion(sim)
    at = iso(sim.clock()["now"]) + timedelta(hours=1)
    scheduled_campaign(
        sim, 9101, execute=False, executeAt=at.isoformat().replace("+00:00", "Z"), window=15
    )
    assert sim.campaign(9101)["status"] == "scheduled"
    sim.advance(3599)
    assert sim.campaign(9101)["status"] == "scheduled"
    assert sim.outbox(kind="scheduled") == []
    sim.advance(1)
    campaign = sim.campaign(9101)
    assert campaign["status"] == "executed"
    assert iso(campaign["executedAt"]) == at
    [event] = sim.outbox(kind="scheduled")
    assert core_time(event["body"]["TimeStamp"]) == at.replace(microsecond=0)
    gap = core_time(event["body"]["ClearanceRequiredBy"]) - core_time(event["body"]["TimeStamp"])
    assert gap == timedelta(minutes=15)
    assert validate(sim, [cid(1)], 9101)[0]["valid"] is True


def test_execute_at_in_the_past_executes_on_creation(sim: Sim) -> None:
    active_promotion(sim)
    at = iso(sim.clock()["now"]) - timedelta(minutes=5)
    created = scheduled_campaign(
        sim, 9101, execute=False, executeAt=at.isoformat().replace("+00:00", "Z")
    )
    assert created["status"] == "executed"
    assert len(sim.outbox(kind="scheduled")) == 1


# -- campaigns: clear and cancel -------------------------------------------------------------------
def test_clear_releases_open_reservations_and_counts_sent(sim: Sim) -> None:
    sim.execute()
    results = validate(sim, [cid(1), cid(2), cid(3)], SCHEDULED, "WELCOME50")
    amounts = [r["effects"][0]["reward"]["amount"] for r in results]
    sim.update_customer_promotion_status({cid(1): True, cid(2): True})
    response = sim.clear()
    assert response.status_code == 200
    assert response.json()["status"] == "cleared"
    usage = sim.usage()
    assert usage["budgetReserved"] == 0
    assert usage["budgetCommitted"] == amounts[0] + amounts[1]
    assert usage["budgetReleased"] == amounts[2]
    assert (usage["audienceReserved"], usage["audienceCommitted"]) == (0, 2)
    report = sim.report()
    assert report["sent"] == 2
    assert report["released"] == 1


def test_clearing_twice_is_409(sim: Sim) -> None:
    sim.execute()
    sim.clear()
    before = ledger(sim)
    assert sim.clear().status_code == 409
    assert ledger(sim) == before


def test_clearing_a_campaign_not_executed_is_409(sim: Sim) -> None:
    response = sim.clear()
    assert response.status_code == 409
    assert sim.campaign()["status"] == "scheduled"


def test_clock_reaching_clearance_required_by_clears_the_campaign(sim: Sim) -> None:
    sim.execute()
    validate(sim, [cid(1), cid(2)], SCHEDULED, "WELCOME50")
    sim.update_customer_promotion_status({cid(1): True})
    sim.advance(30 * 60 - 1)
    assert sim.campaign()["status"] == "executed"
    assert sim.usage()["audienceReserved"] == 1
    response = sim.advance(1)
    assert response.status_code == 200
    assert response.json()["ran"] >= 1
    campaign = sim.campaign()
    assert campaign["status"] == "cleared"
    assert (sim.usage()["budgetReserved"], sim.usage()["audienceReserved"]) == (0, 0)
    assert sim.report()["sent"] == 1


def test_cancel_releases_reservations_and_writes_a_type_4_event(sim: Sim) -> None:
    sim.execute()
    results = validate(sim, [cid(1), cid(2)], SCHEDULED, "WELCOME50")
    sim.update_customer_promotion_status({cid(1): True})
    now = iso(sim.clock()["now"])
    response = sim.cancel()
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    usage = sim.usage()
    assert usage["budgetReserved"] == 0
    assert usage["budgetReleased"] == results[1]["effects"][0]["reward"]["amount"]
    assert usage["audienceReserved"] == 0
    [event] = sim.outbox(kind="cancelled")
    assert event["body"] == {
        "EventTypeID": 4,
        "TimeStamp": now.strftime("%Y-%m-%d %H:%M:%S"),
        "CampaignID": SCHEDULED,
    }
    assert sim.report()["released"] == 1


def test_cancelled_campaign_takes_no_more_validations(sim: Sim) -> None:
    sim.execute()
    sim.cancel()
    before = sim.usage()
    response = sim.validate_customers([cid(1)])
    assert response.status_code == 409
    assert response.json()["error"] == "campaign_cancelled"
    assert sim.usage() == before


def test_cancelling_twice_is_409_and_writes_one_event(sim: Sim) -> None:
    sim.execute()
    sim.cancel()
    assert sim.cancel().status_code == 409
    assert len(sim.outbox(kind="cancelled")) == 1


def test_cancelled_campaign_does_not_clear_at_its_deadline(sim: Sim) -> None:
    sim.execute()
    sim.cancel()
    sim.advance(3600)
    assert sim.campaign()["status"] == "cancelled"
    assert sim.report()["sent"] == 0


# -- triggered events ------------------------------------------------------------------------------
def test_each_triggered_event_writes_one_outbox_event_with_the_contract_body(sim: Sim) -> None:
    now = sim.clock()["now"]
    response = sim.emit(
        customers=[
            {"customerId": cid(5), "context": {"depositAmount": 12_000}},
            {"customerId": cid(6), "context": {"depositAmount": 3_000, "game": "slots"}},
        ]
    )
    assert response.status_code == 201, response.text
    events = sim.outbox(kind="triggered")
    assert len(events) == 2
    first = events[0]["body"]
    assert set(first) == {"eventId", "eventTime", "user", "campaign", "context"}
    assert first["eventTime"] == now
    assert first["user"] == {"user_id": cid(5), "is_visitor": False}
    assert first["campaign"] == {
        "id": TRIGGERED,
        "series_id": 900,
        "action": {
            "id": 21,
            "name": "Deposit match",
            "promo_codes": ["DEPOSIT10"],
            "channels": [],
        },
    }
    assert first["context"] == {"depositAmount": 12_000}
    assert events[1]["body"]["context"] == {"depositAmount": 3_000, "game": "slots"}
    assert events[1]["body"]["user"]["user_id"] == cid(6)
    assert len({e["body"]["eventId"] for e in events}) == 2
    assert len({e["id"] for e in events}) == 2
    assert sim.report(TRIGGERED)["eventsEmitted"] == 2


def test_emit_answers_the_count_and_the_event_ids_of_the_webhooks(sim: Sim) -> None:
    response = sim.emit(
        customers=[
            {"customerId": cid(5), "context": {"depositAmount": 1000}},
            {"customerId": cid(5), "context": {"depositAmount": 2000}},
        ]
    )
    assert response.status_code == 201, response.text
    bodies = [e["body"] for e in sim.outbox(kind="triggered")]
    assert response.json() == {
        "campaignId": TRIGGERED,
        "count": 2,
        "eventIds": [b["eventId"] for b in bodies],
    }
    assert all(isinstance(b["eventId"], str) for b in bodies)


def test_events_by_count_write_that_many_webhooks(sim: Sim) -> None:
    response = sim.emit(count=5)
    assert response.status_code == 201, response.text
    assert len(sim.outbox(kind="triggered")) == 5
    assert all(
        isinstance(e["body"]["context"]["depositAmount"], int) for e in sim.outbox(kind="triggered")
    )


def test_triggered_campaigns_cannot_be_executed(sim: Sim) -> None:
    triggered_campaign(sim, 7002, "DEPOSIT10")
    assert sim.execute(7002).status_code == 409
    assert sim.outbox(kind="scheduled") == []


def test_events_on_a_scheduled_campaign_are_refused(sim: Sim) -> None:
    sim.execute()
    response = sim.emit(SCHEDULED, count=1)
    assert response.status_code == 409
    assert sim.outbox(kind="triggered") == []
