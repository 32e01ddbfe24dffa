"""`optisim proxy` on its own: `--strict` refuses a contract-breaking request before it
goes upstream, answers go back unchanged, webhooks are checked and forwarded with their
signature, an unreachable upstream is a 502 envelope, and the exit summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from simulator.app import create_app
from simulator.control_client import ControlClient
from simulator.proxy.app import ProxyApp, ProxyConfig
from simulator.proxy.command import summary
from simulator.server_process import free_port
from simulator.settings import SimSettings
from tests.client.support import ADMIN, INTEGRATIONS, ThreadServer

pytestmark = pytest.mark.timeout(60)
VALIDATE = "/v1/promocodes/WELCOME50/validateCustomers"


@pytest.fixture(scope="module")
def upstream() -> Iterator[ThreadServer]:
    with ThreadServer(create_app(SimSettings(scenario="demo"))) as server:
        yield server


def _proxy(tmp_path: Path, upstream: str, **options: object) -> ProxyApp:
    config = ProxyConfig(
        upstream_optimove=upstream, upstream_promotions=upstream, record=tmp_path / "r.jsonl"
    )
    for key, value in options.items():
        setattr(config, key, value)
    return ProxyApp(config)


def test_strict_refuses_a_contract_breaking_request_before_sending_it(
    tmp_path: Path, upstream: ThreadServer
) -> None:
    proxy = _proxy(tmp_path, upstream.url, strict=True)
    with ControlClient(upstream.url, ADMIN) as control:
        control.clear_journal()
        with ThreadServer(proxy) as served:
            answer = httpx.post(
                served.url + VALIDATE,
                json={"campaignData": "not an object", "contexts": 7},
                headers={"X-API-KEY": INTEGRATIONS},
                timeout=10,
            )
        journal = control.get_journal()
    assert answer.status_code == 502
    body = answer.json()
    assert set(body) == {"status", "error", "message", "details"}
    assert body["error"] == "contract_violation"
    assert body["details"]["direction"] == "request"
    assert body["details"]["operation"] == "validate_customers"
    assert any("campaignData" in v for v in body["details"]["violations"]), body
    assert not [e for e in journal.entries if e.path == VALIDATE]  # never sent upstream
    assert proxy.stats.refused == 1
    (record,) = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert record["response"]["status"] == 502 and record["violations"]


def test_without_strict_the_same_request_goes_upstream_and_its_answer_comes_back(
    tmp_path: Path, upstream: ThreadServer
) -> None:
    proxy = _proxy(tmp_path, upstream.url)
    with ThreadServer(proxy) as served:
        through = httpx.post(
            served.url + VALIDATE,
            json={"campaignData": "not an object", "contexts": 7},
            headers={"X-API-KEY": INTEGRATIONS},
            timeout=10,
        )
        fine = httpx.get(
            served.url + "/v1/promotions", headers={"X-API-KEY": INTEGRATIONS}, timeout=10
        )
    direct = httpx.get(
        upstream.url + "/v1/promotions", headers={"X-API-KEY": INTEGRATIONS}, timeout=10
    )
    assert through.status_code == 400  # the simulator's own answer, passed on
    assert fine.status_code == 200 and fine.content == direct.content
    assert proxy.stats.violations["validate_customers"] >= 1
    assert "list_promotions" not in proxy.stats.violations
    console = Console(record=True, width=200)
    summary(proxy.stats, console)
    text = console.export_text()
    assert "2 exchanges" in text and "validate_customers" in text


def test_webhooks_are_checked_and_forwarded_with_their_signature(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def listener(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        message = await receive()  # type: ignore[operator]
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen.append((scope["path"], headers, message["body"]))
        await send({"type": "http.response.start", "status": 202, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    body = b'{"EventTypeID":4,"CampaignID":48213,"TimeStamp":"2026-01-01 10:00:00"}'
    signature = "v1,c2lnbmF0dXJlLW9mLXRoZS1ib2R5"
    with ThreadServer(listener) as integrator:
        proxy = _proxy(tmp_path, "http://127.0.0.1:9", forward_webhooks_to=integrator.url)
        with ThreadServer(proxy) as served:
            good = httpx.post(
                served.url + "/_proxy/webhooks/optimove/events",
                content=body,
                headers={
                    "webhook-id": "msg_1",
                    "webhook-timestamp": "1767261600",
                    "webhook-signature": signature,
                    "content-type": "application/json",
                },
                timeout=10,
            )
            bad = httpx.post(
                served.url + "/_proxy/webhooks/optimove/events",
                content=b'{"EventTypeID":99}',
                headers={"content-type": "application/json"},
                timeout=10,
            )
    assert good.status_code == 202 and bad.status_code == 202
    path, headers, raw = seen[0]
    assert path == "/optimove/events" and raw == body
    assert headers["webhook-signature"] == signature  # intact for the integrator
    text = (tmp_path / "r.jsonl").read_text()
    assert signature not in text and "c2lnbmF0dXJl" not in text  # redacted in the file
    first, second = (json.loads(line) for line in text.splitlines())
    assert first["operation"] == "campaign_cancelled" and not first["violations"]
    assert second["violations"] and proxy.stats.webhooks == 2


def test_an_unreachable_upstream_is_a_502_envelope(tmp_path: Path) -> None:
    proxy = _proxy(tmp_path, f"http://127.0.0.1:{free_port()}")
    with ThreadServer(proxy) as served:
        answer = httpx.get(served.url + "/v1/promotions", timeout=10)
    assert answer.status_code == 502
    assert answer.json()["error"] == "upstream_unreachable"
    assert proxy.stats.upstream_errors == 1


def test_gzip_bodies_are_checked_and_recorded_decoded_and_a_broken_one_is_no_500(
    tmp_path: Path,
) -> None:
    import gzip

    good = json.dumps([{"id": "PR-1"}]).encode()
    answers = {
        "/v1/promotions": gzip.compress(good),
        "/v1/promotions/PR-1": b"not gzip at all",
        VALIDATE: gzip.compress(b"{}"),
    }
    received: list[bytes] = []

    async def upstream(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        message = await receive()  # type: ignore[operator]
        received.append(message.get("body", b""))
        raw = answers[scope["path"]]
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": raw})  # type: ignore[operator]

    with ThreadServer(upstream) as service:
        proxy = _proxy(tmp_path, service.url)
        with ThreadServer(proxy) as served:
            key = {"X-API-KEY": INTEGRATIONS, "Accept-Encoding": "gzip"}
            listed = httpx.get(served.url + "/v1/promotions", headers=key, timeout=10)
            url = served.url + "/v1/promotions/PR-1"
            with httpx.stream("GET", url, headers=key, timeout=10) as broken:
                raw = b"".join(broken.iter_raw())
            # a request sent gzip-coded: checked decoded, forwarded as it was sent
            body = {"campaignData": {"campaignId": 48213}, "contexts": [{"customerId": "C1"}]}
            coded = gzip.compress(json.dumps(body).encode())
            zipped = key | {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            httpx.post(served.url + VALIDATE, content=coded, headers=zipped, timeout=10)
            bad = zipped | {"Accept-Encoding": "identity"}
            httpx.post(served.url + VALIDATE, content=b"not gzip", headers=bad, timeout=10)
    # passed on unchanged, coding and all; the broken one too (it is the service's answer)
    assert listed.status_code == 200 and listed.json() == [{"id": "PR-1"}]
    assert broken.status_code == 200 and broken.headers["content-encoding"] == "gzip"
    assert raw == b"not gzip at all"
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    first, second, third, fourth = [json.loads(line) for line in lines]
    assert received[2] == coded  # forwarded unchanged
    assert third["request"]["body"] == {"json": body}
    assert not [v for v in third["violations"] if v.startswith("request")], third
    assert fourth["request"]["body"]["undecodable"].endswith("(8 bytes)")
    assert (
        "request: the body claims gzip content-encoding but does not decode"
        in (fourth["violations"])
    )
    assert first["response"]["body"] == {"json": [{"id": "PR-1"}]}  # recorded decoded
    assert second["response"]["body"] == {
        "undecodable": "the body claims gzip content-encoding but does not decode (15 bytes)"
    }
    assert any("does not decode" in v for v in second["violations"]), second
