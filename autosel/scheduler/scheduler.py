"""The scheduler: couples one search (ask/tell strategy) to the job store.

Every ``step()``:

0. until the search's signals are open: opens them from the cache if every group the
   spec needs is there, else queues one ``signals`` job (a worker computes them) and
   returns at once while it is queued or running; a failed job fails the search;
1. requeues jobs whose lease ran out (dead workers);
2. moves finished jobs into their trials (score, or failure with the reason);
3. if the budget is spent, queues the final report's runs once (best recipe, full pool,
   random subsets of the best's size, reference subsets: each re-trained with fresh seeds
   and scored on the *test* split, see :mod:`autosel.scheduler.report`); when they have
   all finished or failed it computes the report, stores it as a ``search_report`` event
   and completes the search;
4. otherwise asks the strategy for as many candidates as there are free workers (live
   workers minus jobs in flight; at least one job is kept queued for a worker to find),
   records each as a trial with its prediction and origin, writes its subset, and
   enqueues a job.

Report trials never enter the strategy's history: the search optimises dev scores only.
Each search trial is told to the strategy with its noise variance (``noise_var``): the
item variance of its dev utility (from the per-item scores) plus a training-seed term.
During the search no subset is trained twice, so the seed term cannot be measured yet; it
is taken equal to the item variance (we measured seed noise of the same order as item
noise on the demo; see the report's ``seed_variance`` for the measured value afterwards).

All state lives in the store: a new ``Scheduler`` on the same search (a restarted server)
rebuilds the history from the trials and continues the same search, with no lost or
repeated evaluation; report runs are keyed by (arm, replicate), so a restart mid-report
queues only the runs not queued yet. Every decision is appended to the event log.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.recipes.model import Recipe, recipe_from_data
from autosel.recipes.subsets import load_subset, save_subset
from autosel.scheduler import report as rep
from autosel.scheduler.spec import SearchSpec
from autosel.search.budget import MAX_BUDGET
from autosel.search.fidelity import best_at_top_fidelity, fidelity_of, screening_warmup
from autosel.search.strategy import Candidate, TrialResult, resolve_min_size
from autosel.settings import Settings, get_settings
from autosel.store import JobSpec, Store, TrialSpec
from autosel.store.records import (
    ACTIVE_JOB_STATES,
    FINAL_TRIAL_STATES,
    OPEN_TRIAL_STATES,
    JobRecord,
    ResultRecord,
    TrialRecord,
    TrialState,
)
from autosel.worker.loop import SIGNALS_KIND, signals_payload

REFERENCES_EVENT = "report_references"
CONTAMINATION_EVENT = "contamination"  # logged by create_search (autosel.service.searches)
WORKER_LIVE_SECONDS = 120.0
# A search whose first FAIL_FAST trials (or its whole budget, if smaller) all failed stops
# spending its budget and ends failed: a deterministic problem fails every trial alike.
FAIL_FAST = 3


@dataclass(frozen=True)
class StepReport:
    """What one scheduler step did."""

    proposed: int
    finished: int
    completed: int
    in_flight: int
    done: bool


def resolve_pool(spec: SearchSpec, settings: Settings):
    from autosel.pool import get_pool

    return get_pool(spec.pool, settings)


def _relevance_benchmarks(spec: SearchSpec) -> list[Any]:
    """The benchmark specs relevance is computed for (none without a model or relevance)."""
    if spec.signals.model is None or not spec.signals.relevance:
        return []
    return list(spec.eval.benchmarks)


def cached_signals(spec: SearchSpec, pool: Any, settings: Settings) -> Any:
    """The signal set the search reads if every group it needs is cached, else ``None``.

    Reads manifests only; the model is resolved (for its identity) only when a model
    group is cached at all, so an empty cache costs nothing.
    """
    from autosel.signals import cache, load_signals
    from autosel.signals.compute import signal_dirs

    root = cache.pool_signals_dir(settings, pool.content_hash)
    found = {manifest.get("group") for _, manifest in cache.list_groups(root)}
    needed = {"text", "minhash"}
    if spec.signals.model is not None:
        needed |= {"model", "ifd"} if spec.signals.ifd else {"model"}
        if _relevance_benchmarks(spec):
            needed.add("bench")
    if not needed <= found:
        return None
    signals = load_signals(
        pool, settings=settings, model=spec.signals.model, max_tokens=spec.signals.max_tokens
    )
    dirs = signal_dirs(signals)
    want = (needed - {"bench"}) | {f"bench/{b.name}" for b in _relevance_benchmarks(spec)}
    if not want <= set(dirs):
        return None
    if _relevance_benchmarks(spec):
        from autosel.signals.relevance import centroid_key, dev_questions

        # A centroid is cached per question set: a changed benchmark file needs a new one.
        for b in _relevance_benchmarks(spec):
            manifest = cache.read_manifest(Path(dirs[f"bench/{b.name}"]))
            if manifest.get("texts") != centroid_key(dev_questions(b)):
                return None
    return signals


class Scheduler:
    """Drives one search. Only talks to the store, the strategy and the subset files.

    Args:
        store: the job store.
        search_id: the search to drive (its spec is read from the store).
        settings: service settings (home directory for subsets).
        signals: an already-open signal set (default: the cached one, or the one a
            ``signals`` job computes: see :meth:`step`).
        worker_live_seconds: a worker seen within this many seconds counts as available.

    Construction reads the search's spec and nothing else: the pool, the signals, the
    recipe space and the strategy are opened by the first :meth:`step` that can use them,
    so a scheduler thread never stalls in a constructor.
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
        self.store, self.search_id = store, search_id
        self.settings = settings or get_settings()
        record = store.get_search(search_id)
        self.spec = SearchSpec.parse(record.spec, where=f"search {search_id}", stored=True)
        self.signals: Any = signals
        self._pool: Any = None
        self._arm_pool: Any = None
        self._space: Any = None
        self._strategy: Any = None
        self.worker_live_seconds = worker_live_seconds
        self._references: dict[str, dict[str, Any]] | None = None

    # ------------------------------------------------- opened by the first step needing them
    @property
    def pool(self) -> Any:
        if self._pool is None:
            self._pool = resolve_pool(self.spec, self.settings)
        return self._pool

    @property
    def arm_pool(self) -> Any:
        """The pool every arm is realized on: the pool's columns without the samples that
        copy benchmark items when the search decontaminates (rows stored at creation,
        event ``contamination``; see ``autosel.recipes.clean_pool``)."""
        if self._arm_pool is None:
            from autosel.recipes.clean_pool import without_rows
            from autosel.recipes.realize import pool_columns

            cols = pool_columns(self.pool)
            events = search_events(self.store, self.search_id)
            found = next((e for e in reversed(events) if e.kind == CONTAMINATION_EVENT), None)
            removed = (found.data.get("removed_fingerprint") if found else None) or None
            if removed:
                cols = without_rows(cols, load_subset(self.settings, removed), tag="decontam")
            self._arm_pool = cols
        return self._arm_pool

    @property
    def space(self) -> Any:
        """The recipe space over the pool and its signals (the signals must be open)."""
        if self._space is None:
            from autosel.search.space import RecipeSpace

            if self.signals is None:
                self.signals = cached_signals(self.spec, self.pool, self.settings)
            if self.signals is None:
                raise ConfigError(
                    f"search {self.search_id}: its signals are not computed yet "
                    "(a step queues the job computing them)"
                )
            knobs = self.spec.search_knobs
            self._space = RecipeSpace(
                self.arm_pool,
                self.signals,
                operators=knobs.operators,
                max_steps=knobs.max_steps,
                min_size=resolve_min_size(knobs, len(self.pool)),
                seed=knobs.seed,
                target_mix=self.spec.target_mix,
            )
        return self._space

    @property
    def strategy(self) -> Any:
        if self._strategy is None:
            from autosel.search.baselines import make_strategy

            seeds = [recipe_from_data(r) for r in self.spec.seed_recipes]
            knobs = self.spec.search_knobs
            fid = self.spec.fidelity
            if fid.screening:
                # The scheduler counts compute units and sizes each ask; the strategy's own
                # count would stop it at `budget` trials. Warmup: see screening_warmup.
                knobs = knobs.model_copy(
                    update={
                        "budget": MAX_BUDGET,
                        "n_warmup": knobs.n_warmup
                        or screening_warmup(
                            self.spec.budget, fid.ladder[0], self._n_anchors(knobs, seeds)
                        ),
                    }
                )
            self._strategy = make_strategy(
                self.spec.strategy, self.space, knobs, seed_recipes=seeds
            )
        return self._strategy

    def _n_anchors(self, knobs: Any, seeds: list[Recipe]) -> int:
        """Distinct feasible subsets among the user's seed recipes and (with
        ``default_seeds``) the full pool and each operator at its defaults."""
        recipes = list(seeds) or (self.space.default_recipes() if knobs.default_seeds else [])
        return len(self.space.distinct_subsets(recipes))

    # ---------------------------------------------------------------------- signals job
    def _signals_job(self) -> JobRecord | None:
        """This search's latest signals job, if it has one."""
        jobs = [j for j in self.store.jobs(search_id=self.search_id) if j.kind == SIGNALS_KIND]
        return jobs[-1] if jobs else None

    def _await_signals(self) -> str | None:
        """Open the signals, or queue / wait for the job computing them.

        Returns ``None`` once the signals are open, ``"waiting"`` while a signals job is
        queued or running, or the reason the search cannot get its signals (the job
        failed or was cancelled).
        """
        job = self._signals_job()
        if job is None:
            cached = cached_signals(self.spec, self.pool, self.settings)
            if cached is not None:
                self.signals = cached
                return None
            self._queue_signals()
            return "waiting"
        if job.state == "queued" or job.state in ACTIVE_JOB_STATES:
            return "waiting"
        if job.state == "succeeded":
            from autosel.signals.compute import open_signal_dirs

            res = self.store.get_result(job.id)
            prefix = "signals/"
            dirs = {
                k.removeprefix(prefix): v
                for k, v in (res.artifacts if res is not None else {}).items()
                if k.startswith(prefix)
            }
            self.signals = open_signal_dirs(self.pool, dirs)
            self.store.append_event(
                "signals_ready", {"groups": sorted(dirs)}, search_id=self.search_id, job_id=job.id
            )
            return None
        return f"signals job {job.id} {job.state}: {job.error or job.state}"

    def _queue_signals(self) -> None:
        """Queue the one job computing the signals this search needs."""
        payload = signals_payload(
            self.pool.pool_id,
            len(self.pool),
            model=self.spec.signals.model,
            device=self.spec.signals.device,
            precision=self.spec.signals.precision,
            ifd=self.spec.signals.ifd,
            benchmarks=[b.model_dump(mode="json") for b in _relevance_benchmarks(self.spec)],
            max_tokens=self.spec.signals.max_tokens,
            batch_tokens=self.spec.signals.batch_tokens,
        )
        job = self.store.create_job(
            JobSpec(
                payload=payload,
                search_id=self.search_id,
                kind=SIGNALS_KIND,
                max_attempts=self.spec.max_attempts,
            )
        )
        self.store.append_event(
            "signals_queued",
            {"pool": self.pool.pool_id, "samples": len(self.pool), "model": payload["model"]},
            search_id=self.search_id,
            job_id=job.id,
        )

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
            if rep.is_report_origin(t.origin):
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
                        noise_var=self._noise_var(res),
                    )
                )
            elif t.state in ("failed", "cancelled"):
                reason = errors.get(t.id) or t.state
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

    def _noise_var(self, res: ResultRecord | None) -> float | None:
        """Variance of one dev evaluation's utility: item noise plus training-seed noise.

        The item term comes from the result's per-item scores. The seed term cannot be
        measured during a search (no subset is trained twice), so it is taken equal to the
        item term (on the demo we measured seed noise of the same order as item noise).
        None when the worker reported no per-item scores (the GP then learns the noise).
        """
        item_var = rep.item_variance(self.spec, _item_scores(res))
        return None if item_var is None else 2.0 * item_var

    def _live_workers(self) -> int:
        """Workers seen lately that may take this search's jobs (not those of another
        search's embedded run)."""
        now = datetime.now(UTC)
        horizon = timedelta(seconds=self.worker_live_seconds)
        return sum(
            1
            for w in self.store.workers()
            if now - w.last_seen_at <= horizon
            and (w.meta or {}).get("search_id") in (None, self.search_id)
        )

    # ------------------------------------------------------------------------ the loop
    def sync(self) -> int:
        """Copy finished jobs' outcomes into their trials. Returns how many trials finished."""
        return sync_trials(self.store, self.search_id)

    def step(self) -> StepReport:
        """One scheduling round (see the module docstring)."""
        self.store.requeue_expired()
        finished = self.sync()
        search = self.store.get_search(self.search_id)
        if search.state == "cancelled":  # done once the jobs still running have stopped
            in_flight = settle_cancelled(self.store, self.search_id, requeue=False)
            return StepReport(0, finished, 0, in_flight, in_flight == 0)
        trials = self._trials()
        in_flight = sum(t.state in OPEN_TRIAL_STATES for t in trials)
        if search.state in ("completed", "failed"):
            return StepReport(0, finished, 0, in_flight, True)
        if search.state == "created":
            self.store.set_search_state(self.search_id, "running")
            self.store.append_event(
                "search_started", {"budget": self.spec.budget}, search_id=self.search_id
            )
        if self.signals is None:
            waiting = self._await_signals()
            if waiting == "waiting":
                return StepReport(0, finished, 0, in_flight, False)
            if waiting is not None:
                self.store.set_search_state(self.search_id, "failed")
                self.store.append_event(
                    "search_failed", {"reason": waiting[:2000]}, search_id=self.search_id
                )
                return StepReport(0, finished, 0, 0, True)
        history, pending = self._history(trials)
        completed = len(history)
        proposed = 0
        # Once the report has started (budget spent, or the space ran out) the search is over.
        reporting = any(rep.is_report_origin(t.origin) for t in trials)
        if not reporting and _all_failed(history, min(FAIL_FAST, self.spec.budget)):
            # Nothing has worked yet: stop spending the budget; fail once in-flight ends.
            if pending:
                return StepReport(0, finished, completed, in_flight, False)
            return self._fail(trials, history, finished)
        if self.spec.fidelity.screening and not reporting:
            return self._screen(trials, history, finished, in_flight)
        if completed < self.spec.budget and not reporting:
            free = max(1, self._live_workers()) - in_flight
            n = min(free, self.spec.budget - completed - len(pending))
            if n > 0:
                cands = self._ask(history, pending, n)
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
        """Budget spent: queue the report runs once, report when they are done, complete."""
        queued = self._queue_report(trials) if self.spec.report.enabled else 0
        if queued or in_flight:
            return StepReport(queued, finished, len(history), in_flight + queued, False)
        if self.spec.report.enabled:
            self._store_report(self._trials())
        best = _best(trials)
        self.store.set_search_state(self.search_id, "completed")
        self.store.append_event(
            "search_completed",
            {
                "completed": len(history),
                "best_dev_score": best.score if best else None,
                "best_recipe_hash": best.recipe_hash if best else None,
            },
            search_id=self.search_id,
        )
        return StepReport(0, finished, len(history), 0, True)

    def _fail(
        self, trials: list[TrialRecord], history: list[TrialResult], finished: int
    ) -> StepReport:
        """Every finished search trial failed: end the search ``failed`` with the common
        reason (the most frequent failure reason; ties: the earliest)."""
        reasons = [t.reason or "failed" for t in history if not t.ok]
        common, count = Counter(reasons).most_common(1)[0]
        reason = (
            f"all {len(reasons)} trials failed ({count} with the same reason: {common})"
            if count < len(reasons)
            else f"all {len(reasons)} trials failed: {common}"
        )
        self.store.set_search_state(self.search_id, "failed")
        self.store.append_event(
            "search_failed",
            {"reason": reason[:2000], "failed_trials": len(reasons), "common_reason": common},
            search_id=self.search_id,
        )
        return StepReport(0, finished, len(history), 0, True)

    def _ask(self, history: list[TrialResult], pending: list[Recipe], n: int) -> list[Candidate]:
        """The strategy's candidates; what it noted on the way (e.g. ``gp_fit_failed`` and
        the fallback taken) goes into the search's events."""
        cands = self.strategy.ask(history, pending, n)
        for note in _drain_notes(self.strategy):
            kind = str(note.pop("kind"))
            self.store.append_event(kind, note, search_id=self.search_id)
        return cands

    def _enqueue(
        self, cand: Candidate, fidelity: float = 1.0, learned_at: float | None = None
    ) -> None:
        """Record and queue one candidate at ``fidelity``. ``learned_at``: the rung whose
        scores the surrogate was fitted on, stored with the prediction (a screening
        search screens at the lowest rung what it predicted on the highest rung's scale)."""
        realized = self.space.realize(cand.recipe)
        trajectory: dict[str, Any] = {"index": cand.trajectory}
        eval_spec = None
        if fidelity < 1.0:  # a screening rung: stored with the trial, carried by its job
            trajectory["fidelity"] = fidelity
            eval_spec = self.spec.eval.model_copy(update={"fidelity": fidelity})
        self._record(
            cand.recipe.to_dict(),
            realized.recipe_hash,
            realized.fingerprint,
            realized.indices,
            realized.state,
            cand.origin,
            prediction={
                "mean": cand.mean,
                "std": cand.std,
                "acquisition": cand.acquisition,
                "fidelity": fidelity if learned_at is None else learned_at,
            },
            trajectory=trajectory,
            eval_spec=eval_spec,
        )

    def _promote(self, parent: TrialRecord, fidelity: float) -> None:
        """Evaluate ``parent``'s recipe again at the next rung (a new trial, origin
        ``promote``), on the same subset."""
        indices = load_subset(self.settings, parent.fingerprint)
        trajectory: dict[str, Any] = {
            "index": (parent.trajectory or {}).get("index"),
            "promoted_from": parent.number,
        }
        if fidelity < 1.0:
            trajectory["fidelity"] = fidelity
        self._record(
            parent.recipe,
            parent.recipe_hash,
            parent.fingerprint,
            indices,
            parent.state_vector,
            "promote",
            prediction=None,
            trajectory=trajectory,
            eval_spec=self.spec.eval.model_copy(update={"fidelity": fidelity}),
        )
        self.store.append_event(
            "trial_promoted",
            {"from": parent.number, "fidelity": fidelity, "score": parent.score},
            search_id=self.search_id,
        )

    def _screen(
        self,
        trials: list[TrialRecord],
        history: list[TrialResult],
        finished: int,
        in_flight: int,
    ) -> StepReport:
        """One round of a multi-fidelity search (see :mod:`autosel.search.fidelity`):
        promotions first, then new candidates at the lowest rung, in compute units."""
        from autosel.search.fidelity import RungTrial, promotable, promotion_reserve

        fid = self.spec.fidelity
        own = [t for t in trials if not rep.is_report_origin(t.origin)]
        by_number = {t.number: t for t in own}
        spent = spent_units(own)
        budget = float(self.spec.budget)
        free = max(1, self._live_workers()) - in_flight
        proposed = 0
        rung_trials = [
            RungTrial(
                t.number,
                trial_fidelity(t),
                t.score if t.state == "complete" else None,
                (t.trajectory or {}).get("promoted_from"),
            )
            for t in own
        ]
        # The warmup screens form one synchronous rung: nothing is promoted before all of
        # them have finished, so the best of the first few probes does not take a full
        # evaluation that a later, better anchor needed.
        affordable = int((budget - 1.0) / fid.ladder[0] + 1e-9)  # screens beside one full run
        warm = min(self.strategy.knobs.warmup, max(1, affordable))
        warm_open = sum(t.state in FINAL_TRIAL_STATES for t in own) < warm
        for number, f in [] if warm_open else promotable(rung_trials, fid):
            if proposed >= free or spent + f > budget + 1e-9:
                break
            self._promote(by_number[number], f)
            spent += f
            proposed += 1
        # A new screen must leave room to promote it to full fidelity (promotion_reserve).
        reserve = promotion_reserve(fid)
        f0 = fid.ladder[0]
        n = 0
        while proposed + n < free and spent + (n + 1) * f0 <= budget - reserve + 1e-9:
            n += 1
        if n > 0:
            hist, pend, rung = self._rung_history(own, history)
            cands = self._ask(hist, pend, n)
            for cand in cands:
                self._enqueue(cand, fidelity=f0, learned_at=rung)
                proposed += 1
            if not cands and not proposed and not in_flight:
                self.store.append_event(
                    "space_exhausted", {"completed": len(history)}, search_id=self.search_id
                )
                return self._finish(trials, history, finished, in_flight)
        if proposed or in_flight:
            return StepReport(proposed, finished, len(history), in_flight + proposed, False)
        return self._finish(trials, history, finished, in_flight)

    def _rung_history(
        self, own: list[TrialRecord], history: list[TrialResult]
    ) -> tuple[list[TrialResult], list[Recipe], float]:
        """What the strategy learns from in a screening search: the finished trials of the
        highest rung with at least two scores (one fidelity per GP; returned third); every
        other trial is passed as pending, so its recipe is never proposed again."""
        fids = [trial_fidelity(t) for t in own]
        done = [t.state in FINAL_TRIAL_STATES for t in own]
        scored = Counter(f for f, t in zip(fids, own, strict=True) if t.score is not None)
        rung = max((f for f, c in scored.items() if c >= 2), default=min(fids, default=1.0))
        # ``history`` holds the finished search trials in ``own``'s order (see _history).
        finished_own = [t for t, d in zip(own, done, strict=True) if d]
        hist = [
            h for t, h in zip(finished_own, history, strict=True) if trial_fidelity(t) == rung
        ]
        pend = [
            recipe_from_data(t.recipe)
            for t, f, d in zip(own, fids, done, strict=True)
            if not (d and f == rung)
        ]
        return hist, pend, rung

    def _record(
        self,
        recipe: dict[str, Any],
        recipe_hash: str,
        fingerprint: str,
        indices: np.ndarray,
        state: Any,
        origin: str,
        *,
        prediction: dict[str, Any] | None,
        trajectory: dict[str, Any] | None,
        eval_spec: Any = None,
    ) -> None:
        """Store a trial, its subset and its job (``eval_spec``: default the search's)."""
        save_subset(self.settings, fingerprint, indices)
        trial = self.store.add_trial(
            self.search_id,
            TrialSpec(
                recipe=recipe,
                recipe_hash=recipe_hash,
                fingerprint=fingerprint,
                state_vector=tuple(float(x) for x in state),
                origin=origin,
                prediction=prediction,
                trajectory=trajectory,
            ),
        )
        self._create_job(trial, len(indices), eval_spec)

    def _create_job(self, trial: TrialRecord, size: int, eval_spec: Any) -> None:
        spec = eval_spec if eval_spec is not None else self.spec.eval
        payload = {
            "kind": "trial",
            "pool_id": self.pool.pool_id,
            "fingerprint": trial.fingerprint,
            "n_samples": int(size),
            "eval": spec.model_dump(mode="json"),
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
                "origin": trial.origin,
                "size": int(size),
                "recipe_hash": trial.recipe_hash,
                "prediction": trial.prediction,
                "fidelity": fidelity_of(trial.trajectory),
                "split": spec.split,
            },
            search_id=self.search_id,
            trial_id=trial.id,
            job_id=job.id,
        )

    # ------------------------------------------------------------------ the final report
    def _report_eval(self, run: rep.ReportRun) -> Any:
        """The search's eval spec on the test split with this run's fresh training seed."""
        seed = rep.training_seed(
            self.spec.knobs.seed, run.origin, run.replicate, avoid=self.spec.eval.seed
        )
        return self.spec.eval.model_copy(update={"split": "test", "seed": seed, "fidelity": 1.0})

    def _plan(
        self, trials: list[TrialRecord]
    ) -> tuple[list[rep.ReportRun], dict[str, str], TrialRecord | None]:
        """The report runs this search gets (deterministic), the arms skipped and why."""
        report, best = self.spec.report, _best(trials)
        skipped: dict[str, str] = {}
        arms: list[tuple[str, int]] = []
        if best is None:
            skipped[rep.BEST] = "no search trial completed"
            skipped[rep.RANDOM] = "no best recipe to take the size from"
        else:
            arms.append((rep.BEST, report.replicates))
        arms.append((rep.FULL, report.replicates))
        if best is not None:
            size = len(load_subset(self.settings, best.fingerprint))
            if 0 < size < len(self.arm_pool.all_rows):
                arms.append((rep.RANDOM, report.random_draws))
            else:
                skipped[rep.RANDOM] = f"the best recipe selects {size} of {len(self.pool)} rows"
        refs = self._reference_subsets()
        for name in report.references:
            if name in refs:
                arms.append((name, report.replicates))
            else:
                skipped[name] = "not registered when the search was created"
        # Replicate-major order: if the report is cut short, every arm has a first run.
        runs = [
            rep.ReportRun(arm, r)
            for r in range(max((n for _, n in arms), default=0))
            for arm, n in arms
            if r < n
        ]
        return runs, skipped, best

    def _reference_subsets(self) -> dict[str, dict[str, Any]]:
        """Reference subsets pinned at creation (name -> {fingerprint, size, path})."""
        if self._references is None:
            events = search_events(self.store, self.search_id)
            pinned = next((e for e in reversed(events) if e.kind == REFERENCES_EVENT), None)
            self._references = dict(pinned.data.get("references") or {}) if pinned else {}
        return self._references

    def _queue_report(self, trials: list[TrialRecord]) -> int:
        """Queue the report runs not queued yet (none twice, also across restarts)."""
        runs, skipped, best = self._plan(trials)
        existing = {
            rep.run_of(t.origin, t.trajectory): t for t in trials if rep.is_report_origin(t.origin)
        }
        with_job = {j.trial_id for j in self.store.jobs(search_id=self.search_id)}
        if not existing:  # logged before queuing, so a crash in between cannot log it twice
            self.store.append_event(
                "report_queued",
                {"runs": len(runs), "skipped": skipped, "split": "test"},
                search_id=self.search_id,
            )
        queued = 0
        for run in runs:
            trial = existing.get(run)
            if trial is not None:
                if trial.id not in with_job:  # stopped between storing the trial and its job
                    size = len(load_subset(self.settings, trial.fingerprint))
                    self._create_job(trial, size, self._report_eval(run))
                    queued += 1
                continue
            self._queue_run(run, best)
            queued += 1
        return queued

    def _queue_run(self, run: rep.ReportRun, best: TrialRecord | None) -> None:
        knobs_seed = self.spec.knobs.seed
        trajectory: dict[str, Any] = {"replicate": run.replicate}
        if run.arm == rep.BEST and best is not None:
            recipe = recipe_from_data(best.recipe)
            realized = self.space.realize(recipe)
            trajectory["of_trial"] = best.number
            subset = (recipe.to_dict(), realized.recipe_hash, realized.fingerprint)
            indices, state = realized.indices, realized.state
        elif run.arm == rep.FULL:
            recipe = Recipe.of()
            realized = self.space.realize(recipe)
            subset = (recipe.to_dict(), realized.recipe_hash, realized.fingerprint)
            indices, state = realized.indices, realized.state
        elif run.arm == rep.RANDOM and best is not None:
            from autosel.recipes.realize import realize

            size = len(load_subset(self.settings, best.fingerprint))
            recipe = Recipe.of(("random_sample", {"fraction": 1.0, "n": int(size)}))
            seed = rep.draw_seed(knobs_seed, run.replicate)
            drawn = realize(recipe, self.arm_pool, self.signals, seed, min_size=0, use_cache=False)
            trajectory["draw_seed"] = seed
            subset = (recipe.to_dict(), drawn.recipe_hash, drawn.fingerprint)
            indices, state = drawn.indices, drawn.state_vector
        else:
            ref = self._reference_subsets()[run.arm]
            indices = load_subset(self.settings, ref["fingerprint"])
            recipe_dict = {
                "name": f"reference {run.arm}",
                "description": f"fixed sample ids from {ref['path']} (not a recipe)",
                "steps": [],
            }
            ident = hashlib.sha256(f"reference/{run.arm}/{ref['fingerprint']}".encode())
            subset = (recipe_dict, ident.hexdigest(), ref["fingerprint"])
            state = np.zeros(0)  # a reference subset has no state vector
        eval_spec = self._report_eval(run)
        trajectory["seed"] = eval_spec.seed
        self._record(
            *subset,
            indices,
            state,
            run.origin,
            prediction=None,
            trajectory=trajectory,
            eval_spec=eval_spec,
        )

    def _store_report(self, trials: list[TrialRecord]) -> dict[str, Any]:
        """Compute the report from the finished report runs and log it (``search_report``)."""
        runs, skipped, best = self._plan(trials)
        results = {r.trial_id: r for r in self.store.results(search_id=self.search_id)}
        jobs = {j.trial_id: j for j in self.store.jobs(search_id=self.search_id)}
        outcomes, dev_runs = [], []
        for t in trials:
            res = results.get(t.id)
            if not rep.is_report_origin(t.origin):
                if t.state == "complete" and t.score is not None:
                    dev_runs.append(
                        {"trial": t.number, "score": t.score, "item_scores": _item_scores(res)}
                    )
                continue
            job = jobs.get(t.id)
            outcomes.append(
                rep.RunOutcome(
                    run=rep.run_of(t.origin, t.trajectory),
                    trial=t.number,
                    state=t.state,
                    size=int(job.payload.get("n_samples", 0)) if job else None,
                    seed=(t.trajectory or {}).get("seed"),
                    item_scores=_item_scores(res) if t.state == "complete" else {},
                    error=job.error if job else "no job was queued",
                )
            )
        best_info = None
        if best is not None:
            best_info = {
                "trial": best.number,
                "recipe": best.recipe,
                "recipe_hash": best.recipe_hash,
                "size": len(load_subset(self.settings, best.fingerprint)),
                "dev_score": best.score,
                "split": "dev",
            }
        report = rep.build_report(
            self.spec,
            best=best_info,
            dev_runs=dev_runs,
            planned=runs,
            skipped=skipped,
            outcomes=outcomes,
        )
        self.store.append_event("search_report", report, search_id=self.search_id)
        return report

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


