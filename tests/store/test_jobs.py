"""Conformance: the job state machine, leases, idempotent reports, cancellation.

Runs on every backend (fixture ``store``: SQLite always, PostgreSQL when available).
Lease expiry uses leases of a fraction of a second and real waits on the database clock.
"""

from __future__ import annotations

import time

import pytest

from autosel.errors import NotFoundError
from autosel.store import (
    InvalidStateError,
    JobResult,
    JobSpec,
    LeaseLostError,
    RequeueReport,
    SqlStore,
)

LEASE = 0.3  # seconds; tests sleep past it to let a lease expire


def _result(x: float) -> JobResult:
    return JobResult(scores={"gsm8k": x}, utility=x, costs={"device_seconds": 1.5},
                     artifacts={"adapter": f"/tmp/a{x}"})


@pytest.fixture()
def search_id(store: SqlStore) -> str:
    store.register_worker("w1", device="cuda:0")
    store.register_worker("w2", device="cuda:1")
    return store.create_search("s", {"budget": 4}).id


def _expire() -> None:
    time.sleep(LEASE + 0.15)


def test_life_cycle_queued_leased_running_succeeded(store: SqlStore, search_id: str) -> None:
    (job,) = store.create_jobs([JobSpec(payload={"recipe": "r"}, search_id=search_id)])
    assert (job.state, job.attempts, job.lease_token) == ("queued", 0, None)

    leased = store.claim_job("w1", 30)
    assert leased is not None and leased.id == job.id
    assert (leased.state, leased.attempts, leased.worker_id) == ("leased", 1, "w1")
    assert leased.lease_token and leased.lease_expires_at > leased.leased_at
    assert store.get_worker("w1").current_job_id == job.id

    running = store.start_job(job.id, leased.lease_token)
    assert running.state == "running" and running.started_at is not None
    result = store.complete_job(job.id, leased.lease_token, _result(0.5))
    assert (result.job_id, result.worker_id, result.scores) == (job.id, "w1", {"gsm8k": 0.5})
    assert result.costs == {"device_seconds": 1.5} and result.utility == 0.5

    done = store.get_job(job.id)
    assert done.state == "succeeded" and done.finished_at >= done.started_at >= done.leased_at
    assert store.get_worker("w1").current_job_id is None
    assert store.job_counts(search_id=search_id)["succeeded"] == 1
    kinds = [e.kind for e in store.events(search_id=search_id) if e.job_id == job.id]
    assert kinds == ["job.queued", "job.leased", "job.running", "job.succeeded"]


def test_claim_order_kinds_and_empty_queue(store: SqlStore, search_id: str) -> None:
    store.create_jobs([
        JobSpec(payload={"n": 1}, search_id=search_id),
        JobSpec(payload={"n": 2}, search_id=search_id, priority=5),
        JobSpec(payload={"n": 3}, search_id=search_id, kind="signals"),
        JobSpec(payload={"n": 4}, search_id=search_id),
    ])
    order = []
    while (job := store.claim_job("w1", 30, kinds=["sft"])) is not None:
        order.append(job.payload["n"])
    assert order == [2, 1, 4]  # priority first, then oldest; kind filter respected
    signals = store.claim_job("w2", 30)
    assert signals is not None and signals.kind == "signals"
    assert store.claim_job("w2", 30) is None


def test_claim_of_one_search_never_takes_another_search_s_jobs(
    store: SqlStore, search_id: str
) -> None:
    other = store.create_search("other", {"budget": 4}).id
    store.create_jobs([
        JobSpec(payload={"n": 1}, search_id=other, priority=9),  # first in line for anyone
        JobSpec(payload={"n": 2}, search_id=search_id),
        JobSpec(payload={"n": 3}, search_id=other),
        JobSpec(payload={"n": 4}, search_id=search_id, kind="signals"),
    ])
    mine = []
    while (job := store.claim_job("w1", 30, search_id=search_id)) is not None:
        mine.append(job.payload["n"])
    assert mine == [2, 4]
    assert store.claim_job("w1", 30, search_id=search_id, kinds=["sft"]) is None
    theirs = [store.claim_job("w2", 30, search_id=other) for _ in range(3)]
    assert [j.payload["n"] if j else None for j in theirs] == [1, 3, None]


