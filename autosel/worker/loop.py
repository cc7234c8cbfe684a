"""The worker loop: claim → fetch the subset → evaluate → report, with heartbeats.

The worker knows nothing about searches. It dispatches on the payload's ``kind``: an
evaluation (``trial``, also any payload without a kind) names the pool, the subset
fingerprint and the evaluation spec; a ``signals`` job names the pool and the signals to
compute into the shared signal cache (progress, in samples, goes out with the
heartbeats; the result's artifacts name the cache directories). A heartbeat thread
renews the lease every third of its length (at least every ``cancel_poll_seconds``); when the lease is lost (the job was
requeued after this worker looked dead) or the search was cancelled, it sets the
evaluation's stop event: training ends after its current step, and the job is reported
cancelled (or, with the lease lost, not reported at all).

An evaluation that raises is classified (:func:`is_deterministic`): an error that the
same input would raise again (a bad benchmark file, a metric that cannot be computed, an
invalid spec) fails the job at once with a one-line reason; anything else (a device or
OS error, an unknown crash) is requeued while attempts remain. Either way the reason is
one line; the traceback goes to the log at debug level.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from autosel.errors import ConfigError, InputError
from autosel.settings import Settings, get_settings
from autosel.store import JobProgress, JobResult, LeaseLostError
from autosel.worker.source import JobSource, Lease

log = logging.getLogger("autosel.worker")

SIGNALS_KIND = "signals"  # the payload kind (and job kind) of a signals job


class EvaluateFn(Protocol):
    """``(rows, EvalSpec, out_dir, *, stop) -> EvalResult``; ``stop`` is set to abandon it."""

    def __call__(
        self, rows: list[dict[str, Any]], spec: Any, out: Path, *, stop: threading.Event
    ) -> Any: ...


# Errors that the same job would raise again on any worker: input and config errors, and
# the data errors of the evaluation code (a KeyError for a metric that was not computed,
# a ValueError for an item it cannot score). Retrying them only trains again.
DETERMINISTIC_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    InputError,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    ZeroDivisionError,
    NotImplementedError,
)


def is_deterministic(exc: BaseException) -> bool:
    """Whether ``exc`` would happen again on a retry (see :data:`DETERMINISTIC_ERRORS`)."""
    return isinstance(exc, DETERMINISTIC_ERRORS)


def failure_reason(exc: BaseException) -> str:
    """One line saying what went wrong: the error's type and the first line of its message."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    first = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {first}"[:500] if first else type(exc).__name__


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def result_to_job_result(res: Any) -> JobResult:
    """EvalResult → the store's JobResult: primary score per benchmark, every metric too,
    and the per-item normalised scores (``item_scores``) the final report bootstraps over."""
    scores: dict[str, float] = {}
    for bench, metrics in sorted(res.per_benchmark.items()):
        primary = res.primary_metrics.get(bench)
        if primary in metrics:
            scores[bench] = float(metrics[primary])
        for name, value in sorted(metrics.items()):
            scores[f"{bench}/{name}"] = float(value)
    costs = {
        "train_seconds": float(res.train_seconds),
        "eval_seconds": float(res.eval_seconds),
        "device_seconds": float(res.train_seconds + res.eval_seconds),
        "train_tokens": float(res.train_tokens),
        "n_samples": float(res.n_samples),
    }
    artifacts = {k: str(v) for k, v in res.artifacts.items() if v}
    artifacts["device"] = str(res.device)
    items = {
        bench: [float(x) for x in values]
        for bench, values in sorted(getattr(res, "item_scores", {}).items())
    }
    return JobResult(
        scores=scores, utility=res.utility, costs=costs, artifacts=artifacts, item_scores=items
    )


@dataclass
class WorkerStats:
    """What a worker did (for tests and the CLI's summary)."""

    succeeded: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)


class _Heartbeat(threading.Thread):
    """Renews a lease; ``halt`` is set once the job was cancelled or the lease lost."""

    def __init__(self, source: JobSource, worker_id: str, lease: Lease, interval: float) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{lease.job_id}")
        self.source, self.worker_id, self.lease = source, worker_id, lease
        self.interval = interval
        self.stop = threading.Event()
        self.lost = threading.Event()
        self.cancelled = threading.Event()
        self.halt = threading.Event()  # the evaluation's stop event
        self.progress: JobProgress | None = None  # sent with the next beat when it changed
        self._sent: JobProgress | None = None

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.beat()
            except LeaseLostError:
                self.lost.set()
                self.halt.set()
                return
            except Exception as exc:  # noqa: BLE001 - keep beating through transient trouble
                log.warning("heartbeat for job %s failed: %s", self.lease.job_id, exc)

    def beat(self) -> None:
        """One heartbeat, with the progress when it changed since the last one."""
        progress = self.progress
        if progress is not None and progress != self._sent:
            cancel = self.source.heartbeat(self.worker_id, self.lease, progress=progress)
            self._sent = progress
        else:
            cancel = self.source.heartbeat(self.worker_id, self.lease)
        if cancel:
            self.cancelled.set()
            self.halt.set()


