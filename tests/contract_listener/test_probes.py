"""The probe webhooks are what they claim to be: the bodies optisim sends (valid against
contracts/listener.json), signed as the simulator signs, and each negative probe breaks
exactly the rule it names (checked with the simulator's own `signing.explain`). Plus the
ways a listener can fail to answer: connection refused, too slow."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.cli import main
from simulator.listener_check.probes import Target, run_probes
from simulator.listener_check.runner import ListenerCheckOptions
from simulator.webhooks import signing
from tests.client.support import DEMO_SECRET, ThreadServer, bound_socket

LISTENER_CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "listener.json"
SCHEMAS = {
    "scheduled": "ScheduledCampaignEvent",
    "cancelled": "CampaignCancelledEvent",
    "channel": "ChannelExecutedEvent",
    "triggered": "TriggeredEvent",
}
PER_KIND = 9  # accepted, duplicate, 4 signature probes, 3 malformed bodies


class Recorder:
    """Answers 202 to everything and keeps each request's path, headers and raw body."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            self.requests.append((request.url.path, dict(request.headers), await request.body()))
            return JSONResponse({"status": "accepted"}, 202)

        return Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])


def test_probe_webhooks_are_optisims_webhooks_and_break_only_the_rule_they_name() -> None:
    recorder = Recorder()
    schemas = json.loads(LISTENER_CONTRACT.read_text())["components"]["schemas"]
    with ThreadServer(recorder.app()) as server:
        targets = [Target(k, f"{server.url}/{k}", DEMO_SECRET) for k in SCHEMAS]
        asyncio.run(run_probes(targets, timeout_s=5))
    assert len(recorder.requests) == len(SCHEMAS) * PER_KIND
    now = time.time()
    for n, kind in enumerate(SCHEMAS):
        sent = recorder.requests[n * PER_KIND : (n + 1) * PER_KIND]
        assert {path for path, _, _ in sent} == {f"/{kind}"}
        (_, first_h, body), (_, again_h, again_body) = sent[0], sent[1]
        assert jsonschema_rs.validator_for(schemas[SCHEMAS[kind]]).is_valid(json.loads(body))

        problems = [
            signing.explain(data, headers, [DEMO_SECRET], now, original=body).problem
            for _, headers, data in sent
        ]
        assert problems == [
            None,  # accepted
            None,  # its duplicate
            "header_missing",  # unsigned
            "body_changed",  # tampered
            "wrong_secret",
            "timestamp_out_of_tolerance",  # stale
            None,  # the malformed bodies are signed, so they reach the parser
            None,
            None,
        ]
        assert again_h["webhook-id"] == first_h["webhook-id"] and again_body == body
        with pytest.raises(ValueError):
            json.loads(sent[6][2])
        assert isinstance(json.loads(sent[7][2]), dict) and sent[8][2] == b""


def _cli(*args: str) -> Any:
    return CliRunner().invoke(main, ["contract", "listener", *args])


def test_a_listener_that_is_not_there_is_one_could_not_run() -> None:
    sock = bound_socket()  # bound, never listening: connections are refused
    try:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = _cli("--url", url, "--kinds", "scheduled")
    finally:
        sock.close()
    assert result.exit_code == 2  # not a finding about the listener: nothing was checked
    assert f"could not run the check: nothing is listening at {url}" in result.output
    assert "scheduled.accepted" not in result.output


def test_a_listener_slower_than_the_timeout_fails_acceptance() -> None:
    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.0)
        return JSONResponse({}, 200)

    app = Starlette(routes=[Route("/{path:path}", slow, methods=["POST"])])
    with ThreadServer(app) as server:
        result = _cli("--url", server.url, "--kinds", "cancelled", "--timeout", "0.2", "--quiet")
    assert result.exit_code == 1
    assert "FAIL cancelled.accepted: cancelled webhook: expected 2xx, got timeout after 0.2 s" in (
        result.output
    )


def test_the_channel_probe_goes_to_the_channel_path_else_to_the_scheduled_path() -> None:
    default = ListenerCheckOptions(url="http://l/", scheduled_path="/events")
    assert default.target_url("channel") == "http://l/events"
    own = ListenerCheckOptions(url="http://l", channel_path="/channels")
    assert own.target_url("channel") == "http://l/channels"
    assert own.flow().channel_url == "http://l/channels"
    assert ListenerCheckOptions(url="http://l", kinds=("scheduled",)).flow().channel_url is None
    recorder = Recorder()
    with ThreadServer(recorder.app()) as server:
        result = _cli("--url", server.url, "--kinds", "channel", "--channel-path", "/ch")
    assert result.exit_code == 0, result.output
    assert {path for path, _, _ in recorder.requests} == {"/ch"}
    first = json.loads(recorder.requests[0][2])
    assert first["EventTypeID"] == 13 and isinstance(first["TenantID"], int)
    assert "channel.accepted" in result.output


def test_options_that_cannot_work_exit_2() -> None:
    assert _cli("--url", "http://127.0.0.1:1", "--secret", "s3cret").exit_code == 2
    assert _cli("--url", "ftp://listener").exit_code == 2
    assert _cli("--url", "http://127.0.0.1:1", "--kinds", "scheduled,nope").exit_code == 2
    both = _cli("--url", "http://x", "--simulator-url", "http://y", "--simulator-port", "9")
    assert both.exit_code == 2 and "not both" in both.output


def test_a_simulator_that_cannot_be_reached_exits_2_not_1() -> None:
    sock = bound_socket()
    try:
        sim = f"http://127.0.0.1:{sock.getsockname()[1]}"
        result = _cli("--url", "http://127.0.0.1:9", "--simulator-url", sim)
    finally:
        sock.close()
    assert result.exit_code == 2
    assert "could not run the check" in result.output and "unreachable" in result.output


def test_a_simulator_port_already_taken_exits_2_and_says_so() -> None:
    sock = bound_socket()
    sock.listen()  # somebody else serves on this port
    try:
        port = str(sock.getsockname()[1])
        result = _cli("--url", "http://127.0.0.1:9", "--simulator-port", port)
    finally:
        sock.close()
    assert result.exit_code == 2
    assert "already in use" in result.output
