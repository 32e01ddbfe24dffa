"""Reading `/_sim/metrics` with prometheus-client's own parser."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import Sim

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(sim: Sim, key: str | None = None) -> Samples:
    """Every sample of one scrape: (sample name, labels) → value. No key by default (the
    route is open); `key` sends one anyway."""
    headers = {"X-API-KEY": key} if key else {}
    response = sim.client.get("/_sim/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    out: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[sample.name, frozenset(sample.labels.items())] = sample.value
    return out


def pick(samples: Samples, name: str, **labels: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples called `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return {lab: v for (n, lab), v in samples.items() if n == name and wanted <= lab}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample `name` with exactly these labels (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, surface: str | None = None) -> dict[tuple[str, str, str], float]:
    """(surface, operation, status) → requests, for one surface or all."""
    out = {}
    for labels, n in pick(samples, "optisim_requests_total").items():
        d: dict[str, Any] = dict(labels)
        if surface is None or d["surface"] == surface:
            out[d["surface"], d["operation"], d["status"]] = n
    return out
