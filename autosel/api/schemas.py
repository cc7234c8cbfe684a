"""Request/response schemas: ``XCreate`` in, ``XPublic`` out, ``XsPublic{data, count}`` lists."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET
from autosel.store.records import JobState, SearchState, TrialState

FormatName = Literal["auto", "chat", "alpaca", "sharegpt", "prompt_response", "question_answer"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code clients can switch on.")
    message: str = Field(description="What was wrong and what would be accepted.")
    field: str | None = Field(None, description="The request field (dotted path) that was wrong.")
    line: int | None = Field(None, description="Line of an uploaded file, for input errors.")
    details: list[dict[str, str]] | None = Field(None, description="Every validation error.")
    request_id: str | None = Field(
        None, description="Of an internal error (500): the id the server log names it by."
    )


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
    map: dict[str, str] | None = Field(
        default=None,
        description='Field map {canonical: source}, e.g. {"question": "problem", '
        '"answer": "solution"} (autosel.pool.formats.MAPPABLE names the canonical fields).',
    )


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


class Summary(BaseModel):
    mean: float
    min: float
    p50: float = Field(description="Median.")
    max: float


class PoolStats(BaseModel):
    """Summary statistics of a pool (``autosel pool stats``)."""

    pool_id: str
    name: str
    format: str | None
    rows: int
    skipped: int = Field(description="Invalid records skipped at ingestion.")
    sources: dict[str, int] = Field(description="Rows per source.")
    exact_duplicate_rows: int
    response_chars: Summary
    prompt_messages: Summary = Field(description="Messages per prompt.")
    groups: int = Field(description="Prompts with several responses.")
    rows_in_groups: int
    correct_labelled: int = Field(description="Rows with a `correct` label.")
    difficulty: Summary | None
    fields_present: dict[str, int] = Field(description="Rows holding each optional field.")
    content_hash: str


class OperatorPublic(BaseModel):
    """One registered operator (see ``autosel.ops.operator_info``)."""

    name: str
    kind: Literal["filter", "select", "combine"]
    summary: str
    requires: list[str] = Field(description="Signals it reads (with default parameters).")
    origin: str = Field(description="Where it was registered from (module or entry point).")
    params_schema: dict[str, Any] = Field(description="JSON schema of its parameters.")


class OperatorsPublic(BaseModel):
    data: list[OperatorPublic]
    count: int


class StateNames(BaseModel):
    all: list[str] = Field(description="Every state, in lifecycle order.")
    final: list[str] = Field(description="States that never change again.")


class JobStateNames(StateNames):
    active: list[str] = Field(description="Held by a worker.")


class TrialStateNames(StateNames):
    open: list[str] = Field(description="Proposed or being evaluated.")
    scored: str = Field(description="The state of a trial with a score.")


class BudgetLimits(BaseModel):
    default: int = Field(description="A search's budget when its spec names none.")
    max: int


class MetaPublic(BaseModel):
    """The vocabulary clients share with the server (the dashboard reads it at start)."""

    job_states: JobStateNames
    search_states: StateNames
    trial_states: TrialStateNames
    budget: BudgetLimits


class SearchCreate(BaseModel):
    """A search spec (see ``autosel.scheduler.SearchSpec``; README, "Search spec")."""

    model_config = ConfigDict(extra="allow")
    pool: str = Field(description="Pool id, unique prefix or name.")
    budget: int = Field(
        DEFAULT_BUDGET, ge=1, le=MAX_BUDGET, description="Full evaluations to spend."
    )
    name: str | None = Field(None, max_length=200)


class TrialPublic(BaseModel):
    """A trial's public shape: what the API, ``autosel search show --json`` and the
    dashboard give (rows built by ``autosel.scheduler.views.trial_rows``)."""

    model_config = ConfigDict(extra="forbid")

    id: int
    number: int
    state: TrialState
    origin: str = Field(
        description="warmup, edit, reseed, seed, ... or a final-report run: report:best, "
        "report:full, report:random, report:<reference>."
    )
    report: bool = Field(description="A final-report run (test split), not a search trial.")
    split: Literal["dev", "test"] = Field(description="The benchmark split its score is on.")
    trajectory: int | None = Field(
        description="Index of the search trajectory (reseeds start a new one)."
    )
    fidelity: float = Field(
        1.0, description="Share of the subset trained on (below 1: a screening rung)."
    )
    promoted_from: int | None = Field(
        None, description="The trial whose recipe was promoted to this rung."
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
    predicted_fidelity: float | None = Field(
        None,
        description="Fidelity whose scores the surrogate was fitted on: in a screening "
        "search a candidate screened at the lowest rung may be predicted on the full "
        "rung's scale (None for warmup and searches stored before this field).",
    )
    acquisition: float | None
    score: float | None = Field(
        description="Observed utility on the trial's split (None until complete)."
    )
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


class SignalsJobPublic(BaseModel):
    """A search's signals job: computes the pool's signals before the first trial."""

    job_id: int
    state: JobState
    done: int | None = Field(description="Samples done (known while it runs and once done).")
    total: int | None = Field(description="Samples in the pool.")
    error: str | None = Field(description="Why it failed (the search then failed too).")


class SearchWarningPublic(BaseModel):
    kind: str = Field(description="The event behind it, e.g. gp_fit_failed.")
    message: str
    at: str = Field(description="When it happened (ISO 8601, UTC).")


class SearchPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    pool_id: str | None = None
    state: SearchState
    budget: int
    completed: int = Field(description="Finished search evaluations (report runs excluded).")
    failed: int = 0
    in_flight: int = Field(0, description="Jobs of the search queued or held by a worker.")
    failure_reason: str | None = Field(
        None, description="Why a failed search failed (e.g. the reason all its trials failed)."
    )
    best: TrialPublic | None = Field(None, description="The search trial with the best dev score.")
    best_score: float | None = Field(
        description="Best dev score (what the search maximised; the test score is in the report)."
    )
    report_runs: int = Field(0, description="Final-report runs queued (test split).")
    report_runs_done: int = Field(0, description="Final-report runs finished or failed.")
    best_so_far: list[float | None] = Field(
        default_factory=list,
        description="Best dev score after each finished evaluation, in finish order.",
    )
    signals: SignalsJobPublic | None = Field(
        None, description="The signals job, when the search's signals were not cached."
    )
    warnings: list[SearchWarningPublic] = Field(
        default_factory=list,
        description="What went wrong without failing the search (e.g. a failed GP fit and "
        "the fallback taken), oldest first.",
    )
    device_seconds: float = 0.0
    units_spent: float = Field(
        0.0,
        description="Compute units spent or in flight (full-evaluation equivalents: a "
        "screening trial costs its fidelity); the budget is in these units.",
    )
    fidelity_ladder: list[float] = Field(
        default_factory=lambda: [1.0], description="The search's fidelity ladder."
    )
    created_at: str | None = None
    updated_at: str | None = None
    spec: dict[str, Any] | None = Field(
        None, description="The immutable search spec (single search only)."
    )


class SearchesPublic(BaseModel):
    data: list[SearchPublic]
    count: int


# -- the final report ----------------------------------------------------------------------
class ReportBest(BaseModel):
    """The recipe the search found, with the dev score it was chosen on (not a test score)."""

    trial: int
    recipe: dict[str, Any]
    recipe_hash: str
    size: int
    dev_score: float | None = Field(description="Its score on the dev split (biased upwards).")
    split: Literal["dev"] = "dev"


class ReportArm(BaseModel):
    """One arm scored on the test split: its runs, test utility and standard error."""

    key: str = Field(description="best, full, random or a reference name.")
    name: str = Field(description="How tables and differences name it.")
    origin: str = Field(description="Origin of its trials, e.g. report:best.")
    size: int | None = Field(description="Rows trained on (one draw's size for random).")
    planned: int = Field(description="Runs queued (training seeds, or draws for random).")
    replicates: int = Field(description="Runs whose test scores it is built from.")
    trials: list[int]
    seeds: list[int | None] = Field(description="Training seed of each run.")
    notes: list[str] = Field(description="Runs left out and why (failed, no item scores).")
    test_utility: float | None = Field(description="Mean test utility over its replicates.")
    test_se: float | None = Field(description="SE of test_utility (items and seeds).")
    replicate_utilities: list[float]


class ReportComparison(BaseModel):
    """``a − b`` on test with a 95% CI; ``verdict`` says in words what the CI allows."""

    key: str = Field(description="e.g. best-full, best-random, <reference>-full.")
    a: str
    b: str
    diff: float | None
    se: float | None
    se_items: float | None = Field(description="Paired bootstrap over test items.")
    se_seeds: float | None = Field(description="From the training-seed variance.")
    lo: float | None = Field(description="Lower end of the 95% CI.")
    hi: float | None = Field(description="Upper end of the 95% CI.")
    z: float | None
    verdict: Literal["better", "worse", "not distinguishable", "unavailable"]
    sentence: str = Field(description="The difference, its CI and the verdict in words.")
    crit: float | None = None
    dof: float | None = None
    a_label: str = ""
    b_label: str = ""


class ReportMissing(BaseModel):
    arm: str
    name: str
    reason: str


class ReportVariance(BaseModel):
    """Variance of one run's test utility from the training seed (or, for random, the draw)."""

    value: float
    df: int = Field(description="Degrees of freedom (0: not measured).")
    measured: bool
    source: str


