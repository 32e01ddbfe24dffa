"""Bad input on every surface: the right 4xx, a message naming the field, the right body
shape for the surface, state unchanged, and never a 500 (wire-contract §1, §8)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.support import cid, core_error, envelope, promotion_body, tier, validate, world
from tests.helpers import SCHEDULED, TRIGGERED, Sim

LONG_ID = "X" * 129
LONG_TEXT = "y" * 1025
OVER_10_MB = 10 * 1024 * 1024 + 1
UPDATE = "/current/integrations/UpdateCustomerPromotionStatus"
VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"
APPROVAL = "/conditional-execution/v2/triggered/approval"
WEBHOOKS = "/conditional-execution/v2/triggered/webhooks/"
_MISSING = object()


@dataclass(frozen=True)
class Case:
    """One bad request: `body` is sent as JSON unless `raw` is given."""

    id: str
    method: str
    path: str
    status: int
    needle: str
    body: Any = _MISSING
    raw: bytes | None = None
    content_type: str = "application/json"
    error: str = "invalid_request"

    @property
    def core(self) -> bool:
        root = self.path.lstrip("/").split("/", 1)[0]
        return root not in ("v1", "_sim", "conditional-execution")


def approval(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TimeStamp": "2026-11-27 10:00:00",
        "CampaignID": SCHEDULED,
        "PromosUpdated": [{"CustomerID": cid(1), "Status": True}],
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not _MISSING}


def validation(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignData": {"campaignId": SCHEDULED},
        "contexts": [{"customerId": cid(2)}],
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not _MISSING}


def ce_approval(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignId": TRIGGERED,
        "customerId": cid(5),
        "eventId": "EV_x",
        "approved": True,
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not _MISSING}


def new_promotion(**over: Any) -> dict[str, Any]:
    body = promotion_body()
    body.update(over)
    return {k: v for k, v in body.items() if v is not _MISSING}


CASES = [
    # -- core API: UpdateCustomerPromotionStatus -------------------------------------------
    Case("core-malformed-json", "POST", UPDATE, 400, "body", raw=b'{"CampaignID": 48213,'),
    Case(
        "core-wrong-content-type",
        "POST",
        UPDATE,
        400,
        "body",
        raw=json.dumps(approval()).encode(),
        content_type="text/plain",
    ),
    Case("core-body-is-a-list", "POST", UPDATE, 400, "body", body=[approval()]),
    Case(
        "core-campaign-id-twice",
        "POST",
        UPDATE,
        400,
        "CampaignID: given twice",
        approval(campaignId=SCHEDULED),
    ),
    Case(
        "core-customer-id-twice",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[0].CustomerID: given twice",
        approval(PromosUpdated=[{"CustomerID": cid(1), "CustomerId": cid(1), "Status": True}]),
    ),
    Case("core-body-is-a-string", "POST", UPDATE, 400, "body", body="approve everyone"),
    Case("core-campaign-id-text", "POST", UPDATE, 400, "CampaignID", approval(CampaignID="abc")),
    Case("core-campaign-id-zero", "POST", UPDATE, 400, "CampaignID", approval(CampaignID=0)),
    Case("core-campaign-id-huge", "POST", UPDATE, 400, "CampaignID", approval(CampaignID=2**63)),
    Case(
        "core-campaign-id-missing", "POST", UPDATE, 400, "CampaignID", approval(CampaignID=_MISSING)
    ),
    Case(
        "core-promos-missing",
        "POST",
        UPDATE,
        400,
        "PromosUpdated",
        approval(PromosUpdated=_MISSING),
    ),
    Case("core-promos-not-list", "POST", UPDATE, 400, "PromosUpdated", approval(PromosUpdated={})),
    Case(
        "core-status-not-bool",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[0].Status",
        approval(PromosUpdated=[{"CustomerID": cid(1), "Status": "maybe"}]),
    ),
    Case(
        "core-status-missing",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[0].Status",
        approval(PromosUpdated=[{"CustomerID": cid(1)}]),
    ),
    Case(
        "core-customer-id-missing",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[1].CustomerID",
        approval(PromosUpdated=[{"CustomerID": cid(1), "Status": True}, {"Status": True}]),
    ),
    Case(
        "core-customer-id-number",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[0].CustomerID",
        approval(PromosUpdated=[{"CustomerID": 1, "Status": True}]),
    ),
    Case(
        "core-customer-id-too-long",
        "POST",
        UPDATE,
        400,
        "PromosUpdated[0].CustomerID",
        approval(PromosUpdated=[{"CustomerID": LONG_ID, "Status": True}]),
    ),
    Case(
        "core-timestamp-too-long", "POST", UPDATE, 400, "TimeStamp", approval(TimeStamp=LONG_TEXT)
    ),
    Case(
        "core-over-10000-items",
        "POST",
        UPDATE,
        400,
        "PromosUpdated",
        approval(PromosUpdated=[{"CustomerID": cid(1), "Status": True}] * 10_001),
    ),
    Case(
        "core-unknown-campaign",
        "POST",
        UPDATE,
        404,
        "777777",
        approval(CampaignID=777_777),
        error="unknown_campaign",
    ),
    Case("core-over-10-mb", "POST", UPDATE, 413, "bytes", raw=b" " * OVER_10_MB, error=""),
    # -- core API: other functions ----------------------------------------------------------
    Case(
        "core-register-type-text",
        "POST",
        "/current/general/RegisterEventListener",
        400,
        "EventTypeID",
        {"EventTypeID": "five", "ListenerURL": "http://127.0.0.1:9/x"},
    ),
    Case(
        "core-register-url-missing",
        "POST",
        "/current/general/RegisterEventListener",
        400,
        "ListenerURL",
        {"EventTypeID": 5},
    ),
    Case(
        "core-register-url-too-long",
        "POST",
        "/current/general/RegisterEventListener",
        400,
        "ListenerURL",
        {"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9/" + LONG_TEXT},
    ),
    Case(
        "core-register-malformed",
        "POST",
        "/current/general/RegisterEventListener",
        400,
        "body",
        raw=b"EventTypeID=5",
    ),
    Case(
        "core-unregister-type-missing",
        "POST",
        "/current/general/UnregisterEventListener",
        400,
        "EventTypeID",
        {},
    ),
    Case(
        "core-add-promotions-over-100",
        "POST",
        "/current/integrations/AddPromotions",
        400,
        "body",
        [{"PromoCode": f"P{i}", "PromotionName": "n"} for i in range(101)],
    ),
    Case(
        "core-add-promotions-code-too-long",
        "POST",
        "/current/integrations/AddPromotions",
        400,
        "PromoCode",
        [{"PromoCode": LONG_ID, "PromotionName": "n"}],
    ),
    Case(
        "core-add-promotions-name-too-long",
        "POST",
        "/current/integrations/AddPromotions",
        400,
        "PromotionName",
        [{"PromoCode": "P1", "PromotionName": LONG_TEXT}],
    ),
    Case(
        "core-add-promotions-object",
        "POST",
        "/current/integrations/AddPromotions",
        400,
        "body",
        {"PromoCode": "P1", "PromotionName": "n"},
    ),
    Case(
        "core-delete-promotions-empty",
        "POST",
        "/current/integrations/DeletePromotions",
        400,
        "body",
        [],
    ),
    Case("core-login-malformed", "POST", "/current/general/login", 400, "body", raw=b"{user"),
    Case(
        "core-login-username-missing",
        "POST",
        "/current/general/login",
        400,
        "Username",
        {"Password": "demo"},
    ),
    Case(
        "core-login-username-too-long",
        "POST",
        "/current/general/login",
        400,
        "Username",
        {"Username": LONG_ID, "Password": "demo"},
    ),
    # -- Promotions: validateCustomers ------------------------------------------------------
    Case("v1-malformed-json", "POST", VALIDATE, 400, "body", raw=b'{"contexts": [}'),
    Case(
        "v1-wrong-content-type",
        "POST",
        VALIDATE,
        400,
        "body",
        raw=json.dumps(validation()).encode(),
        content_type="text/plain",
    ),
    Case("v1-body-is-a-list", "POST", VALIDATE, 400, "body", [validation()]),
    Case("v1-contexts-missing", "POST", VALIDATE, 400, "contexts", validation(contexts=_MISSING)),
    Case("v1-contexts-not-list", "POST", VALIDATE, 400, "contexts", validation(contexts="C1")),
    Case(
        "v1-campaign-data-missing",
        "POST",
        VALIDATE,
        400,
        "campaignData",
        validation(campaignData=_MISSING),
    ),
    Case(
        "v1-campaign-id-text",
        "POST",
        VALIDATE,
        400,
        "campaignData.campaignId",
        validation(campaignData={"campaignId": "x"}),
    ),
    Case(
        "v1-campaign-type-unknown",
        "POST",
        VALIDATE,
        400,
        "campaignData.campaignType",
        validation(campaignData={"campaignId": SCHEDULED, "campaignType": "weekly"}),
    ),
    Case(
        "v1-customer-id-number",
        "POST",
        VALIDATE,
        400,
        "contexts[0].customerId",
        validation(contexts=[{"customerId": 7}]),
    ),
    Case(
        "v1-customer-id-missing",
        "POST",
        VALIDATE,
        400,
        "contexts[1].customerId",
        validation(contexts=[{"customerId": cid(2)}, {"eventId": "EV"}]),
    ),
    Case(
        "v1-customer-id-too-long",
        "POST",
        VALIDATE,
        400,
        "contexts[0].customerId",
        validation(contexts=[{"customerId": LONG_ID}]),
    ),
    Case(
        "v1-event-id-too-long",
        "POST",
        VALIDATE,
        400,
        "contexts[0].eventId",
        validation(contexts=[{"customerId": cid(2), "eventId": LONG_ID}]),
    ),
    Case(
        "v1-session-not-object",
        "POST",
        VALIDATE,
        400,
        "contexts[0].session",
        validation(contexts=[{"customerId": cid(2), "session": [1, 2]}]),
    ),
    Case(
        "v1-context-unknown-field",
        "POST",
        VALIDATE,
        400,
        "contexts[0].customerNumber",
        validation(contexts=[{"customerId": cid(2), "customerNumber": cid(3)}]),
    ),
    # keys match in any case (wire-contract §2, rev 2), so a field may be named only once
    Case(
        "v1-context-field-twice",
        "POST",
        VALIDATE,
        400,
        "contexts[0].customerId: given twice",
        validation(contexts=[{"customerId": cid(2), "customerID": cid(3)}]),
    ),
    Case(
        "v1-campaign-data-field-twice",
        "POST",
        VALIDATE,
        400,
        "campaignData.campaignId: given twice",
        validation(campaignData={"campaignId": SCHEDULED, "CampaignId": SCHEDULED}),
    ),
    Case(
        "v1-over-1000-contexts",
        "POST",
        VALIDATE,
        400,
        "contexts",
        validation(contexts=[{"customerId": cid(2)}] * 1001),
    ),
    Case("v1-dry-run-not-bool", "POST", VALIDATE + "?dryRun=perhaps", 400, "dryRun", validation()),
    Case(
        "v1-promocode-too-long",
        "POST",
        f"/v1/promocodes/{LONG_ID}/validateCustomers",
        400,
        "promocodeId",
        validation(),
    ),
    Case(
        "v1-unknown-promocode",
        "POST",
        "/v1/promocodes/NOPE/validateCustomers",
        404,
        "NOPE",
        validation(),
        error="unknown_promocode",
    ),
    Case(
        "v1-unknown-campaign",
        "POST",
        VALIDATE,
        404,
        "888888",
        validation(campaignData={"campaignId": 888_888}),
        error="unknown_campaign",
    ),
    Case(
        "v1-over-10-mb",
        "POST",
        VALIDATE,
        413,
        "bytes",
        raw=b" " * OVER_10_MB,
        error="payload_too_large",
    ),
    # -- Promotions: redemptions and lifecycle ----------------------------------------------
    Case(
        "v1-redemptions-missing",
        "POST",
        "/v1/promotions/PR-WELCOME/redemptions",
        400,
        "redemptions",
        {},
    ),
    Case(
        "v1-redemption-allocation-too-long",
        "POST",
        "/v1/promotions/PR-WELCOME/redemptions",
        400,
        "redemptions[0].allocationId",
        {"redemptions": [{"allocationId": LONG_ID}]},
    ),
    Case(
        "v1-redemption-amount-text",
        "POST",
        "/v1/promotions/PR-WELCOME/redemptions",
        400,
        "redemptions[0].amount",
        {"redemptions": [{"allocationId": "AL_1", "amount": "ten"}]},
    ),
    Case(
        "v1-redemption-amount-fraction",
        "POST",
        "/v1/promotions/PR-WELCOME/redemptions",
        400,
        "redemptions[0].amount",
        {"redemptions": [{"allocationId": "AL_1", "amount": 1.5}]},
    ),
    Case(
        "v1-redemption-date-text",
        "POST",
        "/v1/promotions/PR-WELCOME/redemptions",
        400,
        "redemptions[0].redeemedAt",
        {"redemptions": [{"allocationId": "AL_1", "redeemedAt": "yesterday"}]},
    ),
    Case(
        "v1-redemptions-unknown-promotion",
        "POST",
        "/v1/promotions/PR-NOPE/redemptions",
        404,
        "PR-NOPE",
        {"redemptions": [{"allocationId": "AL_1"}]},
        error="unknown_promotion",
    ),
    Case(
        "v1-promotion-name-too-long",
        "POST",
        "/v1/promotions",
        400,
        "name",
        new_promotion(name=LONG_TEXT),
    ),
    Case(
        "v1-promotion-id-too-long", "POST", "/v1/promotions", 400, "id", new_promotion(id=LONG_ID)
    ),
    Case(
        "v1-promotion-budget-missing",
        "POST",
        "/v1/promotions",
        400,
        "budget",
        new_promotion(budget=_MISSING),
    ),
    Case(
        "v1-promotion-budget-negative",
        "POST",
        "/v1/promotions",
        400,
        "budget",
        new_promotion(budget=-1),
    ),
    Case(
        "v1-promotion-currency-bad",
        "POST",
        "/v1/promotions",
        400,
        "currency",
        new_promotion(currency="euro"),
    ),
    Case(
        "v1-promotion-reward-kind-bad",
        "POST",
        "/v1/promotions",
        400,
        "rewardKind",
        new_promotion(rewardKind="cash"),
    ),
    Case(
        "v1-promotion-unknown-field",
        "POST",
        "/v1/promotions",
        400,
        "budgetTotal",
        new_promotion(budgetTotal=5),
    ),
    Case(
        "v1-promotion-op-unknown",
        "POST",
        "/v1/promotions",
        400,
        "tiers[0].when[0].op",
        new_promotion(
            tiers=[tier("T", 1, when=[{"field": "session.x", "op": "like", "value": 1}])]
        ),
    ),
    Case(
        "v1-promotion-field-unknown-root",
        "POST",
        "/v1/promotions",
        400,
        "tiers[0].when[0].field",
        new_promotion(tiers=[tier("T", 1, when=[{"field": "user.x", "op": "eq", "value": 1}])]),
    ),
    Case(
        "v1-promotion-reward-without-amount",
        "POST",
        "/v1/promotions",
        400,
        "tiers[0].reward",
        new_promotion(tiers=[tier("T", reward={"type": "amount", "currency": "EUR"})]),
    ),
    Case(
        "v1-promotion-malformed",
        "POST",
        "/v1/promotions",
        400,
        "body",
        raw=b"id: PR-YAML",
    ),
    Case(
        "v1-tiers-not-list",
        "PUT",
        "/v1/promotions/PR-WELCOME/tiers",
        400,
        "tiers",
        {"tiers": {"id": "T"}},
    ),
    Case(
        "v1-promotion-id-path-too-long",
        "GET",
        f"/v1/promotions/{LONG_ID}",
        400,
        "promotionId",
    ),
    # -- CE v2 ------------------------------------------------------------------------------
    Case("ce-malformed-json", "POST", APPROVAL, 400, "body", raw=b"{'approved': true}"),
    Case(
        "ce-wrong-content-type",
        "POST",
        APPROVAL,
        400,
        "body",
        raw=json.dumps(ce_approval()).encode(),
        content_type="application/x-www-form-urlencoded",
    ),
    Case("ce-approved-missing", "POST", APPROVAL, 400, "approved", ce_approval(approved=_MISSING)),
    Case(
        "ce-approved-twice",
        "POST",
        APPROVAL,
        400,
        "approved: given twice",
        ce_approval(Approved=False),
    ),
    Case("ce-approved-not-bool", "POST", APPROVAL, 400, "approved", ce_approval(approved="sure")),
    Case("ce-campaign-id-text", "POST", APPROVAL, 400, "campaignId", ce_approval(campaignId="x")),
    Case("ce-event-id-too-long", "POST", APPROVAL, 400, "eventId", ce_approval(eventId=LONG_ID)),
    Case(
        "ce-customer-id-missing",
        "POST",
        APPROVAL,
        400,
        "customerId",
        ce_approval(customerId=_MISSING),
    ),
    Case(
        "ce-unknown-event",
        "POST",
        APPROVAL,
        404,
        "EV_x",
        ce_approval(),
        error="unknown_event",
    ),
    Case(
        "ce-over-10-mb",
        "POST",
        APPROVAL,
        413,
        "bytes",
        raw=b" " * OVER_10_MB,
        error="payload_too_large",
    ),
    Case("ce-webhook-url-missing", "POST", WEBHOOKS, 400, "url", {}),
    Case("ce-webhook-url-not-http", "POST", WEBHOOKS, 400, "url", {"url": "ftp://127.0.0.1/x"}),
    Case(
        "ce-webhook-url-too-long",
        "POST",
        WEBHOOKS,
        400,
        "url",
        {"url": "http://127.0.0.1:9/" + LONG_TEXT},
    ),
    Case(
        "ce-webhook-secret-bad",
        "POST",
        WEBHOOKS,
        400,
        "secret",
        {"url": "http://127.0.0.1:9/x", "secret": "hunter2"},
    ),
    # -- control API ------------------------------------------------------------------------
    Case("sim-advance-negative", "POST", "/_sim/clock/advance", 400, "seconds", {"seconds": -5}),
    Case("sim-advance-text", "POST", "/_sim/clock/advance", 400, "seconds", {"seconds": "soon"}),
    Case(
        "sim-advance-twice",
        "POST",
        "/_sim/clock/advance",
        400,
        "seconds: given twice",
        {"seconds": 5, "SECONDS": 6},
    ),
    Case("sim-advance-malformed", "POST", "/_sim/clock/advance", 400, "body", raw=b"{seconds: 5}"),
    Case(
        "sim-clock-naive-time",
        "PUT",
        "/_sim/clock",
        400,
        "now",
        {"mode": "manual", "now": "2026-11-27T10:00:00"},
    ),
    Case("sim-clock-mode-bad", "PUT", "/_sim/clock", 400, "mode", {"mode": "fast"}),
    Case(
        "sim-events-count-zero",
        "POST",
        f"/_sim/campaigns/{TRIGGERED}/events",
        400,
        "count",
        {"count": 0},
    ),
    Case(
        "sim-events-both",
        "POST",
        f"/_sim/campaigns/{TRIGGERED}/events",
        400,
        "customers",
        {"count": 1, "customers": [{"customerId": cid(1)}]},
    ),
    Case(
        "sim-events-unknown-customer",
        "POST",
        f"/_sim/campaigns/{TRIGGERED}/events",
        400,
        "customers[1].customerId",
        {"customers": [{"customerId": cid(1)}, {"customerId": "Z1"}]},
    ),
    Case(
        "sim-events-customer-too-long",
        "POST",
        f"/_sim/campaigns/{TRIGGERED}/events",
        400,
        "customers[0].customerId",
        {"customers": [{"customerId": LONG_ID}]},
    ),
    Case(
        "sim-campaign-id-text",
        "POST",
        "/_sim/campaigns",
        400,
        "id",
        {"id": "abc", "type": "triggered", "promoCode": "DEPOSIT10"},
    ),
    Case(
        "sim-campaign-scheduled-without-target",
        "POST",
        "/_sim/campaigns",
        400,
        "targetGroup",
        {"id": 9999, "type": "scheduled", "promoCode": "WELCOME50"},
    ),
    Case(
        "sim-campaign-unknown-promocode",
        "POST",
        "/_sim/campaigns",
        404,
        "NOPE",
        {"id": 9999, "type": "triggered", "promoCode": "NOPE"},
        error="unknown_promocode",
    ),
    Case("sim-tenant-name-too-long", "POST", "/_sim/tenants", 400, "name", {"name": LONG_TEXT}),
    Case(
        "sim-tenant-builtin-unknown", "POST", "/_sim/tenants", 400, "builtin", {"builtin": "huge"}
    ),
    Case(
        "sim-execute-unknown-campaign",
        "POST",
        "/_sim/campaigns/424242/execute",
        404,
        "424242",
        error="unknown_campaign",
    ),
    Case("sim-campaign-id-path-text", "POST", "/_sim/campaigns/abc/execute", 400, "campaignId"),
    Case(
        "sim-over-10-mb",
        "POST",
        "/_sim/campaigns",
        413,
        "bytes",
        raw=b" " * OVER_10_MB,
        error="payload_too_large",
    ),
]


def prepared(sim: Sim) -> None:
    """Some state worth protecting: an executed campaign with one reservation."""
    assert sim.execute().status_code == 200
    assert validate(sim, [cid(1)], SCHEDULED, "WELCOME50")[0]["valid"] is True


def send(sim: Sim, case: Case) -> Any:
    headers = {**sim.headers, "content-type": case.content_type}
    if case.raw is not None:
        return sim.client.request(case.method, case.path, content=case.raw, headers=headers)
    if case.body is _MISSING:
        return sim.client.request(case.method, case.path, headers=sim.headers)
    content = json.dumps(case.body).encode()
    return sim.client.request(case.method, case.path, content=content, headers=headers)


def check(sim: Sim, case: Case) -> str | None:
    """Send one bad request; a description of what broke the contract, or None."""
    before = world(sim)
    response = send(sim, case)
    try:
        if case.core:
            core_error(response, case.status, case.needle)
        else:
            envelope(response, case.status, case.error or "payload_too_large", case.needle)
        assert world(sim) == before, "state changed"
    except AssertionError as error:
        return f"{case.id}: {response.status_code} {response.text[:300]!r} ({error})"
    return None


def check_all(sim: Sim, prefix: str) -> None:
    """Every case of one surface against one simulator (each case checks that it changed
    nothing, so they cannot disturb each other); every failure is reported together."""
    prepared(sim)
    cases = [c for c in CASES if c.id.startswith(prefix)]
    assert len(cases) >= 10
    failures = [f for f in (check(sim, case) for case in cases) if f is not None]
    assert failures == []


def test_bad_core_input_gets_a_4xx_string_naming_the_field_and_changes_nothing(sim: Sim) -> None:
    check_all(sim, "core-")


def test_bad_promotions_input_gets_a_4xx_envelope_naming_the_field_and_changes_nothing(
    sim: Sim,
) -> None:
    check_all(sim, "v1-")


def test_bad_ce_v2_input_gets_a_4xx_envelope_naming_the_field_and_changes_nothing(
    sim: Sim,
) -> None:
    check_all(sim, "ce-")


def test_bad_control_input_gets_a_4xx_envelope_naming_the_field_and_changes_nothing(
    sim: Sim,
) -> None:
    check_all(sim, "sim-")


def test_every_case_id_is_unique_and_names_its_surface() -> None:
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.id.split("-")[0] in ("core", "v1", "ce", "sim") for c in CASES)


def test_bad_input_is_not_journalled_as_a_server_error(sim: Sim) -> None:
    prepared(sim)
    for case in CASES[:10]:
        send(sim, case)
    entries = sim.get("/_sim/journal", params={"limit": 10_000}).json()["entries"]
    assert entries
    assert all(e["status"] < 500 for e in entries)


# -- fuzzing ---------------------------------------------------------------------------------
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
customers = st.sampled_from([cid(1), cid(2), cid(10_000), "C", ""]) | json_values
contexts = st.fixed_dictionaries(
    {"customerId": customers},
    optional={"eventId": json_values, "session": json_values, "extra": json_values},
)
validate_bodies = json_values | st.fixed_dictionaries(
    {
        "campaignData": json_values
        | st.fixed_dictionaries(
            {"campaignId": st.sampled_from([SCHEDULED, TRIGGERED, 48214, 0, -1]) | json_values},
            optional={"campaignType": json_values, "actionId": json_values},
        ),
        "contexts": json_values | st.lists(contexts, max_size=5),
    }
)
approval_bodies = json_values | st.fixed_dictionaries(
    {
        "CampaignID": st.sampled_from([SCHEDULED, TRIGGERED, 1]) | json_values,
        "PromosUpdated": json_values
        | st.lists(
            st.fixed_dictionaries({"CustomerID": customers, "Status": st.booleans() | json_values}),
            max_size=5,
        ),
    },
    optional={"TimeStamp": json_values},
)
FUZZ = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_contract_shape(response: Any, core: bool) -> None:
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return
    body = response.json()
    if core and response.status_code in (400, 401, 403, 404, 405, 413):
        assert isinstance(body, str), body
    else:
        assert isinstance(body, dict), body
        assert body["status"] == response.status_code
        assert isinstance(body["error"], str) and body["error"]
        assert isinstance(body["message"], str)


@FUZZ
@given(
    body=validate_bodies,
    code=st.sampled_from(["WELCOME50", "DEPOSIT10", "SPINS25", "NOPE"]),
    dry=st.sampled_from(["true", "false", "1", "x"]),
)
def test_fuzzed_validate_customers_bodies_never_give_a_server_error(
    sim: Sim, body: Any, code: str, dry: str
) -> None:
    sim.execute()  # executes once; later examples get 409, which is fine here
    response = sim.post(f"/v1/promocodes/{code}/validateCustomers", body, params={"dryRun": dry})
    assert_contract_shape(response, core=False)
    usage = sim.usage()
    assert usage["budgetReserved"] + usage["budgetCommitted"] <= usage["budgetTotal"]


@FUZZ
@given(body=approval_bodies)
def test_fuzzed_update_customer_promotion_status_bodies_never_give_a_server_error(
    sim: Sim, body: Any
) -> None:
    if sim.campaign()["status"] == "scheduled":
        sim.execute()
        validate(sim, [cid(1), cid(2)], SCHEDULED, "WELCOME50")
    response = sim.post(UPDATE, body)
    assert_contract_shape(response, core=True)
    if response.status_code == 200:
        assert response.content == b""


@FUZZ
@given(raw=st.binary(max_size=200))
def test_fuzzed_raw_bytes_never_give_a_server_error(sim: Sim, raw: bytes) -> None:
    headers = {"content-type": "application/json"}
    for path, core in ((UPDATE, True), (VALIDATE, False), (APPROVAL, False)):
        response = sim.post(path, content=raw, headers=headers)
        assert_contract_shape(response, core)