def test_claim_needs_a_registered_worker(store: SqlStore, search_id: str) -> None:
    store.create_job(JobSpec(payload={}, search_id=search_id))
    with pytest.raises(NotFoundError, match="not registered"):
        store.claim_job("ghost", 30)
    assert store.job_counts()["queued"] == 1  # nothing was claimed


def test_heartbeat_extends_the_lease_on_the_database_clock(
    store: SqlStore, search_id: str
) -> None:
    store.create_job(JobSpec(payload={}, search_id=search_id))
    job = store.claim_job("w1", 5)
    time.sleep(0.05)
    beat = store.heartbeat(job.id, "w1", job.lease_token)
    assert beat.lease_expires_at > job.lease_expires_at
    assert abs((beat.lease_expires_at - beat.heartbeat_at).total_seconds() - 5) < 0.01
    assert beat.lease_expires_at.tzinfo is not None
    with pytest.raises(LeaseLostError):
        store.heartbeat(job.id, "w1", "not-the-token")


def test_repeated_completion_is_idempotent(store: SqlStore, search_id: str) -> None:
    store.create_job(JobSpec(payload={}, search_id=search_id))
    job = store.claim_job("w1", 30)
    first = store.complete_job(job.id, job.lease_token, _result(0.7))
    again = store.complete_job(job.id, job.lease_token, _result(0.1))  # retried report
    assert again == first and store.get_result(job.id).utility == 0.7
    assert len(store.results()) == 1


def test_late_report_after_requeue_changes_nothing(store: SqlStore, search_id: str) -> None:
    (spec,) = store.create_jobs([JobSpec(payload={}, search_id=search_id)])
    stale = store.claim_job("w1", LEASE)
    _expire()
    assert store.requeue_expired().requeued == (spec.id,)
    fresh = store.claim_job("w2", 30)
    assert fresh.id == spec.id and fresh.attempts == 2 and fresh.lease_token != stale.lease_token
    for report in (
        lambda: store.heartbeat(spec.id, "w1", stale.lease_token),
        lambda: store.start_job(spec.id, stale.lease_token),
        lambda: store.complete_job(spec.id, stale.lease_token, _result(0.1)),
        lambda: store.fail_job(spec.id, stale.lease_token, "oom"),
    ):
        with pytest.raises(LeaseLostError, match="discarded"):
            report()
    assert store.get_job(spec.id).state == "leased" and store.get_result(spec.id) is None
    store.complete_job(spec.id, fresh.lease_token, _result(0.9))
    with pytest.raises(LeaseLostError):  # after the winner reported, too
        store.complete_job(spec.id, stale.lease_token, _result(0.1))
    (only,) = store.results()
    assert (only.worker_id, only.utility) == ("w2", 0.9)


def test_expired_but_not_requeued_lease_still_completes(store: SqlStore, search_id: str) -> None:
    store.create_job(JobSpec(payload={}, search_id=search_id))
    job = store.claim_job("w1", LEASE)
    _expire()
    store.complete_job(job.id, job.lease_token, _result(0.3))  # no one else has it
    assert store.requeue_expired().requeued == ()
    assert store.get_job(job.id).state == "succeeded"


def test_expiry_requeues_until_max_attempts_then_fails_with_reason(
    store: SqlStore, search_id: str
) -> None:
    (job,) = store.create_jobs([JobSpec(payload={}, search_id=search_id, max_attempts=2)])
    store.claim_job("w1", LEASE)
    assert store.requeue_expired() == RequeueReport()  # not expired yet
    _expire()
    first = store.requeue_expired()
    assert first.requeued == (job.id,) and first.failed == ()
    again = store.get_job(job.id)
    assert again.state == "queued" and "expired" in again.error and again.worker_id is None
    store.claim_job("w2", LEASE)
    _expire()
    assert store.requeue_expired().failed == (job.id,)
    failed = store.get_job(job.id)
    assert failed.state == "failed" and failed.attempts == 2
    assert "max_attempts=2" in failed.error and "'w2'" in failed.error
    assert store.claim_job("w1", 30) is None


