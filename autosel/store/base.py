"""The store interface: everything above ``autosel/store`` talks to a :class:`Store`.

One implementation today (:class:`~autosel.store.sql.SqlStore`, SQLite or PostgreSQL);
``tests/store`` is the conformance suite any other implementation must pass.

Job life cycle::

    queued ──claim──▶ leased ──start──▶ running ──complete──▶ succeeded
       ▲                 │                 │  └────fail──────▶ failed
       └──lease expired──┴─────────────────┘  (after max_attempts: failed, with reason)
    queued ──cancel_search──▶ cancelled;  leased/running: cancel_requested, the worker
    sees it on its next heartbeat and reports back (fail → cancelled).

Every report about a leased job carries the lease token handed out by
:meth:`Store.claim_job`. It fences off workers that lost their lease: their late reports
raise :class:`LeaseLostError` and change nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from autosel.errors import InvalidStateError, LeaseLostError

__all__ = ["InvalidStateError", "LeaseLostError", "Store"]
from autosel.store.records import (
    CancelReport,
    EventRecord,
    JobProgress,
    JobRecord,
    JobResult,
    JobSpec,
    JobState,
    PoolRecord,
    RequeueReport,
    ResultRecord,
    SearchRecord,
    SearchState,
    TokenRecord,
    TrialRecord,
    TrialSpec,
    TrialState,
    WorkerRecord,
)


class Store(ABC):
    """Persistent state of autosel: catalog, searches, trials, jobs, workers, tokens, events."""

    # -- catalog ---------------------------------------------------------------------------
    @abstractmethod
    def put_pool(self, pool: PoolRecord) -> PoolRecord:
        """Insert or update a pool (pools are content-addressed, so this is idempotent)."""

    @abstractmethod
    def get_pool(self, pool_id: str) -> PoolRecord:
        """Raises NotFoundError."""

    @abstractmethod
    def pools(self) -> list[PoolRecord]:
        """All pools, oldest first."""

    # -- searches and trials ---------------------------------------------------------------
    @abstractmethod
    def create_search(
        self,
        name: str,
        spec: dict[str, Any],
        *,
        pool_id: str | None = None,
        search_id: str | None = None,
    ) -> SearchRecord:
        """Store a new search with its immutable spec (a random uuid id unless given)."""

    @abstractmethod
    def get_search(self, search_id: str) -> SearchRecord:
        """Raises NotFoundError."""

    @abstractmethod
    def searches(self, *, state: SearchState | None = None) -> list[SearchRecord]:
        """Searches, oldest first."""

    def resolve_search_id(self, ref: str) -> str:
        """The full id of the search ``ref`` names: its id, a unique id prefix of at least
        :data:`MIN_SEARCH_PREFIX` characters (a trailing ``…``, as narrow tables print
        truncated ids, is ignored) or a unique search name.

        Raises:
            NotFoundError: nothing matches, or the prefix/name is ambiguous (the
                candidates are listed).
        """
        return match_search_ref(ref, self.searches())

    @abstractmethod
    def set_search_state(self, search_id: str, state: SearchState) -> SearchRecord:
        """Move a search to ``state``; a cancelled search stays cancelled."""

    @abstractmethod
    def add_trial(self, search_id: str, trial: TrialSpec) -> TrialRecord:
        """Record a candidate; trials are numbered 0, 1, ... within their search."""

    @abstractmethod
    def update_trial(
        self,
        trial_id: int,
        *,
        state: TrialState | None = None,
        score: float | None = None,
        prediction: dict[str, Any] | None = None,
    ) -> TrialRecord:
        """Change a trial's state, score or prediction (the recipe is immutable)."""

    @abstractmethod
    def get_trial(self, trial_id: int) -> TrialRecord:
        """Raises NotFoundError."""

    @abstractmethod
    def trials(self, search_id: str, *, fingerprint: str | None = None) -> list[TrialRecord]:
        """Trials of a search in number order, optionally those of one subset fingerprint."""

    # -- jobs ------------------------------------------------------------------------------
    @abstractmethod
    def create_jobs(self, specs: Sequence[JobSpec]) -> list[JobRecord]:
        """Enqueue jobs in one transaction. Refused for a cancelled search."""

    def create_job(self, spec: JobSpec) -> JobRecord:
        """Enqueue one job."""
        return self.create_jobs([spec])[0]

    @abstractmethod
    def get_job(self, job_id: int) -> JobRecord:
        """Raises NotFoundError."""

    @abstractmethod
    def jobs(
        self, *, search_id: str | None = None, state: JobState | None = None
    ) -> list[JobRecord]:
        """Jobs in id order, filtered."""

    @abstractmethod
    def job_counts(self, *, search_id: str | None = None) -> dict[str, int]:
        """Number of jobs per state (every state present, zeros included)."""

    @abstractmethod
    def claim_job(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        kinds: Sequence[str] | None = None,
        search_id: str | None = None,
    ) -> JobRecord | None:
        """Atomically lease the next queued job (highest priority, then oldest), or None.

        ``kinds`` / ``search_id`` restrict the claim to jobs of those kinds / of that
        search (an embedded run's workers take only their own search's jobs, so two runs
        sharing a home never execute each other's trials).
        The returned record carries the lease token every later report must present.
        Each claim counts one attempt. The worker must be registered.
        """

    @abstractmethod
    def heartbeat(
        self,
        job_id: int,
        worker_id: str,
        lease_token: str,
        *,
        progress: JobProgress | None = None,
    ) -> JobRecord:
        """Extend the lease by its length from now (database clock).

        ``progress`` (how much of the job is done) is logged as a ``job.progress`` event
        in the same transaction. Returns the job; ``cancel_requested`` tells the worker
        to stop. Raises LeaseLostError if the lease is no longer held.
        """

    @abstractmethod
    def start_job(self, job_id: int, lease_token: str) -> JobRecord:
        """leased → running (and renew the lease). Raises LeaseLostError."""

    @abstractmethod
    def complete_job(self, job_id: int, lease_token: str, result: JobResult) -> ResultRecord:
        """Store the result and mark the job succeeded, atomically.

        Idempotent: repeating the report with the same token returns the stored result.
        A report with a token that no longer holds the job raises LeaseLostError and
        never overwrites or duplicates a result. A lease that ran out but was not yet
        requeued is still honoured: nobody else has the job and the work is done.
        """

    @abstractmethod
    def fail_job(
        self, job_id: int, lease_token: str, reason: str, *, retry: bool = False
    ) -> JobRecord:
        """Mark the job failed with ``reason`` (cancelled if cancellation was requested).

        ``retry=True`` requeues it instead while attempts remain. Idempotent like
        :meth:`complete_job`.
        """

    @abstractmethod
    def requeue_expired(self) -> RequeueReport:
        """Requeue jobs whose lease ran out; fail those out of attempts, with the reason.

        Safe to call from any number of processes at any rate (the scheduler calls it
        periodically; idle workers may too).
        """

    @abstractmethod
    def cancel_search(self, search_id: str) -> CancelReport:
        """Cancel a search: its queued jobs become cancelled, leased/running ones get
        ``cancel_requested`` (seen by their workers on the next heartbeat).

        Raises:
            InvalidStateError: the search is completed (its results and report stand).
        """

    @abstractmethod
    def get_result(self, job_id: int) -> ResultRecord | None:
        """The result of a job, if it succeeded."""

    @abstractmethod
    def results(self, *, search_id: str | None = None) -> list[ResultRecord]:
        """Results in job id order."""

    # -- workers ---------------------------------------------------------------------------
    @abstractmethod
    def register_worker(
        self,
        worker_id: str,
        *,
        hostname: str = "",
        device: str = "",
        meta: dict[str, Any] | None = None,
    ) -> WorkerRecord:
        """Insert or update a worker; marks it seen now."""

    @abstractmethod
    def get_worker(self, worker_id: str) -> WorkerRecord:
        """Raises NotFoundError."""

    @abstractmethod
    def workers(self) -> list[WorkerRecord]:
        """All workers with last-seen time and the job they hold (if any), by id."""

    # -- API tokens ------------------------------------------------------------------------
    @abstractmethod
    def create_token(self, name: str, scopes: Sequence[str] = ()) -> tuple[str, TokenRecord]:
        """A new random token (returned once, in clear) and its record."""

    @abstractmethod
    def verify_token(self, token: str) -> TokenRecord | None:
        """The record of a valid, unrevoked token (and mark it used), else None."""

    @abstractmethod
    def revoke_token(self, token_id: int) -> TokenRecord:
        """Revoke a token; it never verifies again."""

    @abstractmethod
    def tokens(self) -> list[TokenRecord]:
        """All tokens' metadata."""

    # -- event log -------------------------------------------------------------------------
    @abstractmethod
    def append_event(
        self,
        kind: str,
        data: dict[str, Any] | None = None,
        *,
        search_id: str | None = None,
        job_id: int | None = None,
        trial_id: int | None = None,
        worker_id: str | None = None,
    ) -> EventRecord:
        """Append to the event log (job transitions are logged by the store itself)."""

    @abstractmethod
    def events(
        self,
        since_id: int = 0,
        *,
        search_id: str | None = None,
        limit: int = 1000,
        kinds: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        """Events with id > since_id, in id order (only of ``kinds``, when given)."""

    @abstractmethod
    def last_event_id(self) -> int:
        """The id of the newest event (0 when the log is empty): where "from now" starts."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


MIN_SEARCH_PREFIX = 6  # as for pools: shorter prefixes match too many ids to mean one


def match_search_ref(ref: str, searches: Sequence[SearchRecord]) -> str:
    """See :meth:`Store.resolve_search_id`; ``searches`` are the candidates. The rule is
    the one pools follow too (:func:`autosel.refs.resolve_ref`)."""
    from autosel.refs import resolve_ref

    found = resolve_ref(
        ref,
        searches,
        kind="search",
        id_of=lambda s: s.id,
        name_of=lambda s: s.name,
        min_prefix=MIN_SEARCH_PREFIX,
        unknown_hint="it is not in the store; `autosel search list` shows them",
    )
    return found.id
