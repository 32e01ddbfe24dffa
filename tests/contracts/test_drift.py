"""The committed contract documents are what the code generates, are valid OpenAPI 3.1,
cover every route exactly once, and describe the webhooks the simulator really sends."""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from simulator import tracing
from simulator.contracts import REGENERATE, SURFACES, export_contracts, operations
from simulator.webhooks import signing
from tests.contracts.support import AUTH, CONTRACTS, fresh_app, load

FILES = [f"{s.name}.json" for s in SURFACES] + ["listener.json"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    export_contracts(out)
    return out


def test_the_generator_writes_exactly_the_contract_files(generated: Path) -> None:
    assert sorted(p.name for p in generated.iterdir()) == sorted(FILES)


@pytest.mark.parametrize("name", FILES)
def test_committed_documents_match_the_code(generated: Path, name: str) -> None:
    fresh = (generated / name).read_text("utf-8")
    committed_path = CONTRACTS / name
    committed = committed_path.read_text("utf-8") if committed_path.exists() else ""
    if fresh != committed:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    fresh.splitlines(keepends=True),
                    f"committed contracts/{name}",
                    f"generated contracts/{name}",
                )
            )[:60]
        )
        pytest.fail(
            f"contracts/{name} has drifted from the code. Run `{REGENERATE}` and commit "
            f"the result.\n{diff}",
            pytrace=False,
        )


# -- valid OpenAPI 3.1 ------------------------------------------------------------------------
def _openapi_31_validator() -> Any:
    """The OpenAPI 3.1 meta-schema schemathesis ships (openapi-spec-validator is not a
    dependency here); None if a schemathesis upgrade moves it (the structural checks
    below still run)."""
    try:
        from schemathesis.specs.openapi.definitions import OPENAPI_31
    except ImportError:  # pragma: no cover - depends on the installed schemathesis
        return None
    return jsonschema_rs.Draft202012Validator(OPENAPI_31)


@pytest.mark.parametrize("name", FILES)
def test_documents_are_valid_openapi_31(name: str) -> None:
    document = load(name.removesuffix(".json"))
    validator = _openapi_31_validator()
    if validator is not None:
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(document)]
        assert not errors, "\n".join(errors[:20])
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    for schema_name, schema in document.get("components", {}).get("schemas", {}).items():
        assert jsonschema_rs.meta.is_valid(schema), schema_name
    for ref in _refs(document):
        assert ref.startswith("#/"), f"{name}: non-local $ref {ref}"
        _resolve(document, ref)  # raises KeyError when dangling
    for path, method, op in operations(document):
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(_template_names(path)), f"{method.upper()} {path}"
        assert op.get("operationId"), f"{method.upper()} {path} has no operationId"
        assert any(status.startswith("2") for status in op["responses"]), f"{path} no 2xx"
        assert "422" not in op["responses"], "validation errors are 400, never 422"


def test_operation_ids_are_unique_across_documents() -> None:
    ids = Counter(op["operationId"] for s in SURFACES for _, _, op in operations(load(s.name)))
    assert [i for i, n in ids.items() if n > 1] == []


def test_every_link_reaches_an_operation() -> None:
    documents = {f"{s.name}.json": load(s.name) for s in SURFACES}
    ids = {op["operationId"]: name for name, d in documents.items() for *_, op in operations(d)}
    count = 0
    for name, document in documents.items():
        for path, method, op in operations(document):
            for response in op["responses"].values():
                for link_name, link in response.get("links", {}).items():
                    count += 1
                    where = f"{method.upper()} {path} → {link_name}"
                    if "operationId" in link:
                        assert ids.get(link["operationId"]) == name, where
                    else:
                        target_doc, _, pointer = link["operationRef"].partition("#")
                        target = _resolve(documents[target_doc or name], "#" + pointer)
                        assert "operationId" in target, where
    assert count >= 8  # validate → approve/redeem, create → get/activate/execute, …


def _template_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for key, v in node.items() if key != "$ref" for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


