"""Statistics of the final report: seed variance, paired comparisons, flat objectives."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from autosel.evaluation.stats import (
    Arm,
    compare,
    flat_objective,
    item_noise_variance,
    noise_summary,
    pooled_seed_variance,
)


def _arm(name, items, weights=None, label=""):
    weights = weights or {b: 1.0 for b in items}
    return Arm(name, items, weights, label=label)


def _scores(rng, n, mean=0.5, reps=2, sd=0.2):
    """`reps x n` scores: a per-item difficulty shared by every replicate, plus a little noise."""
    base = rng.normal(mean, sd, size=n)
    return base[None, :] + rng.normal(0, 0.01, size=(reps, n))


def test_utility_is_weighted_mean_of_benchmark_means():
    arm = _arm(
        "a",
        {"x": np.array([[1.0, 0.0], [1.0, 1.0]]), "y": np.array([[0.2], [0.4]])},
        {"x": 3.0, "y": 1.0},
    )
    # x: replicate means 0.5, 1.0; y: 0.2, 0.4
    assert np.allclose(arm.replicate_utilities(), [(3 * 0.5 + 0.2) / 4, (3 * 1.0 + 0.4) / 4])
    assert arm.utility() == pytest.approx((3 * 0.75 + 0.3) / 4)
    assert arm.label == "a" and arm.replicates == 2 and arm.n_items == {"x": 2, "y": 1}


def test_identical_arms_are_not_distinguishable_with_zero_difference():
    rng = np.random.default_rng(0)
    items = {"b": _scores(rng, 200)}
    c = compare(_arm("best", items), _arm("full pool", items, label="the full pool"), seed_var=0.0)
    assert c.diff == 0 and c.se_items == 0 and c.se == 0
    assert c.verdict == "not distinguishable"
    assert c.sentence == (
        "best − full pool: +0.000 [95% CI +0.000, +0.000]: not distinguishable from the full pool"
    )


def test_large_shift_is_better_with_ci_above_zero_and_the_reverse_is_worse():
    rng = np.random.default_rng(1)
    base = _scores(rng, 300)
    noise = rng.normal(0, 0.05, size=base.shape)
    a = _arm("best", {"b": base + 0.1 + noise})
    b = _arm("random", {"b": base}, label="random subsets of the same size")
    c = compare(a, b, seed_var=1e-4)
    assert c.diff == pytest.approx(0.1 + noise.mean())
    assert 0 < c.lo < c.diff < c.hi and c.verdict == "better"
    assert c.lo == pytest.approx(c.diff - 1.96 * c.se, rel=1e-3)
    assert c.sentence.endswith(": better than random subsets of the same size")
    head = f"best − random: +{c.diff:.3f} [95% CI +{c.lo:.3f}, +{c.hi:.3f}]"
    assert c.sentence.startswith(head)
    r = compare(b, a, seed_var=1e-4)
    assert r.verdict == "worse" and r.hi < 0 and r.diff == pytest.approx(-c.diff)
    assert "worse than best" in r.sentence


def test_item_se_matches_the_analytic_paired_se_and_shrinks_with_more_items():
    def se_items(n):
        rng = np.random.default_rng(n)
        base = rng.normal(0.5, 0.2, size=(1, n))
        d = rng.normal(0.02, 0.1, size=(1, n))
        c = compare(_arm("a", {"b": base + d}), _arm("b", {"b": base}), seed_var=0.0, n_boot=4000)
        # the bootstrap SE of a mean is sd(ddof=0)/sqrt(n), within its own sampling error
        assert c.se_items == pytest.approx(d.std() / math.sqrt(n), rel=0.08)
        return c.hi - c.lo

    w100, w1600 = se_items(100), se_items(1600)
    assert w1600 < w100 / 3  # 16x the items: CI about 4x narrower


def test_seed_variance_adds_to_the_standard_error():
    rng = np.random.default_rng(2)
    base = _scores(rng, 150, reps=3)
    a, b = _arm("a", {"b": base + 0.01}), _arm("b", {"b": base[:2]})
    c0 = compare(a, b, seed_var=0.0, seed=4)
    c1 = compare(a, b, seed_var=0.003, seed=4)
    assert c0.se_seeds == 0 and c1.se_items == c0.se_items  # same bootstrap draws
    assert c1.se_seeds == pytest.approx(math.sqrt(0.003 / 3 + 0.003 / 2))
    assert c1.se == pytest.approx(math.hypot(c0.se_items, c1.se_seeds))
    assert c1.hi - c1.lo > c0.hi - c0.lo


def test_t_quantile_when_seed_dof_given_widens_a_seed_dominated_interval():
    rng = np.random.default_rng(3)
    base = _scores(rng, 400)
    a, b = _arm("a", {"b": base + 0.05}), _arm("b", {"b": base})
    normal = compare(a, b, seed_var=0.01)
    t = compare(a, b, seed_var=0.01, seed_dof=4)
    assert normal.dof is None and normal.crit == pytest.approx(1.96, abs=1e-3)
    # the seed part dominates, so the effective dof is close to 4 (t quantile 2.78)
    assert 4 <= t.dof < 5 and 2.6 < t.crit <= 2.78
    assert t.se == normal.se and t.hi - t.lo > normal.hi - normal.lo


def test_stratified_by_benchmark_gives_the_weighted_difference():
    rng = np.random.default_rng(4)
    small, large = _scores(rng, 30), _scores(rng, 500)
    w = {"small": 3.0, "large": 1.0}
    a = _arm("a", {"small": small + 0.2, "large": large + 0.04}, w)
    b = _arm("b", {"small": small, "large": large}, w)
    c = compare(a, b, seed_var=0.0)
    assert c.diff == pytest.approx((3 * 0.2 + 1 * 0.04) / 4)
    # a constant shift per benchmark: every resample gives the same difference
    assert c.se_items == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_resamples_within_each_benchmark():
    # Benchmark "x" has a difference of +1 on every item, "y" of -1. Stratified resampling
    # keeps each benchmark's share, so the difference never varies; an unstratified
    # resample of the pooled items would swing with the x/y mix.
    x, y = np.zeros((1, 20)), np.zeros((1, 60))
    a = _arm("a", {"x": x + 1, "y": y - 1})
    b = _arm("b", {"x": x, "y": y})
    c = compare(a, b, seed_var=0.0)
    assert c.diff == pytest.approx(0.0) and c.se_items == pytest.approx(0.0, abs=1e-12)


def test_compare_is_deterministic_for_a_seed():
    rng = np.random.default_rng(5)
    base = _scores(rng, 80)
    a, b = _arm("a", {"b": base + rng.normal(0, 0.1, size=base.shape)}), _arm("b", {"b": base})
    assert compare(a, b, seed_var=0.0, seed=9) == compare(a, b, seed_var=0.0, seed=9)
    assert (
        compare(a, b, seed_var=0.0, seed=9).se_items != compare(a, b, seed_var=0.0, seed=8).se_items
    )


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"b": np.zeros((1, 10)), "c": np.zeros((1, 5))}, "same benchmarks"),
        ({"b": np.zeros((1, 11))}, "same items"),
    ],
)
def test_mismatched_arms_are_an_error(other, message):
    a = _arm("best", {"b": np.zeros((2, 10))})
    with pytest.raises(ValueError, match=message):
        compare(a, _arm("full pool", other), seed_var=0.0)


def test_different_weights_are_an_error():
    items = {"x": np.zeros((1, 10)), "y": np.zeros((1, 10))}
    with pytest.raises(ValueError, match="weight the benchmarks alike"):
        compare(_arm("a", items, {"x": 1, "y": 1}), _arm("b", items, {"x": 2, "y": 1}), seed_var=0)
    # proportional weights are the same utility
    compare(_arm("a", items, {"x": 1, "y": 1}), _arm("b", items, {"x": 2, "y": 2}), seed_var=0)


def test_bad_arm_input_is_an_error():
    with pytest.raises(ValueError, match="same benchmarks"):
        Arm("a", {"x": np.zeros(3)}, {"y": 1.0})
    with pytest.raises(ValueError, match="different replicate counts"):
        Arm("a", {"x": np.zeros((2, 3)), "y": np.zeros((1, 3))}, {"x": 1, "y": 1})
    with pytest.raises(ValueError, match="non-finite"):
        Arm("a", {"x": np.array([0.1, np.nan])}, {"x": 1})
    with pytest.raises(ValueError, match="every weight is 0"):
        Arm("a", {"x": np.zeros(3)}, {"x": 0})
    with pytest.raises(ValueError, match="seed_var"):
        compare(_arm("a", {"x": np.zeros(3)}), _arm("b", {"x": np.zeros(3)}), seed_var=-1)


def test_arm_copies_the_callers_array():
    x = np.zeros((1, 4))
    arm = _arm("a", {"b": x})
    x[0, 0] = 1.0  # still writable, and the arm does not see it
    assert arm.utility() == 0.0


def test_pooled_seed_variance_by_hand():
    a = Arm("a", {"b": np.array([[0.1, 0.3], [0.5, 0.5], [0.2, 0.6]])}, {"b": 1})
    b = Arm("b", {"b": np.array([[0.0, 0.2], [0.4, 0.4]])}, {"b": 1})
    single = Arm("c", {"b": np.array([[0.9, 0.9]])}, {"b": 1})
    ua, ub = np.array([0.2, 0.5, 0.4]), np.array([0.1, 0.4])
    expected = (np.var(ua, ddof=1) * 2 + np.var(ub, ddof=1) * 1) / 3
    var, dof = pooled_seed_variance([a, b, single])
    assert dof == 3 and var == pytest.approx(expected)
    assert pooled_seed_variance([single]) == (0.0, 0)


def test_item_noise_variance_is_the_stratified_variance():
    x, y = [0.0, 1.0, 1.0, 0.0], [0.2, 0.4, 0.9]
    v = item_noise_variance({"x": x, "y": y, "z": [0.5]}, {"x": 3.0, "y": 1.0, "z": 0.0})
    expected = (0.75**2) * np.var(x, ddof=1) / 4 + (0.25**2) * np.var(y, ddof=1) / 3
    assert v == pytest.approx(expected)
    # the bootstrap of one evaluation agrees (up to (n-1)/n and its own sampling error)
    rng = np.random.default_rng(0)
    s = rng.normal(0.4, 0.3, size=500)
    c = compare(
        _arm("a", {"b": s[None]}),
        _arm("zero", {"b": np.zeros((1, 500))}),
        seed_var=0.0,
        n_boot=4000,
    )
    assert c.se_items == pytest.approx(math.sqrt(item_noise_variance({"b": s}, {"b": 1})), rel=0.08)


def test_item_noise_variance_bad_input():
    with pytest.raises(ValueError, match="no item scores for weighted"):
        item_noise_variance({"x": [0.1, 0.2]}, {"x": 1, "y": 1})
    with pytest.raises(ValueError, match="needs >= 2 items"):
        item_noise_variance({"x": [0.1]}, {"x": 1})
    with pytest.raises(ValueError, match="no weight"):
        item_noise_variance({"x": [0.1, 0.2], "q": [0.0, 1.0]}, {"x": 1})


def test_flat_objective_fires_on_a_constant_objective_and_not_on_a_separated_one():
    warning = flat_objective([0.331, 0.331, 0.331, 0.331], noise_se=0.035)
    assert warning is not None
    for words in (
        "Flat objective",
        "4 dev scores",
        "bigger eval profile",
        "more items",
        "more steps",
    ):
        assert words in warning
    # identical scores are flat even when the noise is unknown (0)
    assert flat_objective([0.2, 0.2], noise_se=0.0) is not None
    # within noise: spread 0.05 < 1.96 * sqrt(2) * 0.035 = 0.097
    assert flat_objective([0.30, 0.33, 0.35], noise_se=0.035) is not None
    # clearly separated: spread 0.4 >> 0.097
    assert flat_objective([0.1, 0.3, 0.5], noise_se=0.035) is None
    assert flat_objective([0.5], noise_se=0.035) is None  # nothing to compare
    with pytest.raises(ValueError, match="noise_se"):
        flat_objective([0.1, 0.2], noise_se=float("nan"))


def test_results_are_json_ready():
    rng = np.random.default_rng(6)
    base = _scores(rng, 50, reps=2)
    a, b = _arm("best", {"b": base + 0.3}), _arm("full pool", {"b": base}, label="the full pool")
    var, dof = pooled_seed_variance([a, b])
    c = compare(a, b, seed_var=var, seed_dof=dof)
    d = json.loads(json.dumps(c.to_dict()))
    assert d["verdict"] == "better" and d["b_label"] == "the full pool" and d["dof"] > 0
    s = json.loads(json.dumps(noise_summary([a, b], var, dof)))
    assert s["seed_dof"] == 2 and s["seed_measured"] is True
    assert s["seed_sd"] == pytest.approx(math.sqrt(var))
    assert s["arms"]["best"]["replicates"] == 2 and s["arms"]["best"]["items"] == {"b": 50}
    assert s["arms"]["full pool"]["item_se"] == pytest.approx(
        math.sqrt(item_noise_variance({"b": base.mean(axis=0)}, {"b": 1}))
    )
    unmeasured = noise_summary([a], 0.0, 0)
    assert unmeasured["seed_measured"] is False and "not measured" in unmeasured["method"]
    # a zero SE with a nonzero difference: z is infinite, serialised as null
    one = compare(_arm("a", {"b": np.ones(5)}), _arm("b", {"b": np.zeros(5)}), seed_var=0.0)
    assert one.z == math.inf and one.verdict == "better" and one.to_dict()["z"] is None
