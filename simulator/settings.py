"""Server settings: every option of `optisim serve` is also a `SIM_` environment variable."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimSettings(BaseSettings):
    """Validated settings; built by the CLI or by `create_app`'s caller (no singleton)."""

    model_config = SettingsConfigDict(env_prefix="SIM_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8900, ge=0, le=65535)
    store: Literal["memory", "sqlite"] = "memory"
    sqlite_path: Path = Path("optisim.sqlite")
    scenario: str = Field("demo", description="built-in name (demo, large) or a file path")
    clock: Literal["realtime", "manual"] | None = Field(
        None, description="override the scenario's clock mode"
    )
    seed: int | None = Field(None, description="seeded ids (single process): replayable runs")
    duplicate_approvals: Literal["reject", "ignore"] = "reject"
    journal_size: int = Field(10_000, ge=0, le=1_000_000)
    journal: bool = True
    access_log: bool = False
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    token_ttl_seconds: float = Field(1200.0, gt=0)
    login_limits: bool = Field(
        True,
        description="refuse a legacy login (429) while the user holds an unexpired token "
        "or within a second of their last login, as Optimove does",
    )
    token_retention_seconds: float = Field(
        3600.0,
        ge=0,
        description="how long an expired legacy token is kept (answering 403 Expired) "
        "before it is purged",
    )
    sweep_seconds: float = Field(1.0, gt=0, description="how often due clearances run")
    workers: int = Field(1, ge=1, le=64)
    webhooks: bool = Field(True, description="deliver the outbox over HTTP")
    rate_limit: bool = Field(False, description="emulate 50 requests / 10 s per key")
    rate_limit_requests: int = Field(50, ge=1)
    rate_limit_window_seconds: float = Field(10.0, gt=0)
    fault_seed: int = Field(0, ge=0, description="default seed of fault rules")
    gc_freeze: bool = Field(True, description="freeze long-lived objects for the collector")
    max_tenants: int = Field(
        20_000,
        ge=1,
        description="tenants the server holds at once (the server's own included); "
        "creating one more is refused with 409 too_many_tenants",
    )
    max_head_bytes: int = Field(
        65_536,
        ge=1024,
        le=16 * 1024 * 1024,
        description="request line and headers together at most this many bytes (else 431)",
    )
    max_headers: int = Field(100, ge=1, le=10_000, description="header fields (else 431)")
    head_timeout_seconds: float = Field(
        10.0, gt=0, le=3600, description="a request head must arrive within this (else 408)"
    )
    keep_alive_seconds: int = Field(
        5, ge=1, le=3600, description="an idle kept-alive connection closes after this"
    )
    express: bool = Field(
        True, description="serve the per-event operations by the express lane (else FastAPI)"
    )
    metrics: bool = Field(
        True,
        description="serve GET /_sim/metrics (Prometheus text; open, without a key) and "
        "count requests and webhook attempts for it",
    )
    journal_budget: int = Field(
        200_000,
        ge=0,
        description="journal entries kept by the process across all tenants; when full, "
        "entries go from tenants holding more than an equal share",
    )
    delivery_retention: int = Field(
        20_000, ge=0, description="finished webhook deliveries kept per tenant (0: all)"
    )
    attempt_retention: int = Field(
        50_000, ge=0, description="webhook attempts kept per tenant (0: all)"
    )
    delivery_retention_seconds: float = Field(
        86_400.0, ge=0, description="finished deliveries and attempts older than this go (0: never)"
    )
    webhook_in_flight: int = Field(
        4_000, ge=1, description="webhook deliveries in flight at once in the process"
    )

    @model_validator(mode="after")
    def _workers_need_sqlite(self) -> SimSettings:
        if self.workers > 1 and self.store != "sqlite":
            raise ValueError("workers > 1 needs store=sqlite (memory state is per process)")
        if self.workers > 1 and self.seed is not None:
            raise ValueError("seeded ids need a single process (workers=1)")
        return self


def explain(error: ValidationError) -> str:
    """A settings error as sentences naming the options and their environment variables
    (`--journal-size (SIM_JOURNAL_SIZE): ...`), without
    pydantic's boilerplate (error type names, "For further information visit ...")."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        option = f"--{where.replace('_', '-')} (SIM_{where.upper()})" if where else ""
        parts.append(f"{option}: {message}" if option else message)
    return "; ".join(parts)