def sync_trials(store: Store, search_id: str) -> int:
    """Copy the finished jobs' outcomes of a search into their trials (score, failure,
    cancellation), logging one event each. Returns how many trials finished.

    Needs no pool or signals, so a cancelled search is settled without opening them.
    """
    trials = {t.id: t for t in store.trials(search_id)}
    finished = 0
    for job in store.jobs(search_id=search_id):
        trial = trials.get(job.trial_id) if job.trial_id is not None else None
        if trial is None or trial.state in FINAL_TRIAL_STATES:
            continue
        if job.state == "succeeded":
            res = store.get_result(job.id)
            utility = res.utility if res is not None else None
            if utility is None:
                store.update_trial(trial.id, state="failed")
                store.append_event(
                    "trial_failed",
                    {"reason": "no utility reported"},
                    search_id=search_id,
                    trial_id=trial.id,
                    job_id=job.id,
                )
            else:
                store.update_trial(trial.id, state="complete", score=utility)
                store.append_event(
                    "trial_complete",
                    {"score": utility, "number": trial.number},
                    search_id=search_id,
                    trial_id=trial.id,
                    job_id=job.id,
                )
            finished += 1
        elif job.state in ("failed", "cancelled"):
            _end_trial(store, search_id, trial, job.state, job.error, job.id)
            finished += 1
        elif job.state in ACTIVE_JOB_STATES and trial.state == "pending":
            store.update_trial(trial.id, state="running")
    return finished


