"""Where a worker gets jobs from: the store directly (embedded mode) or the REST API.

Both sources expose the same small protocol, so the worker loop does not know which it
talks to. Remote workers need no database credentials: only a server URL and a worker
token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from autosel.settings import Settings
from autosel.store import JobProgress, JobResult, Store
from autosel.store.retry import call_with_retry


@dataclass(frozen=True)
class Lease:
    """A job held by this worker: what to run and the token that proves the lease."""

    job_id: int
    lease_token: str
    lease_seconds: float
    payload: dict[str, Any]
    search_id: str | None
    trial_id: int | None


class JobSource(Protocol):
    """What the worker loop needs from a job source."""

    def register(
        self, worker_id: str, *, hostname: str, device: str, meta: dict[str, Any]
    ) -> None: ...

    def claim(self, worker_id: str, lease_seconds: float) -> Lease | None: ...

    def start(self, lease: Lease) -> None: ...

    def heartbeat(
        self, worker_id: str, lease: Lease, *, progress: JobProgress | None = None
    ) -> bool:
        """Renew the lease (reporting ``progress``, if given); True when cancellation was
        requested. Raises LeaseLostError."""
        ...

    def complete(self, lease: Lease, result: JobResult) -> None: ...

    def fail(self, lease: Lease, reason: str, *, retry: bool) -> None: ...

    def rows(self, lease: Lease) -> list[dict[str, Any]]:
        """The canonical pool rows of the job's subset."""
        ...

    def pool(self, lease: Lease) -> Any:
        """The job's whole pool (a signals job), from the shared ``$AUTOSEL_HOME``."""
        ...


class LocalJobSource:
    """Jobs straight from a store; subsets read from the shared ``$AUTOSEL_HOME``.

    Every store call retries transient database errors with backoff (see
    :mod:`autosel.store.retry`), so a worker rides out a database outage.

    Args:
        search_id: claim only this search's jobs (the embedded workers of one run);
            ``None`` claims any queued job (a shared worker fleet).
    """

    def __init__(self, store: Store, settings: Settings, *, search_id: str | None = None) -> None:
        self.store, self.settings, self.search_id = store, settings, search_id

    def register(self, worker_id: str, *, hostname: str, device: str, meta: dict[str, Any]) -> None:
        if self.search_id is not None:  # schedulers of other searches do not count it
            meta = {**meta, "search_id": self.search_id}
        call_with_retry(
            self.store.register_worker, worker_id, hostname=hostname, device=device, meta=meta
        )

    def claim(self, worker_id: str, lease_seconds: float) -> Lease | None:
        job = call_with_retry(
            self.store.claim_job, worker_id, lease_seconds, search_id=self.search_id
        )
        if job is None:
            return None
        return Lease(
            job.id,
            job.lease_token or "",
            float(job.lease_seconds or lease_seconds),
            job.payload,
            job.search_id,
            job.trial_id,
        )

    def start(self, lease: Lease) -> None:
        call_with_retry(self.store.start_job, lease.job_id, lease.lease_token)

    def heartbeat(
        self, worker_id: str, lease: Lease, *, progress: JobProgress | None = None
    ) -> bool:
        job = call_with_retry(
            self.store.heartbeat, lease.job_id, worker_id, lease.lease_token, progress=progress
        )
        return bool(job.cancel_requested)

    def complete(self, lease: Lease, result: JobResult) -> None:
        call_with_retry(self.store.complete_job, lease.job_id, lease.lease_token, result)

    def fail(self, lease: Lease, reason: str, *, retry: bool) -> None:
        call_with_retry(self.store.fail_job, lease.job_id, lease.lease_token, reason, retry=retry)

    def rows(self, lease: Lease) -> list[dict[str, Any]]:
        from autosel.pool import get_pool
        from autosel.recipes.subsets import load_subset

        pool = get_pool(lease.payload["pool_id"], self.settings)
        return list(pool.rows(load_subset(self.settings, lease.payload["fingerprint"])))

    def pool(self, lease: Lease) -> Any:
        from autosel.pool import get_pool

        return get_pool(lease.payload["pool_id"], self.settings)
