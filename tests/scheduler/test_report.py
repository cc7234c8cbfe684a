"""The final report: test-split runs with fresh seeds, CIs and verdicts, references,
bad reference files, failed runs and restarts mid-report.

Evaluation is a test double with per-item scores (no training): rows labelled defective
lower every item's score, so cleaner subsets score higher, on dev and test alike.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autosel.errors import ConfigError, InputError
from autosel.scheduler import Scheduler, SearchSpec
from autosel.scheduler import report as rep
from autosel.service import create_search, run_embedded, search_report
from autosel.store import open_store
from autosel.worker import LocalJobSource, Worker
from tests.scheduler.conftest import FakeEvalResult, fast_spec

N_ITEMS = 30


class ItemObjective:
    """TEST DOUBLE for SFT that reports per-item scores.

    Item ``i`` scores ``0.8 − (defective share of the subset) + offset_i + noise``,
    where ``offset_i`` is the item's difficulty (shared by every subset: paired) and the
    noise is a small deterministic function of the training seed and the item. With
    ``flat=True`` every subset and seed gets the same items' scores: nothing can be told
    apart. Every call's split, seed and subset size is recorded; ``fail_full_on_test``
    makes the full pool's test runs fail.
    """

    def __init__(
        self, labels: dict[str, str], *, flat: bool = False, fail_full_on_test: int = 0
    ) -> None:
        self.labels, self.flat = labels, flat
        self.fail_full_on_test = fail_full_on_test
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.offsets = np.linspace(-0.05, 0.05, N_ITEMS)

    def __call__(
        self, rows: list[dict[str, Any]], spec: Any, out: Path, *, stop: Any = None
    ) -> FakeEvalResult:
        ids = sorted(r["sample_id"] for r in rows)
        with self.lock:
            self.calls.append(
                {"split": spec.split, "seed": spec.seed, "size": len(ids), "ids": tuple(ids)}
            )
        if spec.split == "test" and len(ids) == len(self.labels) and self.fail_full_on_test:
            return FakeEvalResult("failed", "simulated divergence", {}, {}, None)
        if self.flat:
            items = 0.5 + self.offsets
        else:
            defective = sum(self.labels[i] != "clean" for i in ids) / len(ids)
            noise = np.random.default_rng(spec.seed).normal(0.0, 0.01, N_ITEMS)
            items = 0.8 - defective + self.offsets + noise
        scores = [float(x) for x in items]
        util = float(np.mean(scores))
        return FakeEvalResult(
            "succeeded",
            None,
            {"demo": {"score": util}},
            {"demo": "score"},
            util,
            n_samples=len(ids),
            item_scores={"demo": scores},
            item_ids={"demo": [f"q{i}" for i in range(N_ITEMS)]},
        )

    def by_split(self, split: str) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["split"] == split]


def _spec(pool_id: str, budget: int = 3, **kw: Any) -> dict[str, Any]:
    return fast_spec(pool_id, budget, seed=5, **kw)


def _store(tmp_path: Path):  # type: ignore[no-untyped-def]
    return open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _ids_file(path: Path, ids: list[str]) -> Path:
    path.write_text("# clean rows of the demo pool\n" + "\n".join(ids) + "\n")
    return path


def _run(store, settings, sid: str, objective: ItemObjective) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    run_embedded(store, sid, settings=settings, evaluate_fn=objective, poll_seconds=0.02)
    return search_report(store, sid)


def test_report_runs_on_test_with_fresh_seeds_and_compares(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    store = _store(tmp_path)
    search = create_search(store, _spec(pool.pool_id), settings=settings)
    objective = ItemObjective(labels)
    out = _run(store, settings, search.id, objective)

    assert store.get_search(search.id).state == "completed"
    assert out["status"] == "complete" and out["pending"] == []
    # The search ran on dev with its own seed; the report on test with fresh, distinct seeds.
    dev, test = objective.by_split("dev"), objective.by_split("test")
    assert len(dev) == 3 and {c["seed"] for c in dev} == {0}
    assert len(test) == 2 + 2 + 2, "best and full x 2 seeds, 2 random draws"
    seeds = [c["seed"] for c in test]
    assert 0 not in seeds and len(set(seeds)) == len(seeds)

    trials = store.trials(search.id)
    origins = sorted(t.origin for t in trials if rep.is_report_origin(t.origin))
    assert origins == ["report:best"] * 2 + ["report:full"] * 2 + ["report:random"] * 2
    r = out["report"]
    best = next(t for t in trials if t.number == r["best"]["trial"])
    assert not rep.is_report_origin(best.origin)
    assert r["best"]["dev_score"] == best.score and r["best"]["split"] == "dev"
    randoms = [t for t in trials if t.origin == "report:random"]
    assert len({t.fingerprint for t in randoms}) == 2, "each draw is a fresh random subset"
    sizes = {j.trial_id: j.payload["n_samples"] for j in store.jobs(search_id=search.id)}
    assert [sizes[t.id] for t in randoms] == [r["best"]["size"]] * 2
    assert all(
        j.payload["eval"]["split"] == "test"
        for j in store.jobs(search_id=search.id)
        if j.trial_id in {t.id for t in trials if rep.is_report_origin(t.origin)}
    )

    arms = {a["key"]: a for a in r["arms"]}
    assert set(arms) == {"best", "full", "random"}
    assert all(a["replicates"] == a["planned"] == 2 for a in arms.values())
    assert arms["full"]["size"] == len(pool) and arms["random"]["size"] == r["best"]["size"]
    assert all(a["test_se"] is not None and a["test_se"] > 0 for a in arms.values())
    assert r["seed_variance"]["measured"] and r["seed_variance"]["df"] == 2
    comps = {c["key"]: c for c in r["comparisons"]}
    assert set(comps) == {"best-full", "best-random"}
    for c in comps.values():
        assert c["lo"] < c["diff"] < c["hi"] and c["se"] > 0
        assert c["verdict"] in ("better", "worse", "not distinguishable")
        assert "95% CI" in c["sentence"] and c["verdict"].split()[0] in c["sentence"]
    assert r["complete"] and r["missing"] == [] and r["flat_warning"] is None

    # Report trials never reach the strategy; search trials carry their noise variance.
    sched = Scheduler(store, search.id, settings=settings)
    history, pending = sched._history(store.trials(search.id))
    assert len(history) == 3 and pending == []
    assert all(h.noise_var is not None and h.noise_var > 0 for h in history)


def test_flat_objective_is_not_distinguishable_and_warned(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    store = _store(tmp_path)
    search = create_search(store, _spec(pool.pool_id), settings=settings)
    r = _run(store, settings, search.id, ItemObjective(labels, flat=True))["report"]
    assert [c["verdict"] for c in r["comparisons"]] == ["not distinguishable"] * 2
    assert all("not distinguishable from" in c["sentence"] for c in r["comparisons"])
    assert r["flat_warning"] and "Flat objective" in r["flat_warning"]


def test_reference_subset_from_an_ids_file(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    clean = sorted(i for i, d in labels.items() if d == "clean")
    ids = _ids_file(tmp_path / "clean.txt", clean)
    store = _store(tmp_path)
    spec = _spec(pool.pool_id, report={"replicates": 1, "references": {"oracle-clean": str(ids)}})
    search = create_search(store, spec, settings=settings)
    assert search.name == f"search on {pool.name}", "a reference name is not the search's"
    r = _run(store, settings, search.id, ItemObjective(labels))["report"]
    arms = {a["key"]: a for a in r["arms"]}
    assert arms["oracle-clean"]["size"] == len(clean) and arms["oracle-clean"]["replicates"] == 1
    # One replicate per arm: seed noise cannot be measured and is said to be assumed.
    assert not r["seed_variance"]["measured"] and r["seed_variance"]["value"] > 0
    ref = next(c for c in r["comparisons"] if c["key"] == "oracle-clean-full")
    assert ref["verdict"] == "better" and ref["lo"] > 0, "clean rows score higher by design"
    assert "better than the full pool" in ref["sentence"]


def test_bad_reference_file_is_a_clear_error_and_stores_nothing(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    known = list(demo_env["labels"])[:2]
    bad = tmp_path / "ids.txt"
    bad.write_text(f"{known[0]}\n\n{known[1]}\nno-such-sample\n")
    store = _store(tmp_path)
    spec = _spec(pool.pool_id, report={"references": {"clean": str(bad)}})
    with pytest.raises(InputError) as err:
        create_search(store, spec, settings=settings)
    assert err.value.path == str(bad) and err.value.line == 4
    assert "no-such-sample" in str(err.value) and pool.pool_id in str(err.value)
    assert store.searches() == [] and store.events(0) == []

    bad.write_text(f"{known[0]}\n{known[0]}\n")
    with pytest.raises(InputError, match="listed twice") as err:
        create_search(store, spec, settings=settings)
    assert err.value.line == 2
    bad.write_text("# nothing\n")
    with pytest.raises(InputError, match="no sample id"):
        create_search(store, spec, settings=settings)
    with pytest.raises(InputError, match="cannot read"):
        create_search(
            store,
            _spec(pool.pool_id, report={"references": {"x": str(tmp_path / "missing.txt")}}),
            settings=settings,
        )
    with pytest.raises(ConfigError, match="taken by the report"):
        SearchSpec.parse(_spec(pool.pool_id, report={"references": {"full": str(bad)}}))
    with pytest.raises(ConfigError, match="report.random_draws"):
        SearchSpec.parse(_spec(pool.pool_id, report={"random_draws": 1}))
    assert store.searches() == []


def test_failed_report_run_is_reported_not_waited_for(
    demo_env: dict[str, Any], tmp_path: Path
) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    store = _store(tmp_path)
    search = create_search(store, _spec(pool.pool_id), settings=settings)
    r = _run(store, settings, search.id, ItemObjective(labels, fail_full_on_test=1))["report"]
    assert store.get_search(search.id).state == "completed"
    assert not r["complete"]
    (missing,) = r["missing"]
    assert missing["arm"] == "full" and "simulated divergence" in missing["reason"]
    comps = {c["key"]: c for c in r["comparisons"]}
    assert comps["best-full"]["verdict"] == "unavailable" and comps["best-full"]["lo"] is None
    assert "full pool" in comps["best-full"]["sentence"]
    assert comps["best-random"]["verdict"] != "unavailable"


def _step_once(sched: Scheduler, worker: Worker) -> None:
    sched.step()
    worker.run(max_jobs=1, idle_timeout=0, poll_seconds=0.01)


def test_restart_mid_report_neither_loses_nor_duplicates(
    demo_env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = open_store(db)
    search = create_search(store, _spec(pool.pool_id), settings=settings)
    assert search_report(store, search.id)["status"] == "not_reached"
    objective = ItemObjective(labels)
    worker = Worker(LocalJobSource(store, settings), evaluate_fn=objective, settings=settings)
    sched = Scheduler(store, search.id, settings=settings)
    for _ in range(50):  # spend the budget
        _step_once(sched, worker)
        if len(objective.by_split("dev")) == 3:
            break
    # The "server" dies while queuing the report: after the 3rd run's trial, before its job.
    original = Scheduler._create_job
    made = []

    def dying(self: Scheduler, trial: Any, size: int, eval_spec: Any) -> None:
        if eval_spec is not None and len(made) == 2:
            raise RuntimeError("simulated crash")
        made.append(trial.number)
        original(self, trial, size, eval_spec)

    monkeypatch.setattr(Scheduler, "_create_job", dying)
    with pytest.raises(RuntimeError, match="simulated crash"):
        sched.step()
    monkeypatch.setattr(Scheduler, "_create_job", original)
    worker.run(max_jobs=1, idle_timeout=0, poll_seconds=0.01)  # one report run finishes
    status = search_report(store, search.id)
    assert status["status"] == "running" and len(status["pending"]) == 3, "3 trials, 2 jobs"
    store.close()

    store2 = open_store(db)
    sched2 = Scheduler(store2, search.id, settings=settings)
    worker2 = Worker(LocalJobSource(store2, settings), evaluate_fn=objective, settings=settings)
    for _ in range(50):
        _step_once(sched2, worker2)
        if store2.get_search(search.id).state == "completed":
            break
    trials = [t for t in store2.trials(search.id) if rep.is_report_origin(t.origin)]
    runs = [rep.run_of(t.origin, t.trajectory) for t in trials]
    assert len(runs) == len(set(runs)) == 6, "every planned run exactly once"
    jobs = [j for j in store2.jobs(search_id=search.id) if j.trial_id in {t.id for t in trials}]
    assert sorted(j.trial_id for j in jobs) == sorted(t.id for t in trials), "one job each"
    assert len(objective.by_split("test")) == 6, "no test run trained twice"
    r = search_report(store2, search.id)
    assert r["status"] == "complete" and r["report"]["complete"]
    kinds = [e.kind for e in store2.events(0, search_id=search.id, limit=10_000)]
    assert kinds.count("search_report") == 1 and kinds.count("report_queued") == 1


def test_report_status_before_and_when_disabled(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool, labels = demo_env["settings"], demo_env["pool"], demo_env["labels"]
    store = _store(tmp_path)
    search = create_search(
        store, _spec(pool.pool_id, 2, report={"enabled": False}), settings=settings
    )
    out = _run(store, settings, search.id, ItemObjective(labels))
    assert out["status"] == "disabled" and out["report"] is None
    assert not any(rep.is_report_origin(t.origin) for t in store.trials(search.id))
    # A spec stored before the report existed said `baselines`; it still reads.
    assert SearchSpec.parse({"pool": "p", "baselines": False}).report.enabled is False
    assert SearchSpec.parse({"pool": "p"}).to_json()["report"]["replicates"] == 2


def test_report_seeds_are_deterministic_and_avoid_the_search_seed() -> None:
    a = rep.training_seed(3, "report:best", 0, avoid=0)
    assert a == rep.training_seed(3, "report:best", 0, avoid=0)
    assert a != rep.training_seed(3, "report:best", 1, avoid=0)
    assert a != rep.training_seed(4, "report:best", 0, avoid=0)
    assert rep.training_seed(3, "report:best", 0, avoid=a) != a
    assert rep.draw_seed(3, 0) != rep.draw_seed(3, 1)


def test_build_report_keeps_what_succeeded_and_says_what_did_not() -> None:
    """Pure report building: one best run failed, one full run scored other test items."""
    spec = SearchSpec.parse({"pool": "p", "report": {"replicates": 2}})
    planned = [rep.ReportRun(a, r) for r in range(2) for a in ("best", "full", "random")]
    rng = np.random.default_rng(0)

    def run(arm: str, r: int, base: float, n: int = N_ITEMS, state: str = "complete") -> Any:
        items = {"demo": list(base + rng.normal(0, 0.02, n))} if state == "complete" else {}
        number = 10 + len(arm) * 3 + r
        return rep.RunOutcome(rep.ReportRun(arm, r), number, state, 100, 7 + r, items, "boom")

    outcomes = [
        run("best", 0, 0.6),
        run("best", 1, 0.6, state="failed"),
        run("full", 0, 0.4),
        run("full", 1, 0.4, n=N_ITEMS - 1),  # another test split: left out, with a note
        run("random", 0, 0.5),
        run("random", 1, 0.5),
    ]
    dev = [
        {"trial": 0, "score": 0.2, "item_scores": {}},
        {"trial": 1, "score": 0.9, "item_scores": {}},
    ]
    r = rep.build_report(
        spec, best=None, dev_runs=dev, planned=planned, skipped={}, outcomes=outcomes
    )
    arms = {a["key"]: a for a in r["arms"]}
    assert (arms["best"]["replicates"], arms["full"]["replicates"]) == (1, 1)
    assert "failed: boom" in arms["best"]["notes"][0]
    assert "differ" in arms["full"]["notes"][0]
    assert not r["complete"] and r["missing"] == []
    # Random draws differ in subset as well as seed, so they do not measure seed noise; no
    # other arm has 2 replicates left, so the seed variance is assumed, and says so.
    assert not r["seed_variance"]["measured"]
    comps = {c["key"]: c for c in r["comparisons"]}
    assert comps["best-full"]["verdict"] == "better" and comps["best-full"]["lo"] > 0
    assert r["dev"]["noise_se"] is None and r["flat_warning"] is None, "no item scores: no claim"