def settle_cancelled(store: Store, search_id: str, *, requeue: bool = True) -> int:
    """End the trials of a cancelled search. Returns how many are still in flight.

    A trial ends with its job: queued jobs were cancelled with the search; a running job
    ends when its worker sees the cancellation (or, the worker gone, when its lease runs
    out: ``requeue`` runs that check first). A trial that never got its job (the search
    was cancelled between the two writes) ends at once. Idempotent, and correct after a
    restart: everything it reads is in the store.
    """
    if requeue:
        store.requeue_expired()
    sync_trials(store, search_id)
    jobs = {j.trial_id: j for j in store.jobs(search_id=search_id)}
    in_flight = 0
    for t in store.trials(search_id):
        if t.state in FINAL_TRIAL_STATES:
            continue
        job = jobs.get(t.id)
        if job is None:
            _end_trial(
                store, search_id, t, "cancelled", "search cancelled before its job was queued", None
            )
        else:
            in_flight += 1
    return in_flight


def _end_trial(
    store: Store,
    search_id: str,
    trial: TrialRecord,
    job_state: str,
    reason: str | None,
    job_id: int | None,
) -> None:
    """A trial whose job failed or was cancelled ends the same way, with an event."""
    state: TrialState = "failed" if job_state == "failed" else "cancelled"
    store.update_trial(trial.id, state=state)
    store.append_event(
        f"trial_{state}",
        {"reason": reason, "number": trial.number},
        search_id=search_id,
        trial_id=trial.id,
        job_id=job_id,
    )