# -- coverage of the routes -------------------------------------------------------------------
def _api_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every API route, also inside included routers (FastAPI ≥ 0.16x
    keeps them nested instead of copying their routes into the app)."""
    for route in routes:
        if isinstance(route, APIRoute):
            if not route.include_in_schema:
                continue  # the dashboard's pages (simulator.ui): for people, not an API
            for method in route.methods or ():
                yield method.lower(), prefix + route.path
        elif getattr(route, "original_router", None) is not None:
            inner = prefix + getattr(route.include_context, "prefix", "")
            yield from _api_routes(route.original_router.routes, inner)
        elif isinstance(getattr(route, "routes", None), list):  # a Mount
            yield from _api_routes(route.routes, prefix + getattr(route, "path", ""))


def test_every_route_appears_in_exactly_one_surface_document() -> None:
    routes = Counter(_api_routes(fresh_app().routes))
    assert len(routes) > 50, "found no API routes: has FastAPI changed how it stores them?"
    documented: Counter[tuple[str, str]] = Counter()
    for surface in SURFACES:
        document = load(surface.name)
        for path, method, _ in operations(document):
            assert path.startswith(surface.prefix), f"{path} is in {surface.name}.json"
            documented[(method, path)] += 1
    assert [r for r, n in documented.items() if n > 1] == []
    assert sorted(set(routes) - set(documented)) == [], "routes missing from the documents"
    assert sorted(set(documented) - set(routes)) == [], "documented operations with no route"


# -- the listener document describes what is really sent ---------------------------------------
def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def test_listener_schemas_match_the_webhooks_the_simulator_writes() -> None:
    listener = load("listener")
    hooks = listener["webhooks"]
    by_kind = {
        "scheduled": "scheduledCampaign",
        "cancelled": "campaignCancelled",
        "channel": "campaignExecutedOnChannel",
        "triggered": "triggeredEvent",
    }
    assert set(hooks) == set(by_kind.values())
    client = TestClient(fresh_app())
    for campaign, then in ((48213, "cancel"), (48214, "clear")):  # 48214 has channels
        assert client.post(f"/_sim/campaigns/{campaign}/execute", headers=AUTH).status_code == 200
        assert client.post(f"/_sim/campaigns/{campaign}/{then}", headers=AUTH).status_code == 200
    emitted = client.post("/_sim/campaigns/7001/events", json={"count": 2}, headers=AUTH)
    assert emitted.status_code == 201
    events = client.get("/_sim/outbox", headers=AUTH).json()["events"]
    seen = set()
    for event in events:
        hook = hooks[by_kind[event["kind"]]]["post"]
        schema = hook["requestBody"]["content"]["application/json"]["schema"]
        errors = [e.message for e in _validator(listener, schema).iter_errors(event["body"])]
        assert errors == [], (event["kind"], event["body"])
        seen.add(event["kind"])
    assert seen == set(by_kind)


@pytest.mark.parametrize("secrets", [[], ["whsec_b3B0aXNpbS1kZW1vLXNlY3JldC0wMDAx"]])
def test_listener_headers_match_the_signing_code(secrets: list[str]) -> None:
    listener = load("listener")
    trace = tracing.traceparent("demo", "msg_0001", 1)  # as the dispatcher sends it
    sent = signing.headers(secrets, "msg_0001", 1_800_000_000, b'{"EventTypeID":4}', trace)
    # OpenAPI describes Content-Type by the request body's media type, not as a parameter.
    media_type = sent.pop("content-type")
    for hook in listener["webhooks"].values():
        assert list(hook["post"]["requestBody"]["content"]) == [media_type]
        parameters = {p["name"]: p for p in hook["post"]["parameters"] if p["in"] == "header"}
        required = {name for name, p in parameters.items() if p.get("required")}
        assert required <= set(sent) <= set(parameters)
        for name, value in sent.items():
            schema = parameters[name]["schema"]
            assert jsonschema_rs.is_valid(schema, value), (name, value)
        assert "2XX" in hook["post"]["responses"] and "default" in hook["post"]["responses"]


def test_documents_are_stable_json() -> None:
    for name in FILES:
        text = (CONTRACTS / name).read_text("utf-8")
        document = json.loads(text)
        assert text == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", [s.name for s in SURFACES])
def test_examples_match_their_schemas(name: str) -> None:
    document = load(name)
    checked = 0
    for path, method, op in operations(document):
        examples = [
            (p["schema"], p["example"], p["name"])
            for p in op.get("parameters", [])
            if "example" in p
        ]
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in content:
            examples.append((content["schema"], content["example"], "body"))
        for schema, example, where in examples:
            errors = [e.message for e in _validator(document, schema).iter_errors(example)]
            assert errors == [], f"{method.upper()} {path} {where}: {errors}"
            checked += 1
    assert checked > 0
