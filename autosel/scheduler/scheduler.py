"""The scheduler: couples one search (ask/tell strategy) to the job store.

Every ``step()``:

1. requeues jobs whose lease ran out (dead workers);
2. moves finished jobs into their trials (score, or failure with the reason);
3. if the budget is spent, queues the reference baselines once (full pool, and a random
   subset of the best recipe's size) and completes the search when they are done;
4. otherwise asks the strategy for as many candidates as there are free workers (live
   workers minus jobs in flight; at least one job is kept queued for a worker to find),
   records each as a trial with its prediction and origin, writes its subset, and
   enqueues a job.

All state lives in the store: a new ``Scheduler`` on the same search (a restarted server)
rebuilds the history from the trials and continues the same search, with no lost or
repeated evaluation. Every decision is appended to the event log.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autosel.errors import ConfigError
from autosel.recipes.model import Recipe, recipe_from_data
from autosel.scheduler.spec import SearchSpec
from autosel.scheduler.subsets import save_subset
from autosel.search.strategy import Candidate, TrialResult
from autosel.settings import Settings, get_settings
from autosel.store import JobSpec, Store, TrialSpec
from autosel.store.records import TrialRecord

BASELINE_PREFIX = "baseline:"
FINAL_TRIAL_STATES = ("complete", "failed", "pruned")
WORKER_LIVE_SECONDS = 120.0


@dataclass(frozen=True)
class StepReport:
    """What one scheduler step did."""

    proposed: int
    finished: int
    completed: int
    in_flight: int
    done: bool


def resolve_pool(spec: SearchSpec, settings: Settings):  # type: ignore[no-untyped-def]
    from autosel.pool import get_pool

    return get_pool(spec.pool, settings)


def open_signals(spec: SearchSpec, pool, settings: Settings, *, compute: bool = True):  # type: ignore[no-untyped-def]
    """The signal set the search reads; computed (cached) when missing and ``compute``."""
    from autosel.signals import compute_signals, load_signals

    # The specs, not just their paths: relevance reads the dev split the evaluation scores.
    bench = {b.name: b for b in spec.eval.benchmarks} if spec.signals.relevance else None
    if not compute:
        return load_signals(pool, settings=settings, model=spec.signals.model)
    return compute_signals(
        pool,
        model=spec.signals.model,
        device=spec.signals.device,
        precision=spec.signals.precision,
        benchmarks=bench or None,
        ifd=spec.signals.ifd,
        progress=False,
        settings=settings,
    )


class Scheduler:
    """Drives one search. Only talks to the store, the strategy and the subset files.

    Args:
        store: the job store.
        search_id: the search to drive (its spec is read from the store).
        settings: service settings (home directory for subsets).
        signals: an already-open signal set (default: opened/computed from the spec).
        worker_live_seconds: a worker seen within this many seconds counts as available.
    """

    def __init__(
        self,
        store: Store,
        search_id: str,
        *,
        settings: Settings | None = None,
        signals: Any = None,
        worker_live_seconds: float = WORKER_LIVE_SECONDS,
    ) -> None:
        from autosel.search.bo import GPStrategy
        from autosel.search.space import RecipeSpace

        self.store, self.search_id = store, search_id
        self.settings = settings or get_settings()
        record = store.get_search(search_id)
        self.spec = SearchSpec.parse(record.spec, where=f"search {search_id}")
        self.pool = resolve_pool(self.spec, self.settings)
        self.signals = (
            signals if signals is not None else open_signals(self.spec, self.pool, self.settings)
        )
        knobs = self.spec.search_knobs
        self.space = RecipeSpace(
            self.pool,
            self.signals,
            operators=knobs.operators,
            max_steps=knobs.max_steps,
            min_size=knobs.min_size,
            seed=knobs.seed,
            target_mix=self.spec.target_mix,
        )
        seeds = [recipe_from_data(r) for r in self.spec.seed_recipes]
        self.strategy = GPStrategy(self.space, knobs, seed_recipes=seeds)
        self.worker_live_seconds = worker_live_seconds

    # ------------------------------------------------------------------ state from store
    def _trials(self) -> list[TrialRecord]:
        return self.store.trials(self.search_id)

    def _history(self, trials: list[TrialRecord]) -> tuple[list[TrialResult], list[Recipe]]:
        """Finished search trials as TrialResults and in-flight ones as pending recipes."""
        results = {r.trial_id: r for r in self.store.results(search_id=self.search_id)}
        errors = {j.trial_id: j.error for j in self.store.jobs(search_id=self.search_id)}
        history: list[TrialResult] = []
        pending: list[Recipe] = []
        for t in trials:
            if t.origin.startswith(BASELINE_PREFIX):
                continue
            recipe = recipe_from_data(t.recipe)
            if t.state == "complete":
                res = results.get(t.id)
                history.append(
                    TrialResult(
                        recipe=recipe,
                        score=t.score,
                        per_benchmark=dict(res.scores) if res else {},
                        cost=float(res.costs.get("device_seconds", 0.0)) if res else 0.0,
                        recipe_hash=t.recipe_hash,
                        fingerprint=t.fingerprint,
                    )
                )
            elif t.state in ("failed", "pruned"):
                reason = errors.get(t.id) or ("cancelled" if t.state == "pruned" else "failed")
                history.append(
                    TrialResult(
                        recipe=recipe,
                        score=None,
                        status="failed",
                        reason=reason,
                        recipe_hash=t.recipe_hash,
                        fingerprint=t.fingerprint,
                    )
                )
            else:
                pending.append(recipe)
        return history, pending

    def _live_workers(self) -> int:
        now = datetime.now(UTC)
        horizon = timedelta(seconds=self.worker_live_seconds)
        return sum(1 for w in self.store.workers() if now - w.last_seen_at <= horizon)

    # ------------------------------------------------------------------------ the loop
    def sync(self) -> int:
        """Copy finished jobs' outcomes into their trials. Returns how many trials finished."""
        trials = {t.id: t for t in self._trials()}
        finished = 0
        for job in self.store.jobs(search_id=self.search_id):
            trial = trials.get(job.trial_id) if job.trial_id is not None else None
            if trial is None or trial.state in FINAL_TRIAL_STATES:
                continue
            if job.state == "succeeded":
                res = self.store.get_result(job.id)
                utility = res.utility if res is not None else None
                if utility is None:
                    self.store.update_trial(trial.id, state="failed")
                    self.store.append_event(
                        "trial_failed",
                        {"reason": "no utility reported"},
                        search_id=self.search_id,
                        trial_id=trial.id,
                        job_id=job.id,
                    )
                else:
                    self.store.update_trial(trial.id, state="complete", score=utility)
                    self.store.append_event(
                        "trial_complete",
                        {"score": utility, "number": trial.number},
                        search_id=self.search_id,
                        trial_id=trial.id,
                        job_id=job.id,
                    )
                finished += 1
            elif job.state in ("failed", "cancelled"):
                state = "failed" if job.state == "failed" else "pruned"
                self.store.update_trial(trial.id, state=state)
                self.store.append_event(
                    f"trial_{state}",
                    {"reason": job.error, "number": trial.number},
                    search_id=self.search_id,
                    trial_id=trial.id,
                    job_id=job.id,
                )
                finished += 1
            elif job.state in ("leased", "running") and trial.state == "pending":
                self.store.update_trial(trial.id, state="running")
        return finished

    def step(self) -> StepReport:
        """One scheduling round (see the module docstring)."""
        self.store.requeue_expired()
        finished = self.sync()
        search = self.store.get_search(self.search_id)
        trials = self._trials()
        in_flight = sum(t.state in ("pending", "running") for t in trials)
        if search.state in ("cancelled", "completed", "failed"):
            return StepReport(0, finished, 0, in_flight, True)
        if search.state == "created":
            self.store.set_search_state(self.search_id, "running")
            self.store.append_event(
                "search_started", {"budget": self.spec.budget}, search_id=self.search_id
            )
        history, pending = self._history(trials)
        completed = len(history)
        proposed = 0
        if completed < self.spec.budget:
            free = max(1, self._live_workers()) - in_flight
            n = min(free, self.spec.budget - completed - len(pending))
            if n > 0:
                cands = self.strategy.ask(history, pending, n)
                for cand in cands:
                    self._enqueue(cand)
                    proposed += 1
                if not cands and not pending:
                    self.store.append_event(
                        "space_exhausted", {"completed": completed}, search_id=self.search_id
                    )
                    return self._finish(trials, history, finished, in_flight)
            return StepReport(proposed, finished, completed, in_flight + proposed, False)
        return self._finish(trials, history, finished, in_flight)

    def _finish(
        self, trials: list[TrialRecord], history: list[TrialResult], finished: int, in_flight: int
    ) -> StepReport:
        """Budget spent: queue the baselines once, then complete when nothing is in flight."""
        if self.spec.baselines and not any(t.origin.startswith(BASELINE_PREFIX) for t in trials):
            queued = self._enqueue_baselines(history)
            return StepReport(queued, finished, len(history), in_flight + queued, False)
        if in_flight:
            return StepReport(0, finished, len(history), in_flight, False)
        best = max((t for t in history if t.ok), key=lambda t: t.score or 0.0, default=None)
        self.store.set_search_state(self.search_id, "completed")
        self.store.append_event(
            "search_completed",
            {
                "completed": len(history),
                "best_score": best.score if best else None,
                "best_recipe_hash": best.recipe_hash if best else None,
            },
            search_id=self.search_id,
        )
        return StepReport(0, finished, len(history), 0, True)

    def _enqueue(self, cand: Candidate) -> None:
        realized = self.space.realize(cand.recipe)
        self._record(
            cand.recipe,
            realized,
            cand.origin,
            prediction={"mean": cand.mean, "std": cand.std, "acquisition": cand.acquisition},
            trajectory={"index": cand.trajectory},
        )

    def _record(
        self,
        recipe: Recipe,
        realized: Any,
        origin: str,
        *,
        prediction: dict[str, Any] | None,
        trajectory: dict[str, Any] | None,
    ) -> None:
        save_subset(self.settings, realized.fingerprint, realized.indices)
        trial = self.store.add_trial(
            self.search_id,
            TrialSpec(
                recipe=recipe.to_dict(),
                recipe_hash=realized.recipe_hash,
                fingerprint=realized.fingerprint,
                state_vector=tuple(float(x) for x in realized.state),
                origin=origin,
                prediction=prediction,
                trajectory=trajectory,
            ),
        )
        payload = {
            "kind": "trial",
            "pool_id": self.pool.pool_id,
            "fingerprint": realized.fingerprint,
            "n_samples": int(realized.size),
            "eval": self.spec.eval.model_dump(mode="json"),
            "trial_number": trial.number,
        }
        job = self.store.create_job(
            JobSpec(
                payload=payload,
                search_id=self.search_id,
                trial_id=trial.id,
                max_attempts=self.spec.max_attempts,
            )
        )
        self.store.append_event(
            "trial_proposed",
            {
                "number": trial.number,
                "origin": origin,
                "size": int(realized.size),
                "recipe_hash": realized.recipe_hash,
                "prediction": prediction,
            },
            search_id=self.search_id,
            trial_id=trial.id,
            job_id=job.id,
        )

    def _enqueue_baselines(self, history: list[TrialResult]) -> int:
        best = max((t for t in history if t.ok), key=lambda t: t.score or 0.0, default=None)
        recipes = [("baseline:full", Recipe.of())]
        if best is not None:
            size = self.space.realize(best.recipe).size
            if 0 < size < len(self.pool):
                recipes.append(
                    (
                        "baseline:random",
                        Recipe.of(("random_sample", {"fraction": 1.0, "n": int(size)})),
                    )
                )
        for origin, recipe in recipes:
            self._record(
                recipe, self.space.realize(recipe), origin, prediction=None, trajectory=None
            )
        self.store.append_event(
            "baselines_queued", {"count": len(recipes)}, search_id=self.search_id
        )
        return len(recipes)

    def run(
        self,
        *,
        poll_seconds: float = 1.0,
        stop: threading.Event | None = None,
        timeout: float | None = None,
        on_step: Any = None,
    ) -> StepReport:
        """Step until the search is done (or ``stop`` is set / ``timeout`` passes)."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            report = self.step()
            if on_step is not None:
                on_step(report)
            if report.done or (stop is not None and stop.is_set()):
                return report
            if deadline is not None and time.monotonic() > deadline:
                raise ConfigError(f"search {self.search_id} did not finish within {timeout} s")
            if report.proposed == 0:
                (stop.wait(poll_seconds) if stop is not None else time.sleep(poll_seconds))
