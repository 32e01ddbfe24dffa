"""The pure parts: redaction placeholders and the parity comparison's normalisation."""

from __future__ import annotations

from typing import Any

from simulator.parity.compare import compare, diff_body, learn, normalise, substitute
from simulator.parity.derive import derive_scenario
from simulator.parity.replay import REPLAY_SECRET, _fresh_secrets
from simulator.proxy.redact import Redactor
from simulator.scenario import load_scenario_file
from simulator.specs import Scenario


def test_redaction_gives_each_value_one_stable_placeholder_everywhere() -> None:
    r = Redactor(["CustomerID", "attributes"])
    headers = r.headers([("X-API-KEY", "k-123456"), ("Accept", "application/json")])
    assert headers == {"x-api-key": "<redacted:1>", "accept": "application/json"}
    body = r.json(
        {
            "CustomerID": "C0042",
            "attributes": {"email": "a@b.c", "vip": True},
            "token": "tok-abcdef",
            "page": 1,
            "rows": [{"CustomerID": "C0042"}, {"CustomerID": "C0043"}],
        }
    )
    assert body == {
        "CustomerID": "<redacted:2>",
        "attributes": {"email": "<redacted:3>", "vip": True},
        "token": "<redacted:4>",
        "page": 1,
        "rows": [{"CustomerID": "<redacted:2>"}, {"CustomerID": "<redacted:5>"}],
    }
    assert r.query("CampaignID=5&token=t-9999&CustomerID=C0043") == (
        "CampaignID=5&token=<redacted:6>&CustomerID=<redacted:5>"
    )
    # a redacted value echoed elsewhere (a URL, a text) is replaced there too
    assert r.scrub({"url": "/x?token=tok-abcdef&key=k-123456"}) == {
        "url": "/x?token=<redacted:4>&key=<redacted:1>"
    }
    assert r.scrub({"message": "customer C0042 was approved already"}) == {
        "message": "customer <redacted:2> was approved already"
    }
    assert r.scrub("C00420 and xC0042") == "C00420 and xC0042"  # whole words only


def test_normalising_ids_times_and_unordered_lists() -> None:
    value = {
        "id": "AL_f5191c1e06da3",
        "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "at": "2026-01-01T10:00:00Z",
        "list": [3, 1, 2],
    }
    assert normalise(value, unordered=True) == {
        "id": "<id>",
        "uuid": "<id>",
        "at": "<time>",
        "list": [1, 2, 3],
    }
    assert normalise([3, 1, 2]) == [3, 1, 2]  # order kept where the API promises it


def test_learned_placeholders_replace_recorded_values_in_later_requests() -> None:
    mapping: dict[str, object] = {}
    learn({"rows": [{"CustomerID": "<redacted:2>"}]}, {"rows": [{"CustomerID": "C7"}]}, mapping)
    assert substitute({"customers": ["<redacted:2>", "x"]}, mapping) == {"customers": ["C7", "x"]}


def test_a_renamed_field_is_one_divergence_and_a_new_status_carries_both_answers() -> None:
    assert diff_body({"title": "A", "n": 1}, {"name": "A", "n": 2}) == [
        ("renamed", "$.name", "$.title", "$.name"),
        ("value", "$.n", 1, 2),
    ]
    recorded = {"status": 200, "headers": {}, "body": {}}
    actual = {"status": 409, "headers": {}, "body": {"json": {"error": "duplicate_approval"}}}
    (d,) = compare(3, "op", recorded, actual, {})
    assert d.rule == "op: status"
    assert d.optisim == {"status": 409, "json": {"error": "duplicate_approval"}}


def _exchange(seq: int, path: str, query: str, body: object, answer: object) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": "api",
        "operation": "x",
        "request": {"method": "POST", "path": path, "query": query, "body": {"json": body}},
        "response": {"status": 200, "headers": {}, "body": {"json": answer}},
    }


def test_a_world_is_derived_from_what_the_recording_shows() -> None:
    base = load_scenario_file("demo").model_dump(mode="json", exclude_none=True)
    records = [
        {
            "seq": 1,
            "kind": "webhook",
            "operation": "scheduled_campaign",
            "request": {"body": {"json": {"EventTypeID": 5, "CampaignID": 555}}},
            "response": {"status": 202, "body": {}},
        },
        _exchange(
            2,
            "/current/customers/GetProcessedCampaignCustomers",
            "CampaignID=555&PageNumber=1",
            None,
            [{"CustomerID": "vip-1"}, {"CustomerID": "C0000003"}],
        ),
        _exchange(
            3,
            "/v1/promocodes/SUMMER/validateCustomers",
            "",
            {"campaignData": {"campaignId": 555, "actionId": 9}, "contexts": []},
            {},
        ),
        _exchange(
            4,
            "/current/customers/GetProcessedCampaignCustomers",
            "CampaignID=48213",
            None,
            [{"CustomerID": "<redacted:1>"}],
        ),
    ]
    world, notes = derive_scenario(records, base)
    (derived,) = [c for c in world["campaigns"] if c["id"] == 555]
    assert derived["promoCode"] == "SUMMER" and derived["actionId"] == 9
    assert derived["targetGroup"] == {"ids": ["vip-1", "C0000003"]}
    assert {"promoCode": "SUMMER", "promotionName": "SUMMER (derived)"} in world["promoCodes"]
    assert {"id": "vip-1", "attributes": {}} in world["population"]["customers"]
    assert len(world["campaigns"]) == len(base["campaigns"]) + 1  # 48213 is the base's
    assert any("redacted" in n for n in notes) and any("SUMMER" in n for n in notes)
    Scenario.model_validate(world)  # a world the simulator accepts


def test_a_redacted_secret_in_a_replayed_request_becomes_a_valid_one() -> None:
    body = {"url": "http://x", "secret": "<redacted:3>", "other": "<redacted:4>"}
    fresh = _fresh_secrets(body)
    assert fresh["secret"] == REPLAY_SECRET and fresh["other"] == "<redacted:4>"
    assert REPLAY_SECRET.startswith("whsec_")
