"""The synthetic families have the structure their docstrings claim (noise-free utility):
defect filter and quality selector both pay; two defect kinds interact; a needle pays only
in its band. Also: nothing the families score is a state-vector feature."""

from __future__ import annotations

import numpy as np
import pytest

import operators  # noqa: F401 - registers the built-in operators
from autosel.errors import ConfigError
from autosel.evaluation.synthetic import make_problem
from autosel.evaluation.synthetic_families import (
    FAMILIES,
    NEEDLE_P,
    make_family,
)
from autosel.recipes.state import state_vector
from autosel.search import RecipeSpace

N = 1500


def _space(name):
    prob = make_family(name, N, seed=0)
    return prob, RecipeSpace(
        prob.pool, prob.signals, min_size=100, target_mix=FAMILIES[name].target_mix
    )


def _u(prob, space, *steps):
    r = space.realize(space.make(list(steps)))
    assert r.feasible, (steps, r.reason)
    return prob.utility(r.indices)


DEFECT = ("ifd_filter", {"fraction": 1.0})
PPL = ("perplexity_filter", {"high_q": 0.85})


def test_unknown_family_is_refused_with_the_accepted_names() -> None:
    with pytest.raises(ConfigError, match="accepted state_aligned, hidden_quality"):
        make_family("nope")


def test_state_aligned_is_the_original_objective() -> None:
    a, b = make_family("state_aligned", 600, seed=2), make_problem(600, seed=2)
    idx = np.arange(0, 600, 3)
    assert a.utility(idx) == b.utility(idx) and a.noise == b.noise


def test_hidden_quality_needs_a_defect_filter_and_a_quality_selector() -> None:
    prob, space = _space("hidden_quality")
    full = _u(prob, space)
    defect_only = _u(prob, space, DEFECT)
    hes_only = _u(prob, space, ("hes_filter", {"fraction": 0.3}))
    both = _u(prob, space, DEFECT, ("hes_filter", {"fraction": 0.3}))
    assert defect_only > full + 0.15 and hes_only > full + 0.15
    assert both > max(defect_only, hes_only) + 3 * prob.noise
    # HES sees quality, not defects (defects are only likelier at low quality): its top
    # 30% keeps far more defects than the defect filter leaves
    d = prob.truth["defect"]
    top = space.realize(space.make([("hes_filter", {"fraction": 0.3})])).indices
    kept = space.realize(space.make([DEFECT])).indices
    assert d[top].mean() > 0.08 and d[top].mean() > 2 * d[kept].mean()


def test_two_defects_pay_only_when_both_kinds_are_removed() -> None:
    prob, space = _space("two_defects")
    full = _u(prob, space)
    ppl_only, ifd_only = _u(prob, space, PPL), _u(prob, space, DEFECT)
    both = _u(prob, space, PPL, DEFECT)
    # each alone: no more than a noise-scale gain; together: a large one
    assert ppl_only < full + 3 * prob.noise and ifd_only < full + 3 * prob.noise
    assert both > full + 0.2
    assert both == pytest.approx(_u(prob, space, DEFECT, PPL), abs=0.03)  # either order
    # no other operator at its defaults removes either kind
    for op in space.operators:
        if op not in ("perplexity_filter", "ifd_filter"):
            assert _u(prob, space, (op, {})) < full + 3 * prob.noise, op


def test_needle_peaks_in_its_band_and_is_flat_outside() -> None:
    prob, space = _space("needle")
    full = _u(prob, space)
    at = [_u(prob, space, ("hes_filter", {"p": NEEDLE_P, "fraction": f})) for f in (0.3, 0.5)]
    assert max(at) > full + 0.08
    # outside the band (log-distance > 0.45: correlation < 1e-3) HES top 50% is a random
    # half: utility = size term + sampling noise, never better than the full pool
    far = [0.001, 0.003, 0.005, 0.009, 0.013, 0.032, 0.05]
    outside = np.array([_u(prob, space, ("hes_filter", {"p": p, "fraction": 0.5})) for p in far])
    rand = _u(prob, space, ("random_sample", {"fraction": 0.5}))
    assert outside.max() < full
    assert np.abs(outside - rand).max() < 0.08  # 0.5 * mean quality of 750 rows: SE 0.018
    assert max(at) > outside.max() + 0.25
    # and no other operator at its defaults beats the full pool by more than noise
    for op in space.operators:
        assert _u(prob, space, (op, {})) < full + 3 * prob.noise, op


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "state_aligned"])
def test_new_families_score_nothing_the_state_vector_holds(name) -> None:
    """The utility is a function of hidden labels: replacing every state-visible column
    (HES at the default p, lengths, difficulty, relevance, clusters) by another draw leaves
    the utility of a fixed subset unchanged, while the state changes."""
    prob = make_family(name, N, seed=0)
    idx = np.sort(np.random.default_rng(0).choice(N, 700, replace=False))
    u = prob.utility(idx)
    before = state_vector(idx, prob.pool, prob.signals)
    for col in ("hes", "resp_tokens", "difficulty", "relevance:target", "entropy_sum"):
        prob.signals.columns[col] = np.random.default_rng(1).permutation(prob.signals.columns[col])
    assert prob.utility(idx) == u
    after = state_vector(idx, prob.pool, prob.signals)
    assert before["hes_mean"] != after["hes_mean"]
    assert before["length_mean"] != after["length_mean"]


@pytest.mark.parametrize("name", list(FAMILIES))
def test_evaluation_noise_is_seeded_by_fingerprint(name) -> None:
    prob = make_family(name, 400, seed=1)
    idx = np.arange(0, 400, 2)
    a, b = prob.evaluate(idx, "fp-a"), prob.evaluate(idx, "fp-a")
    assert a == b and a != prob.evaluate(idx, "fp-b")
    assert abs(a - prob.utility(idx)) < 5 * prob.noise


@pytest.mark.parametrize("strategy", ["random", "grid", "tpe"])
def test_comparators_smaller_budget_is_a_prefix_of_a_larger_one(strategy) -> None:
    """benchmarks/search.py reads budgets 10 and 15 from one run to 25: valid only if a
    comparator's proposals depend on the budget only through when it stops (the GP's
    case is tests/search/test_strategy.py)."""
    from autosel.search import SearchKnobs, TrialResult
    from autosel.search.baselines import make_strategy

    prob = make_family("two_defects", 600, seed=0)

    def proposals(budget):
        space = RecipeSpace(prob.pool, prob.signals, min_size=40)
        s = make_strategy(strategy, space, SearchKnobs(budget=budget, seed=5, n_warmup=3))
        hist = []
        while len(hist) < budget and (cands := s.ask(hist, [], 1)):
            r = space.realize(cands[0].recipe)
            hist.append(TrialResult(r.recipe, prob.evaluate(r.indices, r.fingerprint)))
        return [t.recipe_hash for t in hist]

    assert proposals(8)[:6] == proposals(6)
