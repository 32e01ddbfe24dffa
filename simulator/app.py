"""`create_app`: the composition root. Builds the store, runtime and journal, mounts the
routers and the one error handler; nothing is created at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from simulator import __version__, ui
from simulator.api import ce_v2, control, core, errors, promotions, webhooks
from simulator.api import coverage as coverage_routes
from simulator.api.express import ExpressLane
from simulator.api.journal import Journal
from simulator.api.middleware import SimMiddleware
from simulator.faults import FaultRegistry, RateLimiter
from simulator.metrics import route as metrics_route
from simulator.metrics.collectors import build_registry
from simulator.metrics.recorders import DeliveryStats, RequestStats
from simulator.scenario import load_scenario_file
from simulator.services import campaigns, tenants
from simulator.services import coverage as cov
from simulator.services.coverage import CoverageLog
from simulator.services.runtime import RandomIds, Runtime, SeededIds
from simulator.services.sweep import DutySweep
from simulator.settings import SimSettings
from simulator.specs import Scenario
from simulator.store.base import DeliveryLog, Retention, Store
from simulator.store.deliveries import MemoryDeliveryLog, SqliteDeliveryLog
from simulator.store.memory import MemoryStore
from simulator.webhooks.dispatcher import Dispatcher

LOG = logging.getLogger("optisim")
# FastAPI (since 0.16x) asks OpenTelemetry on every request whether a provider is set:
# 12-26 µs a request with none (8-14 % of an approval, measured A/B in one process). The
# simulator exports no telemetry, so it is switched off.
NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI).parameters
    else {}
)
# Served by the express lane: the per-event CE v2 approval (one request per triggered
# event, no batch form) and the two batch routes of the scheduled flow, where FastAPI's
# routing and dependency solving cost ~15 % of a 10,000-item approval in process.
EXPRESS = ("approve_triggered_event", "update_customer_promotion_status", "validate_customers")


def build_store(settings: SimSettings) -> Store:
    if settings.store == "sqlite":
        from simulator.store.sqlite import SqliteStore

        return SqliteStore(settings.sqlite_path)
    return MemoryStore()


def build_delivery_log(store: Store) -> DeliveryLog:
    """Deliveries live beside the store: in memory, or in the same SQLite file."""
    path = getattr(store, "path", None)
    if store.blocking and path is not None:
        return SqliteDeliveryLog(path)
    return MemoryDeliveryLog()


def startup_scenario(settings: SimSettings) -> Scenario:
    scenario = load_scenario_file(settings.scenario)
    if settings.clock is not None:
        scenario = scenario.model_copy(
            update={"clock": scenario.clock.model_copy(update={"mode": settings.clock})}
        )
    return scenario


def create_app(
    settings: SimSettings | None = None,
    *,
    store: Store | None = None,
    wall: Callable[[], float] | None = None,
    ids: RandomIds | SeededIds | None = None,
    scenario: Scenario | None = None,
) -> FastAPI:
    """A simulator app. Loads `scenario` (default: the settings' one) into its own tenant
    unless that tenant exists already in the store."""
    settings = settings or SimSettings()
    runtime = Runtime(
        store=store or build_store(settings),
        ids=ids or (SeededIds(settings.seed) if settings.seed is not None else RandomIds()),
        duplicates=settings.duplicate_approvals,
        token_ttl_s=settings.token_ttl_seconds,
        login_limits=settings.login_limits,
        max_tenants=settings.max_tenants,
        token_retention_s=settings.token_retention_seconds,
    )
    if wall is not None:
        runtime.wall = wall
    scenario = scenario or startup_scenario(settings)
    tenants.ensure_scenario_tenant(runtime, scenario)
    delivery_log = build_delivery_log(runtime.store)
    faults = FaultRegistry(settings.fault_seed)
    if scenario.faults is not None and scenario.faults.rules:
        faults.set_rules(scenario.tenant.id, scenario.faults.rules, scenario.faults.seed)
    # The metrics' hot-path cells (None with SIM_METRICS=false: nothing is counted).
    request_stats = RequestStats() if settings.metrics else None
    delivery_stats = DeliveryStats() if settings.metrics else None
    dispatcher = Dispatcher(
        runtime,
        delivery_log,
        faults,
        observer=delivery_stats,
        retention=Retention(
            settings.delivery_retention,
            settings.attempt_retention,
            settings.delivery_retention_seconds,
        ),
        in_flight=settings.webhook_in_flight,
    )
    duties = DutySweep(runtime.store.tenant_ids)
    coverage_log = CoverageLog()

    def written(tenant_id: str | None) -> None:
        dispatcher.wake()  # execute / cancel / events write webhooks: wake the relay
        duties.touch(tenant_id)  # campaigns or the clock may have new duties

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.gc_freeze:
            tune_gc()
        tasks = [
            asyncio.create_task(
                _sweep(runtime, duties, coverage_log, settings.sweep_seconds, settings.gc_freeze)
            )
        ]
        if settings.webhooks:
            tasks.append(asyncio.create_task(dispatcher.run()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            delivery_log.close()
            runtime.store.close()

    app = FastAPI(
        title="optisim",
        version=__version__,
        description="Simulated Optimove core API, conditional execution v2, Promotions, "
        "and the simulator's control API.",
        lifespan=lifespan,
        # /docs and /redoc come from simulator.ui, served from package files (no CDN)
        docs_url=None,
        redoc_url=None,
        **NO_TELEMETRY,
    )
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.journal = Journal(
        settings.journal_size, settings.journal, max(settings.journal_budget, settings.journal_size)
    )
    app.state.coverage = coverage_log
    app.state.delivery_log = delivery_log
    app.state.dispatcher = dispatcher
    app.state.duties = duties
    app.state.faults = faults
    app.state.rate_limiter = RateLimiter(
        settings.rate_limit_requests, settings.rate_limit_window_seconds, settings.rate_limit
    )
    errors.install(app)
    # Hot routes first: Starlette tries routes in order (16-19 % of a 1-context validate
    # was route matching with Promotions third in line).
    routers = (promotions, core, ce_v2, control, webhooks, coverage_routes)
    for module in routers:
        app.include_router(module.router)
    routes = [route for module in routers for route in module.router.routes]
    if request_stats is not None and delivery_stats is not None:
        app.include_router(metrics_route.router)
        routes += metrics_route.router.routes
        app.state.metrics_registry = build_registry(
            runtime, delivery_log, app.state.journal, request_stats, delivery_stats
        )
    app.state.allow = errors.allowed_methods(routes)
    ui.install(app)  # the dashboard and the offline docs: off the API's routes list
    app.add_middleware(
        SimMiddleware,
        journal=app.state.journal,
        max_body=settings.max_body_bytes,
        on_write=written,
        coverage=app.state.coverage,
        express=(
            partial(ExpressLane.build, routes, EXPRESS, app.exception_handlers)
            if settings.express
            else None
        ),
        observe=request_stats.observe if request_stats is not None else None,
    )
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def tune_gc() -> None:
    """The ledger keeps every allocation alive (~4 objects each), so with default settings
    each full collection rescans hundreds of thousands of objects: measured, it took 65-75 %
    of a 10,000-item approval. Freezing moves what exists now out of the collector's sight
    (it is still freed by reference counting), and a larger first generation means a batch
    request is not interrupted hundreds of times."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


async def _sweep(
    runtime: Runtime, duties: DutySweep, coverage: CoverageLog, every: float, freeze: bool
) -> None:
    """Run due executions and clearances on realtime clocks, so a campaign clears at its
    deadline even when nobody calls (a manual clock moves only by /_sim/clock). Only the
    tenants `duties` names are visited: idle tenants cost nothing."""
    while True:
        await asyncio.sleep(every)
        if freeze:
            gc.freeze()  # what survived a second is long-lived: stop rescanning it
        for tenant_id in duties.due(runtime.wall()):
            # An execution or clearance the clock made (no request) counts for coverage as
            # one a request made would (lifecycle.executed / lifecycle.cleared).
            hits, token = cov.start()
            try:
                if runtime.store.blocking:
                    next_at = await asyncio.to_thread(campaigns.sweep_due, runtime, tenant_id)
                else:
                    next_at = campaigns.sweep_due(runtime, tenant_id)
                duties.visited(tenant_id, next_at)
            except Exception:  # keep sweeping: one broken tenant must not stop the clock
                LOG.exception("sweep failed for tenant %s", tenant_id)
            finally:
                cov.stop(token)
            if hits:
                coverage.record(tenant_id, hits, None)
        try:  # expired login tokens go even when nobody uses them again
            if runtime.store.blocking:
                await asyncio.to_thread(tenants.purge_tokens, runtime)
            else:
                tenants.purge_tokens(runtime)
        except Exception:
            LOG.exception("purging expired tokens failed")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schema.setdefault("components", {})["securitySchemes"] = {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
            "LegacyToken": {"type": "apiKey", "in": "header", "name": "Authorization-Token"},
        }
        schema["security"] = [{"ApiKey": []}, {"LegacyToken": []}]
        components = schema["components"].setdefault("schemas", {})
        defs = Scenario.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in defs.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components.setdefault("Scenario", defs)
        app.openapi_schema = schema
    return app.openapi_schema
