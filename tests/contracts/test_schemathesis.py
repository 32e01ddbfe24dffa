"""Schemathesis against the simulator, in process (ASGI), for every surface document.

Each parametrized test is one operation of a committed contract document; it gets a fresh
simulator (the demo world, manual clock, campaign 48213 executed) shared by that operation's
examples, and runs the examples, coverage and fuzzing phases with positive and negative
data. Every request carries the simulator's admin key; `ignored_auth` re-sends without it
and with a wrong one.

Deterministic by default (derandomized, a few examples per operation). A larger random
run: `OPTISIM_FUZZ_EXAMPLES=500 OPTISIM_FUZZ_SEED=random pytest tests/contracts`
(`OPTISIM_FUZZ_SEED=<n>` replays one).

Against a simulator running elsewhere: `OPTISIM_CONTRACT_URL=http://127.0.0.1:8900 pytest
tests/contracts/test_schemathesis.py` (or `--contract-url`); each operation test then gets a
fresh tenant of it instead of a fresh simulator (support.remote_tenant).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, CheckContext, load_all_checks
from schemathesis.specs.openapi.checks import ignored_auth

from simulator.contracts import operations
from tests.contracts.support import (
    ARMS_FAULTS,
    AUTH,
    DERANDOMIZE,
    EXAMPLES,
    OPERATIONS,
    STATEFUL_SCENARIOS,
    STATEFUL_STEPS,
    SURFACES,
    URL,
    URL_KEY,
    fresh_app,
    load,
    remote_tenant,
    schemathesis_config,
)

load_all_checks()
AVAILABLE = set(CHECKS.get_all_names())
WANTED = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
)
# The checks `schemathesis run --checks all` runs on a single request, as the CLI does: every
# one in schemathesis 4.32 but these.
# - use_after_free, ensure_resource_availability: they need a recorded scenario, so
#   test_stateful_links runs them.
# - object_level_authorization: needs a second identity's resources (the CLI skips it too
#   unless configured with one).
CHECK_NAMES = [name for name in WANTED if name in AVAILABLE]

# ignored_auth re-sends a successful request without the key and with a wrong one. The
# schemathesis runner does that once per operation and run (`auth_enforced_operations`:
# "enforcement is a property of the operation"); `call_and_validate` has no run, so it would
# probe every successful case again: two extra requests each, most of this suite's time. This
# gives the check the runner's memory, one per schema (a schema here is a run); it still
# probes each operation until one probe has confirmed that the key is enforced.
AUTH_ENFORCED: dict[int, tuple[Any, set[str]]] = {}  # id(schema) → (schema, operations)


@functools.wraps(ignored_auth)
def ignored_auth_once_per_operation(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    schema = case.operation.schema  # kept in the entry, so its id is not reused
    ctx.auth_enforced_operations = AUTH_ENFORCED.setdefault(id(schema), (schema, set()))[1]
    return ignored_auth(ctx, response, case)


CHECK_FUNCTIONS = [
    ignored_auth_once_per_operation if check is ignored_auth else check
    for check in CHECKS.get_by_names(CHECK_NAMES)
]
CONFORMANCE = CHECKS.get_by_names(
    ["status_code_conformance", "content_type_conformance", "response_schema_conformance"]
)


class Switch:
    """The ASGI app the schemas are bound to: it forwards each request to the current fresh
    simulator. It answers the lifespan itself, so the simulators never start theirs (no
    sweeper task, no process-wide GC tuning inside the test process)."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        assert self.app is not None, "no simulator: use the `auth` fixture"
        await self.app(scope, receive, send)


SWITCH = Switch()


def fresh_world() -> dict[str, str]:
    """A fresh demo world for one operation test or stateful scenario; returns the headers
    its requests carry. In process: a new simulator behind SWITCH. With a URL: a new tenant
    of the simulator running there, with its own admin key."""
    if URL is None:
        SWITCH.app = fresh_app(executed=True)
        return AUTH
    return remote_tenant(URL, URL_KEY)


def _bind(schema: Any) -> Any:
    if URL is None:  # with a URL, the configuration's base-url is where requests go
        schema.app = SWITCH
    return schema


def _schema(name: str) -> Any:
    document = load(name)
    config = schemathesis_config(base_url=URL, deterministic=DERANDOMIZE, database="none")
    schema = _bind(schemathesis.openapi.from_dict(document, config=config))
    # `include` would be OR-ed with the configuration's own filters: exclude the rest instead.
    ids = [op["operationId"] for _, _, op in operations(document)]
    others = [op_id for op_id in ids if OPERATIONS and op_id not in OPERATIONS]
    return schema.exclude(operation_id=others) if others else schema


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=DERANDOMIZE,
    database=None,
    deadline=None,
    print_blob=False,
    # The auth fixture is per operation test on purpose: one fresh simulator for its examples.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def auth() -> Iterator[dict[str, str]]:
    """A fresh simulator (or tenant) for each operation test, shared by its examples: the
    headers that reach it."""
    yield fresh_world()
    SWITCH.app = None


F = TypeVar("F", bound=Callable[..., None])


def parametrize(schema: Any) -> Callable[[F], F]:
    """`schema.parametrize()`, typed (it returns a bare Callable)."""
    return cast(Callable[[F], F], schema.parametrize())


def fuzz(case: Any, auth: dict[str, str]) -> None:
    try:
        case.call_and_validate(headers=auth, checks=CHECK_FUNCTIONS)
    finally:
        if case.operation.definition.raw.get("operationId") in ARMS_FAULTS:
            # The operation test's next example must not inherit the rules this one armed
            # (a scenario's `faults`, PUT /_sim/faults): the fault routes are never faulted.
            clear = case.operation.schema["/_sim/faults"]["DELETE"].Case()
            assert clear.call(headers=auth).status_code == 204


