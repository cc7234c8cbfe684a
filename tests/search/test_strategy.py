from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from autosel.errors import ConfigError
from autosel.recipes import Recipe, check_recipe
from autosel.search import GPStrategy, RandomStrategy, RecipeSpace, SearchKnobs, TrialResult, replay
from tests.search.conftest import run_search


def _ok(recipe, score):
    return TrialResult(recipe, score)


def test_knobs_validated():
    assert SearchKnobs(budget=25).warmup == 5
    assert SearchKnobs(budget=10).warmup == 3
    with pytest.raises(ValidationError):
        SearchKnobs(budget=5, n_warmup=6)
    with pytest.raises(ValidationError):
        SearchKnobs(edit_moves=("perturb", "perturb"))
    with pytest.raises(ValidationError):
        SearchKnobs(edit_moves=("teleport",))
    with pytest.raises(ValidationError):
        SearchKnobs(patience=0)


def test_trial_result_requires_reason_and_finite_score():
    r = Recipe.of(("exact_dedup", {}))
    with pytest.raises(ConfigError):
        TrialResult(r, None)
    with pytest.raises(ConfigError):
        TrialResult(r, float("nan"))
    with pytest.raises(ConfigError):
        TrialResult(r, None, status="failed")
    assert not TrialResult(r, None, status="failed", reason="OOM").ok


def test_same_seed_same_history_same_proposals(problem):
    def proposals():
        space = RecipeSpace(problem.pool, problem.signals, min_size=40)
        s = GPStrategy(space, SearchKnobs(budget=8, seed=7, n_candidates=64, n_sobol=64))
        _, asked = run_search(s, space, problem, 7)
        return [(c.recipe_hash, c.origin) for c in asked]

    a, b = proposals(), proposals()
    assert a == b
    assert any(o.startswith("edit:") for _, o in a)


def test_different_seed_differs(problem, space):
    # Sobol warmup (no default anchors): the scrambling depends on the seed.
    s1 = GPStrategy(space, SearchKnobs(budget=5, seed=1, n_sobol=64, default_seeds=False))
    s2 = GPStrategy(space, SearchKnobs(budget=5, seed=2, n_sobol=64, default_seeds=False))
    assert [c.recipe_hash for c in s1.ask([], [], 3)] != [c.recipe_hash for c in s2.ask([], [], 3)]


def test_default_anchors_drive_warmup_and_stay_candidates(problem, space):
    defaults = {r.recipe_hash for r in space.default_recipes()}
    assert len(defaults) == len(space.operators) + 1
    s = GPStrategy(space, SearchKnobs(budget=8, seed=0, n_candidates=32, n_random=4))
    first = s.ask([], [], 3)
    assert [c.origin for c in first] == ["warmup"] * 3
    assert all(c.recipe_hash in defaults for c in first)
    hist = [
        _ok(c.recipe, problem.evaluate(space.realize(c.recipe).indices, c.fingerprint))
        for c in first
    ]
    # after warmup the remaining defaults compete with edits in the GP ranking
    ranked = s.ask(hist, [], 8 - 3)
    assert {c.origin.split(":")[0] for c in ranked} <= {"edit", "default", "random", "reseed"}
    # user seeds replace the anchors: warmup probes then come from the Sobol set
    seeded = GPStrategy(
        space, SearchKnobs(budget=8, seed=0, n_sobol=64), seed_recipes=[Recipe.of()]
    )
    assert [c.origin for c in seeded.ask([], [], 3)] == ["baseline", "warmup", "warmup"]


def test_short_recipes_are_mostly_one_step(space):
    rng = np.random.default_rng(0)
    lengths = np.array([len(space.short_recipe(rng, 0.35).steps) for _ in range(400)])
    assert lengths.min() == 1 and lengths.max() <= space.max_steps
    assert 0.55 < np.mean(lengths == 1) < 0.75 and 0.15 < np.mean(lengths == 2) < 0.32


def test_encodings(problem, space):
    r = space.realize(Recipe.of(("hes_filter", {"fraction": 0.3}), ("exact_dedup", {})))
    state = space.encode(r, "state")
    assert np.array_equal(state, r.state) and len(state) == space.encoded_dim("state")
    ops = space.encode(r, "state+ops")
    assert len(ops) == space.encoded_dim("state+ops") and ops[: len(space.operators)].sum() == 2
    assert len(space.encode(r)) == space.feature_dim == space.encoded_dim("full")


def test_smaller_budget_is_a_prefix_of_a_larger_one(problem):
    # benchmarks/search.py reads budget-10 results from the budget-15 run: valid only if
    # the budget changes nothing but when the search stops (same number of warmup probes).
    def proposals(budget):
        space = RecipeSpace(problem.pool, problem.signals, min_size=40)
        knobs = SearchKnobs(budget=budget, seed=5, n_candidates=48, n_random=8, n_warmup=3)
        hist, _ = run_search(GPStrategy(space, knobs), space, problem, budget)
        return [t.recipe_hash for t in hist]

    assert proposals(8)[:6] == proposals(6)


