"""Service settings (first of the three configuration tiers).

Read from the environment with the ``AUTOSEL_`` prefix, e.g. ``AUTOSEL_HOME``.
Per-search specs and algorithm knobs live elsewhere (see README, "Configuration").
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest single input record (one JSONL line) accepted by ingestion.",
    )

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
