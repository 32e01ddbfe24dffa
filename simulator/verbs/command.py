"""The verbs' click commands, registered by simulator/cli.py."""

from __future__ import annotations

import click

from simulator.verbs.campaigns import campaigns
from simulator.verbs.clock import clock
from simulator.verbs.deliveries import deliveries
from simulator.verbs.events import events
from simulator.verbs.faults import faults
from simulator.verbs.report import report
from simulator.verbs.secret import secret
from simulator.verbs.server import collect, wait
from simulator.verbs.tail import tail
from simulator.verbs.tenants import tenants

VERBS: list[click.Command] = [
    campaigns,
    events,
    clock,
    report,
    tail,
    deliveries,
    faults,
    tenants,
    secret,
    wait,
    collect,
]