class ReportDev(BaseModel):
    """The search's own (dev) scores: their spread against the noise of one of them."""

    split: Literal["dev"] = "dev"
    n: int
    min: float | None
    max: float | None
    item_se: float | None = Field(description="Median per-trial item SE of a dev score.")
    noise_se: float | None = Field(
        description="SE of one dev score (items, and seeds if measured)."
    )


class FinalReport(BaseModel):
    """Best recipe, full pool, random subsets and references re-trained and scored on test."""

    version: int
    split: Literal["test"]
    complete: bool = Field(description="Every planned run succeeded.")
    best: ReportBest | None
    arms: list[ReportArm]
    missing: list[ReportMissing] = Field(description="Arms with no test score, and why.")
    seed_variance: ReportVariance
    random_variance: ReportVariance
    comparisons: list[ReportComparison]
    flat_warning: str | None = Field(
        description="Set when every dev score of the search lies within noise."
    )
    dev: ReportDev


class ReportPending(BaseModel):
    arm: str
    replicate: int
    trial: int
    state: str


class SearchReportPublic(BaseModel):
    """The final report of a search, or where the search stands on the way to it."""

    search_id: str
    search_state: SearchState
    status: Literal["complete", "running", "not_reached", "disabled", "unavailable"]
    message: str
    pending: list[ReportPending] = Field(description="Report runs still queued or training.")
    created_at: str | None = Field(None, description="When the report was computed.")
    report: FinalReport | None


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


