"""Proof that the contract suite can fail: the same checks, run the same way as in
test_schemathesis.py, against tiny apps that serve one documented operation
(`GET /v1/promotions/{promotionId}` of promotions.json) wrongly (a field of the wrong type,
a 500, no key check), must report a failure; against the real simulator, the same harness
passes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.failures import FailureGroup, ServerError
from schemathesis.openapi.checks import IgnoredAuth, JsonSchemaError

from tests.contracts.support import AUTH, fresh_app, load, schemathesis_config
from tests.contracts.test_schemathesis import CHECK_FUNCTIONS, Switch

PATH = "/v1/promotions/{promotionId}"


def _real_promotion() -> dict[str, Any]:
    from fastapi.testclient import TestClient

    response = TestClient(fresh_app()).get("/v1/promotions/PR-WELCOME", headers=AUTH)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def wrong_type_app() -> FastAPI:
    """Answers like the simulator, except `budget` is a string (documented: integer)."""
    app = FastAPI()
    body = {**_real_promotion(), "budget": "5000000"}

    @app.get(PATH)
    async def get_promotion(promotionId: str) -> JSONResponse:
        return JSONResponse(body)

    return app


def ignored_key_app() -> FastAPI:
    """Answers exactly like the simulator, to anyone: the key is never checked (the harness
    runs ignored_auth once per operation, test_schemathesis.py says why; once is enough)."""
    app = FastAPI()
    body = _real_promotion()

    @app.get(PATH)
    async def get_promotion(promotionId: str) -> JSONResponse:
        return JSONResponse(body)

    return app


def server_error_app() -> FastAPI:
    app = FastAPI()

    @app.get(PATH)
    async def get_promotion(promotionId: str) -> JSONResponse:
        return JSONResponse({"detail": "boom"}, status_code=500)

    return app


def run_checks(app: Any) -> None:
    """The fuzz harness of test_schemathesis.py for one operation, bound to `app`: the same
    document, configuration, auth header and checks (a few derandomized examples)."""
    schema = schemathesis.openapi.from_dict(load("promotions"), config=schemathesis_config())
    schema.app = Switch()  # as in test_schemathesis: no lifespan left running afterwards
    schema.app.app = app
    operation = schema[PATH]["GET"]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=5,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECK_FUNCTIONS)

    fuzz()


@pytest.mark.parametrize(
    ("make_app", "failure"),
    [
        (wrong_type_app, JsonSchemaError),
        (server_error_app, ServerError),
        (ignored_key_app, IgnoredAuth),
    ],
    ids=["wrong-field-type", "server-error", "key-not-checked"],
)
def test_the_checks_report_a_broken_implementation(
    make_app: Callable[[], FastAPI], failure: type[Exception]
) -> None:
    with pytest.raises(FailureGroup) as raised:
        run_checks(make_app())
    found = [type(f).__name__ for f in raised.value.exceptions]
    assert any(isinstance(f, failure) for f in raised.value.exceptions), found


def test_the_same_harness_passes_on_the_simulator() -> None:
    run_checks(fresh_app(executed=True))
