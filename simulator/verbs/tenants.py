"""`optisim tenants new [--scenario FILE]` and `optisim tenants delete ID`."""

from __future__ import annotations

from pathlib import Path

import click

from simulator.verbs.common import (
    Target,
    group_settings,
    option,
    out,
    print_json,
    table,
    target_options,
)


@click.group(context_settings=group_settings("tenants"))
def tenants() -> None:
    """Tenants: isolated worlds with keys of their own (one per test, per branch, ...)."""


@tenants.command()
@option(
    "--scenario",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="a YAML/JSON scenario file for its world (default: the demo world)",
)
@option("--name", default=None, help="the tenant's name")
@target_options
def new(target: Target, scenario: str | None, name: str | None) -> None:
    """Create a tenant and print its URL, keys and webhook secret (--json: as JSON, e.g.
    to export OPTISIM_ADMIN_KEY for the next commands)."""
    import yaml

    document = yaml.safe_load(Path(scenario).read_text("utf-8")) if scenario else None
    with target.client() as sim:
        access = sim.new_tenant(name=name, scenario=document, builtin=None if document else "demo")
    data = {
        "url": access.url,
        "tenant_id": access.tenant_id,
        "numeric_id": access.numeric_id,
        "name": access.name,
        "admin_key": access.admin_key,
        "integrations_key": access.integrations_key,
        "webhook_secret": access.webhook_secret,
    }
    if target.as_json:
        print_json(data)
    else:
        out.print(
            table(
                f"Tenant {access.tenant_id}",
                ["", ""],
                [[k, v] for k, v in data.items()],
                numbers=False,
            )
        )


@tenants.command()
@click.argument("tenant_id")
@target_options
def delete(target: Target, tenant_id: str) -> None:
    """Delete tenant TENANT_ID and everything of it (--key: that tenant's admin key)."""
    with target.client() as sim:
        sim.delete_tenant(tenant_id)
    if target.as_json:
        print_json({"deleted": tenant_id})
    else:
        out.print(f"tenant {tenant_id} deleted")
