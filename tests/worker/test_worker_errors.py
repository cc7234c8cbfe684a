"""A crashing evaluation: errors the same input would raise again fail the job at once;
lost devices and unknown crashes are retried. Either way the reason is one line and no
traceback is logged above debug level."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from autosel.errors import ConfigError, InputError
from autosel.evaluation import EvalSpec
from autosel.settings import Settings
from autosel.store import JobSpec, SqlStore, open_store
from autosel.worker import LocalJobSource, Worker


class NoPool(LocalJobSource):
    """Jobs through a real store; two fixed rows instead of a pool."""

    def rows(self, lease: Any) -> list[dict[str, Any]]:
        return [{"prompt": [{"role": "user", "content": "hi"}], "response": "ho"}] * 2


def _raising(exc: BaseException) -> Any:
    def evaluate(rows: Any, spec: Any, out: Path, *, stop: threading.Event) -> Any:
        raise exc

    return evaluate


def _run_one(tmp_path: Path, exc: BaseException) -> tuple[SqlStore, int]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = store.create_search("s", {}).id
    payload = {"eval": EvalSpec().model_dump(mode="json")}
    (job,) = store.create_jobs([JobSpec(payload=payload, search_id=sid, max_attempts=3)])
    settings = Settings(home=tmp_path / "home")
    worker = Worker(NoPool(store, settings), evaluate_fn=_raising(exc), settings=settings)
    worker.run(max_jobs=1, idle_timeout=0, poll_seconds=0.01)
    return store, job.id


@pytest.mark.parametrize(
    "exc",
    [
        KeyError("benchmark 'arith': primary metric 'exact_match' was not computed"),
        InputError("benchmark file has no items", path="/data/b.jsonl"),
        ConfigError("model 'nope': no such directory"),
        ValueError("empty continuation for context 'Q: 1+1'\nsecond line"),
    ],
    ids=["metric-not-computed", "bad-benchmark-file", "config", "value"],
)
def test_deterministic_errors_fail_the_job_at_once_with_one_line(
    tmp_path: Path, exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="autosel.worker")
    store, job_id = _run_one(tmp_path, exc)
    job = store.get_job(job_id)
    assert (job.state, job.attempts) == ("failed", 1), "not retried: retrying trains again"
    assert job.error is not None and "\n" not in job.error and "Traceback" not in job.error
    assert type(exc).__name__ in job.error and "not retried" in job.error
    if isinstance(exc, KeyError):
        assert "primary metric 'exact_match' was not computed" in job.error
    loud = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert loud and all(r.exc_info is None for r in loud), "no traceback above debug"
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("CUDA error: an illegal memory access"), OSError(5, "Input/output error")],
    ids=["device", "os"],
)
def test_transient_errors_are_requeued_while_attempts_remain(
    tmp_path: Path, exc: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autosel.worker")
    store, job_id = _run_one(tmp_path, exc)
    job = store.get_job(job_id)
    assert (job.state, job.attempts) == ("queued", 1)
    assert job.error is not None and type(exc).__name__ in job.error
    assert all(r.exc_info is None for r in caplog.records)