class Worker:
    """Runs jobs from a source until stopped.

    Args:
        source: where jobs come from (:class:`LocalJobSource` or the REST source).
        worker_id: unique id (default host-pid-random).
        device: what this worker trains on (``cpu``, ``cuda:0``, ...), recorded in the registry.
        lease_seconds: lease length asked for; renewed by heartbeats.
        evaluate_fn: ``(rows, EvalSpec, out_dir, *, stop) -> EvalResult`` (default: real SFT).
        cancel_poll_seconds: longest time between heartbeats, so a cancellation reaches
            a running evaluation this quickly even under a long lease.
        settings: for the artifacts directory.
    """

    def __init__(
        self,
        source: JobSource,
        *,
        worker_id: str | None = None,
        device: str = "cpu",
        lease_seconds: float = 600.0,
        evaluate_fn: EvaluateFn | None = None,
        settings: Settings | None = None,
        cancel_poll_seconds: float = 10.0,
    ) -> None:
        self.source = source
        self.worker_id = worker_id or default_worker_id()
        self.device = device
        self.lease_seconds = lease_seconds
        self.evaluate_fn = evaluate_fn
        self.settings = settings or get_settings()
        self.cancel_poll_seconds = cancel_poll_seconds
        self.stats = WorkerStats()

    def register(self) -> None:
        self.source.register(
            self.worker_id,
            hostname=socket.gethostname(),
            device=self.device,
            meta={"pid": os.getpid()},
        )

    def run(
        self,
        *,
        stop: threading.Event | None = None,
        max_jobs: int | None = None,
        idle_timeout: float | None = None,
        poll_seconds: float = 1.0,
    ) -> WorkerStats:
        """Claim and run jobs until ``stop`` is set, ``max_jobs`` ran, or idle too long."""
        self.register()
        idle_since = time.monotonic()
        done = 0
        while not (stop is not None and stop.is_set()):
            if max_jobs is not None and done >= max_jobs:
                break
            lease = self.source.claim(self.worker_id, self.lease_seconds)
            if lease is None:
                if idle_timeout is not None and time.monotonic() - idle_since > idle_timeout:
                    break
                if stop is not None:
                    stop.wait(poll_seconds)
                else:
                    time.sleep(poll_seconds)
                self.register()  # keeps last-seen fresh so the scheduler counts this worker
                continue
            self.run_one(lease)
            done += 1
            idle_since = time.monotonic()
        return self.stats

    def run_one(self, lease: Lease) -> None:
        """Run one leased job and report it (never raises for a job's own error)."""
        interval = max(0.5, min(lease.lease_seconds / 3.0, self.cancel_poll_seconds))
        hb = _Heartbeat(self.source, self.worker_id, lease, interval)
        try:
            self.source.start(lease)
        except LeaseLostError:
            self.stats.lost.append(lease.job_id)
            return
        hb.start()
        if lease.payload.get("kind") == SIGNALS_KIND:
            self._run_signals(lease, hb)
        else:
            self._run_evaluation(lease, hb)

    def _run_signals(self, lease: Lease, hb: _Heartbeat) -> None:
        """Compute a pool's signals into the cache; progress goes out with the heartbeats."""
        total = int(lease.payload.get("n_samples") or 0)
        try:
            pool = self.source.pool(lease)
            total = len(pool)
            hb.progress = JobProgress(0, total)
            self._beat_now(hb)  # 0/N at once: the job shows as started even if it is quick
            signals = compute_signals_job(
                pool,
                lease.payload,
                self.settings,
                on_progress=lambda done, n: setattr(hb, "progress", JobProgress(done, n)),
            )
        except LeaseLostError:
            self.stats.lost.append(lease.job_id)
            return
        except Exception as exc:  # noqa: BLE001 - reported; retried unless deterministic
            self._report_exception(lease, exc)
            return
        finally:
            hb.stop.set()
        if hb.lost.is_set():
            self.stats.lost.append(lease.job_id)
            return
        if hb.cancelled.is_set():
            self._report_failure(lease, "cancelled", retry=False)
            return
        from autosel.signals.compute import signal_dirs

        try:
            hb.progress = JobProgress(total, total)
            self._beat_now(hb)
            self.source.complete(
                lease,
                JobResult(
                    scores={},
                    costs={"n_samples": float(total)},
                    artifacts={f"signals/{k}": v for k, v in signal_dirs(signals).items()},
                ),
            )
            self.stats.succeeded.append(lease.job_id)
        except LeaseLostError:
            self.stats.lost.append(lease.job_id)

    @staticmethod
    def _beat_now(hb: _Heartbeat) -> None:
        """A heartbeat from this thread (to send progress at once); a transient failure
        only delays the progress, a lost lease raises LeaseLostError."""
        try:
            hb.beat()
        except LeaseLostError:
            raise
        except Exception as exc:  # noqa: BLE001 - the heartbeat thread keeps trying
            log.warning("heartbeat for job %s failed: %s", hb.lease.job_id, exc)

    def _run_evaluation(self, lease: Lease, hb: _Heartbeat) -> None:
        """Train and score one subset (an evaluation job)."""
        from autosel.evaluation import EvalSpec

        try:
            spec = EvalSpec.model_validate(lease.payload["eval"])
            if self.device != "cpu" and spec.device is None:
                spec = spec.model_copy(update={"device": self.device})
            rows = self.source.rows(lease)
            out = (
                self.settings.home
                / "artifacts"
                / (lease.search_id or "jobs")
                / f"job-{lease.job_id}"
            )
            evaluate = self.evaluate_fn or _real_evaluate
            extra: dict[str, Any] = {}
            if _takes_progress(evaluate):  # test doubles may not

                def report(unit: str, done: int, total: int) -> None:
                    hb.progress = JobProgress(min(done, total), total, unit)

                extra["on_progress"] = report
            res = evaluate(rows, spec, out, stop=hb.halt, **extra)
        except Exception as exc:  # noqa: BLE001 - reported; retried unless deterministic
            hb.stop.set()
            self._report_exception(lease, exc)
            return
        finally:
            hb.stop.set()
        if hb.lost.is_set():
            self.stats.lost.append(lease.job_id)
            return
        if res.status != "succeeded" or hb.cancelled.is_set():
            # Cancelled: the store ends the job as cancelled whatever the reason says.
            reason = str(res.failure_reason)
            if hb.cancelled.is_set() and res.status != "cancelled":
                reason = "cancelled"
            self._report_failure(lease, reason, retry=False)
            return
        try:
            self.source.complete(lease, result_to_job_result(res))
            self.stats.succeeded.append(lease.job_id)
        except LeaseLostError:
            self.stats.lost.append(lease.job_id)

    def _report_exception(self, lease: Lease, exc: BaseException) -> None:
        """Fail the job with a one-line reason; requeued unless the error is deterministic."""
        retry = not is_deterministic(exc)
        reason = f"worker error: {failure_reason(exc)}"
        if not retry:
            reason += " (not retried: the same input fails the same way)"
        log.warning("job %s failed: %s", lease.job_id, reason)
        log.debug("job %s: traceback", lease.job_id, exc_info=True)
        self._report_failure(lease, reason, retry=retry)

    def _report_failure(self, lease: Lease, reason: str, *, retry: bool) -> None:
        try:
            self.source.fail(lease, reason, retry=retry)
            self.stats.failed.append(lease.job_id)
        except LeaseLostError:
            self.stats.lost.append(lease.job_id)


