"""config.py: sources and their precedence (kwargs > env > file > defaults), validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from reference_client import ClientConfig

REQUIRED: dict[str, Any] = {"optimove_url": "http://sim.test:8900/", "api_key": "k"}


def test_defaults_follow_the_brief() -> None:
    config = ClientConfig(**REQUIRED)
    assert config.optimove_url == "http://sim.test:8900"  # trailing slash dropped
    assert config.promotions_base_url == "http://sim.test:8900"
    assert (config.listener_host, config.listener_port) == ("127.0.0.1", 8901)
    assert (config.scheduled_path, config.triggered_path) == (
        "/optimove/events",
        "/optimove/triggered",
    )
    assert (config.validate_batch, config.approve_batch, config.page_size) == (1000, 10_000, 10_000)
    assert config.redemption_mode == "batched"
    assert config.blocked_countries == ["FR"]
    assert config.store_path is None
    assert (config.concurrency, config.max_retries, config.request_timeout_s) == (8, 6, 10)


def test_there_is_a_connection_for_every_call_that_can_be_in_flight() -> None:
    assert ClientConfig(**REQUIRED).connection_limit == 256  # every triggered event at once
    assert ClientConfig(**REQUIRED, triggered_concurrency=4).connection_limit == 16
    assert ClientConfig(**REQUIRED, triggered_concurrency=4, concurrency=40).connection_limit == 80
    assert ClientConfig(**REQUIRED, max_connections=10).connection_limit == 10  # as told


def test_promotions_may_live_elsewhere() -> None:
    config = ClientConfig(**REQUIRED, promotions_url="https://promo.test")
    assert config.promotions_base_url == "https://promo.test"


def test_secrets_stay_out_of_reprs() -> None:
    config = ClientConfig(**REQUIRED, webhook_secret="whsec_c2VjcmV0")
    assert "whsec_" not in repr(config)
    assert "'k'" not in repr(config)


def test_triggered_webhooks_fall_back_to_the_tenant_secret() -> None:
    assert ClientConfig(**REQUIRED, webhook_secret="a").triggered_signing_secret == "a"
    both = ClientConfig(**REQUIRED, webhook_secret="a", triggered_secret="b")
    assert both.triggered_signing_secret == "b"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("validate_batch", 1001),
        ("approve_batch", 10_001),
        ("page_size", 0),
        ("concurrency", 0),
        ("max_connections", 0),
        ("scheduled_path", "optimove/events"),
        ("triggered_path", "/optimove/events"),  # same as the scheduled path
        ("optimove_url", "ftp://sim.test"),
        ("redemption_mode", "sometimes"),
    ],
)
def test_invalid_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ClientConfig(**{**REQUIRED, field: value})


def test_the_environment_is_read_with_the_acf_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACF_OPTIMOVE_URL", "http://env.test")
    monkeypatch.setenv("ACF_API_KEY", "env-key")
    monkeypatch.setenv("ACF_BLOCKED_COUNTRIES", "fr, be")
    monkeypatch.setenv("ACF_REDEMPTION_MODE", "per_event")
    config = ClientConfig()
    assert (config.optimove_url, config.api_key) == ("http://env.test", "env-key")
    assert config.blocked_countries == ["FR", "BE"]
    assert config.redemption_mode == "per_event"
    monkeypatch.setenv("ACF_BLOCKED_COUNTRIES", '["DE"]')
    assert ClientConfig().blocked_countries == ["DE"]


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_file_is_below_env_and_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    values = {
        "optimove_url": "http://file.test",
        "api_key": "file-key",
        "concurrency": 3,
        "store_path": str(tmp_path / "client.sqlite"),
        "blocked_countries": ["FR", "IT"],
    }
    path = tmp_path / f"client{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(values))
    else:
        path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    monkeypatch.setenv("ACF_API_KEY", "env-key")

    config = ClientConfig.from_file(path, concurrency=5)
    assert config.optimove_url == "http://file.test"  # file
    assert config.api_key == "env-key"  # env beats file
    assert config.concurrency == 5  # arguments beat both
    assert config.store_path == tmp_path / "client.sqlite"
    assert config.blocked_countries == ["FR", "IT"]
    # the file applies to that call only
    with pytest.raises(ValidationError):
        ClientConfig()


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "client.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="expected a mapping"):
        ClientConfig.from_file(path)


def test_unknown_settings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "client.json"
    path.write_text(json.dumps({**REQUIRED, "concurency": 3}))
    with pytest.raises(ValidationError, match="concurency"):
        ClientConfig.from_file(path)
