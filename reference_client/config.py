"""The integrator's settings: `ClientConfig`.

Sources, highest precedence first: keyword arguments (the CLI's options), `ACF_*`
environment variables, a YAML or JSON file given to `ClientConfig.from_file`, defaults.
List settings accept JSON (`["FR","BE"]`) or a comma-separated string (`FR,BE`).
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# The file `from_file` is reading; a context variable so concurrent loads never mix.
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("acf_config_file", default=None)


def read_config_file(path: Path) -> dict[str, Any]:
    """A YAML (`.yaml`/`.yml`) or JSON file holding a mapping of setting names."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    # Keys as the options spell them (`optimove-url`) or as the settings do (`optimove_url`).
    return {str(k).replace("-", "_"): v for k, v in data.items()}


class _FileSource(PydanticBaseSettingsSource):
    """Values from the file `from_file` was given (below env, above defaults)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_FILE.get()
        return read_config_file(path) if path is not None else {}


class ClientConfig(BaseSettings):
    """Everything the reference integrator needs to know; validated on construction."""

    model_config = SettingsConfigDict(env_prefix="ACF_", extra="forbid")

    # -- the other side (wire-contract §2-§4) -------------------------------------------
    optimove_url: str = Field(description="base URL of the Optimove core and CE v2 APIs")
    promotions_url: str | None = Field(
        None, description="base URL of the Promotions API (default: the Optimove URL)"
    )
    api_key: str = Field(repr=False, description="X-API-KEY sent on every call")
    request_timeout_s: float = Field(10.0, gt=0, description="seconds per HTTP request")
    max_retries: int = Field(
        6, ge=0, le=20, description="retries of a failed call after its first attempt"
    )

    # -- our webhook listener (wire-contract §6) ----------------------------------------
    listener_host: str = "127.0.0.1"
    listener_port: int = Field(8901, ge=0, le=65535)
    scheduled_path: str = "/optimove/events"
    triggered_path: str = "/optimove/triggered"
    webhook_secret: str | None = Field(None, repr=False, description="the tenant's secret")
    triggered_secret: str | None = Field(
        None, repr=False, description="the CE v2 registration's own secret (optional)"
    )

    # -- how hard we push ---------------------------------------------------------------
    concurrency: int = Field(8, ge=1, le=256)  # API calls in flight per campaign step
    # Triggered events worked at once (each mostly waits on the network; their
    # validations are coalesced into shared calls, flows/coalesce.py).
    triggered_concurrency: int = Field(256, ge=1, le=10_000)
    max_connections: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="HTTP connections per API (default: one per call that can be in "
        "flight, at least 16)",
    )
    validate_batch: int = Field(1000, ge=1, le=1000)  # wire-contract §4: ≤ 1000 contexts
    approve_batch: int = Field(10_000, ge=1, le=10_000)  # wire-contract §2.1: ≤ 10000 items
    page_size: int = Field(10_000, ge=1, le=10_000)  # wire-contract §2: $top ≤ 10000

    # -- our platform -------------------------------------------------------------------
    store_path: Path | None = Field(
        None, description="SQLite file for the platform's state (default: kept in memory)"
    )
    redemption_mode: Literal["per_event", "batched", "off"] = "batched"
    redemption_interval_s: float = Field(1.0, gt=0)

    # -- scrubbing rules shipped as examples --------------------------------------------
    blocked_countries: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["FR"])
    min_balance: int = Field(0, ge=0)

    # -- deadlines ----------------------------------------------------------------------
    deadline_margin_s: float = Field(60.0, ge=0)

    @property
    def connection_limit(self) -> int:
        """HTTP connections per API: `max_connections` when set, else one per call that
        can be in flight: every triggered event's approval at once, and a campaign step's
        calls (at least 16). A call beyond the limit waits for a free connection; measured
        in `loadtests/bench_e2e.py`, 256 events queueing on 16 connections cost the client
        ~15 % more CPU per event than 256 connections did."""
        if self.max_connections is not None:
            return self.max_connections
        return max(16, 2 * self.concurrency, self.triggered_concurrency)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FileSource(settings_cls)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ClientConfig:
        """Settings from a YAML or JSON file; env vars and `overrides` take precedence."""
        token = _CONFIG_FILE.set(Path(path))
        try:
            return cls(**overrides)
        finally:
            _CONFIG_FILE.reset(token)

    @field_validator("blocked_countries", mode="before")
    @classmethod
    def _split_countries(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in (p.strip() for p in text.split(",")) if part]
        return value

    @field_validator("blocked_countries")
    @classmethod
    def _upper_countries(cls, value: list[str]) -> list[str]:
        return [country.upper() for country in value]

    @field_validator("optimove_url", "promotions_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value is not None else None

    @field_validator("scheduled_path", "triggered_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _distinct_paths(self) -> ClientConfig:
        if self.scheduled_path == self.triggered_path:
            raise ValueError("scheduled_path and triggered_path must differ")
        return self

    @property
    def promotions_base_url(self) -> str:
        """Where Promotions lives: its own URL when given, else the Optimove one."""
        return self.promotions_url or self.optimove_url

    @property
    def triggered_signing_secret(self) -> str | None:
        """Triggered webhooks are signed with the CE v2 registration's secret when it has
        one, else with the tenant's (wire-contract §8, "Clocks and webhooks")."""
        return self.triggered_secret or self.webhook_secret
