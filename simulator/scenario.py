"""Scenario files (YAML or JSON): parse, validate with pydantic, load the built-in ones.

Built-ins ship as package data (`simulator/scenarios/*.yaml`) so they work after
`pip install`: `demo` (10,000 targeted of 100,000 customers) and `large` (1,000,000).
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

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
    if data is None:  # an empty file (or only comments) is a mistake, not the defaults
        raise DomainError(
            "invalid_request",
            f"{source}: the scenario is empty (write `{{}}` for every default)",
            {"field": "scenario"},
        )
    try:
        # Exact keys: unlike a request body, a file is code its author maintains.
        return Scenario.model_validate(data, context=EXACT_KEYS)
    except ValidationError as error:
        problems = explain(error, Scenario)
        where, first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DomainError(
            "invalid_request",
            f"{source}: {where}: {first}{more}",
            {
                "field": where,
                "problems": [{"field": f, "problem": m} for f, m in problems[:20]],
            },
        ) from None


def explain(error: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    """Pydantic's problems as (field, message), the most useful first.

    A misspelled field (`audiencecap`) gives two problems: an unknown field and a missing
    one (`audienceCap`). Reported as one, first: "unknown field `audiencecap` (did you
    mean `audienceCap`?)", with the closest field names of that object (difflib); the
    missing-field problem it explains is dropped. Other problems keep pydantic's order.
    """
    errors = error.errors()
    missing: dict[tuple[Any, ...], list[str]] = {}
    for e in errors:
        if e["type"] == "missing" and e["loc"]:
            missing.setdefault(tuple(e["loc"][:-1]), []).append(str(e["loc"][-1]))
    unknown: list[tuple[str, str]] = []
    explained: set[tuple[Any, ...]] = set()
    others: list[tuple[str, str]] = []
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] != "extra_forbidden" or not loc:
            continue
        parent, name = loc[:-1], str(loc[-1])
        absent = missing.get(parent, [])
        fields = _fields_at(model, parent)
        guess = _closest(name, absent) or _closest(name, fields)
        hint = f" (did you mean `{guess}`?)" if guess else ""
        if guess in absent:
            explained.add((*parent, guess))
        unknown.append((_field(parent), f"unknown field `{name}`{hint}"))
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" or loc in explained:
            continue
        message = str(e["msg"]).removeprefix("Value error, ")
        named = _NAMED.match(message) if not loc else None
        if named:  # a whole-scenario check that names its field itself
            others.append((named[1], named[2]))
        else:
            others.append((_field(loc), message))
    return unknown + others


_NAMED = re.compile(r"^([A-Za-z]\w*(?:\[\d+\]|\.\w+)*): (.+)$", re.DOTALL)


def _closest(name: str, candidates: list[str]) -> str | None:
    by_lower = {c.lower(): c for c in candidates}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the object at `loc` inside `model` (best effort: [] if the
    path goes through something that is not a model)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = _element(current)
            continue
        fields = getattr(current, "model_fields", None)
        if not isinstance(fields, dict) or part not in fields:
            return []
        current = _model_in(fields[part].annotation)
    found = getattr(current, "model_fields", None)
    return list(found) if isinstance(found, dict) else []


def _model_in(annotation: Any) -> Any:
    """The model class inside `X | None`, `Annotated[X, …]` or `list[X]` (kept as a list
    marker for the next index)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is list:
        return ("list", _model_in(get_args(annotation)[0]))
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _element(current: Any) -> Any:
    if isinstance(current, tuple) and current and current[0] == "list":
        return current[1]
    return None


def _looks_like_json(text: str | bytes) -> bool:
    head = text.lstrip()[:1]
    return head in ("{", b"{")


def builtin_scenario(name: str) -> Scenario:
    """A built-in scenario (a copy of its own: callers may change it)."""
    _check_builtin(name)
    return _parsed_builtin(name).model_copy(deep=True)


def _check_builtin(name: str) -> None:
    if name not in BUILTINS:
        raise DomainError(
            "unknown_scenario", f"no built-in scenario {name!r} ({', '.join(BUILTINS)})"
        )


def shared_builtin(name: str) -> Scenario:
    """A built-in scenario shared by every caller, for those that only read it (creating
    a tenant from it): no copy, no parse."""
    _check_builtin(name)
    return _parsed_builtin(name)


@cache
def _parsed_builtin(name: str) -> Scenario:
    # Parsed once per process: PyYAML took ~30 ms a parse, which was most of the cost of
    # `POST /_sim/tenants {"builtin": "demo"}` (a tenant per test creates thousands).
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
