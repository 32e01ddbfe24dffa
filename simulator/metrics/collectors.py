"""The Prometheus families of `/_sim/metrics`, built at scrape time.

Counters that change on the hot path (requests, webhook attempts) are kept as plain
cells by `recorders.py` and only turned into families here; everything else (ledger
gauges, refusals, outbox, journal) is read from the store, the delivery log and the
journal when scraped, so it costs the API nothing. One `CollectorRegistry` per app
(`build_registry`): several apps share a test process, and the global registry would
mix them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from simulator.api.journal import Journal
from simulator.domain.ledger import audience_used, budget_remaining
from simulator.metrics.recorders import DeliveryStats, RequestStats
from simulator.services.observe import snapshot
from simulator.services.runtime import Runtime
from simulator.store.base import DeliveryLog

DELIVERY_STATUSES = ("pending", "delivered", "failed", "skipped")


class TrafficCollector(Collector):
    """Requests and webhook attempts, from the hot-path cells."""

    def __init__(self, requests: RequestStats, deliveries: DeliveryStats) -> None:
        self.requests = requests
        self.deliveries = deliveries

    def collect(self) -> Iterator[Metric]:
        labels = ["surface", "operation", "status"]
        total = CounterMetricFamily(
            "optisim_requests", "Requests answered, by surface, operation and status", labels=labels
        )
        duration = HistogramMetricFamily(
            "optisim_request_duration_seconds",
            "Time from the request reaching the simulator to its answer",
            labels=labels,
        )
        for key, buckets, seconds in self.requests.items():
            total.add_metric(list(key), buckets[-1][1])
            duration.add_metric(list(key), buckets, seconds)
        yield total
        yield duration
        attempts = CounterMetricFamily(
            "optisim_webhook_attempts",
            "Webhook attempts by event kind and outcome: delivered (2xx), refused (another "
            "status), timeout, error (no answer), dropped (an injected fault)",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), n in sorted(list(self.deliveries.attempts.items())):
            attempts.add_metric([kind, outcome], n)
        yield attempts
        for name, doc, histograms in (
            (
                "optisim_webhook_ack_seconds",
                "Time from sending a webhook to the listener's HTTP answer",
                self.deliveries.ack,
            ),
            (
                "optisim_webhook_delivery_lag_seconds",
                "Time from an event entering the delivery log to its 2xx (retries and "
                "pacing included)",
                self.deliveries.lag,
            ),
        ):
            family = HistogramMetricFamily(name, doc, labels=["kind"])
            for kind, buckets, seconds in histograms.items():
                family.add_metric([kind], buckets, seconds)
            yield family


class StateCollector(Collector):
    """Ledger gauges, refusals, outbox and journal: read from state when scraped."""

    def __init__(self, rt: Runtime, log: DeliveryLog, journal: Journal) -> None:
        self.rt = rt
        self.log = log
        self.journal = journal

    def collect(self) -> Iterator[Metric]:
        promo = ["tenant", "promotion"]
        gauges = {
            name: GaugeMetricFamily(f"optisim_promotion_{name}", doc, labels=promo)
            for name, doc in (
                ("budget", "The promotion's budget (the cap of reserved + committed value)"),
                ("budget_reserved", "Value reserved by validations, not yet approved"),
                ("budget_committed", "Value committed by approvals"),
                ("budget_released", "Value released (refused, cleared or cancelled)"),
                ("budget_remaining", "Budget less reserved and committed value"),
                ("audience_used", "Customers holding a live (reserved or committed) allocation"),
                ("audience_cap", "The promotion's audience cap"),
            )
        }
        refusals = CounterMetricFamily(
            "optisim_refusals",
            "Refusals by stage (validation, approval, redemption) and rule (the reason)",
            labels=["tenant", "stage", "reason"],
        )
        pending = GaugeMetricFamily(
            "optisim_outbox_pending",
            "Webhook events not yet delivered: pending deliveries (first try or a retry) "
            "and outbox events the relay has not picked up",
            labels=["tenant"],
        )
        deliveries = GaugeMetricFamily(
            "optisim_webhook_deliveries",
            "Webhook deliveries by status",
            labels=["tenant", "status"],
        )
        for tenant_id in sorted(self.rt.store.tenant_ids()):
            snap = snapshot(self.rt, tenant_id, self.log.cursor(tenant_id))
            if snap is None:
                continue
            for promotion, usage in snap.promotions:
                values = {
                    "budget": promotion.budget,
                    "budget_reserved": usage.budget_reserved,
                    "budget_committed": usage.budget_committed,
                    "budget_released": usage.budget_released,
                    "budget_remaining": budget_remaining(promotion, usage),
                    "audience_used": audience_used(usage),
                    "audience_cap": promotion.audience_cap,
                }
                for name, value in values.items():
                    gauges[name].add_metric([tenant_id, promotion.id], value)
            for (stage, reason), n in sorted(snap.refusals.items()):
                refusals.add_metric([tenant_id, stage, reason], n)
            # Pruned ones counted too: retention drops finished deliveries but counts
            # them, so the gauge does not fall when the dispatcher prunes.
            counts = self.log.counts(tenant_id, pruned=True)
            pending.add_metric([tenant_id], counts.get("pending", 0) + snap.unrelayed)
            for status in DELIVERY_STATUSES:
                deliveries.add_metric([tenant_id, status], counts.get(status, 0))
        yield from gauges.values()
        yield refusals
        yield pending
        yield deliveries
        entries = GaugeMetricFamily(
            "optisim_journal_entries", "Requests held in the tenant's journal", labels=["tenant"]
        )
        for tenant_id, n in sorted(self.journal.fill().items()):
            entries.add_metric([tenant_id], n)
        yield entries
        yield GaugeMetricFamily(
            "optisim_journal_capacity", "Entries a tenant's journal holds", value=self.journal.size
        )
        # The switch is the tenant's own (PUT /_sim/journal), so the gauge is per tenant.
        enabled = GaugeMetricFamily(
            "optisim_journal_enabled", "1 when the tenant's journal records", labels=["tenant"]
        )
        for tenant_id in sorted(self.rt.store.tenant_ids()):
            enabled.add_metric([tenant_id], int(self.journal.enabled_for(tenant_id)))
        yield enabled


def build_registry(
    rt: Runtime,
    log: DeliveryLog,
    journal: Journal,
    requests: RequestStats,
    deliveries: DeliveryStats,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TrafficCollector(requests, deliveries))
    registry.register(StateCollector(rt, log, journal))
    return registry
