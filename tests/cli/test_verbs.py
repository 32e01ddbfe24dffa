"""The CLI verbs against one real `optisim serve` process (manual clock): each command,
its `--json` answer parsed, and its exit status. Tests that change the world take a
tenant of their own (`optisim tenants new`), so their order does not matter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from simulator.cli import main
from simulator.verbs.command import VERBS
from tests.cli.support import optisim, run, stop, wait_for_file

SCHEDULED, TRIGGERED = 48213, 7001


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ready = tmp_path_factory.mktemp("serve") / "ready.json"
    proc = optisim("serve", "--port", "0", "--clock", "manual", "--ready-file", str(ready))
    try:
        yield wait_for_file(ready, proc)
    finally:
        stop(proc)


@pytest.fixture
def tenant(server: dict[str, Any]) -> dict[str, str]:
    """A fresh demo tenant: OPTISIM_URL and OPTISIM_ADMIN_KEY for the commands."""
    done = cli(server, "tenants", "new", "--json")
    data = json.loads(done.stdout)
    assert data["admin_key"].startswith("sk_admin_")
    return {"OPTISIM_URL": server["url"], "OPTISIM_ADMIN_KEY": data["admin_key"]}


def cli(where: dict[str, Any], *args: str, code: int = 0) -> Result:
    """`optisim ARGS` with the server's URL and key from the environment (in this process:
    the server is the real process; a process per command would cost a second each)."""
    env = (
        where
        if "OPTISIM_URL" in where
        else {"OPTISIM_URL": where["url"], "OPTISIM_ADMIN_KEY": where["admin_key"]}
    )
    done = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    assert done.exit_code == code, (done.exit_code, done.stdout, done.stderr)
    return done


def answer(where: dict[str, Any], *args: str, code: int = 0) -> Any:
    return json.loads(cli(where, *args, "--json", code=code).stdout)


def test_campaigns_list_show_execute_clear_and_cancel(tenant: dict[str, str]) -> None:
    listed = answer(tenant, "campaigns", "list")
    assert {c["id"] for c in listed} >= {SCHEDULED, TRIGGERED}
    assert answer(tenant, "campaigns", "show", str(SCHEDULED))["status"] == "scheduled"
    assert answer(tenant, "campaigns", "execute", str(SCHEDULED))["status"] == "executed"
    assert answer(tenant, "campaigns", "clear", str(SCHEDULED))["status"] == "cleared"
    assert answer(tenant, "campaigns", "cancel", "48214")["status"] == "cancelled"
    table = cli(tenant, "campaigns", "list").stdout
    assert "48213" in table and "cleared" in table  # ids are not written as 48,213


def test_an_unknown_campaign_is_one_line_and_exit_status_2(tenant: dict[str, str]) -> None:
    refused = answer(tenant, "campaigns", "show", "999", code=2)
    assert refused == {
        "error": {"status": 404, "error": "unknown_campaign", "message": "campaign 999 not found"}
    }
    done = cli(tenant, "campaigns", "execute", "999", code=2)
    assert done.stderr.strip().count("\n") == 0
    assert "unknown_campaign: campaign 999 not found" in done.stderr


def test_a_wrong_key_or_a_dead_url_is_one_line(tenant: dict[str, str]) -> None:
    wrong = {**tenant, "OPTISIM_ADMIN_KEY": "nope"}
    done = cli(wrong, "campaigns", "list", code=2)
    assert done.stderr.count("\n") == 1 and "GET /_sim/campaigns" in done.stderr
    dead = {**tenant, "OPTISIM_URL": "http://127.0.0.1:9"}
    done = cli(dead, "clock", "show", code=2)
    assert done.stderr.count("\n") == 1 and "unreachable" in done.stderr


def test_events_emit_by_count_and_by_customer(tenant: dict[str, str]) -> None:
    emitted = answer(tenant, "events", "emit", str(TRIGGERED), "--count", "3", "--rate", "50")
    assert emitted["count"] == 3 and len(emitted["eventIds"]) == 3
    chosen = answer(
        tenant, "events", "emit", str(TRIGGERED), "--customer", "C0000001", "--customer", "C0000002"
    )
    assert chosen["count"] == 2
    done = cli(tenant, "events", "emit", str(TRIGGERED), code=2)
    assert "--count N or --customer ID" in done.stderr


def test_clock_show_set_and_advance(tenant: dict[str, str]) -> None:
    assert answer(tenant, "clock", "show")["mode"] == "realtime"  # a new demo tenant's
    at = answer(tenant, "clock", "set", "manual", "--at", "2026-12-01T09:00:00Z")
    assert at["now"].startswith("2026-12-01T09:00:00")
    later = answer(tenant, "clock", "advance", "90m")
    assert later["now"].startswith("2026-12-01T10:30:00")
    assert "2026-12-01T12:30:00" in cli(tenant, "clock", "advance", "2h").stdout
    assert "is not a duration" in cli(tenant, "clock", "advance", "soon", code=2).stderr


def test_report_exits_1_when_it_lists_violations(tenant: dict[str, str]) -> None:
    clean = answer(tenant, "report", str(SCHEDULED))
    assert clean["violationCount"] == 0
    assert "no protocol violations" in cli(tenant, "report", str(SCHEDULED)).stdout
    # Approve a customer of a campaign that was never executed: a protocol violation.
    import httpx

    r = httpx.post(
        f"{tenant['OPTISIM_URL']}/current/integrations/UpdateCustomerPromotionStatus",
        headers={"X-API-KEY": tenant["OPTISIM_ADMIN_KEY"]},
        json={
            "TimeStamp": "",
            "CampaignID": SCHEDULED,
            "PromosUpdated": [{"CustomerID": "C0000001", "Status": True}],
        },
        timeout=10,
    )
    assert r.status_code >= 400
    audit = answer(tenant, "report", str(SCHEDULED), code=1)
    assert audit["violationCount"] >= 1
    shown = cli(tenant, "report", str(SCHEDULED), code=1).stdout
    assert "Protocol violations" in shown


def test_deliveries_list_resend_and_resend_failed(tenant: dict[str, str]) -> None:
    answer(tenant, "campaigns", "execute", str(SCHEDULED))
    listed = answer(tenant, "deliveries", "list", "--kind", "scheduled")
    assert len(listed) == 1 and listed[0]["campaignId"] == SCHEDULED
    resent = answer(tenant, "deliveries", "resend", listed[0]["eventId"])
    assert resent == {"resent": 1}
    assert answer(tenant, "deliveries", "resend-failed")["resent"] == 0
    assert answer(tenant, "deliveries", "resend", "msg_nope", code=2)["error"]["status"] == 404


def test_faults_add_list_and_clear(tenant: dict[str, str]) -> None:
    added = answer(
        tenant, "faults", "add", "api", "error", "--operation", "validate_customers",
        "--probability", "0.5", "--status", "502", "--seed", "7",
    )  # fmt: skip
    assert added["seed"] == 7
    assert [(r["operation"], r["status"]) for r in added["rules"]] == [("validate_customers", 502)]
    answer(tenant, "faults", "add", "webhook", "drop", "--nth", "2")
    assert len(answer(tenant, "faults", "list")["rules"]) == 2
    assert answer(tenant, "faults", "clear") == {"cleared": True}
    assert answer(tenant, "faults", "list")["rules"] == []


def test_tenants_new_from_a_scenario_file_and_delete(
    server: dict[str, Any], tmp_path: Path
) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text("tenant: {id: tiny, name: Tiny}\npopulation: {size: 10}\n", "utf-8")
    made = answer(server, "tenants", "new", "--scenario", str(scenario), "--name", "Tiny")
    assert made["name"] == "Tiny" and made["webhook_secret"].startswith("whsec_")
    own = {"OPTISIM_URL": server["url"], "OPTISIM_ADMIN_KEY": made["admin_key"]}
    assert answer(own, "campaigns", "list") == []
    assert answer(own, "tenants", "delete", made["tenant_id"]) == {"deleted": made["tenant_id"]}
    assert answer(own, "campaigns", "list", code=2)["error"]["status"] in (401, 403)


def test_secret_show_and_rotate(tenant: dict[str, str]) -> None:
    assert answer(tenant, "secret", "show")["signed"] is True
    rotated = answer(tenant, "secret", "rotate", "--overlap", "60")
    assert rotated["secret"].startswith("whsec_")
    assert answer(tenant, "secret", "show")["secretsInOverlap"] == 1


def test_tail_shows_requests_and_webhook_attempts_for_a_while(tenant: dict[str, str]) -> None:
    answer(tenant, "campaigns", "show", str(SCHEDULED))
    lines = cli(tenant, "tail", "--all", "--for", "0.5", "--json").stdout.splitlines()
    rows = [json.loads(line) for line in lines]
    assert any(r["type"] == "request" and r["path"] == f"/_sim/campaigns/{SCHEDULED}" for r in rows)
    assert not any(r["path"].startswith("/_sim/journal") for r in rows if r["type"] == "request")
    shown = cli(tenant, "tail", "--all", "--for", "0.2").stdout
    assert f"GET /_sim/campaigns/{SCHEDULED} 200" in shown


def test_collect_saves_everything_as_json(tenant: dict[str, str], tmp_path: Path) -> None:
    answer(tenant, "campaigns", "execute", str(SCHEDULED))
    out = tmp_path / "evidence"
    saved = answer(tenant, "collect", "--out", str(out))
    names = {str(Path(p).relative_to(out)) for p in saved["files"]}
    assert {"journal.json", "deliveries.json", "attempts.json", "tenant.json"} <= names
    assert f"campaigns/{SCHEDULED}.json" in names
    for name in names:
        json.loads((out / name).read_text("utf-8"))
    report = json.loads((out / f"campaigns/{SCHEDULED}.json").read_text("utf-8"))
    assert report["campaign"]["status"] == "executed"


def test_wait_prints_what_it_is_asked_for(server: dict[str, Any]) -> None:
    done = run("wait", server["url"], "--timeout", "5")
    assert done.returncode == 0 and done.stdout.strip() == server["url"]
    done = run("wait", server["url"], "--print", "env")
    assert f"OPTISIM_URL={server['url']}" in done.stdout.splitlines()
    done = run("wait", server["url"], "--json")
    assert json.loads(done.stdout)["health"]["status"] == "ok"


def test_wait_times_out_with_exit_status_1() -> None:
    done = run("wait", "http://127.0.0.1:9", "--timeout", "0.3")
    assert done.returncode == 1 and "timed out" in done.stderr


def _commands(group: click.Command, path: str = "") -> Iterator[tuple[str, click.Command]]:
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from _commands(command, f"{path} {name}".strip())
    else:
        yield path, group


def test_every_option_of_every_command_names_its_environment_variable() -> None:
    assert {v.name for v in VERBS} <= set(main.commands)
    checked = 0
    for path, command in _commands(main):
        ctx = main.make_context("optisim", [], resilient_parsing=True)
        for name in path.split():
            group = ctx.command
            sub = group.get_command(ctx, name) if isinstance(group, click.Group) else None
            assert sub is not None, path
            ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        assert ctx.command is command
        verb = path.split()[0] in {v.name for v in VERBS}
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in ("help", "version"):
                continue
            record = param.get_help_record(ctx)
            assert record is not None and "env var: " in record[1], (path, record)
            if verb:  # the verbs' options also say what they do
                assert param.help and "env var: OPTISIM_" in record[1], (path, param.name)
            checked += 1
    assert checked > 100