def test_fail_job_retry_then_final(store: SqlStore, search_id: str) -> None:
    (job,) = store.create_jobs([JobSpec(payload={}, search_id=search_id, max_attempts=2)])
    first = store.claim_job("w1", 30)
    requeued = store.fail_job(job.id, first.lease_token, "CUDA OOM", retry=True)
    assert requeued.state == "queued" and requeued.error == "CUDA OOM"
    second = store.claim_job("w1", 30)
    final = store.fail_job(job.id, second.lease_token, "CUDA OOM", retry=True)
    assert final.state == "failed" and final.attempts == 2  # out of attempts
    assert store.fail_job(job.id, second.lease_token, "again") == final  # repeated report


def test_cancel_search_stops_queued_and_signals_running(store: SqlStore, search_id: str) -> None:
    jobs = store.create_jobs([JobSpec(payload={"n": i}, search_id=search_id) for i in range(4)])
    other = store.create_search("other", {})
    (bystander,) = store.create_jobs([JobSpec(payload={}, search_id=other.id)])
    running = store.claim_job("w1", 30)
    store.start_job(running.id, running.lease_token)
    leased = store.claim_job("w2", LEASE)

    report = store.cancel_search(search_id)
    assert report.signalled == (running.id, leased.id)
    assert report.cancelled == tuple(j.id for j in jobs[2:])
    assert store.get_search(search_id).state == "cancelled"
    assert store.get_job(bystander.id).state == "queued"

    beat = store.heartbeat(running.id, "w1", running.lease_token)
    assert beat.cancel_requested
    stopped = store.fail_job(running.id, running.lease_token, "stopped on cancel")
    assert stopped.state == "cancelled"
    _expire()  # w2 vanished: its signalled job ends cancelled, not requeued
    assert store.requeue_expired().cancelled == (leased.id,)
    assert store.claim_job("w1", 30).id == bystander.id
    with pytest.raises(InvalidStateError, match="cancelled"):
        store.create_job(JobSpec(payload={}, search_id=search_id))
    with pytest.raises(InvalidStateError):
        store.set_search_state(search_id, "running")
    assert store.job_counts(search_id=search_id) == {
        "queued": 0, "leased": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 4,
    }


def test_cancelling_a_completed_search_is_refused(store: SqlStore, search_id: str) -> None:
    (job,) = store.create_jobs([JobSpec(payload={}, search_id=search_id)])
    store.set_search_state(search_id, "completed")
    events = len(store.events())
    with pytest.raises(InvalidStateError, match="completed"):
        store.cancel_search(search_id)
    assert store.get_search(search_id).state == "completed"  # not relabelled
    assert store.get_job(job.id).state == "queued" and len(store.events()) == events


def test_workers_registry(store: SqlStore) -> None:
    first = store.register_worker("gpu-a", hostname="node1", device="H100", meta={"vram": 80})
    time.sleep(0.01)
    again = store.register_worker("gpu-a", hostname="node1", device="H200")
    assert again.device == "H200" and again.meta == {}
    assert again.registered_at == first.registered_at and again.last_seen_at > first.last_seen_at
    store.register_worker("gpu-b")
    assert [w.id for w in store.workers()] == ["gpu-a", "gpu-b"]
    with pytest.raises(NotFoundError):
        store.get_worker("gpu-c")


def test_re_registering_unchanged_logs_no_event(store: SqlStore) -> None:
    # Idle workers re-register on every poll: only a new worker or a change is an event.
    def registered() -> list[str]:
        return [e.worker_id for e in store.events() if e.kind == "worker.registered"]

    store.register_worker("w", hostname="h", device="cpu", meta={"threads": 2})
    for _ in range(5):
        store.register_worker("w", hostname="h", device="cpu", meta={"threads": 2})
    assert registered() == ["w"]
    store.register_worker("w", hostname="h", device="cuda:0", meta={"threads": 2})
    assert registered() == ["w", "w"]
    assert store.get_worker("w").device == "cuda:0"


def test_unknown_ids_raise_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_job(12345)
    with pytest.raises(NotFoundError):
        store.complete_job(12345, "token", _result(0.0))
    with pytest.raises(NotFoundError):
        store.cancel_search("nope")
    with pytest.raises(NotFoundError):
        store.create_job(JobSpec(payload={}, search_id="nope"))
