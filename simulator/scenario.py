"""Scenario files (YAML or JSON): parse, validate with pydantic, load the built-in ones.

Built-ins ship as package data (`simulator/scenarios/*.yaml`) so they work after
`pip install`: `demo` (10,000 targeted of 100,000 customers) and `large` (1,000,000).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.domain.errors import DomainError
from simulator.specs import Scenario
from simulator.wire import EXACT_KEYS, integral, loads

BUILTINS = ("demo", "large")


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "scenario"


class _Loader(yaml.SafeLoader):
    """YAML as the wire reads JSON (`simulator.wire.loads`): an integral float is an int,
    so a scenario means the same in YAML, in a JSON file and in a request body."""


def _float(loader: yaml.SafeLoader, node: yaml.Node) -> float | int:
    return integral(loader.construct_yaml_float(node))  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:float", _float)


def parse_scenario(text: str | bytes, *, source: str = "scenario") -> Scenario:
    """Parse YAML (a superset of JSON) and validate strictly (no type coercion, keys
    spelled exactly as declared); errors name the bad field."""
    try:
        data = loads(text) if _looks_like_json(text) else yaml.load(text, Loader=_Loader)
    except (ValueError, yaml.YAMLError) as error:
        raise DomainError("invalid_request", f"{source}: not valid YAML or JSON: {error}") from None
    except RecursionError:  # PyYAML's parser recurses once per nesting level
        raise DomainError(
            "invalid_request", f"{source}: not valid YAML or JSON: nested too deeply"
        ) from None
    if data is None:
        data = {}
    try:
        # Exact keys: unlike a request body, a file is code its author maintains.
        return Scenario.model_validate(data, context=EXACT_KEYS)
    except ValidationError as error:
        first = error.errors()[0]
        where = _field(tuple(first["loc"]))
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise DomainError(
            "invalid_request",
            f"{source}: {where}: {first['msg']}{more}",
            {
                "field": where,
                "problems": [
                    {"field": _field(tuple(e["loc"])), "problem": e["msg"]}
                    for e in error.errors()[:20]
                ],
            },
        ) from None


def _looks_like_json(text: str | bytes) -> bool:
    head = text.lstrip()[:1]
    return head in ("{", b"{")


def builtin_scenario(name: str) -> Scenario:
    if name not in BUILTINS:
        raise DomainError(
            "unknown_scenario", f"no built-in scenario {name!r} ({', '.join(BUILTINS)})"
        )
    text = resources.files("simulator.scenarios").joinpath(f"{name}.yaml").read_text("utf-8")
    return parse_scenario(text, source=f"{name}.yaml")


def load_scenario_file(path_or_name: str) -> Scenario:
    """A built-in scenario by name, or a YAML/JSON file by path."""
    if path_or_name in BUILTINS:
        return builtin_scenario(path_or_name)
    path = Path(path_or_name)
    if not path.is_file():
        raise DomainError("unknown_scenario", f"no scenario file {path_or_name!r}")
    return parse_scenario(path.read_bytes(), source=path.name)
