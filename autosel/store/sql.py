"""The SQL store: jobs, leases and workers on top of the catalog half.

Claiming is one ``UPDATE ... WHERE id = (SELECT ... LIMIT 1) AND state = 'queued'
RETURNING``: on PostgreSQL the subquery takes ``FOR UPDATE SKIP LOCKED`` so concurrent
workers pick different rows without waiting; on SQLite (no row locks) the statement runs
in a ``BEGIN IMMEDIATE`` transaction and the ``state = 'queued'`` guard makes the update
conditional. On PostgreSQL, claim and complete (the two calls every job makes) run as
single statements, see :mod:`autosel.store.sql_pg`. Lease times come from the database
clock. Transactions touch a worker's row before a job's row, everywhere, so two
transactions never wait on each other in a cycle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from autosel.errors import NotFoundError
from autosel.store import sql_pg
from autosel.store.base import InvalidStateError, LeaseLostError, Store
from autosel.store.clock import db_now
from autosel.store.records import (
    ACTIVE_JOB_STATES,
    CancelReport,
    JobProgress,
    JobRecord,
    JobResult,
    JobSpec,
    JobState,
    RequeueReport,
    ResultRecord,
    WorkerRecord,
)
from autosel.store.sql_base import JOBS, RESULTS, SEARCHES, WORKERS, to_record
from autosel.store.sql_catalog import SqlCatalog

_ALL_STATES: tuple[JobState, ...] = (
    "queued", "leased", "running", "succeeded", "failed", "cancelled"
)
_ACTIVE = JOBS.c.state.in_(ACTIVE_JOB_STATES)
# Columns reset when a job goes back to the queue.
_UNLEASE = {"worker_id": None, "lease_token": None, "lease_expires_at": None}


class SqlStore(SqlCatalog, Store):
    """:class:`Store` on SQLite or PostgreSQL (see :class:`SqlBase` for the arguments)."""

    # -- jobs ------------------------------------------------------------------------------
    def create_jobs(self, specs: Sequence[JobSpec]) -> list[JobRecord]:
        if not specs:
            return []
        rows = [
            {
                "search_id": s.search_id, "trial_id": s.trial_id, "kind": s.kind,
                "payload": s.payload, "priority": s.priority, "max_attempts": s.max_attempts,
                "state": "queued", "attempts": 0, "cancel_requested": False,
            }
            for s in specs
        ]
        with self._write() as conn:
            for sid in sorted({s.search_id for s in specs if s.search_id is not None}):
                # FOR SHARE: a concurrent cancel_search waits for us, or we see it.
                if self._lock_search(conn, sid, share=True) == "cancelled":
                    raise InvalidStateError(f"search {sid!r} is cancelled; no new jobs")
            stmt = insert(JOBS).returning(*JOBS.c, sort_by_parameter_order=True)
            created = [to_record(JobRecord, r) for r in conn.execute(stmt, rows)]
            self._log_many(conn, [_event("job.queued", j, None) for j in created])
        return created

    def get_job(self, job_id: int) -> JobRecord:
        with self._read() as conn:
            return self._job(conn, job_id)

    @staticmethod
    def _job(conn: Connection, job_id: int, *, lock: bool = False) -> JobRecord:
        stmt = select(JOBS).filter_by(id=job_id)
        row = conn.execute(stmt.with_for_update() if lock else stmt).first()
        if row is None:
            raise NotFoundError(f"job {job_id} is not in the store")
        return to_record(JobRecord, row)

    def jobs(
        self, *, search_id: str | None = None, state: JobState | None = None
    ) -> list[JobRecord]:
        stmt = select(JOBS).order_by(JOBS.c.id)
        if search_id is not None:
            stmt = stmt.filter_by(search_id=search_id)
        if state is not None:
            stmt = stmt.filter_by(state=state)
        with self._read() as conn:
            return [to_record(JobRecord, r) for r in conn.execute(stmt)]

    def job_counts(self, *, search_id: str | None = None) -> dict[str, int]:
        stmt = select(JOBS.c.state, func.count()).group_by(JOBS.c.state)
        if search_id is not None:
            stmt = stmt.filter_by(search_id=search_id)
        counts: dict[str, int] = dict.fromkeys(_ALL_STATES, 0)
        with self._read() as conn:
            counts.update({str(s): int(n) for s, n in conn.execute(stmt)})
        return counts

    def claim_job(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        kinds: Sequence[str] | None = None,
        search_id: str | None = None,
    ) -> JobRecord | None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, got {lease_seconds}")
        params = {"w": worker_id, "tok": str(uuid.uuid4()), "secs": float(lease_seconds)}
        of_search = search_id is not None
        if of_search:
            params["sid"] = search_id
        fixed = kinds is None
        claim = _CLAIMS[of_search] if fixed else _claim_statement(kinds, of_search=of_search)
        if self.dialect == "postgresql":
            stmt = _PG_CLAIMS[of_search] if fixed else sql_pg.claim_statement(claim)
            rows = sql_pg.execute_autocommit(self.engine, stmt, params)
            if not rows:
                raise NotFoundError(f"worker {worker_id!r} is not registered; call register_worker")
            return None if rows[0].id is None else to_record(JobRecord, rows[0])
        with self._write() as conn:
            self._touch_worker(conn, worker_id)
            row = conn.execute(claim, params).first()
            if row is None:
                return None
            job = to_record(JobRecord, row)
            self._log(conn, **_event("job.leased", job, {"attempt": job.attempts}))
        return job

    def heartbeat(
        self,
        job_id: int,
        worker_id: str,
        lease_token: str,
        *,
        progress: JobProgress | None = None,
    ) -> JobRecord:
        stmt = (
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.lease_token == lease_token, _ACTIVE)
            .values(lease_expires_at=db_now(JOBS.c.lease_seconds), heartbeat_at=db_now())
            .returning(*JOBS.c)
        )
        with self._write() as conn:
            self._touch_worker(conn, worker_id)
            row = conn.execute(stmt).first()
            if row is None:
                raise self._lease_lost(conn, job_id, lease_token, "heartbeat")
            job = to_record(JobRecord, row)
            if progress is not None:
                data = {**asdict(progress), "job_kind": job.kind}
                self._log(conn, **_event("job.progress", job, data))
        return job

    def start_job(self, job_id: int, lease_token: str) -> JobRecord:
        stmt = (
            update(JOBS)
            .where(JOBS.c.id == job_id, JOBS.c.lease_token == lease_token, _ACTIVE)
            .values(
                state="running", started_at=func.coalesce(JOBS.c.started_at, db_now()),
                lease_expires_at=db_now(JOBS.c.lease_seconds), heartbeat_at=db_now(),
            )
            .returning(*JOBS.c)
        )
        with self._write() as conn:
            row = conn.execute(stmt).first()
            if row is None:
                raise self._lease_lost(conn, job_id, lease_token, "start")
            job = to_record(JobRecord, row)
            self._log(conn, **_event("job.running", job, None))
        return job

    def complete_job(self, job_id: int, lease_token: str, result: JobResult) -> ResultRecord:
        if self.dialect == "postgresql":
            params = {
                "job": job_id, "tok": lease_token, "scores": dict(result.scores),
                "utility": result.utility, "costs": dict(result.costs),
                "artifacts": dict(result.artifacts), "item_scores": _items(result),
                "event_data": {"utility": result.utility},
            }
            rows = sql_pg.execute_autocommit(self.engine, _PG_COMPLETE, params)
            if rows:
                return to_record(ResultRecord, rows[0])
            # Not finished by this call: a repeated report, or a lost lease (below).
        with self._write() as conn:
            row = conn.execute(_FINISH, {"job": job_id, "tok": lease_token}).first()
            if row is None:
                job = self._job(conn, job_id)
                if job.state == "succeeded" and job.lease_token == lease_token:
                    # The same report again (a retry after a lost reply): same answer.
                    return self._result(conn, job_id)  # type: ignore[return-value]  # a succeeded job has its result row
                raise self._lease_lost(conn, job_id, lease_token, "result")
            job = to_record(JobRecord, row)
            values = {
                "job_id": job_id, "trial_id": job.trial_id, "worker_id": job.worker_id,
                "scores": dict(result.scores), "utility": result.utility,
                "costs": dict(result.costs), "artifacts": dict(result.artifacts),
                "item_scores": _items(result),
            }
            out = conn.execute(_INSERT_RESULT, values).one()
            self._log(conn, **_event("job.succeeded", job, {"utility": result.utility}))
        return to_record(ResultRecord, out)

    def fail_job(
        self, job_id: int, lease_token: str, reason: str, *, retry: bool = False
    ) -> JobRecord:
        with self._write() as conn:
            job = self._job(conn, job_id, lock=True)
            if job.lease_token != lease_token or job.state not in ACTIVE_JOB_STATES:
                if job.lease_token == lease_token and job.state in ("failed", "cancelled"):
                    return job  # repeated report
                raise self._lease_lost(conn, job_id, lease_token, "failure")
            if job.cancel_requested:
                values: dict[str, Any] = {"state": "cancelled", "finished_at": db_now()}
            elif retry and job.attempts < job.max_attempts:
                values = {"state": "queued", **_UNLEASE}
            else:
                values = {"state": "failed", "finished_at": db_now()}
            values["error"] = reason
            stmt = update(JOBS).filter_by(id=job_id).values(**values).returning(*JOBS.c)
            out = to_record(JobRecord, conn.execute(stmt).one())
            kind = "job.requeued" if out.state == "queued" else f"job.{out.state}"
            self._log(conn, **_event(kind, job, {"reason": reason}))
        return out

    def requeue_expired(self) -> RequeueReport:
        expired_q = (
            select(JOBS).where(_ACTIVE, JOBS.c.lease_expires_at < db_now())
            .order_by(JOBS.c.id).with_for_update(skip_locked=True)
        )
        done: dict[str, list[int]] = {"requeued": [], "failed": [], "cancelled": []}
        values: dict[str, Any]
        with self._write() as conn:
            for row in conn.execute(expired_q).all():
                job = to_record(JobRecord, row)
                lost = f"lease of worker {job.worker_id!r} expired"
                if job.cancel_requested:
                    key, values = "cancelled", {"state": "cancelled", "finished_at": db_now()}
                    values["error"] = f"cancelled ({lost})"
                elif job.attempts >= job.max_attempts:
                    key, values = "failed", {"state": "failed", "finished_at": db_now()}
                    values["error"] = (
                        f"{lost} on attempt {job.attempts} of max_attempts={job.max_attempts}"
                    )
                else:
                    key, values = "requeued", {"state": "queued", **_UNLEASE}
                    values["error"] = f"{lost} (attempt {job.attempts}/{job.max_attempts})"
                conn.execute(update(JOBS).filter_by(id=job.id).values(**values))
                self._log(conn, **_event(f"job.{key}", job, {"reason": values["error"]}))
                done[key].append(job.id)
        return RequeueReport(**{k: tuple(v) for k, v in done.items()})

    def cancel_search(self, search_id: str) -> CancelReport:
        with self._write() as conn:
            if self._lock_search(conn, search_id) == "completed":
                # its results and report stand; cancelling would relabel a finished search
                raise InvalidStateError(
                    f"search {search_id} is completed; only an unfinished search can be cancelled"
                )
            conn.execute(
                update(SEARCHES).filter_by(id=search_id)
                .values(state="cancelled", updated_at=db_now())
            )
            of_search = JOBS.c.search_id == search_id
            cancelled = conn.execute(
                update(JOBS).where(of_search, JOBS.c.state == "queued")
                .values(state="cancelled", finished_at=db_now(), error="search cancelled")
                .returning(JOBS.c.id)
            ).scalars().all()
            signalled = conn.execute(
                update(JOBS).where(of_search, _ACTIVE, JOBS.c.cancel_requested.is_(False))
                .values(cancel_requested=True).returning(JOBS.c.id)
            ).scalars().all()
            self._log(
                conn, "search.cancelled",
                {"cancelled_jobs": len(cancelled), "signalled_jobs": len(signalled)},
                search_id=search_id,
            )
        return CancelReport(cancelled=tuple(sorted(cancelled)), signalled=tuple(sorted(signalled)))

    # -- results ---------------------------------------------------------------------------
    def get_result(self, job_id: int) -> ResultRecord | None:
        with self._read() as conn:
            return self._result(conn, job_id)

    @staticmethod
    def _result(conn: Connection, job_id: int) -> ResultRecord | None:
        row = conn.execute(select(RESULTS).filter_by(job_id=job_id)).first()
        return None if row is None else to_record(ResultRecord, row)

    def results(self, *, search_id: str | None = None) -> list[ResultRecord]:
        stmt = select(RESULTS).order_by(RESULTS.c.job_id)
        if search_id is not None:
            stmt = stmt.join(JOBS, JOBS.c.id == RESULTS.c.job_id).where(
                JOBS.c.search_id == search_id
            )
        with self._read() as conn:
            return [to_record(ResultRecord, r) for r in conn.execute(stmt)]

    # -- workers ---------------------------------------------------------------------------
    def register_worker(
        self, worker_id: str, *, hostname: str = "", device: str = "",
        meta: dict[str, Any] | None = None,
    ) -> WorkerRecord:
        values = {
            "id": worker_id, "hostname": hostname, "device": device, "meta": meta or {},
            "last_seen_at": db_now(),
        }
        with self._write() as conn:
            before = conn.execute(
                select(WORKERS.c.hostname, WORKERS.c.device, WORKERS.c.meta).where(
                    WORKERS.c.id == worker_id
                )
            ).first()
            conn.execute(self._upsert(WORKERS, values, "id"))
            # Idle workers re-register every poll to stay "seen": log only what is news.
            if before is None or tuple(before) != (hostname, device, values["meta"]):
                self._log(conn, "worker.registered", {"device": device}, worker_id=worker_id)
            return self._worker(conn, worker_id)

    def get_worker(self, worker_id: str) -> WorkerRecord:
        with self._read() as conn:
            return self._worker(conn, worker_id)

    def workers(self) -> list[WorkerRecord]:
        with self._read() as conn:
            rows = conn.execute(_workers_query().order_by(WORKERS.c.id)).all()
        return [to_record(WorkerRecord, r) for r in rows]

    @staticmethod
    def _worker(conn: Connection, worker_id: str) -> WorkerRecord:
        row = conn.execute(_workers_query().where(WORKERS.c.id == worker_id)).first()
        if row is None:
            raise NotFoundError(f"worker {worker_id!r} is not registered")
        return to_record(WorkerRecord, row)

    @staticmethod
    def _touch_worker(conn: Connection, worker_id: str) -> None:
        if conn.execute(_TOUCH_WORKER, {"w": worker_id}).rowcount != 1:
            raise NotFoundError(f"worker {worker_id!r} is not registered; call register_worker")

    def _lease_lost(
        self, conn: Connection, job_id: int, token: str, what: str
    ) -> LeaseLostError:
        job = self._job(conn, job_id)  # NotFoundError if there is no such job at all
        holder = "no one" if job.lease_token is None else f"lease {job.lease_token}"
        return LeaseLostError(
            f"job {job_id}: {what} with lease {token} discarded: the job is {job.state} "
            f"and held by {holder} (attempt {job.attempts}/{job.max_attempts})"
        )


def _claim_statement(kinds: Sequence[str] | None, *, of_search: bool = False) -> Any:
    """The claim: lease the first queued job (of ``kinds``; of search ``:sid`` when
    ``of_search``) to ``:w`` with token ``:tok``."""
    pick = select(JOBS.c.id).where(JOBS.c.state == "queued")
    if kinds is not None:
        pick = pick.where(JOBS.c.kind.in_(list(kinds)))
    if of_search:
        pick = pick.where(JOBS.c.search_id == bindparam("sid"))
    picked = (
        pick.order_by(JOBS.c.priority.desc(), JOBS.c.id).limit(1)
        .with_for_update(skip_locked=True).scalar_subquery()
    )
    return (
        update(JOBS).where(JOBS.c.id == picked, JOBS.c.state == "queued")
        .values(
            state="leased", worker_id=bindparam("w"), lease_token=bindparam("tok"),
            lease_seconds=bindparam("secs"), lease_expires_at=db_now(bindparam("secs")),
            leased_at=db_now(), heartbeat_at=db_now(), attempts=JOBS.c.attempts + 1,
        )
        .returning(*JOBS.c)
    )


# The hot path's statements, built once (parameters are bound at execution).
_CLAIMS = {False: _claim_statement(None), True: _claim_statement(None, of_search=True)}
_FINISH = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("job"), JOBS.c.lease_token == bindparam("tok"), _ACTIVE)
    .values(state="succeeded", finished_at=db_now(), lease_expires_at=None)
    .returning(*JOBS.c)
)
_INSERT_RESULT = insert(RESULTS).returning(*RESULTS.c)
_PG_CLAIMS = {k: sql_pg.claim_statement(v) for k, v in _CLAIMS.items()}
_PG_COMPLETE = sql_pg.complete_statement(_FINISH)
_TOUCH_WORKER = (
    update(WORKERS).where(WORKERS.c.id == bindparam("w")).values(last_seen_at=db_now())
)


def _items(result: JobResult) -> dict[str, list[float]]:
    """``result.item_scores`` as plain JSON (lists of floats, whatever sequences came in)."""
    return {str(k): [float(x) for x in v] for k, v in result.item_scores.items()}


def _event(kind: str, job: JobRecord, data: dict[str, Any] | None) -> dict[str, Any]:
    """Keyword arguments of one job event (same keys for every event: executemany)."""
    return {
        "kind": kind, "data": data or {}, "search_id": job.search_id, "job_id": job.id,
        "trial_id": job.trial_id, "worker_id": job.worker_id,
    }


def _workers_query() -> Any:
    current = (
        select(JOBS.c.id).where(JOBS.c.worker_id == WORKERS.c.id, _ACTIVE)
        .order_by(JOBS.c.id).limit(1).scalar_subquery().label("current_job_id")
    )
    return select(WORKERS, current)

