"""The dashboard in process (both stores): signing in, the pages, the forms and their
refusals, the live stream. The same flows in a real browser are in test_browser.py."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.ui import pages
from simulator.webhooks import signing
from tests.api.support import cid
from tests.helpers import ADMIN, INTEGRATIONS, SCHEDULED, TRIGGERED, Sim

UI = "/_sim/ui"
PAGES = ["", "campaigns", "ledger", "deliveries", "journal", "faults", "audit"]
DEMO_SECRET = "whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"


def signed_in(sim: Sim) -> TestClient:
    client = sim.client
    response = client.post(f"{UI}/signin", data={"key": ADMIN}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{UI}/demo/"
    return client


def csrf(client: TestClient, page: str = "campaigns") -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(f"{UI}/demo/{page}").text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, path: str, **form: Any) -> tuple[str, str]:
    """Post a form; (level, message) of the page it redirects to."""
    response = client.post(f"{UI}/demo/{path}", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    page = client.get(location)
    assert page.status_code == 200
    level = re.search(r"[?&]level=(\w+)", location)
    flash = re.search(r'<div class="flash \w+" id="flash">(.*?)</div>', page.text, re.S)
    assert level is not None and flash is not None, location
    return level.group(1), flash.group(1)


def test_signing_in_sets_an_http_only_strict_cookie_for_that_tenant_only(sim: Sim) -> None:
    response = sim.client.post(f"{UI}/signin", data={"key": ADMIN}, follow_redirects=False)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/_sim/ui/demo" in cookie
    assert ADMIN not in response.headers["location"]


def test_every_page_renders_and_never_shows_the_key(sim: Sim) -> None:
    client = signed_in(sim)
    for page in PAGES:
        response = client.get(f"{UI}/demo/{page}")
        assert response.status_code == 200, page
        assert ADMIN not in response.text and INTEGRATIONS not in response.text
    tenant = client.get(f"{UI}/demo/").text
    assert "demo…ey" in tenant  # keys masked, both roles listed
    assert "integrations" in tenant


@pytest.mark.parametrize("key", ["wrong-key", INTEGRATIONS, ""])
def test_a_key_that_is_not_an_admin_key_is_refused(sim: Sim, key: str) -> None:
    response = sim.client.post(f"{UI}/signin", data={"key": key}, follow_redirects=False)
    assert response.status_code == 401
    assert "not an admin key" in response.text
    assert "set-cookie" not in response.headers
    assert sim.client.get(f"{UI}/demo/campaigns").status_code == 401


def test_another_tenants_pages_need_their_own_sign_in(sim: Sim) -> None:
    client = signed_in(sim)
    other = sim.post("/_sim/tenants", {"name": "other"}).json()
    assert client.get(f"{UI}/{other['tenantId']}/ledger").status_code == 401
    assert client.get(f"{UI}/demo/ledger").status_code == 200


def test_a_form_without_its_csrf_token_changes_nothing(sim: Sim) -> None:
    client = signed_in(sim)
    level, message = post(client, f"campaigns/{SCHEDULED}/execute", csrf="0" * 32)
    assert level == "error" and "CSRF" in message
    assert sim.campaign()["status"] == "scheduled"


def test_campaign_actions_run_the_services_and_refusals_are_messages(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client)
    assert post(client, f"campaigns/{SCHEDULED}/execute", csrf=token)[0] == "ok"
    assert sim.campaign()["status"] == "executed"
    level, message = post(client, f"campaigns/{SCHEDULED}/execute", csrf=token)
    assert level == "error" and "executed" in message  # a domain rule, shown, not a 500
    triggered = str(TRIGGERED)
    level, message = post(client, "campaigns/events", csrf=token, campaign_id=triggered, count="3")
    assert (level, message) == ("ok", f"3 event(s) emitted on campaign {TRIGGERED}.")
    level, message = post(
        client, "campaigns/events", csrf=token, campaign_id=str(TRIGGERED), count="lots"
    )
    assert level == "error" and message.startswith("count: a number is needed")
    level, message = post(client, "campaigns/999999/clear", csrf=token)
    assert level == "error" and "unknown_campaign" in message


def test_the_clock_is_advanced_and_set_from_the_tenant_page(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client, "")
    before = sim.clock()["now"]
    assert post(client, "clock/advance", csrf=token, seconds="3600")[0] == "ok"
    assert sim.clock()["now"] != before
    level, message = post(client, "clock/set", csrf=token, mode="manual", now="2027-01-01T00:00")
    assert level == "error" and "time zone" in message
    assert post(client, "clock/set", csrf=token, mode="manual", now="2027-01-01T00:00:00Z")[0] == (
        "ok"
    )
    assert sim.clock()["now"].startswith("2027-01-01T00:00:00")
    level, message = post(client, "clock/advance", csrf=token, seconds="-5")
    assert level == "error" and "between" in message


def test_the_ledger_page_shows_reservations_and_commitments_against_the_caps(sim: Sim) -> None:
    client = signed_in(sim)
    assert sim.execute().status_code == 200
    assert sim.validate_customers([cid(i) for i in range(10)]).status_code == 200
    page = client.get(f"{UI}/demo/ledger").text
    bar = re.search(r'id="audience-PR-WELCOME" data-used="(\d+)"', page)
    assert bar is not None and bar.group(1) == "10"
    assert sim.update_customer_promotion_status({cid(i): True for i in range(4)}).status_code == 200
    page = client.get(f"{UI}/demo/ledger").text
    assert re.search(r'id="audience-PR-WELCOME" data-used="10"', page)
    assert "4 committed + 6 reserved" in page
    card = page.split('id="promotion-PR-WELCOME"')[1]
    tiers = re.findall(r'class="badge tier">[^:]+: (\d+) committed(?: \+ (\d+) reserved)?', card)
    assert sum(int(c) for c, _ in tiers) == 4  # the tiers hit, on both stores
    assert sum(int(r or 0) for _, r in tiers) == 6


def test_faults_are_added_listed_and_cleared(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client, "faults")
    level, message = post(
        client, "faults/add", csrf=token, target="api", operation="get_clock", action="error",
        probability="1", status="503",
    )  # fmt: skip
    assert level == "ok", message
    assert sim.get("/_sim/clock").status_code == 503
    assert sim.get("/_sim/faults").json()["rules"][0]["operation"] == "get_clock"
    level, message = post(client, "faults/add", csrf=token, target="nowhere", action="error")
    assert level == "error" and message.startswith("target:")
    assert post(client, "faults/clear", csrf=token)[0] == "ok"
    assert sim.get("/_sim/faults").json()["rules"] == []


def test_the_paste_box_explains_a_webhook_signature(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client, "deliveries")
    body = json.dumps({"hello": "world"}).encode()
    headers = signing.headers([DEMO_SECRET], "msg_1", int(time.time()), body)
    pasted = "\n".join(f"{k}: {v}" for k, v in headers.items())
    text = body.decode()
    level, message = post(client, "deliveries/verify", csrf=token, body=text, headers=pasted)
    assert level == "ok" and message.startswith("Signature valid")
    level, message = post(
        client, "deliveries/verify", csrf=token, body=body.decode() + " ", headers=pasted
    )
    assert level == "error" and "does not verify" in message
    level, message = post(client, "deliveries/verify", csrf=token, body="{}", headers="nonsense")
    assert level == "error" and "Name: value" in message


def test_the_audit_links_a_violation_to_its_journal_entries(sim: Sim) -> None:
    client = signed_in(sim)
    assert sim.execute().status_code == 200
    assert sim.validate_customers([cid(1)]).status_code == 200
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 200
    assert sim.update_customer_promotion_status({cid(1): True}).status_code == 409
    audit = client.get(f"{UI}/demo/audit").text
    row = r'<code>(\w+)</code>.*?class="journal-link" href="([^"]+)"'
    links = dict(re.findall(row, audit, re.S))
    # refused as a whole: found by its refusal; never fetched: by the approvals' route
    assert links["duplicate_approval"].endswith("journal?key=duplicate_approval")
    assert links["approved_before_fetch"].endswith("journal?key=UpdateCustomerPromotionStatus")
    journal = client.get(links["duplicate_approval"]).text
    assert "1 matching request(s)" in journal
    assert "UpdateCustomerPromotionStatus" in journal and "409" in journal
    journal = client.get(links["approved_before_fetch"]).text
    assert "2 matching request(s)" in journal


def test_the_journal_filters_by_route_status_and_search(sim: Sim) -> None:
    client = signed_in(sim)
    sim.get("/_sim/clock")
    sim.get("/_sim/campaigns/424242")
    page = client.get(f"{UI}/demo/journal", params={"status": "404"}).text
    assert "1 matching request(s)" in page and "/_sim/campaigns/424242" in page
    page = client.get(f"{UI}/demo/journal", params={"path": "clock"}).text
    assert "1 matching request(s)" in page
    page = client.get(f"{UI}/demo/journal", params={"key": "unknown_campaign"}).text
    assert "1 matching request(s)" in page
    page = client.get(f"{UI}/demo/journal", params={"status": "four"}).text
    assert "a three-digit HTTP status" in page


def test_the_key_never_reaches_the_journal_or_a_url(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client)
    post(client, f"campaigns/{SCHEDULED}/execute", csrf=token)
    sim.get("/_sim/clock")  # the journal is on and recording
    entries = sim.get("/_sim/journal", params={"limit": 10_000}).json()["entries"]
    assert entries
    assert ADMIN not in json.dumps(entries)
    assert all(not e["path"].startswith(UI) for e in entries)


def test_the_live_stream_sends_the_page_part_and_ends_when_asked(sim: Sim) -> None:
    client = signed_in(sim)
    events: list[str] = []
    with client.stream("GET", f"{UI}/demo/live/ledger", params={"seconds": "0.2"}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
    assert events[0] == "fragment" and events[-1] == "end"
    assert client.get(f"{UI}/demo/live/nothing").status_code == 404
    assert client.get(f"{UI}/demo/live/ledger", params={"seconds": "x"}).status_code == 400


def test_docs_and_redoc_load_their_scripts_from_the_simulator(sim: Sim) -> None:
    for path, assets in (
        ("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
        ("/redoc", ("redoc.standalone.js",)),
    ):
        page = sim.client.get(path).text
        assert "cdn" not in page.lower() and "googleapis" not in page
        for asset in assets:
            url = f"{UI}/static/vendor/{asset}"
            assert url in page
            assert sim.client.get(url).status_code == 200


def test_bad_input_is_a_message_never_a_500(sim: Sim) -> None:
    client = signed_in(sim)
    token = csrf(client)
    for path, params in (
        (f"{UI}/demo/journal", {"status": "99999", "path": "x" * 5000, "key": "%%"}),
        (f"{UI}/demo/deliveries", {"status": "nonsense"}),
        (f"{UI}/a%20b/ledger", {}),
        (f"{UI}/nobody/", {}),
        (f"{UI}/demo/live/ledger", {"seconds": "nan"}),
    ):
        response = client.get(path, params=params)
        assert response.status_code < 500, (path, response.text)
    for path, body in (
        (f"{UI}/demo/campaigns/notanumber/execute", f"csrf={token}"),
        (f"{UI}/demo/campaigns/events", f"csrf={token}&campaign_id=99999999999&count=1"),
        (f"{UI}/demo/clock/set", f"csrf={token}&mode=manual&now=yesterday"),
        (f"{UI}/demo/faults/add", f"csrf={token}&target=api&action=error&nth=0"),
        (f"{UI}/demo/deliveries/verify", f"csrf={token}&body=x&headers=%7Bbad"),
        (f"{UI}/demo/deliveries/nope/resend", f"csrf={token}"),
        (f"{UI}/demo/clock/advance", "%ff%fe=\x00"),
        (f"{UI}/signin", "key=" + "k" * 5000),
    ):
        response = client.post(
            path,
            content=body.encode("latin-1"),
            headers={"content-type": "application/x-www-form-urlencoded"},
            follow_redirects=True,
        )
        assert response.status_code < 500, (path, response.text)
        assert 'class="flash error"' in response.text, path


def test_a_live_stream_stops_when_the_client_goes(sim: Sim) -> None:
    client = signed_in(sim)
    with client.stream("GET", f"{UI}/demo/live/journal") as response:
        lines = response.iter_lines()
        assert next(lines) == "event: fragment"
        assert pages._streams == 1
    deadline = time.monotonic() + 10
    while pages._streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pages._streams == 0
