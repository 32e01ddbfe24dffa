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
    express: bool = Field(
        True, description="serve the per-event operations by the express lane (else FastAPI)"
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
