"""One settings class for the whole platform, read from `AFINIDAD_*` environment variables.

Every setting has a safe default for the embedded mode (SQLite file in the working directory, offline
generator), so `afinidad demo` works on a fresh machine with nothing configured."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AFINIDAD_", env_file=None, extra="ignore")

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///afinidad.db"),
        description="SQLAlchemy URL; sqlite:///path (embedded) or postgresql://user@host/db (production).",
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        default="FULL",
        description="SQLite PRAGMA synchronous. FULL survives power loss; NORMAL survives a process kill.",
    )

    # Ingestion limits, the same as Segment's HTTP tracking API.
    max_message_bytes: int = 32 * 1024
    max_batch_bytes: int = 500 * 1024
    import_max_message_bytes: int = Field(
        default=2 * 1024 * 1024, description="Largest message `afinidad import events` accepts (orders can be big)."
    )
    max_future_seconds: int = Field(
        default=86400, description="Timestamps further ahead than this (after skew correction) are refused."
    )
    writer_mode: Literal["process", "thread"] = Field(
        default="process",
        description="'process': the event writer runs in a child process (uses a second "
        "core); 'thread': in the server process.",
    )
    writer_max_group: int = Field(
        default=2000, description="Most messages the writer commits in one transaction (group commit)."
    )

    gil_switch_interval_seconds: float = Field(
        default=0.0005, description="Python's thread switch interval in the server (see afinidad/api/app.py)."
    )

    segments_follow_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How often the server brings segment members up to date with new events "
        "(0: never; `afinidad worker` still rebuilds them).",
    )

    # Per-key rate limit (token bucket). 0 disables.
    rate_limit_per_second: float = Field(default=1000.0, description="Requests a second per key, as Segment.")
    rate_limit_burst: int = 2000

    # Identity resolution.
    identity_max_profiles_per_identifier: int = Field(
        default=5,
        description="An identifier seen on more profiles than this (a shared tablet, test@test.com) stops linking.",
    )
    default_phone_region: str = Field(default="US", description="Region for phone numbers given without +code.")

    log_level: str = "INFO"
    log_json: bool = True
    data_dir: Path = Field(
        default=Path("../shared/data"), description="Where public evaluation data sets live (MovieLens, ...)."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