def test_gp_runs_single_threaded_and_restores_threads():
    import torch

    from autosel.search import gp

    before = torch.get_num_threads()
    with gp._one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_proposals_valid_unique_and_respect_pending(problem, space):
    knobs = SearchKnobs(budget=12, seed=0, n_candidates=96, n_sobol=64)
    s = GPStrategy(space, knobs)
    history, asked = run_search(s, space, problem, 9, batch=3)
    fps = [c.fingerprint for c in asked]
    assert len(set(fps)) == len(fps)
    for c in asked:
        assert check_recipe(c.recipe, max_steps=knobs.max_steps) == []
        assert space.realize(c.recipe).feasible and c.size >= 40
    pending = s.ask(history, [], 2)
    more = s.ask(history, pending, 1)
    assert more and more[0].fingerprint not in {p.fingerprint for p in pending}
    assert more[0].fingerprint not in set(fps)
    assert all(c.acquisition is not None and c.std is not None for c in pending + more)
    # the budget counts pending jobs
    assert len(s.ask(history, pending + more, 5)) == knobs.budget - len(history) - 3


def test_seed_recipes_first_and_failures_not_fitted(problem, space):
    full, dedup = Recipe.of(), Recipe.of(("exact_dedup", {}))
    s = GPStrategy(
        space,
        SearchKnobs(budget=10, seed=0, n_sobol=64, n_candidates=64),
        seed_recipes=[full, dedup],
    )
    first = s.ask([], [], 3)
    assert [c.origin for c in first] == ["baseline", "baseline", "warmup"]
    assert first[0].recipe_hash == full.recipe_hash
    hist = [
        _ok(first[0].recipe, 0.2),
        TrialResult(first[1].recipe, None, status="failed", reason="CUDA OOM"),
        _ok(first[2].recipe, 0.1),
    ]
    nxt = s.ask(hist, [], 2)
    # the failed recipe is never proposed again, and nothing fitted it as a zero score
    assert all(c.fingerprint != first[1].fingerprint for c in nxt)
    assert all(np.isfinite(c.mean) for c in nxt if c.mean is not None)


def test_infeasible_never_proposed(problem):
    space = RecipeSpace(problem.pool, problem.signals, min_size=900)
    s = GPStrategy(space, SearchKnobs(budget=6, seed=0, n_sobol=64, n_candidates=64))
    _, asked = run_search(s, space, problem, 6)
    assert asked and all(c.size >= 900 for c in asked)


def test_reseed_exactly_after_patience():
    r = [Recipe.of(("random_sample", {"fraction": 0.1 * (i + 1)})) for i in range(9)]
    scores = [0.1, 0.3, 0.2, 0.5, 0.4, 0.4, 0.45, 0.1, 0.2]
    hist = [_ok(x, s) for x, s in zip(r, scores, strict=True)]
    # warmup 3: trial 3 improves, trials 4,5,6 stagnate -> reseed after index 6
    t = replay(hist[:6], warmup=3, patience=3)
    assert t.trajectory == 0 and t.since_improvement == 2
    t = replay(hist[:7], warmup=3, patience=3)
    assert t.reseeds == (6,) and t.start == 7 and t.since_improvement == 0
    failed = TrialResult(r[0], None, status="failed", reason="x")
    assert replay([*hist[:6], failed], warmup=3, patience=3).trajectory == 0


def test_gp_strategy_reseeds_in_ask(problem, space):
    s = GPStrategy(
        space, SearchKnobs(budget=20, seed=0, n_warmup=3, patience=2, n_sobol=64, n_candidates=64)
    )
    hist = []
    for c in s.ask([], [], 3):
        hist.append(_ok(c.recipe, 1.0 if not hist else 0.0))
    for _ in range(2):
        hist.append(_ok(s.ask(hist, [], 1)[0].recipe, 0.0))
    nxt = s.ask(hist, [], 1)[0]
    assert nxt.trajectory == 1


def test_beats_random_on_average(problem):
    found = {"gp": [], "random": []}
    for seed in range(3):
        for name, cls in (("gp", GPStrategy), ("random", RandomStrategy)):
            space = RecipeSpace(problem.pool, problem.signals, min_size=40)
            knobs = SearchKnobs(budget=10, seed=seed, n_candidates=128, n_sobol=128, fit_maxiter=40)
            hist, _ = run_search(cls(space, knobs), space, problem, 10)
            best = max(hist, key=lambda t: t.score)
            found[name].append(problem.utility(space.realize(best.recipe).indices))
    assert np.mean(found["gp"]) > np.mean(found["random"])  # true utility of the pick


def test_failed_gp_fit_falls_back_to_spread_and_says_so(problem, space, monkeypatch):
    """When the GP cannot be fitted, its prior would rank candidates arbitrarily: the
    strategy picks space-filling candidates instead (origin ``fallback:spread``, no
    prediction) and leaves a ``gp_fit_failed`` note naming the error for the scheduler."""
    import botorch.fit
    from botorch.exceptions.errors import ModelFittingError

    def broken_fit(*args, **kwargs):
        raise ModelFittingError("All attempts to fit the model have failed.")

    s = GPStrategy(space, SearchKnobs(budget=12, seed=0, n_sobol=64, n_candidates=64))
    history, _ = run_search(s, space, problem, 4)
    assert not s.notes  # a working fit leaves no note
    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", broken_fit)
    cands = s.ask(history, [], 2)
    assert len(cands) == 2 and {c.origin for c in cands} == {"fallback:spread"}
    assert all(c.mean is None and c.acquisition is None for c in cands)
    seen = {space.realize(t.recipe).fingerprint for t in history}
    assert not seen & {c.fingerprint for c in cands}
    (note,) = s.notes
    assert note["kind"] == "gp_fit_failed" and note["fallback"] == "spread"
    assert note["reason"].startswith("ModelFittingError: All attempts") and note["proposed"] == 2
