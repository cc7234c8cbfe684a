"""State that ends, and says how: cancelled searches end their trials (also after a
restart), a search whose trials all fail ends ``failed`` with the common reason, the
in-flight count comes from the jobs, an embedded run's workers take only their run's
jobs, and a worker killed mid-job costs no trial twice.

Evaluation is the label-based test double from conftest (no training); the kill test
uses the store's synthetic worker processes (autosel.store.testing).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from autosel.scheduler import Scheduler, SearchSpec
from autosel.scheduler.manager import SearchManager
from autosel.scheduler.views import search_summary
from autosel.service import create_search, run_embedded
from autosel.store import open_store
from autosel.store.testing import join_all, read_logs, start_workers
from tests.scheduler.conftest import LabelObjective, fast_spec

LEASE = 0.5  # seconds: a dead worker's lease runs out within the test


def _spec(pool_id: str, budget: int, **kw: Any) -> dict[str, Any]:
    return SearchSpec.parse(
        fast_spec(pool_id, budget, seed=3, report={"enabled": False}, **kw)
    ).to_json()


def _summary(store: Any, search_id: str) -> dict[str, Any]:
    return search_summary(store, store.get_search(search_id))


def test_cancel_ends_trials_and_a_restarted_manager_settles_them(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(db)
    search = create_search(store, _spec(pool.pool_id, 6), settings=settings)
    for w in ("w-a", "w-b"):  # two live workers: two jobs in flight
        store.register_worker(w)
    sched = Scheduler(store, search.id, settings=settings)
    assert sched.step().proposed == 2
    job = store.claim_job("w-a", LEASE)
    assert job is not None
    store.start_job(job.id, job.lease_token or "")
    sched.step()
    assert sorted(t.state for t in store.trials(search.id)) == ["pending", "running"]

    store.cancel_search(search.id)
    assert _summary(store, search.id)["in_flight"] == 1, "the queued job ended, one runs on"
    store.close()  # the server stops; worker w-a dies without a word

    store = open_store(db)  # a restarted server: a fresh manager on the same database
    manager = SearchManager(store, settings)
    manager.step_all()
    states = {t.id: t.state for t in store.trials(search.id)}
    trial_of_job = store.get_job(job.id).trial_id
    assert states.pop(trial_of_job) == "running" and list(states.values()) == ["cancelled"]

    time.sleep(LEASE + 0.3)  # the dead worker's lease runs out
    manager.step_all()
    assert [t.state for t in store.trials(search.id)] == ["cancelled", "cancelled"]
    assert [j.state for j in store.jobs(search_id=search.id)] == ["cancelled", "cancelled"]
    summary = _summary(store, search.id)
    assert (summary["state"], summary["in_flight"]) == ("cancelled", 0)
    kinds = [e.kind for e in store.events(search_id=search.id, limit=10_000)]
    assert kinds.count("trial_cancelled") == 2
    manager.step_all()  # settled: nothing more happens
    assert [e.kind for e in store.events(search_id=search.id, limit=10_000)] == kinds
    store.close()


class _TrainsUntilStopped(LabelObjective):
    """An evaluation that runs until its stop event is set (a cancel reaching training)."""

    def __init__(self, labels: dict[str, str]) -> None:
        super().__init__(labels)
        self.started = threading.Event()

    def __call__(self, rows: Any, spec: Any, out: Path, *, stop: Any = None) -> Any:
        from tests.scheduler.conftest import FakeEvalResult

        self.started.set()
        assert stop is not None and stop.wait(60), "the cancellation never reached training"
        return FakeEvalResult("cancelled", "cancelled after 3 training steps", {}, {}, None)


def test_an_embedded_run_cancelled_mid_trial_returns_with_its_trials_ended(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(store, _spec(pool.pool_id, 4), settings=settings)
    objective = _TrainsUntilStopped(demo_env["labels"])
    done: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: done.update(
            run_embedded(store, search.id, settings=settings, evaluate_fn=objective,
                         poll_seconds=0.05)
        ),
        daemon=True,
    )
    runner.start()
    assert objective.started.wait(60)
    store.cancel_search(search.id)
    runner.join(90)
    assert not runner.is_alive() and done["state"] == "cancelled"
    assert done["in_flight"] == 0
    assert [t.state for t in store.trials(search.id)] == ["cancelled"]
    (job,) = store.jobs(search_id=search.id)
    assert job.state == "cancelled" and "cancelled after 3 training steps" in (job.error or "")
    store.close()


class _MetricNeverComputed(LabelObjective):
    """Every evaluation fails the way a benchmark/metric mismatch does."""

    def __call__(self, rows: Any, spec: Any, out: Path, *, stop: Any = None) -> Any:
        with self.lock:
            self.calls.append(tuple(sorted(r["sample_id"] for r in rows)))
        raise KeyError("benchmark 'demo': primary metric 'exact_match' was not computed")


def test_a_search_whose_trials_all_fail_ends_failed_with_the_reason(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = SearchSpec.parse(fast_spec(pool.pool_id, 8, seed=3, max_attempts=3)).to_json()
    search = create_search(store, spec, settings=settings)
    objective = _MetricNeverComputed(demo_env["labels"])
    summary = run_embedded(
        store, search.id, settings=settings, evaluate_fn=objective, poll_seconds=0.05
    )
    assert summary["state"] == "failed"
    assert "all 3 trials failed" in summary["failure_reason"]
    assert "primary metric 'exact_match' was not computed" in summary["failure_reason"]
    trials = store.trials(search.id)
    assert len(trials) == 3 and all(t.state == "failed" for t in trials)
    assert len(objective.calls) == 3, "stopped spending the budget; nothing was retried"
    assert not any(t.origin.startswith("report:") for t in trials), "no report on nothing"
    (failed,) = [e for e in store.events(search_id=search.id, limit=10_000)
                 if e.kind == "search_failed"]
    assert failed.data["failed_trials"] == 3
    store.close()


def test_an_embedded_run_executes_only_its_own_search(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    other = create_search(store, _spec(pool.pool_id, 2), settings=settings)
    Scheduler(store, other.id, settings=settings).step()  # another run's job, queued first
    mine = create_search(store, _spec(pool.pool_id, 2), settings=settings)
    objective = LabelObjective(demo_env["labels"])
    summary = run_embedded(
        store, mine.id, settings=settings, evaluate_fn=objective, poll_seconds=0.05
    )
    assert summary["state"] == "completed" and len(objective.calls) == 2
    assert [j.state for j in store.jobs(search_id=other.id)] == ["queued"]
    store.close()


def test_workers_of_another_run_are_not_counted_as_free(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    from autosel.worker import LocalJobSource

    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    other = create_search(store, _spec(pool.pool_id, 4), settings=settings)
    mine = create_search(store, _spec(pool.pool_id, 4), settings=settings)
    theirs = LocalJobSource(store, settings, search_id=other.id)
    for w in ("x0", "x1", "x2"):  # the other run's embedded workers
        theirs.register(w, hostname="h", device="cpu", meta={})
    store.register_worker("fleet")  # a shared worker takes anyone's jobs
    assert Scheduler(store, mine.id, settings=settings).step().proposed == 1
    assert Scheduler(store, other.id, settings=settings).step().proposed == 4
    store.close()


def test_a_worker_killed_mid_trial_costs_no_trial_twice(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(db)
    search = create_search(store, _spec(pool.pool_id, 3, max_attempts=3), settings=settings)
    for w in ("a", "b", "c"):  # three live workers: the whole budget is queued at once
        store.register_worker(w)
    sched = Scheduler(store, search.id, settings=settings)
    assert sched.step().proposed == 3
    lease = 2.0
    (victim,), _ = start_workers(
        db, 1, tmp_path, prefix="victim", lease_seconds=lease, work_seconds=600
    )
    deadline = time.monotonic() + 60
    while not (claims := [r for r in read_logs([tmp_path / "victim0.jsonl"])
                          if r["event"] == "claim"]):
        assert time.monotonic() < deadline, "the victim never claimed a job"
        time.sleep(0.05)
    victim_job = claims[0]["job"]
    sched.step()
    assert store.get_trial(store.get_job(victim_job).trial_id).state == "running"
    os.kill(victim.pid, signal.SIGKILL)  # mid-trial
    victim.join(10)
    helpers, _ = start_workers(db, 2, tmp_path, prefix="h", lease_seconds=lease, work_seconds=0.05)
    join_all(helpers, timeout=120)
    stop = threading.Event()
    sched.run(poll_seconds=0.05, stop=stop, timeout=30)

    trials = store.trials(search.id)
    assert [t.state for t in trials] == ["complete"] * 3
    jobs = {j.trial_id: j for j in store.jobs(search_id=search.id)}
    results = store.results(search_id=search.id)
    assert sorted(r.trial_id for r in results) == sorted(t.id for t in trials), "once each"
    assert all(t.score == float(jobs[t.id].id) for t in trials)  # the synthetic utility
    assert store.get_job(victim_job).attempts == 2
    assert store.get_search(search.id).state == "completed"
    store.close()
