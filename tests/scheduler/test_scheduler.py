"""Scheduler + in-process workers on a real SQLite store and the real demo pool.

Evaluation is the label-based test double from conftest (no training), so these tests
check the coupling — budget, final-report runs, restarts, failures, parallel workers —
quickly (the report itself: test_report.py).
The real-SFT flow is covered end to end by tests/test_e2e.py.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from autosel.scheduler import Scheduler, SearchSpec
from autosel.service import create_search
from autosel.store import open_store
from autosel.worker import LocalJobSource, Worker
from tests.scheduler.conftest import LabelObjective, fast_spec


def _spec(pool_id: str, budget: int, **kw: Any) -> dict[str, Any]:
    return SearchSpec.parse(
        fast_spec(pool_id, budget, seed=3, knobs={"patience": 3}, **kw)
    ).to_json()


def _run(
    store,
    settings,
    search_id: str,
    objective: LabelObjective,
    n_workers: int = 1,  # type: ignore[no-untyped-def]
    steps: int | None = None,
) -> tuple[Scheduler, list[int]]:
    stop = threading.Event()
    workers = [
        Worker(
            LocalJobSource(store, settings),
            worker_id=f"w{i}",
            evaluate_fn=objective,
            lease_seconds=30,
            settings=settings,
        )
        for i in range(n_workers)
    ]
    for w in workers:
        w.register()
    threads = [
        threading.Thread(target=w.run, kwargs={"stop": stop, "poll_seconds": 0.05}, daemon=True)
        for w in workers
    ]
    for t in threads:
        t.start()
    sched = Scheduler(store, search_id, settings=settings)
    in_flight: list[int] = []
    try:
        if steps is None:
            sched.run(
                poll_seconds=0.05, timeout=120, on_step=lambda r: in_flight.append(r.in_flight)
            )
        else:
            for _ in range(steps):
                in_flight.append(sched.step().in_flight)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    return sched, in_flight


def test_search_spends_exactly_the_budget_then_reports(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(store, _spec(pool.pool_id, 6), settings=settings)
    objective = LabelObjective(demo_env["labels"])
    _run(store, settings, search.id, objective)
    trials = store.trials(search.id)
    search_trials = [t for t in trials if not t.origin.startswith("report:")]
    report = sorted(t.origin for t in trials if t.origin.startswith("report:"))
    assert len(search_trials) == 6 and all(t.state == "complete" for t in trials)
    assert report == ["report:best"] * 2 + ["report:full"] * 2 + ["report:random"] * 2
    fps = [t.fingerprint for t in search_trials]
    assert len(set(fps)) == len(fps), "no subset is evaluated twice by the search"
    assert len(set(objective.calls[:6])) == 6 and len(objective.calls) == 12
    assert store.get_search(search.id).state == "completed"
    best = max(search_trials, key=lambda t: t.score or 0)
    for t in trials[6:]:
        size = len(objective.calls[t.number])
        if t.origin == "report:full":
            assert size == len(pool)
        else:
            assert size == len(objective.calls[best.number])
    kinds = [e.kind for e in store.events(search_id=search.id, limit=10_000)]
    assert kinds.count("trial_proposed") == 12 and kinds[-1] == "search_completed"
    assert kinds.count("search_report") == 1


def test_a_failed_gp_fit_is_a_visible_warning_not_a_silent_prior(
    demo_env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every GP fit fails: the search still spends its budget (fallback picks), and each
    failure is an event and a warning on the search summary (API, CLI and dashboard)."""
    import botorch.fit
    from botorch.exceptions.errors import ModelFittingError

    from autosel.scheduler.views import search_summary

    def broken_fit(*args: Any, **kwargs: Any) -> None:
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", broken_fit)
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(
        store, _spec(pool.pool_id, 6, report={"enabled": False}), settings=settings
    )
    _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
    trials = store.trials(search.id)
    assert store.get_search(search.id).state == "completed" and len(trials) == 6
    fallback = [t for t in trials if t.origin == "fallback:spread"]
    events = store.events(search_id=search.id, limit=10_000, kinds=["gp_fit_failed"])
    assert fallback and len(events) >= 1
    assert sum(e.data["proposed"] for e in events) == len(fallback)
    warnings = search_summary(store, store.get_search(search.id))["warnings"]
    assert len(warnings) == len(events)
    assert "GP fit" in warnings[0]["message"] and "ModelFittingError" in warnings[0]["message"]


