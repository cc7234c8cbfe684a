"""Jobs and workers: the endpoints remote workers use (lease, start, heartbeat, complete,
fail, fetch the subset) and read-only listings for people.

Workers need only a worker-scoped token, never database credentials. Lease tokens guard
every report: a late report from a worker that lost its lease gets 409 ``lease_lost`` and
changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from autosel.api.deps import SettingsDep, StoreDep, UserAuth, WorkerAuth
from autosel.api.errors import ApiError, post_only
from autosel.api.openapi import NDJSON_200
from autosel.api.schemas import (
    ErrorPublic,
    HeartbeatPublic,
    JobLeased,
    JobPublic,
    JobsPublic,
    ResultPublic,
    WorkerPublic,
    WorkersPublic,
)
from autosel.store import InvalidStateError, JobProgress, JobResult, LeaseLostError
from autosel.store.records import JOB_STATES

router = APIRouter(tags=["jobs"])
# Ids beyond the database's 64-bit integers cannot exist; refusing them up front keeps the
# driver from overflowing (a 500) on a mistyped id.
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Job id.")]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic},
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic},
    422: {"model": ErrorPublic},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkerRegister(_Body):
    worker_id: str = Field(min_length=1, max_length=200)
    hostname: str = Field("", max_length=255)
    device: str = Field("", max_length=100)
    meta: dict[str, Any] = Field(default_factory=dict)


class LeaseRequest(_Body):
    worker_id: str = Field(min_length=1, max_length=200)
    lease_seconds: float = Field(600.0, ge=1.0, le=86_400.0)
    kinds: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        None,
        max_length=16,
        description="Lease only jobs of these kinds (``sft``: evaluations; ``signals``: "
        "signal computation); default any kind.",
    )


class LeaseToken(_Body):
    lease_token: str = Field(min_length=1, max_length=100)


class Progress(_Body):
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    unit: str = Field("samples", min_length=1, max_length=32)


class Heartbeat(LeaseToken):
    worker_id: str = Field(min_length=1, max_length=200)
    progress: Progress | None = Field(
        None, description="How much of the job is done (logged as a job.progress event)."
    )


# Bounds of a result's per-item scores: generous for real benchmarks, small enough that one
# report cannot fill the database (each value is one JSON number).
MAX_ITEM_BENCHMARKS = 1_000
MAX_ITEMS_PER_BENCHMARK = 100_000
ItemScore = Annotated[float, Field(allow_inf_nan=False)]
BenchName = Annotated[str, Field(min_length=1, max_length=200)]
ItemList = Annotated[list[ItemScore], Field(max_length=MAX_ITEMS_PER_BENCHMARK)]


class ResultReport(LeaseToken):
    scores: dict[str, float]
    utility: float | None = None
    costs: dict[str, float] = Field(default_factory=dict)
    artifacts: dict[str, str] = Field(default_factory=dict)
    item_scores: dict[BenchName, ItemList] = Field(
        default_factory=dict,
        max_length=MAX_ITEM_BENCHMARKS,
        description="Per benchmark, the normalised primary score of each scored item "
        "(finite numbers, split order).",
    )


class FailureReport(LeaseToken):
    reason: str = Field(min_length=1, max_length=10_000)
    retry: bool = False


def _lease_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except LeaseLostError as e:
        raise ApiError(409, "lease_lost", str(e)) from None
    except InvalidStateError as e:
        raise ApiError(409, "invalid_state", str(e)) from None


def _job(job: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(job).items()}


@router.post("/v1/workers/register", response_model=WorkerPublic, responses=ERRORS)
def register_worker(body: WorkerRegister, store: StoreDep, _: WorkerAuth) -> dict[str, Any]:
    """Join (or refresh) the worker registry."""
    w = store.register_worker(
        body.worker_id, hostname=body.hostname, device=body.device, meta=body.meta
    )
    return _job(w)


@router.get("/v1/workers", response_model=WorkersPublic, responses=ERRORS)
def workers(store: StoreDep, _: UserAuth) -> dict[str, Any]:
    """Registered workers: last seen, current job, device."""
    data = [_job(w) for w in store.workers()]
    return {"data": data, "count": len(data)}


@router.post(
    "/v1/jobs/lease",
    response_model=JobLeased,
    responses={**ERRORS, 204: {"description": "no job queued"}},
)
def lease(body: LeaseRequest, store: StoreDep, _: WorkerAuth) -> Any:
    """Atomically lease the next queued job (204 when there is none)."""
    store.requeue_expired()
    job = _lease_errors(store.claim_job, body.worker_id, body.lease_seconds, kinds=body.kinds)
    if job is None:
        return Response(status_code=204)
    return _job(job)


post_only(router, "/v1/jobs/lease")


@router.post("/v1/jobs/{job_id}/start", response_model=JobPublic, responses=ERRORS)
def start(job_id: JobId, body: LeaseToken, store: StoreDep, _: WorkerAuth) -> dict[str, Any]:
    return _job(_lease_errors(store.start_job, job_id, body.lease_token))


@router.post("/v1/jobs/{job_id}/heartbeat", response_model=HeartbeatPublic, responses=ERRORS)
def heartbeat(job_id: JobId, body: Heartbeat, store: StoreDep, _: WorkerAuth) -> dict[str, Any]:
    """Renew the lease; ``cancel_requested`` tells the worker to stop."""
    progress = None
    if body.progress is not None:
        try:
            progress = JobProgress(**body.progress.model_dump())
        except ValueError as e:
            raise ApiError(422, "invalid_progress", f"progress: {e}", "progress") from None
    job = _lease_errors(
        store.heartbeat, job_id, body.worker_id, body.lease_token, progress=progress
    )
    return {
        "job_id": job.id,
        "cancel_requested": job.cancel_requested,
        "lease_expires_at": job.lease_expires_at.isoformat() if job.lease_expires_at else None,
    }


@router.post("/v1/jobs/{job_id}/complete", response_model=ResultPublic, responses=ERRORS)
def complete(job_id: JobId, body: ResultReport, store: StoreDep, _: WorkerAuth) -> dict[str, Any]:
    """Report a result (idempotent for the same lease token)."""
    res = _lease_errors(
        store.complete_job,
        job_id,
        body.lease_token,
        JobResult(
            scores=body.scores,
            utility=body.utility,
            costs=body.costs,
            artifacts=body.artifacts,
            item_scores=body.item_scores,
        ),
    )
    return _job(res)


@router.post("/v1/jobs/{job_id}/fail", response_model=JobPublic, responses=ERRORS)
def fail(job_id: JobId, body: FailureReport, store: StoreDep, _: WorkerAuth) -> dict[str, Any]:
    """Report a failure with its reason (``retry`` requeues while attempts remain)."""
    return _job(
        _lease_errors(store.fail_job, job_id, body.lease_token, body.reason, retry=body.retry)
    )


@router.get("/v1/jobs/{job_id}/subset", responses={**ERRORS, **NDJSON_200})
def subset(
    job_id: JobId, store: StoreDep, settings: SettingsDep, _: WorkerAuth
) -> StreamingResponse:
    """The canonical pool rows the job trains on, as JSONL."""
    from autosel.pool.export import jsonl_lines
    from autosel.pool.pool import find_pool
    from autosel.recipes.subsets import load_subset

    job = store.get_job(job_id)
    pool = find_pool(job.payload["pool_id"], settings)
    indices = load_subset(settings, job.payload["fingerprint"])
    return StreamingResponse(jsonl_lines(pool.rows(indices)), media_type="application/x-ndjson")


@router.get("/v1/jobs", response_model=JobsPublic, responses=ERRORS)
def jobs(
    store: StoreDep, _: UserAuth, search_id: str | None = None, state: str | None = None
) -> dict[str, Any]:
    """Jobs, optionally of one search and/or in one state."""
    states = JOB_STATES
    if state is not None and state not in states:
        raise ApiError(
            422, "validation_error", f"state '{state}': accepted {', '.join(states)}", field="state"
        )
    data = [_job(j) for j in store.jobs(search_id=search_id, state=state)]
    return {"data": data, "count": len(data)}


@router.get("/v1/jobs/{job_id}", response_model=JobPublic, responses=ERRORS)
def get_job(job_id: JobId, store: StoreDep, _: UserAuth) -> dict[str, Any]:
    return _job(store.get_job(job_id))
