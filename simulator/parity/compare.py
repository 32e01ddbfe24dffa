"""Comparing a recorded answer with optisim's (pure): normalise what must differ, then
list divergences of status, the headers that matter, body shape and values.

Normalised: placeholders and ids learned during the replay (`mapping`), UUIDs, ISO
timestamps, and the order of lists in the operations whose order the API does not
promise (`UNORDERED`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
PLACEHOLDER = re.compile(r"^<redacted:\d+>$")
# optisim's generated ids: a short prefix and hex digits (wh_…, AL_…); the real service's
# are opaque too, so only "an id is here" is compared
PREFIXED_ID = re.compile(r"^[A-Za-z]{1,8}[_-][0-9a-fA-F]{10,}$")
# operations whose lists come in no promised order (listings; the contracts promise none)
UNORDERED = {
    "get_registered_event_listeners",
    "get_promotions",
    "list_promotions",
}
HEADERS_THAT_MATTER = ("content-type", "retry-after", "location")


@dataclass
class Divergence:
    seq: int
    operation: str
    kind: str  # status | header | missing | extra | type | value
    where: str  # a JSON path or header name
    recorded: Any
    optisim: Any
    verdict: str = "optisim"
    why: str = ""
    request: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        if self.kind == "status":
            return f"{self.operation}: status"
        where = re.sub(r"\[\d+\]", "[*]", self.where)
        return f"{self.operation}: {self.kind} {where}"


def normalise(value: Any, unordered: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: normalise(v, unordered) for k, v in value.items()}
    if isinstance(value, list):
        items = [normalise(v, unordered) for v in value]
        if unordered:
            items.sort(key=lambda v: json.dumps(v, sort_keys=True))
        return items
    if isinstance(value, str):
        if PLACEHOLDER.match(value):
            return "<redacted>"
        if UUID.match(value) or PREFIXED_ID.match(value):
            return "<id>"
        if ISO_TIME.match(value):
            return "<time>"
    return value


def substitute(value: Any, mapping: dict[str, Any]) -> Any:
    """Recorded placeholders and ids replaced by what optisim said for them."""
    if isinstance(value, dict):
        return {k: substitute(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, mapping) for v in value]
    if isinstance(value, str) and value in mapping:
        return mapping[value]
    return value


def learn(recorded: Any, actual: Any, mapping: dict[str, Any]) -> None:
    """Pair placeholders and generated ids of the recorded answer with optisim's values
    at the same place, so later requests can use optisim's."""
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for k, v in recorded.items():
            if k in actual:
                learn(v, actual[k], mapping)
    elif isinstance(recorded, list) and isinstance(actual, list):
        for r, a in zip(recorded, actual, strict=False):
            learn(r, a, mapping)
    elif (
        isinstance(recorded, str)
        and (PLACEHOLDER.match(recorded) or UUID.match(recorded) or PREFIXED_ID.match(recorded))
        and not isinstance(actual, dict | list)
    ):
        mapping.setdefault(recorded, actual)


def diff_body(recorded: Any, actual: Any, where: str = "$") -> list[tuple[str, str, Any, Any]]:
    """(kind, where, recorded, optisim) for every difference of shape or value."""
    if isinstance(recorded, dict) and isinstance(actual, dict):
        out = []
        extra = [k for k in actual if k not in recorded]
        for k in recorded:
            if k in actual:
                out += diff_body(recorded[k], actual[k], f"{where}.{k}")
                continue
            # a key missing here and an extra one there with the same value: a renamed field
            twin = next((e for e in extra if actual[e] == recorded[k]), None)
            if twin is not None:
                extra.remove(twin)
                out.append(("renamed", f"{where}.{twin}", f"{where}.{k}", f"{where}.{twin}"))
            else:
                out.append(("missing", f"{where}.{k}", recorded[k], None))
        out += [("extra", f"{where}.{k}", None, actual[k]) for k in extra]
        return out
    if isinstance(recorded, list) and isinstance(actual, list):
        if len(recorded) != len(actual):
            return [("length", where, len(recorded), len(actual))]
        out = []
        for i, (r, a) in enumerate(zip(recorded, actual, strict=True)):
            out += diff_body(r, a, f"{where}[{i}]")
        return out
    if type(recorded) is not type(actual) and not (
        isinstance(recorded, int | float) and isinstance(actual, int | float)
    ):
        return [("type", where, recorded, actual)]
    return [] if recorded == actual else [("value", where, recorded, actual)]


def compare(
    seq: int,
    operation: str,
    recorded: dict[str, Any],
    actual: dict[str, Any],
    mapping: dict[str, Any],
) -> list[Divergence]:
    """`recorded` and `actual`: {"status", "headers", "body"} with body {"json"} or
    {"text"}."""
    if recorded["status"] != actual["status"]:
        # one divergence with both answers: headers and bodies of another status differ anyway
        both = [{"status": x["status"], **x["body"]} for x in (recorded, actual)]
        return [Divergence(seq, operation, "status", "status", both[0], both[1])]
    out = []
    for name in HEADERS_THAT_MATTER:
        r = (
            _media(recorded["headers"].get(name))
            if name == "content-type"
            else recorded["headers"].get(name)
        )
        a = (
            _media(actual["headers"].get(name))
            if name == "content-type"
            else actual["headers"].get(name)
        )
        if name == "retry-after":
            r, a = r is not None, a is not None  # present or not: its seconds vary
        if r != a:
            out.append(Divergence(seq, operation, "header", name, r, a))
    unordered = operation in UNORDERED
    rb, ab = recorded["body"], actual["body"]
    if "json" in rb and "json" in ab:
        r_norm = normalise(substitute(rb["json"], mapping), unordered)
        a_norm = normalise(ab["json"], unordered)
        for kind, where, rv, av in diff_body(r_norm, a_norm):
            out.append(Divergence(seq, operation, kind, where, rv, av))
    elif rb != ab:
        out.append(Divergence(seq, operation, "body", "$", rb, ab))
    return out


def _media(value: str | None) -> str | None:
    return value.split(";")[0].strip().lower() if value else None


def judge(divergence: Divergence, record: dict[str, Any]) -> None:
    """Which side looks wrong. The recording is the evidence of the real service, so
    optisim looks wrong, unless the exchange itself is no evidence: the request broke the
    contract (the integrator sent something the API does not accept), or the service
    answered with a 5xx or the proxy's own 502 (a passing outage, not a rule)."""
    status = record["response"]["status"]
    violations = record.get("violations", [])
    if any(v.startswith("request") for v in violations):
        divergence.verdict = "recording"
        divergence.why = "the recorded request broke the contract"
    elif status >= 500:
        divergence.verdict, divergence.why = (
            "recording",
            f"the service answered {status} (an outage?)",
        )
    elif any(v.startswith("response") for v in violations):
        divergence.verdict = "optisim"
        divergence.why = (
            "the real answer breaks optisim's published contract: the contract is wrong"
        )
    else:
        divergence.verdict, divergence.why = "optisim", "optisim answers otherwise than the service"