core = _schema("optimove-core")
ce_v2 = _schema("ce-v2")
promotions = _schema("promotions")
control = _schema("control")


@parametrize(core)
@FUZZ_SETTINGS
def test_core(case: Any, auth: dict[str, str]) -> None:
    fuzz(case, auth)


@parametrize(ce_v2)
@FUZZ_SETTINGS
def test_ce_v2(case: Any, auth: dict[str, str]) -> None:
    fuzz(case, auth)


@parametrize(promotions)
@FUZZ_SETTINGS
def test_promotions(case: Any, auth: dict[str, str]) -> None:
    fuzz(case, auth)


@parametrize(control)
@FUZZ_SETTINGS
def test_control(case: Any, auth: dict[str, str]) -> None:
    fuzz(case, auth)


def test_the_wanted_checks_exist() -> None:
    """If an upgrade renames a check, say so instead of silently running fewer."""
    missing = set(WANTED) - AVAILABLE
    assert not missing, f"checks gone from this schemathesis version: {missing}"


# -- missing auth on the core surface -----------------------------------------------------------
CORE_SECURED = [
    (path, method)
    for path, method, op in operations(load("optimove-core"))
    if op.get("security") != []
]


@functools.cache
def _unchanged_app() -> FastAPI:
    return fresh_app()


@pytest.fixture
def refused() -> Iterator[None]:
    """A simulator for requests it refuses (no key): one for all of them, since they
    change nothing. (With a URL: the simulator running there.)"""
    if URL is None:
        SWITCH.app = _unchanged_app()
    yield
    SWITCH.app = None


@pytest.mark.parametrize(("path", "method"), CORE_SECURED)
@pytest.mark.usefixtures("refused")
def test_core_without_a_key_is_401_with_a_string_body(path: str, method: str) -> None:
    operation = core[path][method.upper()]
    case = hypothesis.find(
        operation.as_strategy(),
        lambda _: True,
        settings=settings(
            database=None, derandomize=True, max_examples=1, phases=[hypothesis.Phase.generate]
        ),
    )
    for name in ("X-API-KEY", "Authorization-Token"):
        case.headers.pop(name, None)
    response = case.call()
    assert response.status_code == 401, response.text
    assert isinstance(response.json(), str)
    case.validate_response(response, checks=CONFORMANCE)


# -- the stateful phase: follow the links across the surfaces ----------------------------------
def merged_document() -> dict[str, Any]:
    """All four surfaces in one document, links between them made local, so the state
    machine can chain e.g. execute_campaign (control) → GetProcessedCampaignCustomers (core)
    → validate_customers (promotions) → UpdateCustomerPromotionStatus (core)."""
    merged: dict[str, Any] = {}
    for name in SURFACES:
        document = load(name)
        if not merged:
            merged = {**document, "paths": {}, "components": {"schemas": {}}}
            merged["components"]["securitySchemes"] = document["components"]["securitySchemes"]
        merged["paths"].update(document["paths"])
        merged["components"]["schemas"].update(document["components"]["schemas"])
    text = json.dumps(merged)
    for name in SURFACES:
        text = text.replace(f'"{name}.json#/', '"#/')
    result: dict[str, Any] = json.loads(text)
    return result


def test_stateful_links() -> None:
    """Random chains of linked operations (explicit links and the ones schemathesis infers)
    on one simulator per scenario. Its checks are the configured defaults, the stateful
    ones included (ensure_resource_availability, use_after_free); test_links.py walks
    every explicit link deterministically."""
    config = schemathesis_config(
        stateful=True, base_url=URL, deterministic=DERANDOMIZE, database="none"
    )
    schema = _bind(schemathesis.openapi.from_dict(merged_document(), config=config))
    headers = AUTH
    # Injected faults are deliberate contract violations (undocumented 503s, cut
    # connections): the fuzz test of set_faults covers it; chains must not install them.
    # archive_promotion: out of the stateful phase (schemathesis.toml says why).
    leave_out = ["set_faults", "archive_promotion"]
    base = schema.exclude(operation_id=leave_out).as_state_machine()
    followed: Counter[str] = Counter()

    class Machine(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            nonlocal headers
            headers = fresh_world()  # a fresh simulator (or tenant) per scenario

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            if input.transition is not None and input.is_applied:
                followed[f"{input.transition.id} → {output.response.status_code}"] += 1
            return output

        def teardown(self) -> None:
            SWITCH.app = None

    Machine.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=DERANDOMIZE,
            database=None,
            deadline=None,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        )
    )
    print("links followed:", dict(followed))
    assert followed, "the state machine followed no link"


# -- Allow on every 405 ------------------------------------------------------------------------
MULTI_METHOD_PATHS = [
    (name, path) for name in SURFACES for path, item in load(name)["paths"].items() if len(item) > 1
]


@pytest.mark.usefixtures("refused")
def test_every_405_allows_every_documented_method_of_its_path() -> None:
    """allow_header_conformance on an OPTIONS request to every path with several methods:
    the 405's `Allow` names every method the path serves, not only the first route's
    (wire-contract §1, rev 2)."""
    schemas = {"optimove-core": core, "ce-v2": ce_v2, "promotions": promotions, "control": control}
    (check,) = CHECKS.get_by_names(["allow_header_conformance"])
    assert MULTI_METHOD_PATHS
    for name, path in MULTI_METHOD_PATHS:
        names = re.findall(r"{(\w+)}", path)
        case = next(iter(schemas[name][path].values())).Case(
            path_parameters=dict.fromkeys(names, "1")
        )
        case.validate_response(case.call(method="OPTIONS", headers=AUTH), checks=[check])
