"""Signals are computed by a ``signals`` job, never by the scheduler itself.

A search on a pool whose signals are not cached queues exactly one signals job (and no
evaluation) until it succeeds; the job is leased, heartbeated with its progress, requeued
when its worker dies, and its failure fails the search with the reason. A cached pool
gets no job, and building a scheduler does no signal work at all.

Signals are model-free (no model pass) and evaluation is the label-based test double.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

import autosel.signals as signals_pkg
from autosel.pool.ingest import add_pool
from autosel.scheduler import Scheduler, SearchSpec
from autosel.scheduler.views import search_summary
from autosel.service import create_search, run_embedded
from autosel.settings import Settings
from autosel.store import JobProgress, Store, open_store
from autosel.worker import LocalJobSource, Worker
from tests.scheduler.conftest import LabelObjective, fast_spec


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from autosel.pool.demo import generate_demo_pool

    return Path(generate_demo_pool(tmp_path_factory.mktemp("sig"), size="small", seed=0).pool_path)


@pytest.fixture
def fresh(demo_file: Path, tmp_path: Path) -> dict[str, Any]:
    """A store and a home where the demo pool is ingested and has no signals yet."""
    settings = Settings(home=tmp_path / "home")
    pool = add_pool(demo_file, settings=settings).pool
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield {"settings": settings, "pool": pool, "store": store}
    store.close()


def _search(store: Store, pool_id: str, settings: Settings, budget: int = 4) -> str:
    spec = SearchSpec.parse(
        fast_spec(pool_id, budget, seed=3, report={"enabled": False}, max_attempts=2)
    ).to_json()
    return create_search(store, spec, settings=settings).id


def _events(store: Store, search_id: str, kind: str) -> list[Any]:
    return [e for e in store.events(search_id=search_id, limit=10_000) if e.kind == kind]


def _worker(store: Store, settings: Settings, search_id: str) -> Worker:
    return Worker(LocalJobSource(store, settings, search_id=search_id), settings=settings,
                  cancel_poll_seconds=0.5)


def test_building_a_scheduler_does_no_signal_work(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def refuse(name: str) -> Any:
        def fn(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} called while building a scheduler")

        return fn

    monkeypatch.setattr(signals_pkg, "compute_signals", refuse("compute_signals"))
    monkeypatch.setattr(signals_pkg, "load_signals", refuse("load_signals"))
    store, settings = fresh["store"], fresh["settings"]
    sid = _search(store, fresh["pool"].pool_id, settings)
    sched = Scheduler(store, sid, settings=settings)
    assert calls == [] and sched.signals is None
    assert store.jobs(search_id=sid) == [], "building it queued nothing either"


def test_an_uncached_pool_gets_one_signals_job_and_no_evaluation_until_it_succeeds(
    fresh: dict[str, Any],
) -> None:
    store, settings, pool = fresh["store"], fresh["settings"], fresh["pool"]
    sid = _search(store, pool.pool_id, settings)
    store.register_worker("w-other")  # a live worker: the scheduler would propose at once
    sched = Scheduler(store, sid, settings=settings)
    for _ in range(3):
        report = sched.step()
        assert report.proposed == 0 and not report.done
    (job,) = store.jobs(search_id=sid)
    assert job.kind == "signals" and job.trial_id is None
    assert job.payload["kind"] == "signals" and job.payload["pool_id"] == pool.pool_id
    assert job.payload["n_samples"] == len(pool) and job.payload["model"] is None
    assert store.trials(sid) == []
    assert store.get_search(sid).state == "running"

    assert search_summary(store, store.get_search(sid))["signals"]["state"] == "queued"
    worker = _worker(store, settings, sid)
    worker.run(max_jobs=1, idle_timeout=5, poll_seconds=0.05)
    assert worker.stats.succeeded == [job.id]
    shown = search_summary(store, store.get_search(sid))["signals"]
    assert (shown["state"], shown["done"], shown["total"]) == ("succeeded", len(pool), len(pool))
    progress = [e.data for e in _events(store, sid, "job.progress")]
    assert progress[0] == {"done": 0, "total": len(pool), "unit": "samples",
                           "job_kind": "signals"}
    assert progress[-1]["done"] == len(pool)

    report = sched.step()
    assert report.proposed >= 1
    assert [j.kind for j in store.jobs(search_id=sid)].count("signals") == 1
    assert {j.kind for j in store.jobs(search_id=sid)} == {"signals", "sft"}
    assert len(_events(store, sid, "signals_ready")) == 1
    # A restarted scheduler reads the job's result: no second job, no recomputation.
    again = Scheduler(store, sid, settings=settings)
    again.step()
    assert [j.kind for j in store.jobs(search_id=sid)].count("signals") == 1


def test_a_failing_signals_job_fails_the_search_with_its_reason(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad(pool: Any, **kwargs: Any) -> Any:
        raise ValueError("benchmark file add.jsonl, line 3: no 'answer' field")

    monkeypatch.setattr(signals_pkg, "compute_signals", bad)
    store, settings = fresh["store"], fresh["settings"]
    sid = _search(store, fresh["pool"].pool_id, settings)
    sched = Scheduler(store, sid, settings=settings)
    sched.step()
    _worker(store, settings, sid).run(max_jobs=1, idle_timeout=5, poll_seconds=0.05)
    report = sched.step()
    assert report.done
    assert store.get_search(sid).state == "failed"
    (failed,) = _events(store, sid, "search_failed")
    assert "no 'answer' field" in failed.data["reason"]
    assert failed.data["reason"].startswith("signals job")
    summary = search_summary(store, store.get_search(sid))
    assert "no 'answer' field" in summary["failure_reason"]
    assert summary["signals"]["state"] == "failed"
    assert store.trials(sid) == [] and len(store.jobs(search_id=sid)) == 1


def test_a_cached_pool_creates_no_signals_job(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = _search(store, pool.pool_id, settings)
    assert Scheduler(store, sid, settings=settings).step().proposed == 1
    assert [j.kind for j in store.jobs(search_id=sid)] == ["sft"]
    assert _events(store, sid, "signals_queued") == []
    store.close()


def test_a_worker_killed_mid_signals_job_gets_it_requeued_and_it_completes_once(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, settings = fresh["store"], fresh["settings"]
    real = signals_pkg.compute_signals
    computed: list[int] = []

    def counting(pool: Any, **kwargs: Any) -> Any:
        computed.append(1)
        return real(pool, **kwargs)

    monkeypatch.setattr(signals_pkg, "compute_signals", counting)
    sid = _search(store, fresh["pool"].pool_id, settings)
    sched = Scheduler(store, sid, settings=settings)
    sched.step()
    store.register_worker("dies")
    lease = store.claim_job("dies", 0.5, search_id=sid)
    assert lease is not None and lease.kind == "signals"
    store.start_job(lease.id, lease.lease_token or "")
    store.heartbeat(lease.id, "dies", lease.lease_token or "", progress=JobProgress(100, 800))
    shown = search_summary(store, store.get_search(sid))["signals"]
    assert (shown["state"], shown["done"], shown["total"]) == ("running", 100, 800)
    time.sleep(0.8)  # the worker died: no heartbeat, the lease runs out
    sched.step()  # requeues it
    assert store.get_job(lease.id).state == "queued"

    worker = _worker(store, settings, sid)
    worker.run(max_jobs=1, idle_timeout=5, poll_seconds=0.05)
    job = store.get_job(lease.id)
    assert (job.state, job.attempts) == ("succeeded", 2)
    assert len(store.results(search_id=sid)) == 1 and computed == [1]
    sched.step()
    assert [j.kind for j in store.jobs(search_id=sid)].count("signals") == 1
    assert any(j.kind == "sft" for j in store.jobs(search_id=sid))


def test_an_embedded_run_computes_the_signals_in_its_worker(fresh: dict[str, Any]) -> None:
    store, settings = fresh["store"], fresh["settings"]
    sid = _search(store, fresh["pool"].pool_id, settings, budget=3)
    labels = _labels(fresh["pool"])
    seen: list[Any] = []
    summary = run_embedded(
        store, sid, settings=settings, evaluate_fn=LabelObjective(labels),
        poll_seconds=0.05, on_event=seen.append,
    )
    assert summary["state"] == "completed", summary
    kinds = [j.kind for j in store.jobs(search_id=sid)]
    assert kinds[0] == "signals" and kinds.count("signals") == 1 and kinds.count("sft") == 3
    assert [e.kind for e in seen].index("signals_ready") < [e.kind for e in seen].index(
        "trial_proposed"
    )
    assert any(e.kind == "job.progress" for e in seen)


def _labels(pool: Any) -> dict[str, str]:
    """Every sample labelled clean: the objective then rewards size only (enough here)."""
    return {r["sample_id"]: "clean" for r in pool.rows(columns=["sample_id"])}


def test_progress_reported_during_the_computation_reaches_the_store_with_a_heartbeat(
    fresh: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the computation reports mid-way goes out with the next heartbeat."""
    real = signals_pkg.compute_signals

    def halfway(pool: Any, **kwargs: Any) -> Any:
        kwargs["on_progress"](120, len(pool))
        time.sleep(1.5)  # heartbeats every 0.5 s: one of them carries 120/N
        return real(pool, **kwargs)

    monkeypatch.setattr(signals_pkg, "compute_signals", halfway)
    store, settings, pool = fresh["store"], fresh["settings"], fresh["pool"]
    sid = _search(store, pool.pool_id, settings)
    Scheduler(store, sid, settings=settings).step()
    _worker(store, settings, sid).run(max_jobs=1, idle_timeout=5, poll_seconds=0.05)
    done = [e.data["done"] for e in _events(store, sid, "job.progress")]
    assert done == [0, 120, len(pool)], "each change sent once, in order"


def test_the_local_model_pass_reports_samples_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The model pass's batches become ``on_progress(done, total)`` calls (no model: the
    shard computation is replaced by one that reports two batches)."""
    import autosel.signals.compute as compute

    def shard(path: Any, rng: tuple[int, int], spec: Any, partial: Path, **kw: Any) -> Path:
        kw["on_batch"](rng[1] - rng[0] - 1, 10)
        kw["on_batch"](1, 10)
        return partial

    monkeypatch.setattr(compute, "compute_shard", shard)
    seen: list[tuple[int, int]] = []
    run = compute._local_runner(lambda: None, False, lambda d, n: seen.append((d, n)))
    pool: Any = _Sized(10, tmp_path)
    run(pool, [(0, 6), (6, 10)], None, tmp_path, "model")
    assert seen == [(5, 10), (6, 10), (9, 10), (10, 10)]


class _Sized:
    """A pool stand-in: a length and a path."""

    def __init__(self, n: int, path: Path) -> None:
        self.n, self.path = n, path

    def __len__(self) -> int:
        return self.n
