"""Service settings (first of the three configuration tiers).

Read from the environment with the ``AUTOSEL_`` prefix, e.g. ``AUTOSEL_HOME``.
Per-search specs and algorithm knobs live elsewhere (see README, "Configuration").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings."""

    model_config = SettingsConfigDict(env_prefix="AUTOSEL_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".autosel",
        description="Data directory: pools, signal caches, model cache, artifacts.",
    )
    models_cache: Path | None = Field(
        default=None,
        description="Where converted models are cached (default: $AUTOSEL_HOME/models).",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the job store (e.g. postgresql+psycopg://user@host/db); "
            "default: SQLite at $AUTOSEL_HOME/autosel.db."
        ),
    )
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest single input record (one JSONL line) accepted by ingestion.",
    )

    data_root: Path | None = Field(
        default=None,
        description="Server-side files may be registered as pools only inside this directory "
        "(default: $AUTOSEL_HOME/data).",
    )
    max_upload_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Largest pool file accepted by an API upload."
    )
    min_free_disk_bytes: int = Field(
        default=512 * 1024**2,
        ge=0,
        description="Uploads are refused when they would leave less free disk than this.",
    )

    model_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories (besides the data root and the model cache) whose model "
        "directories an API client may name in a search spec; comma-separated.",
    )

    auth: bool | None = Field(
        default=None,
        description="Require API tokens. Precedence: `autosel serve --auth/--no-auth`, then "
        "this, then on unless the server binds to a loopback address.",
    )
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="Host names the API answers to (DNS-rebinding guard), comma-separated; "
        "'*' = any. Loopback names are always allowed. Default: only loopback names when auth "
        "is off, any host when it is on.",
    )

    @field_validator("model_roots", "allowed_hosts", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        # Environment values: "a,b" or a JSON list '["a", "b"]'.
        if isinstance(v, str):
            text = v.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return v

    @property
    def allowed_root(self) -> Path:
        return (self.data_root or self.home / "data").expanduser().resolve()

    @property
    def pools_dir(self) -> Path:
        return self.home / "pools"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def models_dir(self) -> Path:
        return self.models_cache or self.home / "models"


def get_settings() -> Settings:
    """The settings of this process, read from the environment now (cheap, not cached)."""
    return Settings()