@pytest.mark.parametrize("strategy", ["random", "grid", "tpe"])
def test_comparator_strategies_are_first_class_searches(
    demo_env: dict[str, Any], tmp_path: Path, strategy: str
) -> None:
    """`strategy: random | grid | tpe` runs through the same scheduler, budget and report
    as the GP: the comparators are searches a user can start, not benchmark-only code."""
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(store, _spec(pool.pool_id, 5, strategy=strategy), settings=settings)
    _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
    trials = store.trials(search.id)
    own = [t for t in trials if not t.origin.startswith("report:")]
    assert store.get_search(search.id).state == "completed" and len(own) == 5
    want = {"random": "random", "grid": "grid", "tpe": "tpe"}[strategy]
    assert {t.origin for t in own} == {want}
    assert len({t.fingerprint for t in own}) == 5
    assert any(t.origin == "report:best" for t in trials)


def test_screening_search_spends_compute_units_and_promotes_the_top_third(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    """fidelity.ladder [0.25, 1.0], eta 3, budget 4 units: new recipes are screened at a
    quarter of their subset, the top third of each rung's scores go up to full, nothing
    is promoted twice, the budget is never overspent, jobs carry their fidelity, and the
    best recipe (what the report re-trains) is a full-fidelity one."""
    from autosel.scheduler.views import search_summary

    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = _spec(pool.pool_id, 4, fidelity={"ladder": [0.25, 1.0], "eta": 3})
    search = create_search(store, spec, settings=settings)
    _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
    trials = store.trials(search.id)
    own = [t for t in trials if not t.origin.startswith("report:")]
    fid = {t.number: float((t.trajectory or {}).get("fidelity", 1.0)) for t in own}
    assert store.get_search(search.id).state == "completed"
    assert sum(fid.values()) <= 4 + 1e-9 and sum(fid.values()) > 4 - 0.25 - 1e-9
    screened = [t for t in own if fid[t.number] == 0.25]
    promoted = [t for t in own if t.origin == "promote"]
    assert len(screened) >= 3 and promoted and all(fid[t.number] == 1.0 for t in promoted)
    parents = [t.trajectory["promoted_from"] for t in promoted]
    assert len(parents) == len(set(parents)), "no trial is promoted twice"
    # every screen was proposed while a promotion of it to full fidelity was affordable
    for t in screened:
        before = sum(f for n, f in fid.items() if n < t.number)
        assert before + 0.25 + 1.0 <= 4 + 1e-9, (t.number, before)
    for t in promoted:
        parent = next(p for p in own if p.number == t.trajectory["promoted_from"])
        assert fid[parent.number] == 0.25 and parent.fingerprint == t.fingerprint
        # ASHA: when the promotion was made, the parent ranked in the top third of the
        # rung-0 scores finished by then.
        known = sorted(
            (-(p.score or 0.0), p.number)
            for p in screened
            if p.score is not None and p.finished_at and p.finished_at <= t.created_at
        )
        top = [n for _, n in known[: len(known) // 3]]
        assert parent.number in top, (parent.number, known)
    jobs = {j.trial_id: j for j in store.jobs(search_id=search.id)}
    for t in own:
        assert jobs[t.id].payload["eval"]["fidelity"] == fid[t.number]
    summary = search_summary(store, store.get_search(search.id))
    assert summary["best"]["fidelity"] == 1.0 and summary["best"]["origin"] == "promote"
    assert summary["units_spent"] == pytest.approx(sum(fid.values()))
    assert summary["fidelity_ladder"] == [0.25, 1.0]
    for t in trials:
        if t.origin.startswith("report:"):
            assert jobs[t.id].payload["eval"]["fidelity"] == 1.0  # the report is full
    kinds = [e.kind for e in store.events(search_id=search.id, limit=10_000)]
    assert kinds.count("trial_promoted") == len(promoted)


def test_screening_warmup_probes_every_anchor_before_any_promotion(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    """Budget 8 at a quarter per screen buys 32 screens: the warmup screens every distinct
    default anchor (at most 16), each once, and no promotion is made before all of them
    have finished (one synchronous first rung)."""
    from autosel.search.fidelity import screening_warmup

    assert screening_warmup(8, 0.25, 15) == 15 and screening_warmup(8, 0.25, 40) == 16
    assert screening_warmup(2, 0.25, 15) == 4 and screening_warmup(1.75, 0.25, 1) == 3
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = _spec(pool.pool_id, 8, fidelity={"ladder": [0.25, 1.0], "eta": 3},
                 report={"enabled": False})
    search = create_search(store, spec, settings=settings)
    _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
    own = sorted(store.trials(search.id), key=lambda t: t.number)
    warm = [t for t in own if t.origin == "warmup"]
    promoted = [t for t in own if t.origin == "promote"]
    sched = Scheduler(store, search.id, settings=settings)
    distinct = {sched.space.realize(r).fingerprint for r in sched.space.default_recipes()
                if sched.space.realize(r).feasible}
    assert len(warm) == min(len(distinct), 16)
    assert len({t.fingerprint for t in warm}) == len(warm), "one probe per distinct subset"
    assert promoted, "the budget left after the warmup buys promotions"
    last_warm = max(t.finished_at for t in warm if t.finished_at)
    assert all(t.created_at >= last_warm for t in promoted)
    # no screen the budget could not promote (before promotion_reserve: once a promotion
    # had reached full fidelity, one more screen took the last 0.25 unit)
    fid = {t.number: float((t.trajectory or {}).get("fidelity", 1.0)) for t in own}
    for t in own:
        if fid[t.number] == 0.25:
            assert sum(f for n, f in fid.items() if n < t.number) + 1.25 <= 8 + 1e-9


def test_screened_candidates_say_which_rung_their_prediction_is_on(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    """Once two promotions scored at full fidelity, the GP is fitted on the full rung and
    its candidates are screened at 0.25: the stored prediction says f=1.0 and the trials
    table marks it, so a predicted 0.4 beside a screening score of 0.1 is not misread."""
    from autosel.cli.search import trials_table
    from autosel.scheduler.views import trial_rows

    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = SearchSpec.parse(
        fast_spec(pool.pool_id, 6, seed=3, knobs={"patience": 50, "n_warmup": 3},
                  fidelity={"ladder": [0.25, 1.0], "eta": 3}, report={"enabled": False})
    ).to_json()
    search = create_search(store, spec, settings=settings)
    _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
    rows = trial_rows(store, search.id)
    proposed = [r for r in rows if r["predicted_mean"] is not None]
    assert proposed and all(r["fidelity"] == 0.25 for r in proposed)
    on_full = [r for r in proposed if r["predicted_fidelity"] == 1.0]
    assert on_full, [(r["number"], r["predicted_fidelity"]) for r in proposed]
    full_before = {
        r["number"]: sum(
            1 for o in rows
            if o["fidelity"] == 1.0 and o["score"] is not None
            and o["finished_at"] and o["finished_at"] <= r["created_at"]
        )
        for r in proposed
    }
    for r in proposed:  # the rung the GP learnt from: full once two full scores existed
        assert r["predicted_fidelity"] == (1.0 if full_before[r["number"]] >= 2 else 0.25)
    from rich.console import Console

    console = Console(record=True, width=400)
    console.print(trials_table(rows))
    assert "@ f=1" in console.export_text()


def test_restart_mid_search_continues_without_loss_or_repeats(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(db)
    search = create_search(
        store, _spec(pool.pool_id, 7, report={"enabled": False}), settings=settings
    )
    objective = LabelObjective(demo_env["labels"])
    _run(store, settings, search.id, objective, steps=4)  # "server" dies after 4 rounds
    mid = len(store.trials(search.id))
    assert 0 < mid < 7
    store.close()
    store2 = open_store(db)  # a fresh process would do exactly this
    _run(store2, settings, search.id, objective)
    trials = store2.trials(search.id)
    assert len(trials) == 7 and [t.number for t in trials] == list(range(7))
    assert len({t.fingerprint for t in trials}) == 7
    assert all(t.state == "complete" for t in trials)
    assert len(objective.calls) == 7, "every evaluation ran exactly once"


def test_screening_search_survives_a_restart_without_double_promotion(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(db)
    spec = _spec(pool.pool_id, 4, report={"enabled": False}, fidelity={"ladder": [0.25, 1.0]})
    search = create_search(store, spec, settings=settings)
    objective = LabelObjective(demo_env["labels"])
    _run(store, settings, search.id, objective, steps=5)
    mid = store.trials(search.id)
    assert len(mid) > 0
    store.close()
    store2 = open_store(db)
    _run(store2, settings, search.id, objective)
    trials = store2.trials(search.id)
    fid = [float((t.trajectory or {}).get("fidelity", 1.0)) for t in trials]
    parents = [t.trajectory["promoted_from"] for t in trials if t.origin == "promote"]
    assert store2.get_search(search.id).state == "completed"
    assert sum(fid) <= 4 + 1e-9 and len(parents) == len(set(parents)) >= 1
    assert len(objective.calls) == len(trials), "every evaluation ran exactly once"


def test_same_history_gives_same_proposals(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    hashes = []
    for i in range(2):
        store = open_store(f"sqlite:///{tmp_path / f'db{i}.sqlite'}")
        search = create_search(
            store, _spec(pool.pool_id, 5, report={"enabled": False}), settings=settings
        )
        _run(store, settings, search.id, LabelObjective(demo_env["labels"]))
        hashes.append([t.recipe_hash for t in store.trials(search.id)])
    assert hashes[0] == hashes[1]


def test_crashed_evaluations_are_retried_then_failed(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = _spec(pool.pool_id, 4, report={"enabled": False}, max_attempts=2)
    search = create_search(store, spec, settings=settings)
    objective = LabelObjective(
        demo_env["labels"], crash_on={1, 2}
    )  # first job: both attempts crash
    _run(store, settings, search.id, objective)
    trials = store.trials(search.id)
    assert [t.state for t in trials].count("failed") == 1
    failed = next(t for t in trials if t.state == "failed")
    job = store.jobs(search_id=search.id)[failed.number]
    assert job.attempts == 2 and "simulated crash" in (job.error or "")
    assert len(trials) == 4, "a failure counts against the budget and is not proposed again"
    assert failed.fingerprint not in {t.fingerprint for t in trials if t.state == "complete"}


def test_parallel_workers_are_kept_busy(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(
        store, _spec(pool.pool_id, 9, report={"enabled": False}), settings=settings
    )
    _sched, in_flight = _run(
        store, settings, search.id, LabelObjective(demo_env["labels"]), n_workers=3
    )
    assert max(in_flight) == 3, "one job in flight per live worker"
    assert len(store.trials(search.id)) == 9


def test_cancel_stops_the_search(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    search = create_search(store, _spec(pool.pool_id, 6), settings=settings)
    sched = Scheduler(store, search.id, settings=settings)
    sched.step()
    report = store.cancel_search(search.id)
    assert report.cancelled
    assert sched.step().done and store.get_search(search.id).state == "cancelled"
    assert all(j.state == "cancelled" for j in store.jobs(search_id=search.id))


def test_invalid_spec_is_reported_by_field() -> None:
    from autosel.errors import ConfigError

    with pytest.raises(ConfigError, match="budget"):
        SearchSpec.parse({"pool": "x", "budget": 0})
    with pytest.raises(ConfigError, match="knobs.patience"):
        SearchSpec.parse({"pool": "x", "knobs": {"patience": 0}})
