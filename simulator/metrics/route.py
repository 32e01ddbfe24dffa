"""`GET /_sim/metrics`: the Prometheus text exposition of this server process.

Open, like most Prometheus targets: it needs no key, because a scraper should not hold a
tenant's admin key, and it shows numbers and ids (tenant, promotion), never a key, a
secret, a customer or a body. `SIM_METRICS=false` removes the route (docs/decisions.md,
"Metrics").
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest

router = APIRouter(prefix="/_sim", tags=["control"])
# The classic text format every Prometheus (2.x and 3.x) reads; newer prometheus-client
# versions announce 1.0.0, which only differs for metric names outside [a-zA-Z0-9_:].
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


@router.get(
    "/metrics",
    operation_id="get_metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format (version 0.0.4)",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def get_metrics(request: Request) -> Response:
    """Prometheus metrics of this server process (no key needed): requests, webhooks, the
    ledger of every promotion, refusals, outbox and journal."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    if request.app.state.runtime.store.blocking:
        # The state collector reads SQLite: off the event loop, as services do.
        body = await asyncio.to_thread(generate_latest, registry)
    else:
        body = generate_latest(registry)
    return Response(body, media_type=TEXT_FORMAT)
