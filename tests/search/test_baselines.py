"""The comparator strategies (``strategy: random | grid | tpe``): valid, fresh proposals,
pure functions of seed and history, and a spec field that refuses unknown names."""

from __future__ import annotations

import pytest

from autosel.errors import ConfigError
from autosel.ops import param_space
from autosel.recipes import Recipe
from autosel.scheduler.spec import SearchSpec
from autosel.search import SearchKnobs, TrialResult
from autosel.search.baselines import (
    STRATEGIES,
    GridStrategy,
    TPEStrategy,
    grid_levels,
    make_strategy,
)
from tests.search.conftest import run_search


def test_grid_levels_go_coarse_to_fine_without_repeats() -> None:
    it = grid_levels()
    first = [next(it) for _ in range(9)]
    assert first[:5] == [0.5, 0.1, 0.9, 0.3, 0.7]
    assert sorted(first[5:]) == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert len(set(first)) == 9


def test_grid_covers_every_operator_before_sweeping_any(problem, space) -> None:
    s = GridStrategy(space, SearchKnobs(budget=200, seed=0))
    ops = [op for op in space.operators if op != "union"]
    history, asked = run_search(s, space, problem, 1 + len(ops) + len(ops))
    assert {c.origin for c in asked} == {"grid"}
    steps = [space.steps_of(c.recipe) for c in asked]
    assert steps[0] == []  # the full pool first
    # then every operator alone; the sweeps only after each was tried
    first_seen = {}
    for i, st in enumerate(steps[1:], start=1):
        assert len(st) == 1
        first_seen.setdefault(st[0][0], i)
    tried = set(first_seen)
    assert tried <= set(ops) and len(tried) >= len(ops) - 2  # infeasible ones are skipped
    assert len({c.fingerprint for c in asked}) == len(asked)


def test_tpe_proposes_fresh_valid_recipes_and_replays_deterministically(problem, space) -> None:
    knobs = SearchKnobs(budget=14, seed=1)
    history, asked = run_search(TPEStrategy(space, knobs), space, problem, 14)
    assert len(history) == 14 and {c.origin for c in asked} == {"tpe"}
    assert len({c.fingerprint for c in asked}) == 14
    assert all(space.realize(c.recipe).feasible for c in asked)
    assert all(len(space.steps_of(c.recipe)) <= TPEStrategy.MAX_STEPS for c in asked)
    # no hidden state: a new object with the same history proposes the same next recipe
    a = TPEStrategy(space, knobs).ask(history[:10], [], 1)
    b = TPEStrategy(space, knobs).ask(history[:10], [], 1)
    assert [c.recipe_hash for c in a] == [c.recipe_hash for c in b]
    # a recipe with a param the space knows is replayed at its value
    values = TPEStrategy(space, knobs)._params_of(history[0].recipe)
    assert values is not None and values["n_steps"] == len(space.steps_of(history[0].recipe))


def test_tpe_reads_failed_and_foreign_trials_without_breaking(problem, space) -> None:
    s = TPEStrategy(space, SearchKnobs(budget=8, seed=0))
    first = s.ask([], [], 3)
    union = Recipe.of(("union", {"recipe_hash": first[0].recipe_hash}))  # not in TPE's space
    hist = [
        TrialResult(first[0].recipe, 0.3),
        TrialResult(first[1].recipe, None, status="failed", reason="OOM"),
        TrialResult(union, 0.9),
    ]
    nxt = s.ask(hist, [first[2].recipe], 2)
    assert len(nxt) == 2
    assert not {c.fingerprint for c in nxt} & {c.fingerprint for c in first}


def test_strategy_is_a_spec_field_and_unknown_names_are_refused(space) -> None:
    assert SearchSpec.parse({"pool": "p"}).strategy == "gp"
    assert SearchSpec.parse({"pool": "p", "strategy": "tpe"}).strategy == "tpe"
    with pytest.raises(ConfigError) as info:
        SearchSpec.parse({"pool": "p", "strategy": "bohb"})
    msg = str(info.value)
    assert "strategy" in msg and all(name in msg for name in STRATEGIES), msg
    for name in STRATEGIES:
        assert type(make_strategy(name, space, SearchKnobs())).__name__.lower().startswith(
            {"gp": "gp", "random": "random", "grid": "grid", "tpe": "tpe"}[name]
        )
    with pytest.raises(ConfigError, match="accepted gp, random, grid, tpe"):
        make_strategy("bohb", space, SearchKnobs())


def test_every_searchable_param_has_a_tpe_distribution(space) -> None:
    s = TPEStrategy(space, SearchKnobs())
    for op in s.ops:
        dists = s._distributions([(op, {})])
        assert all(f"op0.{op}.{d.name}" in dists for d in param_space(op))
