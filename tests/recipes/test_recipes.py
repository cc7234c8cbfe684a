"""Recipe values, hashing, files, validation messages and realize()."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ops"))
from doubles import synthetic  # noqa: E402

from autosel.errors import ConfigError, InputError  # noqa: E402
from autosel.ops.view import PoolColumns, available_signals  # noqa: E402
from autosel.recipes import (  # noqa: E402
    BASE_FEATURES,
    Recipe,
    RecipeValidationError,
    check_recipe,
    dump_recipe,
    load_recipe,
    realize,
    step_rng,
    subset_fingerprint,
    validate_recipe,
)
from autosel.recipes.state import linear_quantiles  # noqa: E402

POOL, SIG = synthetic(500, seed=2, groups_of=2)
FIVE = Recipe.of(
    ("length_filter", {"low_q": 0.05}),
    ("hes_filter", {"fraction": 0.6}),
    ("minhash_dedup", {"keep": "highest_hes"}),
    ("source_mix", {"proportions": {"code": 2, "math": 1, "chat": 1}, "fraction": 0.8}),
    ("cap", {"max_samples": 150, "strategy": "stratified"}),
)


def test_hash_is_stable_and_normalised() -> None:
    a = Recipe.of(("hes_filter", {"fraction": 1}))
    b = Recipe.of(("hes_filter", {"fraction": 1.0, "mode": "top"}), name="other name")
    assert a.recipe_hash == b.recipe_hash
    assert a.canonical_json().startswith(
        '{"steps":[{"operator":"hes_filter","params":{"fraction":1.0,'
    )
    # Pinned: a change here silently invalidates every stored recipe identity.
    pinned = '{"steps":[{"operator":"random_sample","params":{"fraction":0.5,"n":null}}]}'
    rs = Recipe.of(("random_sample", {"fraction": 0.5}))
    assert rs.canonical_json() == pinned
    assert rs.recipe_hash == hashlib.sha256(pinned.encode()).hexdigest()
    assert Recipe.of(("hes_filter", {"fraction": 0.2})).recipe_hash != a.recipe_hash
    swapped = Recipe(steps=(FIVE.steps[1], FIVE.steps[0], *FIVE.steps[2:]))
    assert swapped.recipe_hash != FIVE.recipe_hash


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"r{suffix}"
    dump_recipe(FIVE.model_copy(update={"name": "five"}), path)
    back = load_recipe(path)
    assert back.recipe_hash == FIVE.recipe_hash and back.name == "five"


def test_bare_list_and_structure_errors(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("- operator: cap\n  params: {max_samples: 5}\n")
    assert load_recipe(p).steps[0].params == {"max_samples": 5}
    p.write_text("steps:\n  - operator: cap\n    parms: {}\n")
    with pytest.raises(InputError, match=r"r.yaml, field 'steps\[0\].parms': Extra inputs"):
        load_recipe(p)
    p.write_text("steps: [\n")
    with pytest.raises(InputError, match="r.yaml, line 2: invalid YAML"):
        load_recipe(p)


def test_validation_reports_every_issue_with_step_and_field() -> None:
    bad = Recipe.of(
        ("hes_filtr", {}),
        ("hes_filter", {"fraction": 2, "mode": "middle"}),
        ("length_filter", {"low_q": "x"}),
        ("ifd_filter", {}),
        ("union", {}),
        ("cap", {}),
    )
    names = [n for n in available_signals(SIG) if n != "ifd"]
    with pytest.raises(RecipeValidationError) as err:
        validate_recipe(bad, names)
    msg = str(err.value)
    assert "field 'steps': 6 steps; at most 5 are accepted" in msg
    assert (
        "steps[0] (hes_filtr), field 'operator': "
        "unknown operator 'hes_filtr'; known operators: cap," in msg
    )
    assert (
        "steps[1] (hes_filter), field 'params.fraction': Input should be less than or equal to 1"
        in msg
    )
    assert (
        "steps[1] (hes_filter), field 'params.mode': Input should be 'top', 'bottom' or 'threshold'"
        in msg
    )
    assert "steps[2] (length_filter), field 'params.low_q': Input should be a valid number" in msg
    assert (
        "steps[3] (ifd_filter), field 'signals': needs signal 'ifd', which the pool's signals lack"
        in msg
    )
    assert "steps[4] (union), field 'params.recipe_hash': union needs the recipe_hash" in msg
    assert [i.step for i in err.value.issues] == [None, 0, 1, 1, 2, 3, 4]
    assert isinstance(err.value, ConfigError) and err.value.exit_code == 2


def test_relevance_wildcard_and_ok_recipe() -> None:
    r = Recipe.of(("relevance_filter", {}))
    assert check_recipe(r, available_signals(SIG)) == []
    issues = check_recipe(r, ["hes"])
    assert issues and "needs signal 'relevance:*'" in issues[0].message


def test_union_cycles_are_rejected() -> None:
    b0 = Recipe.of(("hes_filter", {}))
    a = Recipe.of(("cap", {}), ("union", {"recipe_hash": b0.recipe_hash}))
    b = Recipe.of(("hes_filter", {}), ("union", {"recipe_hash": a.recipe_hash}))
    # a -> b0 is fine; now pretend b0's hash names b, which points back to a.
    issues = check_recipe(a, known_recipes={b0.recipe_hash: b, a.recipe_hash: a})
    assert any("union cycle" in i.message and i.step == 1 for i in issues)
    assert check_recipe(a, known_recipes={b0.recipe_hash: b0}) == []
    missing = check_recipe(a, known_recipes={})
    assert "no known recipe has hash" in missing[0].message


def test_realize_is_deterministic_and_seeded() -> None:
    r1 = realize(FIVE, POOL, SIG, seed=0, use_cache=False)
    r2 = realize(FIVE, POOL, SIG, seed=0, use_cache=False)
    r3 = realize(FIVE, POOL, SIG, seed=1, use_cache=False)
    assert np.array_equal(r1.indices, r2.indices) and r1.fingerprint == r2.fingerprint
    assert r1.fingerprint != r3.fingerprint
    assert len(r1) == 150 and r1.feasible and r1.reason is None
    assert [s.operator for s in r1.funnel] == [s.operator for s in FIVE.steps]
    assert [s.n_in for s in r1.funnel[1:]] == [s.n_out for s in r1.funnel[:-1]]
    assert r1.sample_ids == POOL.sample_ids[r1.indices].tolist()
    with pytest.raises(ValueError):
        r1.indices[0] = 1


def test_fingerprint_is_hash_of_sorted_ids() -> None:
    r = realize(FIVE, POOL, SIG, seed=0)
    expect = hashlib.sha256("\n".join(sorted(r.sample_ids)).encode()).hexdigest()
    assert r.fingerprint == expect


@pytest.mark.parametrize(
    "ids",
    [
        [f"s{i:04d}" for i in range(300)],  # already in id order, fixed width
        [f"id{(i * 7919) % 300}" for i in range(300)],  # shuffled, widths 3..5
        [f"é{(i * 31) % 300}\x00" if i % 50 == 0 else f"x{i}" for i in range(300)],  # NUL
        [],
    ],
    ids=["sorted", "shuffled", "nul", "empty"],
)
def test_subset_fingerprint_paths_match_the_definition(ids: list[str]) -> None:
    pool = PoolColumns.from_arrays(np.array(ids, dtype=object))
    rng = np.random.default_rng(0)
    for size in sorted({0, min(1, len(ids)), len(ids) // 3, len(ids)}):
        rows = np.sort(rng.choice(len(ids), size=size, replace=False)).astype(np.int64)
        expect = hashlib.sha256("\n".join(sorted(ids[i] for i in rows.tolist())).encode())
        assert subset_fingerprint(pool, rows) == expect.hexdigest()
        # unsorted rows and repeated rows name the same subset
        assert subset_fingerprint(pool, np.r_[rows[::-1], rows]) == expect.hexdigest()
    with pytest.raises(IndexError):
        subset_fingerprint(pool, np.array([len(ids)]))


def test_step_rng_is_the_seed_sequence_stream() -> None:
    for seed in (0, 7, 2**32 - 1, 2**32, 2**70 + 3):
        for h in ("0" * 64, "00000000" + "f" * 56, FIVE.recipe_hash):
            for step in (0, 4, 2**33):
                ss = np.random.SeedSequence([seed, int(h[:16], 16), step])
                expect = np.random.default_rng(ss).integers(0, 2**63, 8)
                assert step_rng(seed, h, step).integers(0, 2**63, 8).tolist() == expect.tolist()
    with pytest.raises(ValueError):
        step_rng(-1, FIVE.recipe_hash, 0)


def test_linear_quantiles_equal_numpy_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    qs = [0.0, 0.1, 0.25, 0.5, 0.9, 0.999, 1.0]
    for n in [1, 2, 3, 7, 10, 11, 100, 1001]:
        for x in (rng.gamma(2.0, 3.0, n), np.round(rng.normal(size=n), 1), np.full(n, 2.5)):
            got = linear_quantiles(np.sort(x), qs)
            assert [v.hex() for v in got] == [float(v).hex() for v in np.quantile(x, qs)]


def test_realize_cache_returns_the_same_object() -> None:
    a = realize(FIVE, POOL, SIG, seed=4)
    assert realize(FIVE, POOL, SIG, seed=4) is a
    assert realize(FIVE, POOL, SIG, seed=5) is not a


def test_state_vector() -> None:
    r = realize(FIVE, POOL, SIG, seed=0)
    names = r.state_names
    assert names[: len(BASE_FEATURES)] == list(BASE_FEATURES)
    assert names[len(BASE_FEATURES) :] == ["relevance:gsm8k", "relevance:mbpp"]
    vec = r.state_vector
    assert vec.shape == (len(names),) and np.isfinite(vec).all()
    s = r.state
    assert s["retain_ratio"] == pytest.approx(150 / 500)
    tok = SIG.columns["resp_tokens"]
    assert s["token_ratio"] == pytest.approx(tok[r.indices].sum() / tok.sum())
    assert s["hes_mean"] == pytest.approx(float(SIG.columns["hes"][r.indices].mean()), rel=1e-6)
    assert s["duplicate_rate"] == 0.0  # deduplicated at the reference level 0.8
    assert s["source_js_target"] < s["source_js_pool"]  # moved towards the 2:1:1 target
    full = realize(Recipe(), POOL, SIG)
    assert full.state["retain_ratio"] == 1.0 and full.state["source_js_pool"] == 0.0
    assert full.state["duplicate_rate"] > 0


def test_min_size_guard_marks_infeasible_with_the_step() -> None:
    ok = realize(FIVE, POOL, SIG, seed=0)
    after_dedup = ok.funnel[2].n_out
    r = realize(FIVE, POOL, SIG, seed=0, min_size=after_dedup + 1)
    assert not r.feasible
    assert (
        r.reason
        == f"steps[2] (minhash_dedup) left {after_dedup} samples, below min_size {after_dedup + 1}"
    )
    assert len(r.funnel) == 5  # the funnel is complete, not cut short
    empty = realize(Recipe.of(("hes_filter", {"mode": "threshold", "threshold": 1e9})), POOL, SIG)
    assert not empty.feasible and len(empty) == 0 and np.isfinite(empty.state_vector).all()


def test_union_through_a_resolver_and_runtime_cycle() -> None:
    small = Recipe.of(("hes_filter", {"fraction": 0.1}))
    other = Recipe.of(("hes_filter", {"fraction": 0.1, "mode": "bottom"}))
    u = Recipe.of(("hes_filter", {"fraction": 0.1}), ("union", {"recipe_hash": other.recipe_hash}))
    known = {other.recipe_hash: other}
    r = realize(u, POOL, SIG, recipe_resolver=known.__getitem__)
    expect = np.union1d(realize(small, POOL, SIG).indices, realize(other, POOL, SIG).indices)
    assert np.array_equal(r.indices, expect)
    loop = Recipe.of(("union", {"recipe_hash": "c" * 64}))
    with pytest.raises(ConfigError, match="steps.0. .union.: union cycle"):
        realize(loop, POOL, SIG, recipe_resolver=lambda h: loop, use_cache=False)
    with pytest.raises(ConfigError, match="no recipe_resolver"):
        realize(u, POOL, SIG, use_cache=False)


def test_realize_validates_against_the_signals() -> None:
    with pytest.raises(RecipeValidationError, match="needs signal 'ppl'"):
        sig = type(SIG)(
            {k: v for k, v in SIG.columns.items() if k != "ppl"},
            SIG.token_entropy,
            SIG.clusters,
            SIG.exact,
            key="no-ppl",
        )
        realize(Recipe.of(("perplexity_filter", {})), POOL, sig)


def test_realization_to_dict_is_json() -> None:
    d = realize(FIVE, POOL, SIG).to_dict()
    assert json.loads(json.dumps(d))["funnel"][0]["operator"] == "length_filter"
