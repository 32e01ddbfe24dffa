"""Checking an exchange against optisim's published OpenAPI documents (contracts/*.json).

The operation is found by method and path template (literal segments compared without
regard to case: the real core API accepts any spelling of its paths); bodies are checked
with jsonschema-rs (OpenAPI 3.1 schemas are JSON Schema 2020-12; the Rust validator
checks a 1,000-context validation body in ~0.2 ms where the pure-Python `jsonschema`
took ~94 ms, docs/decisions.md)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema_rs import Draft202012Validator

JSON = dict[str, Any]
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "contracts"
API_DOCUMENTS = ("optimove-core", "ce-v2", "promotions")
_NOT_JSON = object()


@dataclass
class Operation:
    surface: str
    method: str
    template: str
    operation_id: str
    spec: JSON
    document: JSON = field(repr=False)
    pattern: re.Pattern[str] = field(repr=False, default=re.compile(""))


def parse_json(body: bytes) -> Any:
    """The body as JSON, or `_NOT_JSON`."""
    if not body:
        return _NOT_JSON
    try:
        return json.loads(body)
    except ValueError:
        return _NOT_JSON


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


class ContractChecker:
    """The published contracts of the API surfaces and of the listener (webhooks)."""

    def __init__(self, documents: dict[str, JSON]) -> None:
        self.operations: list[Operation] = []
        self._validators: dict[tuple[int, str], Draft202012Validator] = {}
        for surface in API_DOCUMENTS:
            doc = documents[surface]
            for template, item in doc["paths"].items():
                for method, spec in item.items():
                    if method.startswith("x-") or method == "parameters":
                        continue
                    self.operations.append(
                        Operation(
                            surface,
                            method.upper(),
                            template,
                            spec.get("operationId", f"{method} {template}"),
                            spec,
                            doc,
                            _template_pattern(template),
                        )
                    )
        # literal templates first, so /v1/promotions/{id} never shadows a literal path
        self.operations.sort(key=lambda op: op.template.count("{"))
        self.listener: JSON = documents["listener"]

    @classmethod
    def from_dir(cls, directory: Path = DEFAULT_DIR) -> ContractChecker:
        names = (*API_DOCUMENTS, "listener")
        return cls({n: json.loads((directory / f"{n}.json").read_text("utf-8")) for n in names})

    def find(self, method: str, path: str) -> Operation | None:
        for op in self.operations:
            if op.method == method.upper() and op.pattern.match(path):
                return op
        return None

    def _validator(self, document: JSON, schema: JSON) -> Draft202012Validator:
        key = (id(document), json.dumps(schema, sort_keys=True))
        found = self._validators.get(key)
        if found is None:
            # the document's components travel with the schema so `#/components/...` resolves
            found = Draft202012Validator({**schema, "components": document["components"]})
            self._validators[key] = found
        return found

    def _errors(self, document: JSON, schema: JSON, body: bytes, where: str) -> list[str]:
        value = parse_json(body)
        if value is _NOT_JSON:
            return [f"{where}: the body is not JSON"]
        errors = sorted(
            self._validator(document, schema).iter_errors(value),
            key=lambda e: [str(p) for p in e.instance_path],
        )
        return [f"{where} at {_json_path(e.instance_path)}: {e.message}" for e in errors[:5]]

    def check_request(
        self, method: str, path: str, query: dict[str, str], body: bytes
    ) -> tuple[Operation | None, list[str]]:
        """The operation and what the request breaks of its contract."""
        op = self.find(method, path)
        if op is None:
            return None, [f"request: no published operation is {method} {path}"]
        problems = []
        for param in op.spec.get("parameters", []):
            if param.get("in") == "query" and param.get("required") and param["name"] not in query:
                problems.append(f"request: the query parameter {param['name']} is missing")
        content = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
        if (
            content is not None
            and "schema" in content
            and (body or op.spec["requestBody"].get("required"))
        ):
            problems += self._errors(op.document, content["schema"], body, "request body")
        return op, problems

    def check_response(self, op: Operation, status: int, body: bytes) -> list[str]:
        responses = op.spec.get("responses", {})
        spec = (
            responses.get(str(status))
            or responses.get(f"{status // 100}XX")
            or responses.get("default")
        )
        if spec is None:
            listed = ", ".join(sorted(responses))
            return [f"response: status {status} is not published for {op.operation_id} ({listed})"]
        content = spec.get("content", {}).get("application/json")
        if content is None or "schema" not in content:
            return []
        return self._errors(op.document, content["schema"], body, f"response {status} body")

    def check_webhook(self, headers: dict[str, str], body: bytes) -> tuple[str, list[str]]:
        """The webhook (operation id) the body matches and what it breaks: a body must
        match one of the listener document's webhooks; their headers are checked too."""
        lower = {k.lower(): v for k, v in headers.items()}
        best: tuple[str, list[str]] | None = None
        for name, item in self.listener.get("webhooks", {}).items():
            spec = item["post"]
            schema = spec["requestBody"]["content"]["application/json"]["schema"]
            problems = self._errors(self.listener, schema, body, "webhook body")
            for param in spec.get("parameters", []):
                if param.get("in") != "header":
                    continue
                value = lower.get(param["name"].lower())
                if value is None:
                    if param.get("required"):
                        problems.append(f"webhook: the header {param['name']} is missing")
                    continue
                pattern = param.get("schema", {}).get("pattern")
                if pattern and not re.search(pattern, value):
                    problems.append(f"webhook: the header {param['name']} does not match {pattern}")
            if not problems:
                return spec.get("operationId", name), []
            if best is None or len(problems) < len(best[1]):
                best = (spec.get("operationId", name), problems)
        return best if best is not None else ("unknown", ["webhook: no webhook is published"])


def _json_path(parts: Any) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out
