"""Cancelling a running job stops its training within a step or two, not at the end.

The worker's heartbeat learns that the search was cancelled (or that the lease was lost)
and sets the evaluation's stop event; ``sft.stop_callback`` ends training at the next
step. The real case runs a tiny LoRA SFT of the embedded model on CPU.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from autosel.evaluation import EvalSpec, evaluate, sft
from autosel.settings import Settings
from autosel.store import JobSpec, LeaseLostError, SqlStore, open_store
from autosel.worker import LocalJobSource, Worker

ROWS = [
    {"prompt": [{"role": "user", "content": f"What is {i} + {i}?"}], "response": f"{2 * i}"}
    for i in range(16)
]
# Far more steps than the test waits for: only a working cancellation ends it in time.
MAX_STEPS = 400
SPEC = EvalSpec(
    device="cpu", max_steps=MAX_STEPS, batch_size=1, max_seq_len=96, torch_threads=2, seed=0
)


class FixedRows(LocalJobSource):
    """Jobs and reports through a real store; the rows are given (no pool needed)."""

    def rows(self, lease: Any) -> list[dict[str, Any]]:
        return ROWS


class CountingStop:
    """The worker's stop event, counting how often training has looked at it."""

    def __init__(self) -> None:
        self.event: threading.Event | None = None
        self.checks = 0
        self.started = threading.Event()

    def is_set(self) -> bool:
        assert self.event is not None
        self.checks += 1
        if self.checks >= 3:  # the pre-training check, then two finished steps
            self.started.set()
        return self.event.is_set()


def _store_with_job(tmp_path: Path, payload: dict[str, Any]) -> tuple[SqlStore, str, int]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    sid = store.create_search("cancel-me", {}).id
    (job,) = store.create_jobs([JobSpec(payload=payload, search_id=sid)])
    return store, sid, job.id


def test_stop_callback_ends_training_at_the_next_step() -> None:
    stop = threading.Event()
    callback = sft.stop_callback(stop)
    control = SimpleNamespace(should_training_stop=False)
    callback.on_step_end(None, SimpleNamespace(global_step=1), control)
    assert control.should_training_stop is False
    stop.set()
    callback.on_step_end(None, SimpleNamespace(global_step=2), control)
    assert control.should_training_stop is True
    micro = SimpleNamespace(should_training_stop=False)  # under gradient accumulation
    callback.on_substep_end(None, SimpleNamespace(global_step=2), micro)
    assert micro.should_training_stop is True


def test_evaluation_cancelled_before_training_trains_nothing(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    res = evaluate(ROWS, SPEC, tmp_path, stop=stop)
    assert (res.status, res.failure_reason, res.utility) == ("cancelled", "cancelled", None)
    assert res.loss_curve == [] and not (tmp_path / "trainer").exists()


def test_lost_lease_stops_the_evaluation_and_reports_nothing(tmp_path: Path) -> None:
    store, _, job_id = _store_with_job(tmp_path, {"eval": {"device": "cpu"}})

    class LosingSource(FixedRows):
        def heartbeat(self, worker_id: str, lease: Any) -> bool:
            raise LeaseLostError("requeued after this worker looked dead")

    def wait_for_stop(rows: Any, spec: Any, out: Path, *, stop: threading.Event) -> Any:
        assert stop.wait(30), "the lost lease never reached the evaluation"
        return SimpleNamespace(status="cancelled", failure_reason="cancelled")

    source = LosingSource(store, Settings(home=tmp_path / "home"))
    worker = Worker(
        source, evaluate_fn=wait_for_stop, cancel_poll_seconds=0.5, settings=source.settings
    )
    worker.register()
    lease = source.claim(worker.worker_id, 60)
    t0 = time.monotonic()
    worker.run_one(lease)
    assert time.monotonic() - t0 < 5, "stopped at the first heartbeat, not at the lease's end"
    assert worker.stats.lost == [job_id] and worker.stats.failed == []
    assert store.get_job(job_id).state == "running", "a lost lease reports nothing"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cancelled_search_stops_real_training_within_a_few_steps(tmp_path: Path) -> None:
    store, sid, job_id = _store_with_job(tmp_path, {"eval": SPEC.model_dump(mode="json")})
    spy = CountingStop()

    def evaluate_fn(
        rows: Any, spec: Any, out: Path, *, stop: threading.Event, on_progress: Any = None
    ) -> Any:
        spy.event = stop
        return evaluate(rows, spec, out, stop=spy, on_progress=on_progress)  # type: ignore[arg-type]

    source = FixedRows(store, Settings(home=tmp_path / "home"))
    worker = Worker(
        source,
        evaluate_fn=evaluate_fn,
        lease_seconds=60,  # heartbeats every 20 s by the lease alone
        cancel_poll_seconds=0.5,
        settings=source.settings,
    )
    worker.register()
    lease = source.claim(worker.worker_id, 60)
    runner = threading.Thread(target=worker.run_one, args=(lease,), daemon=True)
    runner.start()
    deadline = time.monotonic() + 300
    while not spy.started.wait(0.2):  # the model loads, then two steps train
        assert runner.is_alive() and time.monotonic() < deadline, worker.stats
    steps_at_cancel = spy.checks - 1
    t0 = time.monotonic()
    assert store.cancel_search(sid).signalled == (job_id,)
    runner.join(timeout=120)
    waited = time.monotonic() - t0

    job = store.get_job(job_id)
    assert not runner.is_alive() and job.state == "cancelled", job
    assert worker.stats.failed == [job_id]
    steps = int(job.error.split("after ")[1].split(" ")[0])  # "cancelled after N training steps"
    # The training steps went out with the heartbeats as job.progress events (what the
    # CLI prints while a trial trains), counting up towards max_steps.
    beats = [
        e.data for e in store.events(0, search_id=sid, limit=10_000) if e.kind == "job.progress"
    ]
    assert beats and {b["unit"] for b in beats} == {"training steps"}, beats
    assert {b["total"] for b in beats} == {MAX_STEPS} and max(b["done"] for b in beats) >= 1
    assert steps_at_cancel <= steps <= steps_at_cancel + 5 < MAX_STEPS, (steps_at_cancel, steps)
    # Seconds depend on the machine's load (a step took 3-14 s on a busy 2-core box).
    print(f"\ncancel at step {steps_at_cancel}: stopped at step {steps}, {waited:.1f} s later")