def signals_payload(
    pool_id: str,
    n_samples: int,
    *,
    model: str | None,
    device: str | None,
    precision: str,
    ifd: bool,
    benchmarks: list[dict[str, Any]],
    max_tokens: int = 2048,
    batch_tokens: int | None = None,
) -> dict[str, Any]:
    """The payload of a signals job: the pool, what to compute, and the benchmark specs
    (JSON) whose dev questions relevance reads (empty: no relevance)."""
    return {
        "kind": SIGNALS_KIND,
        "pool_id": pool_id,
        "n_samples": int(n_samples),
        "model": model,
        "device": device,
        "precision": precision,
        "ifd": bool(ifd),
        "benchmarks": benchmarks,
        "max_tokens": int(max_tokens),
        "batch_tokens": batch_tokens,
    }


def compute_signals_job(
    pool: Any, payload: dict[str, Any], settings: Settings, *, on_progress: Any = None
) -> Any:
    """Compute (or find cached) the signals a signals job's payload names."""
    import autosel.signals as signals
    from autosel.evaluation.spec import BenchmarkSpec

    specs = [BenchmarkSpec.model_validate(x) for x in payload.get("benchmarks") or []]
    bench = {b.name: b for b in specs}
    # Through the package attribute, so that tests can stand in a model-free computation.
    return signals.compute_signals(
        pool,
        model=payload.get("model"),
        device=payload.get("device"),
        precision=payload.get("precision") or "auto",
        benchmarks=bench or None,
        ifd=bool(payload.get("ifd")),
        max_tokens=int(payload.get("max_tokens") or 2048),
        batch_tokens=payload.get("batch_tokens"),
        progress=False,
        settings=settings,
        on_progress=on_progress,
    )


def _real_evaluate(
    rows: list[dict[str, Any]],
    spec: Any,
    out: Path,
    *,
    stop: threading.Event,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> Any:
    from autosel.evaluation import evaluate

    return evaluate(rows, spec, out, stop=stop, on_progress=on_progress)


def _takes_progress(fn: Callable[..., Any]) -> bool:
    """Whether an evaluation function accepts ``on_progress`` (the real one does)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "on_progress" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )
