"""The documents' links really chain: for each link, a scripted source request, then the
target request built only from the link (its runtime expressions evaluated against the
source request and response) succeeds on the simulator. The stateful schemathesis run
follows links at random; this walks every one of them deterministically."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simulator.contracts import SURFACES, operations
from tests.contracts.support import AUTH, fresh_app, load

DOCUMENTS = {f"{s.name}.json": load(s.name) for s in SURFACES}
BY_ID = {
    op["operationId"]: (path, method)
    for document in DOCUMENTS.values()
    for path, method, op in operations(document)
}


def _example(operation_id: str) -> Any:
    path, method = BY_ID[operation_id]
    for document in DOCUMENTS.values():
        if path in document["paths"]:
            op = document["paths"][path][method]
            return op["requestBody"]["content"]["application/json"]["example"]
    raise KeyError(operation_id)


def _triggered_validation(client: TestClient) -> tuple[str, str, dict[str, Any]]:
    """Emit one event for the triggered campaign 7001; validate it (the CE v2 flow)."""
    emitted = client.post(
        "/_sim/campaigns/7001/events",
        json={"customers": [{"customerId": "C0000042", "context": {"depositAmount": 12000}}]},
        headers=AUTH,
    )
    assert emitted.status_code == 201, emitted.text
    body = {
        "campaignData": {"campaignId": 7001, "campaignType": "triggered"},
        "contexts": [
            {
                "customerId": "C0000042",
                "eventId": emitted.json()["eventIds"][0],
                "session": {"depositAmount": 12000},
            }
        ],
    }
    return "post", "/v1/promocodes/DEPOSIT10/validateCustomers", body


SCHEDULED_VALIDATION = {
    "campaignData": {"campaignId": 48213},
    "contexts": [{"customerId": "C0000001"}],
}
# link name → (source operation, how to make the source request)
SOURCES: dict[str, tuple[str, Any]] = {
    "UpdateCustomerPromotionStatus": (
        "validate_customers",
        ("post", "/v1/promocodes/WELCOME50/validateCustomers", SCHEDULED_VALIDATION),
    ),
    "ReportRedemption": (
        "validate_customers",
        ("post", "/v1/promocodes/WELCOME50/validateCustomers", SCHEDULED_VALIDATION),
    ),
    "ApproveTriggeredEvent": ("validate_customers", _triggered_validation),
    "GetPromotion": ("create_promotion", ("post", "/v1/promotions", _example("create_promotion"))),
    "ActivatePromotion": (
        "create_promotion",
        ("post", "/v1/promotions", _example("create_promotion")),
    ),
    "ExecuteCampaign": (
        "create_campaign",
        ("post", "/_sim/campaigns", _example("create_campaign")),
    ),
    "GetCampaign": ("create_campaign", ("post", "/_sim/campaigns", _example("create_campaign"))),
    "GetProcessedCampaignCustomers": (
        "execute_campaign",
        ("post", "/_sim/campaigns/48213/execute", None),
    ),
}


def _links() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, document in DOCUMENTS.items():
        for _, _, op in operations(document):
            for response in op["responses"].values():
                for link_name, link in response.get("links", {}).items():
                    found.append((op["operationId"], link_name, {**link, "_in": name}))
    return found


def _pointer(document: Any, pointer: str) -> Any:
    node = document
    for part in filter(None, pointer.split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _evaluate(value: Any, request: Any, response: Any) -> Any:
    """Runtime expressions (`$request.body#/…`, `$response.body#/…`), also nested."""
    if isinstance(value, str) and value.startswith("$"):
        match = re.fullmatch(r"\$(request|response)\.body#(/.*)", value)
        assert match, f"unsupported expression {value}"
        return _pointer(request if match[1] == "request" else response, match[2])
    if isinstance(value, dict):
        return {k: _evaluate(v, request, response) for k, v in value.items()}
    if isinstance(value, list):
        return [_evaluate(v, request, response) for v in value]
    return value


def _target(link: dict[str, Any]) -> tuple[str, str]:
    if "operationId" in link:
        return BY_ID[link["operationId"]]
    document, _, pointer = link["operationRef"].partition("#")
    parts = pointer.split("/")  # ['', 'paths', '<escaped path>', '<method>']
    path = parts[2].replace("~1", "/").replace("~0", "~")
    assert path in DOCUMENTS[document or link["_in"]]["paths"]
    return path, parts[3]


LINKS = _links()


def test_every_link_has_a_scripted_source() -> None:
    assert sorted(name for _, name, _ in LINKS) == sorted(SOURCES)
    for source_id, name, _ in LINKS:
        assert SOURCES[name][0] == source_id, name


@pytest.mark.parametrize(("source_id", "name", "link"), LINKS, ids=[n for _, n, _ in LINKS])
def test_a_link_builds_a_request_that_succeeds(
    source_id: str, name: str, link: dict[str, Any]
) -> None:
    client = TestClient(fresh_app(executed=source_id != "execute_campaign"))
    make = SOURCES[name][1]
    method, path, body = make(client) if callable(make) else make
    source = client.request(method, path, json=body, headers=AUTH)
    assert source.status_code in (200, 201), source.text
    target_path, target_method = _target(link)
    query: dict[str, Any] = {}
    for key, expression in link.get("parameters", {}).items():
        where, _, parameter = key.partition(".")
        value = _evaluate(expression, body, source.json())
        if where == "path":
            target_path = target_path.replace("{" + parameter + "}", str(value))
        else:
            assert where == "query", key
            query[parameter] = value
    target_body = (
        _evaluate(link["requestBody"], body, source.json()) if "requestBody" in link else None
    )
    target = client.request(
        target_method, target_path, params=query, json=target_body, headers=AUTH
    )
    assert 200 <= target.status_code < 300, f"{name}: {target.status_code} {target.text}"
