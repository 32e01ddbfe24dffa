"""The `observability` profile of docker-compose.yml, kept true without Docker: the
Prometheus and Grafana files parse, Prometheus scrapes the simulator's real metrics route
on the port the simulator serves, Grafana reads that Prometheus, and every metric the
dashboard queries is one the simulator exports (compared with a scrape of a test app) or
one the locust exporter exports."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from simulator.app import create_app
from simulator.settings import SimSettings
from tests.conftest import manual_demo
from tests.helpers import Sim
from tests.loadtests.test_compose import ALL_SERVICES, ROOT, env

PROFILE = "observability"
OBSERVERS = {name: s for name, s in ALL_SERVICES.items() if PROFILE in s.get("profiles", [])}
DEPLOY = ROOT / "deploy"
PROMETHEUS: dict[str, Any] = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
DATASOURCES: dict[str, Any] = yaml.safe_load(
    (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
)
PROVIDERS: dict[str, Any] = yaml.safe_load(
    (DEPLOY / "grafana/provisioning/dashboards/optisim.yml").read_text()
)
DASHBOARD: dict[str, Any] = json.loads((DEPLOY / "grafana/dashboards/optisim.json").read_text())
# What ContainerSolutions/locust_exporter exports (namespace `locust`), from its sample
# scrape (locust_exporter.md); the dashboard may use these.
LOCUST_EXPORTER_METRICS = {
    "locust_users",
    "locust_requests_current_rps",
    "locust_requests_fail_ratio",
    "locust_requests_num_requests",
    "locust_requests_num_failures",
    "locust_errors",
    "locust_up",
}
PROMQL_WORDS = {"by", "without", "sum", "rate", "increase", "histogram_quantile", "scalar", "le"}


def job(name: str) -> dict[str, Any]:
    [found] = [j for j in PROMETHEUS["scrape_configs"] if j["job_name"] == name]
    return dict(found)


def mounts(service: str) -> dict[str, str]:
    """container path → repository path of a service's bind mounts."""
    out = {}
    for volume in OBSERVERS[service]["volumes"]:
        source, target, *_ = volume.split(":")
        assert source.startswith("./"), volume
        out[target] = source
    return out


def exported_names() -> set[str]:
    """Every sample name the simulator's metrics route can produce, from a scrape of a
    test app (a histogram's `_bucket`/`_count`/`_sum`, a counter's `_total`), with no
    traffic needed: each family is listed even before it has samples."""
    app = create_app(SimSettings(webhooks=False), scenario=manual_demo())
    with TestClient(app) as client:
        Sim(client).execute()  # some samples too
        text = client.get("/_sim/metrics").text
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def queries() -> list[str]:
    return [
        target["expr"]
        for panel in DASHBOARD["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def test_the_profile_holds_prometheus_the_locust_exporter_and_grafana() -> None:
    assert set(OBSERVERS) == {"prometheus", "locust-exporter", "grafana"}
    for name, service in OBSERVERS.items():
        assert service["profiles"] == [PROFILE], name
        assert "build" not in service and service["image"], name  # published images
    assert OBSERVERS["prometheus"]["image"].startswith("prom/prometheus:v")  # pinned
    assert OBSERVERS["grafana"]["image"].startswith("grafana/grafana:")
    assert OBSERVERS["prometheus"]["ports"] == ["9090:9090"]
    assert OBSERVERS["grafana"]["ports"] == ["3000:3000"]
    assert OBSERVERS["prometheus"]["depends_on"]["simulator"]["condition"] == "service_healthy"


def test_prometheus_reads_the_mounted_file() -> None:
    [config] = [a for a in OBSERVERS["prometheus"]["command"] if a.startswith("--config.file=")]
    path = config.removeprefix("--config.file=")
    assert (ROOT / mounts("prometheus")[path]).resolve() == DEPLOY / "prometheus.yml"
    assert PROMETHEUS["global"]["scrape_interval"].endswith("s")


def test_prometheus_scrapes_the_real_metrics_route_of_the_simulator() -> None:
    simulator = job("optisim")
    path = simulator["metrics_path"]
    app = create_app(SimSettings(webhooks=False), scenario=manual_demo())
    assert app.openapi()["paths"][path]["get"]["operationId"] == "get_metrics"
    with TestClient(app) as client:
        scraped = client.get(path)  # with no key, as Prometheus scrapes
    assert scraped.status_code == 200
    assert any(f.name.startswith("optisim_") for f in text_string_to_metric_families(scraped.text))
    assert simulator["static_configs"][0]["targets"] == [
        f"simulator:{env('simulator')['SIM_PORT']}"
    ]
    assert "authorization" not in simulator and "basic_auth" not in simulator  # the route is open


def test_prometheus_scrapes_locust_through_the_exporter() -> None:
    locust = job("locust")
    exporter = {k: str(v) for k, v in OBSERVERS["locust-exporter"]["environment"].items()}
    port = exporter["LOCUST_EXPORTER_WEB_LISTEN_ADDRESS"].removeprefix(":")
    assert locust["static_configs"][0]["targets"] == [f"locust-exporter:{port}"]
    assert locust["metrics_path"] == "/metrics"
    assert (
        exporter["LOCUST_EXPORTER_URI"]
        == f"http://locust-master:{env('locust-master')['LOCUST_WEB_PORT']}"
    )


def test_grafana_provisions_the_prometheus_datasource_and_the_dashboard() -> None:
    [source] = DATASOURCES["datasources"]
    assert source["type"] == "prometheus" and source["isDefault"] is True
    port = OBSERVERS["prometheus"]["ports"][0].split(":")[1]
    assert source["url"] == f"http://prometheus:{port}"
    grafana = mounts("grafana")
    assert (
        ROOT / grafana["/etc/grafana/provisioning"]
    ).resolve() == DEPLOY / "grafana/provisioning"
    [provider] = PROVIDERS["providers"]
    dashboards = provider["options"]["path"]
    assert (ROOT / grafana[dashboards]).resolve() == DEPLOY / "grafana/dashboards"
    home = OBSERVERS["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards}/optisim.json"
    for panel in DASHBOARD["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert panel["targets"], panel["title"]


def test_the_dashboard_shows_ledger_delivery_lag_and_request_rates() -> None:
    text = " ".join(queries())
    for metric in (
        "optisim_requests_total",
        "optisim_promotion_budget_reserved",
        "optisim_promotion_budget_committed",
        "optisim_promotion_audience_used",
        "optisim_webhook_delivery_lag_seconds_bucket",
    ):
        assert metric in text, metric


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    exported = exported_names()
    named = set()
    for expr in queries():
        expr = re.sub(r'"[^"]*"', "", expr)  # label values
        expr = re.sub(r"\[[^\]]*\]", "", expr)  # range selectors
        named |= {
            word
            for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)
            if word not in PROMQL_WORDS and "_" in word
        }
    ours = {n for n in named if n.startswith("optisim_")}
    assert ours and ours <= exported, ours - exported
    assert named - ours <= LOCUST_EXPORTER_METRICS, named - ours - LOCUST_EXPORTER_METRICS


@pytest.mark.parametrize("bad", ["optisim_no_such_metric", "optisim_requests"])
def test_the_metric_check_can_fail(bad: str) -> None:
    assert bad not in exported_names()