# -- jobs and workers ---------------------------------------------------------------------
# Timestamps are ISO 8601 strings in UTC (the database clock), as everywhere in this API.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class JobPublic(BaseModel):
    """One evaluation job. Its lease token is only ever given to the worker that leased it."""

    id: int
    search_id: str | None
    trial_id: int | None
    kind: str = Field(
        description="What the worker runs: ``sft`` (an evaluation) or ``signals`` (the "
        "pool's signals, before a search's first trial)."
    )
    payload: dict[str, Any] = Field(
        description="What the worker needs: pool id, subset fingerprint and evaluation spec "
        "(``sft``), or pool id and the signals to compute (``signals``)."
    )
    state: JobState
    priority: int
    attempts: int
    max_attempts: int
    worker_id: str | None
    lease_seconds: float | None
    lease_expires_at: Timestamp | None
    heartbeat_at: Timestamp | None
    cancel_requested: bool = Field(description="The search was cancelled: the worker stops.")
    error: str | None = Field(description="Why the job failed or was cancelled.")
    created_at: Timestamp
    leased_at: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None


class JobLeased(JobPublic):
    """A job just leased: with the token that every later report about it must carry."""

    lease_token: str


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class HeartbeatPublic(BaseModel):
    job_id: int
    cancel_requested: bool = Field(description="Stop: the job's search was cancelled.")
    lease_expires_at: Timestamp | None


class ResultPublic(BaseModel):
    """A reported evaluation result."""

    id: int
    job_id: int
    trial_id: int | None
    worker_id: str | None
    scores: dict[str, float] = Field(description="Per benchmark, and 'benchmark/metric'.")
    utility: float | None
    costs: dict[str, float]
    artifacts: dict[str, str]
    created_at: Timestamp


class WorkerPublic(BaseModel):
    id: str
    hostname: str
    device: str
    meta: dict[str, Any]
    registered_at: Timestamp
    last_seen_at: Timestamp
    current_job_id: int | None


class WorkersPublic(BaseModel):
    data: list[WorkerPublic]
    count: int


# -- surrogate diagnostics -------------------------------------------------------------------
class LooPointPublic(BaseModel):
    number: int | None = Field(description="Trial number.")
    actual: float = Field(description="Its dev score.")
    predicted: float = Field(description="GP prediction from every other trial.")
    std: float = Field(description="Predictive standard deviation of that prediction.")


class ImportancePublic(BaseModel):
    name: str = Field(description="A GP input (state feature, operator or parameter).")
    share: float = Field(description="Inverse ARD lengthscale, normalised to sum to 1.")


class CurvePointPublic(BaseModel):
    evaluation: int
    number: int
    score: float | None
    best: float | None


class DiagnosticsPublic(BaseModel):
    status: Literal["ok", "too_few_points", "no_surrogate"]
    strategy: str
    features: str = Field(description="What the GP sees (knobs.features).")
    points: int = Field(description="Scored search trials the GP was fitted on.")
    loo: list[LooPointPublic]
    importance: list[ImportancePublic]
    utility_curve: list[CurvePointPublic]
    full_pool: dict[str, Any] | None = Field(
        None, description="The full pool's dev score, when the search evaluated it."
    )
    note: str | None = None
