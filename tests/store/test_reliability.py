"""Reliability with real worker processes, on every backend.

- 8 worker processes race on 200 jobs: no job is claimed twice, none is lost.
- A worker killed with SIGKILL mid-job: its job is requeued once its lease expires and
  finishes exactly once, on another worker.
- The database goes away for a few seconds (PostgreSQL stopped; SQLite locked
  exclusively): workers back off, recover, and every job finishes exactly once.

Workers are :func:`autosel.store.testing.worker_main` in spawned processes, each with its
own store; they log every claim and completion, which is what the assertions count.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from autosel.store import JobSpec, SqlStore
from autosel.store.testing import TempPostgres, join_all, read_logs, start_workers

pytestmark = pytest.mark.slow


def _logs(log_dir: Path) -> list[dict]:
    return read_logs(sorted(log_dir.glob("*.jsonl")))


def _count(rows: list[dict], event: str) -> Counter:
    return Counter(r["job"] for r in rows if r["event"] == event)


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def _assert_each_finished_once(store: SqlStore, n: int, rows: list[dict]) -> None:
    """Every job succeeded, has exactly one result, and was reported done exactly once."""
    assert store.job_counts()["succeeded"] == n, store.job_counts()
    results = store.results()
    assert sorted(r.job_id for r in results) == [j.id for j in store.jobs()]
    assert all(r.utility == float(r.job_id) for r in results)  # each from its own job
    done = _count(rows, "done")
    assert len(done) == n and set(done.values()) == {1}


def test_eight_workers_race_on_200_jobs(
    db_url: str, backend: str, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    store = SqlStore(db_url)
    store.create_jobs([JobSpec(payload={"n": i}) for i in range(200)])
    procs, t_go = start_workers(db_url, 8, tmp_path, lease_seconds=60, work_seconds=0.005)
    join_all(procs, timeout=150)
    elapsed = time.monotonic() - t_go
    rows = _logs(tmp_path)
    claims = _count(rows, "claim")
    double = sum(n - 1 for n in claims.values())
    lost = 200 - store.job_counts()["succeeded"]
    per_worker = sorted(Counter(r["worker"] for r in rows if r["event"] == "done").values())

    assert [p.exitcode for p in procs] == [0] * 8
    assert double == 0 and lost == 0 and len(claims) == 200
    # A real race: most workers won claims. Not "all 8": SQLite's busy handler is not
    # fair (a waiting writer sleeps and retries), so on a 2-core machine one of eight
    # processes can lose every round of a 1-second race (seen once in CI: 7 of 8).
    assert len(per_worker) >= 6, f"only {len(per_worker)} of 8 workers won a claim"
    _assert_each_finished_once(store, 200, rows)
    figures(
        f"race[{backend}]: 8 processes x 200 jobs: double claims={double}, lost={lost}, "
        f"jobs per worker={per_worker}, {elapsed:.1f}s"
    )
    store.close()


def test_killed_worker_job_is_requeued_and_finishes_once(
    db_url: str, backend: str, tmp_path: Path, figures: Callable[[str], None]
) -> None:
    store = SqlStore(db_url)
    store.create_jobs([JobSpec(payload={"n": i}, max_attempts=3) for i in range(6)])
    lease = 2.0
    (victim,), _ = start_workers(
        db_url, 1, tmp_path, prefix="victim", lease_seconds=lease, work_seconds=600
    )
    _wait_for(lambda: bool(_count(_logs(tmp_path), "claim")), 60, "the victim's claim")
    (job_id,) = _count(_logs(tmp_path), "claim")
    time.sleep(lease)  # it heartbeats: alive and well past one lease length
    assert store.get_job(job_id).state == "running"
    os.kill(victim.pid, signal.SIGKILL)
    t_kill = time.monotonic()
    victim.join(10)

    helpers, _ = start_workers(db_url, 2, tmp_path, prefix="h", lease_seconds=lease,
                               work_seconds=0.05)
    join_all(helpers, timeout=120)
    rows = _logs(tmp_path)
    job = store.get_job(job_id)
    (result,) = [r for r in store.results() if r.job_id == job_id]
    assert job.state == "succeeded" and job.attempts == 2
    assert result.worker_id in {"h0", "h1"}
    requeues = [e for e in store.events() if e.kind == "job.requeued" and e.job_id == job_id]
    assert len(requeues) == 1 and "'victim0' expired" in requeues[0].data["reason"]
    reclaim = next(r for r in rows if r["event"] == "claim" and r["job"] == job_id
                   and r["worker"] != "victim0")
    _assert_each_finished_once(store, 6, rows)
    figures(
        f"kill -9[{backend}]: job {job_id} requeued {reclaim['t'] - t_kill:.1f}s after "
        f"SIGKILL (lease {lease:.0f}s), finished once by {result.worker_id}, attempts=2"
    )
    store.close()


def test_workers_ride_out_a_database_outage(
    db_url: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path,
    figures: Callable[[str], None],
) -> None:
    n, outage, workers = 80, 3.0, 4
    store = SqlStore(db_url)
    store.create_jobs([JobSpec(payload={"n": i}) for i in range(n)])
    procs, _ = start_workers(
        db_url, workers, tmp_path, lease_seconds=15, work_seconds=0.2, busy_timeout_ms=200
    )
    _wait_for(lambda: sum(_count(_logs(tmp_path), "done").values()) >= 12, 90, "12 jobs done")
    t_down = time.monotonic()
    if backend == "postgres":
        server: TempPostgres = request.getfixturevalue("pg_server")
        server.stop()
        try:
            time.sleep(outage)
        finally:
            server.start()
    else:
        # Nothing can write while another connection holds the exclusive lock.
        holder = sqlite3.connect(make_url(db_url).database, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        time.sleep(outage)
        holder.rollback()
        holder.close()
    t_up = time.monotonic()
    join_all(procs, timeout=150)
    rows = _logs(tmp_path)
    retries = [r for r in rows if r["event"] == "retry"]
    backing_off = {r["worker"] for r in retries if t_down <= r["t"] <= t_up}
    after = [r["t"] for r in rows if r["event"] == "done" and r["t"] > t_up]

    assert [p.exitcode for p in procs] == [0] * workers
    assert len(backing_off) == workers, f"workers did not back off during the outage: {retries}"
    assert max(r["delay"] for r in retries) > 0.1  # delays grew beyond the first step
    _assert_each_finished_once(store, n, rows)
    figures(
        f"outage[{backend}]: {t_up - t_down:.1f}s down, {len(retries)} backoff retries by "
        f"{len(backing_off)}/{workers} workers, first job done {min(after) - t_up:.2f}s after "
        f"recovery, {n}/{n} jobs finished once, lost 0"
    )
    store.close()
