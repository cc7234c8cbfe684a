"""Frozen values the store returns (never ORM rows) and the few values it takes in.

Timestamps are timezone-aware UTC datetimes read from the database clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

# The state names, defined here once. The API serves them (``GET /v1/meta``) to the
# dashboard, its schemas and the CLI use these types and tuples.
JobState = Literal["queued", "leased", "running", "succeeded", "failed", "cancelled"]
SearchState = Literal["created", "running", "completed", "cancelled", "failed"]
TrialState = Literal["pending", "running", "complete", "failed", "cancelled"]

JOB_STATES: tuple[JobState, ...] = get_args(JobState)
SEARCH_STATES: tuple[SearchState, ...] = get_args(SearchState)
TRIAL_STATES: tuple[TrialState, ...] = get_args(TrialState)

ACTIVE_JOB_STATES: tuple[JobState, ...] = ("leased", "running")
FINAL_JOB_STATES: tuple[JobState, ...] = ("succeeded", "failed", "cancelled")
# A search ends completed (budget spent, report done), failed, or cancelled by a user.
FINAL_SEARCH_STATES: tuple[SearchState, ...] = ("completed", "failed", "cancelled")
# A trial ends with its job: complete (scored), failed, or cancelled with its search.
FINAL_TRIAL_STATES: tuple[TrialState, ...] = ("complete", "failed", "cancelled")
# Not yet ended: proposed (its job queued) or being evaluated.
OPEN_TRIAL_STATES: tuple[TrialState, ...] = ("pending", "running")
SCORED_TRIAL_STATE: TrialState = "complete"


@dataclass(frozen=True)
class PoolRecord:
    id: str
    name: str
    content_hash: str
    rows: int
    path: str
    manifest: dict[str, Any]
    created_at: datetime | None = None


@dataclass(frozen=True)
class SearchRecord:
    id: str
    name: str
    pool_id: str | None
    spec: dict[str, Any]
    spec_hash: str
    state: SearchState
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TrialSpec:
    """What the scheduler knows about a candidate before it is evaluated.

    Attributes:
        recipe: the recipe's canonical JSON object.
        recipe_hash: sha256 of the canonical JSON (the recipe's identity).
        fingerprint: hash of the sorted sample ids of the realized subset.
        state_vector: realized state of the subset, `d` floats.
        origin: how the candidate was proposed (``warmup``, ``edit``, ``reseed``, ...).
        prediction: surrogate prediction at proposal time (mean, std, acquisition value).
        trajectory: where it came from (parent trial, edit move), for the dashboard.
    """

    recipe: dict[str, Any]
    recipe_hash: str
    fingerprint: str
    state_vector: tuple[float, ...]
    origin: str
    prediction: dict[str, Any] | None = None
    trajectory: dict[str, Any] | None = None


@dataclass(frozen=True)
class TrialRecord:
    id: int
    search_id: str
    number: int
    recipe: dict[str, Any]
    recipe_hash: str
    fingerprint: str
    state_vector: tuple[float, ...]
    prediction: dict[str, Any] | None
    origin: str
    trajectory: dict[str, Any] | None
    state: TrialState
    score: float | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class JobSpec:
    """A job to enqueue. ``payload`` is what the worker needs (recipe, pool, eval config)."""

    payload: dict[str, Any]
    search_id: str | None = None
    trial_id: int | None = None
    kind: str = "sft"
    priority: int = 0
    max_attempts: int = 3


@dataclass(frozen=True)
class JobRecord:
    id: int
    search_id: str | None
    trial_id: int | None
    kind: str
    payload: dict[str, Any]
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    worker_id: str | None
    lease_token: str | None
    lease_seconds: float | None
    lease_expires_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    error: str | None
    created_at: datetime
    leased_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class JobProgress:
    """How much of a running job is done, reported with a heartbeat.

    Attributes:
        done: units finished so far (``0 <= done <= total``).
        total: units in the whole job.
        unit: what is counted, e.g. ``"samples"``.
    """

    done: int
    total: int
    unit: str = "samples"

    def __post_init__(self) -> None:
        if not 0 <= self.done <= self.total:
            raise ValueError(
                f"job progress {self.done}/{self.total}: done must be between 0 and total"
            )


@dataclass(frozen=True)
class JobResult:
    """What a worker reports for a finished evaluation.

    Attributes:
        scores: per-benchmark scores, e.g. ``{"gsm8k": 0.41, "mmlu": 0.52}``.
        utility: the aggregated objective the search maximises (None if not computed).
        costs: e.g. ``{"device_seconds": 812.0, "wall_seconds": 840.3, "tokens": 1.2e6}``.
        artifacts: name -> location (adapter weights, logs, eval outputs).
        item_scores: per benchmark, the normalised primary score of each scored item in
            the split's order (``EvalResult.item_scores``); what the final report
            bootstraps over. Empty for results that carry no items (synthetic objectives).
    """

    scores: dict[str, float]
    utility: float | None = None
    costs: dict[str, float] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    item_scores: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultRecord:
    id: int
    job_id: int
    trial_id: int | None
    worker_id: str | None
    scores: dict[str, float]
    utility: float | None
    costs: dict[str, float]
    artifacts: dict[str, str]
    created_at: datetime
    item_scores: dict[str, list[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerRecord:
    id: str
    hostname: str
    device: str
    meta: dict[str, Any]
    registered_at: datetime
    last_seen_at: datetime
    current_job_id: int | None


@dataclass(frozen=True)
class TokenRecord:
    """An API token's metadata; the token itself is never stored, only its sha256."""

    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class EventRecord:
    id: int
    created_at: datetime
    kind: str
    search_id: str | None
    job_id: int | None
    trial_id: int | None
    worker_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class RequeueReport:
    """What :meth:`Store.requeue_expired` did, by job id."""

    requeued: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    cancelled: tuple[int, ...] = ()


@dataclass(frozen=True)
class CancelReport:
    """What :meth:`Store.cancel_search` did: queued jobs stopped, running ones signalled."""

    cancelled: tuple[int, ...] = ()
    signalled: tuple[int, ...] = ()