def _all_failed(history: list[TrialResult], at_least: int) -> bool:
    """At least ``at_least`` search trials finished and none of them succeeded."""
    return len(history) >= at_least and not any(t.ok for t in history)


def _best(trials: list[TrialRecord]) -> TrialRecord | None:
    """The completed search trial with the best dev score (ties: the earlier trial), among
    the trials of the highest fidelity that has a score (a cheap screening score never
    beats a full one; with one fidelity, simply the best)."""
    done = [
        t
        for t in trials
        if not rep.is_report_origin(t.origin) and t.state == "complete" and t.score is not None
    ]
    return best_at_top_fidelity(
        done, lambda t: float(t.score or 0.0), trial_fidelity, lambda t: t.number
    )


def trial_fidelity(t: TrialRecord) -> float:
    """The fidelity a search trial was evaluated at (1.0 unless it was a screening rung)."""
    return fidelity_of(t.trajectory)


def spent_units(trials: list[TrialRecord]) -> float:
    """Compute units (full-evaluation equivalents) the search trials cost or will cost:
    finished, failed and in flight alike."""
    from autosel.search.fidelity import units

    return units([trial_fidelity(t) for t in trials if not rep.is_report_origin(t.origin)])


def _item_scores(res: ResultRecord | None) -> dict[str, list[float]]:
    """Per-benchmark per-item scores of a result ({} when the worker reported none)."""
    return dict(getattr(res, "item_scores", None) or {}) if res is not None else {}


def search_events(store: Store, search_id: str) -> list[Any]:
    """Every event of one search, oldest first (read in pages)."""
    out: list[Any] = []
    cursor = 0
    while True:
        batch = store.events(cursor, search_id=search_id, limit=1000)
        out.extend(batch)
        if len(batch) < 1000:
            return out
        cursor = batch[-1].id


def _drain_notes(strategy: Any) -> list[dict[str, Any]]:
    """The strategy's notes since the last ask (``GPStrategy.notes``), emptied."""
    notes = getattr(strategy, "notes", None)
    if not notes:
        return []
    out = [dict(n) for n in notes]
    notes.clear()
    return out
