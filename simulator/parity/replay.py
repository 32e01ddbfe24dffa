"""Replaying a recording against a fresh optisim tenant, in the recorded order.

API requests are sent as recorded, with the fresh tenant's integrations key for the
redacted `X-API-KEY` and with placeholders and generated ids replaced by what optisim
answered for them earlier (compare.learn). Recorded webhooks are cues: a scheduled
campaign's webhook means the campaign was executed at that point, so the replay executes
it (a cancellation cancels it) through the control client."""

from __future__ import annotations

import base64
import contextlib
import json
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.control_client import ControlClient, NotFound, TenantAccess
from simulator.parity.compare import PLACEHOLDER, Divergence, compare, judge, learn, substitute
from simulator.parity.derive import derive_scenario
from simulator.scenario import load_scenario_file
from simulator.server_process import ADMIN as DEMO_ADMIN
from simulator.server_process import SimulatorProcess

# a redacted secret in a request (a CE v2 registration's own webhook secret) is replaced
# by this one: the replay needs a valid secret, not the integrator's
REPLAY_SECRET = "whsec_" + base64.b64encode(b"optisim-parity-replay-secret").decode()
# content-encoding too: a body is recorded (and replayed) decoded
SKIP_HEADERS = {
    "content-length",
    "content-encoding",
    "host",
    "connection",
    "transfer-encoding",
    "x-api-key",
}


@dataclass
class ParityResult:
    recording: str
    exchanges: int = 0
    cues: list[str] = field(default_factory=list)
    divergences: list[Divergence] = field(default_factory=list)

    def groups(self) -> dict[str, list[Divergence]]:
        out: dict[str, list[Divergence]] = {}
        for d in self.divergences:
            out.setdefault(d.rule, []).append(d)
        return out


def read_recording(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return sorted(records, key=lambda r: r["seq"])


def scenario_for(
    records: list[dict[str, Any]], scenario: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The scenario given (a built-in name or a file), else one derived from the
    recording over the built-in demo world (derive.py), with notes on what was derived."""
    loaded = load_scenario_file(scenario or "demo")
    data: dict[str, Any] = loaded.model_dump(mode="json", exclude_none=True)
    if scenario is not None:
        return data, []
    return derive_scenario(records, data)


@contextmanager
def target(simulator_url: str | None) -> Iterator[str]:
    """The simulator to replay against: the one given, else a fresh in-memory process."""
    if simulator_url:
        yield simulator_url.rstrip("/")
        return
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="optisim-parity-")))
        sim = SimulatorProcess(load_scenario_file("demo").model_dump(mode="json"), tmp)
        stack.callback(sim.stop)
        with ControlClient(sim.url) as control:
            control.wait_until_healthy(60)
        yield sim.url


def replay(
    records: list[dict[str, Any]],
    url: str,
    scenario: dict[str, Any],
    recording: str,
    admin_key: str = DEMO_ADMIN,
) -> ParityResult:
    """Replay on a fresh tenant of the simulator at `url` (created with `admin_key`, an
    admin key of any tenant there; deleted afterwards)."""
    result = ParityResult(recording)
    # Legacy usernames are unique per simulator, and a world copied from the one the
    # target serves would collide (409 username_taken): the fresh tenant declares none
    # (recorded logins carry redacted credentials anyway).
    tenant_spec = {k: v for k, v in scenario.get("tenant", {}).items() if k != "users"}
    scenario = {**scenario, "tenant": tenant_spec} if "tenant" in scenario else scenario
    with ControlClient(url, admin_key) as control:
        tenant = control.new_tenant(name="parity", scenario=scenario)
        try:
            admin = control.with_key(tenant.admin_key)
            with httpx.Client(base_url=url, timeout=60) as http:
                _replay_all(records, tenant, admin, http, result)
        finally:
            # a simulator without tenant deletion keeps the tenant (harmless: it is fresh)
            with contextlib.suppress(NotFound):
                control.delete_tenant(tenant.tenant_id)
    return result


def _replay_all(
    records: list[dict[str, Any]],
    tenant: TenantAccess,
    admin: ControlClient,
    http: httpx.Client,
    result: ParityResult,
) -> None:
    mapping: dict[str, Any] = {}
    executed: set[int] = set()
    for record in records:
        if record["kind"] == "webhook":
            body = record["request"]["body"].get("json", {})
            campaign = body.get("CampaignID") if isinstance(body, dict) else None
            if not isinstance(campaign, int):
                continue
            if record["operation"] == "scheduled_campaign" and campaign not in executed:
                executed.add(campaign)
                admin.execute_campaign(campaign)
                result.cues.append(f"#{record['seq']}: executed campaign {campaign}")
            elif record["operation"] == "campaign_cancelled":
                admin.cancel_campaign(campaign)
                result.cues.append(f"#{record['seq']}: cancelled campaign {campaign}")
            continue
        request = record["request"]
        if "undecodable" in request["body"]:  # the proxy could not read what was sent
            result.cues.append(f"#{record['seq']}: not replayed, {request['body']['undecodable']}")
            continue
        headers = {
            k: str(substitute(v, mapping))
            for k, v in request["headers"].items()
            if k not in SKIP_HEADERS and not PLACEHOLDER.match(str(substitute(v, mapping)))
        }
        headers["x-api-key"] = tenant.integrations_key
        path = "/".join(str(substitute(p, mapping)) for p in request["path"].split("/"))
        body = request["body"]
        if "json" in body:
            content = json.dumps(_fresh_secrets(substitute(body["json"], mapping))).encode()
        else:
            content = body.get("text", "").encode()
        query = str(
            httpx.QueryParams(
                [
                    (k, str(substitute(v, mapping)))
                    for k, v in httpx.QueryParams(request["query"]).multi_items()
                ]
            )
        )
        answer = http.request(
            request["method"],
            path + (f"?{query}" if query else ""),
            headers=headers,
            content=content,
        )
        try:
            answer_body: dict[str, Any] = {"json": answer.json()}
        except ValueError:
            answer_body = {"text": answer.text} if answer.content else {}
        actual = {
            "status": answer.status_code,
            "headers": {k.lower(): v for k, v in answer.headers.items()},
            "body": answer_body,
        }
        recorded = record["response"]
        if "json" in recorded["body"] and "json" in answer_body:
            learn(recorded["body"]["json"], answer_body["json"], mapping)
        result.exchanges += 1
        for d in compare(record["seq"], record["operation"], recorded, actual, mapping):
            d.request = {"method": request["method"], "path": request["path"], "body": body}
            judge(d, record)
            result.divergences.append(d)


def _fresh_secrets(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {k: _fresh_secrets(v, "secret" in k.lower()) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh_secrets(v, secret) for v in value]
    if secret and isinstance(value, str) and PLACEHOLDER.match(value):
        return REPLAY_SECRET
    return value
