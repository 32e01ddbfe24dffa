"""`optisim proxy` and `optisim parity check` against an upstream that differs on purpose.

The upstream is a second optisim process set to ignore duplicate approvals and wrapped
in a small ASGI middleware (tests/proxy/upstream.py) that words one error differently
and renames one field. The reference client runs its scheduled flow through the proxy
(webhooks too); the parity check replays the recording on a fresh tenant of an optisim
process of its own and must find exactly the three planted differences."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from reference_client import ClientConfig, Integrator, MemoryJournal, create_listener_app
from simulator.cli import main
from simulator.control_client import AsyncControlClient
from simulator.parity.replay import read_recording
from simulator.proxy.app import ProxyApp, ProxyConfig
from simulator.server_process import SCHEDULED, SimulatorProcess, demo_scenario
from tests.client.support import ADMIN, DEMO_SECRET, INTEGRATIONS, ThreadServer, serve_here
from tests.proxy.upstream import PLANTED_MESSAGE

pytestmark = pytest.mark.timeout(120)
CUSTOMERS = 30


def world(tmp_path: Path) -> Path:
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(demo_scenario(CUSTOMERS), sort_keys=False), "utf-8")
    return path


async def drive(proxy: ProxyApp, proxy_url: str, upstream_url: str) -> dict[str, Any]:
    """The reference client's scheduled flow through the proxy (webhooks too), then three
    calls made on purpose: a repeated approval, an unknown promotion and a known one."""
    journal = MemoryJournal()
    config = ClientConfig(
        optimove_url=proxy_url,
        promotions_url=proxy_url,
        api_key=INTEGRATIONS,
        webhook_secret=DEMO_SECRET,
    )
    integrator = Integrator(config, journal=journal)
    async with serve_here(create_listener_app(integrator)) as listener_url:
        await integrator.start()
        try:
            proxy.config.forward_webhooks_to = listener_url
            await integrator.register_listeners(f"{proxy_url}/_proxy/webhooks")
            async with AsyncControlClient(upstream_url, ADMIN) as control:
                await control.set_webhook_config(time_scale=0.01)
                await control.execute_campaign(SCHEDULED)
                async with asyncio.timeout(60):
                    while (s := integrator.summaries().get(SCHEDULED)) is None or (
                        s.finished_at is None
                    ):
                        await asyncio.sleep(0.05)
                await integrator.wait_idle(30)
            approved = sorted(journal.approved(SCHEDULED))
            async with httpx.AsyncClient(
                base_url=proxy_url, headers={"X-API-KEY": INTEGRATIONS}, timeout=30
            ) as http:
                again = await http.post(
                    "/current/integrations/UpdateCustomerPromotionStatus",
                    json={
                        "TimeStamp": "",
                        "CampaignID": SCHEDULED,
                        "PromosUpdated": [{"CustomerID": approved[0], "Status": True}],
                    },
                )
                unknown = await http.get("/v1/promotions/PR-NOPE")
                known = await http.get("/v1/promotions/PR-WELCOME")
        finally:
            await integrator.stop()
    return {"approved": approved, "again": again, "unknown": unknown, "known": known}


def test_proxy_records_a_flow_and_parity_finds_exactly_the_planted_differences(
    tmp_path: Path,
) -> None:
    scenario = world(tmp_path)
    record = tmp_path / "rec.jsonl"
    upstream = SimulatorProcess(
        demo_scenario(CUSTOMERS),
        tmp_path,
        factory="tests.proxy.upstream:differing_app",
        env={"SIM_DUPLICATE_APPROVALS": "ignore"},
    )
    try:
        asyncio.run(upstream.wait_ready())
        proxy = ProxyApp(
            ProxyConfig(
                upstream_optimove=upstream.url,
                upstream_promotions=upstream.url,
                record=record,
                redact_fields=("CustomerID", "customerId"),
            )
        )
        with ThreadServer(proxy) as served:
            seen = asyncio.run(drive(proxy, served.url, upstream.url))
    finally:
        upstream.stop()
    assert seen["again"].status_code == 200  # the upstream ignores the repeated approval
    assert seen["unknown"].json()["message"] == PLANTED_MESSAGE
    assert "title" in seen["known"].json()
    assert seen["approved"]
    # the renamed field breaks the published contract: the proxy saw it
    assert set(proxy.stats.violations) == {"get_promotion"}, proxy.stats  # nothing else
    assert '"name" is a required property' in proxy.stats.examples["get_promotion"]
    records = read_recording(record)
    assert any(r["kind"] == "webhook" for r in records)
    assert all(r["response"]["status"] < 500 for r in records)

    text = record.read_text("utf-8")
    secrets = [INTEGRATIONS, ADMIN, DEMO_SECRET, DEMO_SECRET.removeprefix("whsec_")]
    secrets += seen["approved"]
    for secret in secrets:
        assert secret not in text, secret
    assert "v1," not in text  # no webhook signature

    html, junit = tmp_path / "parity.html", tmp_path / "parity.xml"
    # an optisim process of its own (started and stopped by the command), a fresh tenant
    args = ["parity", "check", str(record), "--scenario", str(scenario), "--json"]
    args += ["--report", str(html), "--junit-xml", str(junit)]
    run = CliRunner().invoke(main, args)
    assert run.exit_code == 1, run.output
    result = json.loads(run.stdout)
    rules = {r["rule"]: r for r in result["rules"]}
    assert set(rules) == {
        "update_customer_promotion_status: status",
        "get_promotion: value $.message",
        "get_promotion: renamed $.name",
    }, result
    assert all(r["verdict"] == "optisim" and r["count"] == 1 for r in rules.values())
    status = rules["update_customer_promotion_status: status"]["examples"][0]
    assert status["recorded"] == {"status": 200}
    assert status["optisim"]["json"]["error"] == "duplicate_approval"
    message = rules["get_promotion: value $.message"]["examples"][0]
    assert message["recorded"] == PLANTED_MESSAGE
    assert result["cues"] == [f"#{_first_webhook(records)}: executed campaign {SCHEDULED}"]
    page = html.read_text("utf-8")
    assert "get_promotion: renamed $.name" in page and "&#x27;PR-NOPE&#x27;" in page
    assert 'failures="3"' in junit.read_text("utf-8")


def _first_webhook(records: list[dict[str, Any]]) -> int:
    return int(next(r["seq"] for r in records if r["kind"] == "webhook"))
