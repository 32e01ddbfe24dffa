"""The listener check, tried as a new user would: probe bodies only raw-byte verification
accepts, a refusal explained, `*_refused` checks that prove nothing are not passed, and one
clear "could not run" when nothing listens; with a simulator, an app that never called it
is told so first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.cli import main
from simulator.listener_check.probes import awkward_body, webhook_payload
from simulator.server_process import free_port
from tests.client.support import DEMO_SECRET, ThreadServer
from tests.contract_listener.support import trusting_listener

SIGNATURE_CHECKS = ("unsigned_refused", "tampered_refused", "wrong_secret_refused", "stale_refused")


def verifying_listener(reserialise: Any = None) -> Starlette:
    """Verifies Standard Webhooks signatures with the demo secret, over the raw body, or
    over `reserialise(parsed)` (the classic bug: verifying what the framework re-wrote)."""
    hook = Webhook(DEMO_SECRET)

    async def receive(request: Request) -> Response:
        raw = await request.body()
        try:
            data = raw if reserialise is None else reserialise(json.loads(raw)).encode()
            hook.verify(data, dict(request.headers))
        except Exception:
            return JSONResponse({"error": "bad signature"}, 401)
        return JSONResponse({"status": "accepted"}, 202)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def refusing_listener() -> Starlette:
    async def refuse(request: Request) -> Response:
        await request.body()
        return JSONResponse({"error": "unauthorized"}, 401)

    return Starlette(routes=[Route("/{path:path}", refuse, methods=["POST"])])


def check(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, dict[str, Any]]]:
    report = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["contract", "listener", *args, "--json", str(report)])
    found = json.loads(report.read_text()) if report.exists() else {"checks": []}
    return result.exit_code, result.output, {c["id"]: c for c in found["checks"]}


@pytest.mark.parametrize("kind", ["scheduled", "cancelled", "channel", "triggered"])
def test_probe_bodies_are_valid_json_no_re_serialisation_gives_back(kind: str) -> None:
    from datetime import UTC, datetime

    payload = webhook_payload(kind, datetime.now(UTC))
    raw = awkward_body(payload)
    assert json.loads(raw) == payload  # the same value
    rewritten = {
        orjson.dumps(json.loads(raw)),
        json.dumps(json.loads(raw)).encode(),
        json.dumps(json.loads(raw), separators=(",", ":")).encode(),
        json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":")).encode(),
        json.dumps(json.loads(raw), sort_keys=True).encode(),
        json.dumps(json.loads(raw), indent=2).encode(),
    }
    assert raw not in rewritten
    if kind == "triggered":
        assert "ü".encode() in raw and b" : 1.0" in raw  # raw UTF-8 and a number 1.0


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda d: json.dumps(d, separators=(",", ":"), ensure_ascii=False),
        lambda d: json.dumps(d),
    ],
    ids=["compact", "python-default"],
)
def test_a_listener_verifying_a_re_serialised_body_fails_with_the_explainers_verdict(
    tmp_path: Path, rewrite: Any
) -> None:
    with ThreadServer(verifying_listener(rewrite)) as listener:
        code, output, checks = check(
            tmp_path, "--url", listener.url, "--secret", DEMO_SECRET, "--kinds", "scheduled"
        )
    assert code == 1, output
    accepted = checks["scheduled.accepted"]
    assert accepted["status"] == "fail"
    assert "expected 2xx, got 401" in accepted["detail"]
    assert "verifies a re-serialised body instead of the raw bytes" in accepted["detail"]
    for name in SIGNATURE_CHECKS:
        assert checks[f"scheduled.{name}"]["status"] == "skip"


def test_the_compact_rewrite_is_named_with_the_byte_it_departs_at(tmp_path: Path) -> None:
    compact = verifying_listener(lambda d: json.dumps(d, separators=(",", ":")))
    with ThreadServer(compact) as listener:
        _, _, checks = check(
            tmp_path, "--url", listener.url, "--secret", DEMO_SECRET, "--kinds", "scheduled"
        )
    detail = checks["scheduled.accepted"]["detail"]
    assert "the same webhook written as compact JSON was accepted" in detail
    assert "at byte 1" in detail  # `{ "TenantID"` sent, `{"EventTypeID"` verified
    assert any(
        "verify these raw bytes" in line for line in checks["scheduled.accepted"]["evidence"]
    )


def test_a_raw_body_verifier_passes_every_check(tmp_path: Path) -> None:
    with ThreadServer(verifying_listener()) as listener:
        code, output, checks = check(tmp_path, "--url", listener.url, "--secret", DEMO_SECRET)
    assert code == 0, output
    assert all(c["status"] == "pass" for c in checks.values()), output


def test_a_listener_refusing_everything_passes_no_refusal_check(tmp_path: Path) -> None:
    with ThreadServer(refusing_listener()) as listener:
        code, _, checks = check(tmp_path, "--url", listener.url, "--secret", DEMO_SECRET)
    assert code == 1
    for kind in ("scheduled", "cancelled", "channel", "triggered"):
        assert checks[f"{kind}.accepted"]["status"] == "fail"
        detail = checks[f"{kind}.accepted"]["detail"]
        assert "signature verifies with the --secret given" in detail
        assert "answered 401 and 401 to the same webhook written plainly too" in detail
        for name in SIGNATURE_CHECKS:
            assert checks[f"{kind}.{name}"]["status"] == "skip"
            assert "prove nothing" in checks[f"{kind}.{name}"]["detail"]


def test_a_verifying_listener_checked_without_a_secret_is_told_to_pass_one(
    tmp_path: Path,
) -> None:
    with ThreadServer(verifying_listener()) as listener:
        code, _, checks = check(tmp_path, "--url", listener.url, "--kinds", "triggered")
    assert code == 1
    assert "pass --secret" in checks["triggered.accepted"]["detail"]


def test_nothing_listening_is_one_could_not_run(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, output, checks = check(tmp_path, "--url", url)
    assert code == 2
    assert checks == {}
    assert f"nothing is listening at {url}" in output
    assert output.count("ConnectError") == 0


@pytest.mark.slow
def test_an_app_that_never_calls_the_simulator_is_told_so_first(tmp_path: Path) -> None:
    with ThreadServer(trusting_listener()) as listener:
        code, output, checks = check(
            tmp_path,
            "--url",
            listener.url,
            "--with-simulator",
            "--customers",
            "20",
            "--events",
            "2",
            "--settle",
            "0.3",
            "--wait",
            "15",
        )
    assert code == 1
    first = next(iter(checks.values()))
    assert first["id"] == "flow.simulator_called" and first["status"] == "fail"
    assert "never called the simulator at http://127.0.0.1:" in first["detail"]
    assert "random port" in output and "--simulator-port" in output
