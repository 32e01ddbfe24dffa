"""Parity replay of what the proxy recorded: a body is recorded decoded, so it is replayed
without its content coding, and one the proxy could not decode is not replayed."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx

from simulator.control_client import ControlClient
from simulator.control_client.client import TenantAccess
from simulator.parity.replay import ParityResult, _replay_all

PATH = "/v1/promocodes/WELCOME50/validateCustomers"
BODY = {"campaignData": {"campaignId": 48213}, "contexts": [{"customerId": "C0000001"}]}


def _record(seq: int, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    return {
        "seq": seq,
        "kind": "api",
        "operation": "validate_customers",
        "request": {"method": "POST", "path": PATH, "query": "", "headers": headers, "body": body},
        "response": {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": {"json": {"ok": True}},
        },
        "violations": [],
    }


def test_a_gzip_request_replays_decoded_and_an_undecodable_one_not_at_all() -> None:
    sent: list[httpx.Request] = []

    def simulator(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"ok": True})

    records = [
        _record(1, {"json": BODY}),
        _record(2, {"undecodable": "the body claims gzip ... (9 bytes)"}),
    ]
    tenant = TenantAccess("http://sim", "t", 1, "t", "admin", "integrations", "whsec_x")
    result = ParityResult("rec.jsonl")
    transport = httpx.MockTransport(simulator)
    with httpx.Client(base_url="http://sim", transport=transport) as http:
        _replay_all(records, tenant, cast(ControlClient, None), http, result)
    (request,) = sent  # the undecodable one was not sent
    assert "content-encoding" not in request.headers
    assert json.loads(request.content) == BODY and request.headers["x-api-key"] == "integrations"
    assert result.exchanges == 1 and result.divergences == []
    assert result.cues == ["#2: not replayed, the body claims gzip ... (9 bytes)"]
