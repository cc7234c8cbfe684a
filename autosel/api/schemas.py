"""Request/response schemas: ``XCreate`` in, ``XPublic`` out, ``XsPublic{data, count}`` lists."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FormatName = Literal["auto", "chat", "alpaca", "sharegpt", "prompt_response"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code clients can switch on.")
    message: str = Field(description="What was wrong and what would be accepted.")
    field: str | None = Field(None, description="The request field (dotted path) that was wrong.")
    line: int | None = Field(None, description="Line of an uploaded file, for input errors.")
    details: list[dict[str, str]] | None = Field(None, description="Every validation error.")


class ErrorPublic(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class PoolRegister(BaseModel):
    """Register a file that already lies on the server, inside the allowed root."""

    model_config = ConfigDict(extra="forbid")
    # No NUL byte: the OS cannot open such a path (it used to surface as a 500).
    path: str = Field(
        min_length=1,
        max_length=4096,
        pattern=r"^[^\x00]+$",
        description="Path relative to (or inside) the server's allowed data root.",
    )
    name: str | None = Field(default=None, max_length=200)
    format: FormatName = "auto"
    skip_invalid: bool = False


class PoolPublic(BaseModel):
    pool_id: str
    name: str
    rows: int
    format: str | None
    created_at: str | None = None
    source_counts: dict[str, int] = {}
    skipped: int = 0
    content_hash: str


class PoolsPublic(BaseModel):
    data: list[PoolPublic]
    count: int


class PoolCreated(PoolPublic):
    created: bool = Field(description="False when the same content was already stored.")


class PoolStats(BaseModel):
    model_config = ConfigDict(extra="allow")
    pool_id: str
    rows: int
    sources: dict[str, int]


class OperatorPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    params_schema: dict[str, Any]


class OperatorsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int


class SearchCreate(BaseModel):
    """A search spec (see ``autosel.scheduler.SearchSpec``; README, "Search spec")."""

    model_config = ConfigDict(extra="allow")
    pool: str = Field(description="Pool id, unique prefix or name.")
    budget: int = Field(8, ge=1, le=10_000)
    name: str | None = Field(None, max_length=200)


class TrialPublic(BaseModel):
    """One trial as the dashboard and the CLI show it (see ``autosel.scheduler.views``)."""

    id: int
    number: int
    state: Literal["pending", "running", "complete", "failed", "pruned"]
    origin: str = Field(
        description="warmup, edit, reseed, seed, ... or baseline:full / baseline:random."
    )
    baseline: bool
    trajectory: int | None = Field(
        description="Index of the search trajectory (reseeds start a new one)."
    )
    recipe: dict[str, Any]
    recipe_hash: str
    fingerprint: str = Field(description="Hash of the sorted sample ids of the realized subset.")
    size: int | None = Field(description="Rows in the subset (None when no job was queued).")
    state_vector: list[float | None]
    predicted_mean: float | None = Field(
        description="Surrogate mean at proposal (None for warmup)."
    )
    predicted_std: float | None
    acquisition: float | None
    score: float | None = Field(description="Observed utility (None until complete).")
    scores: dict[str, float | None] = Field(description="Per-benchmark primary scores.")
    metrics: dict[str, float | None] = Field(description="Every metric, keyed 'benchmark/metric'.")
    cost: dict[str, float | None]
    artifacts: dict[str, str]
    job_state: str | None
    attempts: int
    error: str | None
    created_at: str
    finished_at: str | None


class TrialsPublic(BaseModel):
    data: list[TrialPublic]
    count: int


class SearchPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    pool_id: str | None = None
    state: Literal["created", "running", "completed", "cancelled", "failed"]
    budget: int
    completed: int = Field(description="Finished search evaluations (baselines excluded).")
    failed: int = 0
    in_flight: int = 0
    best: TrialPublic | None = None
    best_score: float | None
    baselines: dict[str, float | None] = Field(
        default_factory=dict, description="Score of each reference baseline: full, random."
    )
    best_so_far: list[float | None] = Field(
        default_factory=list,
        description="Best score after each finished evaluation, in finish order.",
    )
    device_seconds: float = 0.0
    created_at: str | None = None
    updated_at: str | None = None
    spec: dict[str, Any] | None = Field(
        None, description="The immutable search spec (single search only)."
    )


class SearchesPublic(BaseModel):
    data: list[SearchPublic]
    count: int


class SourceShare(BaseModel):
    source: str
    pool: int
    subset: int
    pool_share: float
    subset_share: float


class CompositionPublic(BaseModel):
    """Rows per source of one trial's subset against the whole pool."""

    trial: int
    pool_rows: int
    subset_rows: int
    sources: list[SourceShare]
