"""What each operator keeps, checked against independent (row-by-row or sort-based) references."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

sys.path.append(str(Path(__file__).resolve().parents[1] / "ops"))
from doubles import synthetic  # noqa: E402

from autosel.errors import ConfigError  # noqa: E402
from autosel.ops import SubsetView, get_operator  # noqa: E402
from autosel.recipes import step_rng  # noqa: E402

N = 400
POOL, SIG = synthetic(N, seed=1, groups_of=4)


def run(name: str, params: dict | None = None, indices: np.ndarray | None = None, seed: int = 0):
    cls = get_operator(name)
    idx = np.arange(N, dtype=np.int64) if indices is None else indices
    view = SubsetView(idx, POOL, SIG, resolve_recipe=lambda h: np.arange(0, N, 10))
    return cls.apply(view, cls.parse(params or {}), step_rng(seed, "1" * 64, 0))


def top_rows(values: np.ndarray, k: int, largest: bool = True) -> np.ndarray:
    order = sorted(range(len(values)), key=lambda i: (-values[i] if largest else values[i], i))
    return np.sort(np.array(order[:k]))


@pytest.mark.parametrize("mode", ["top", "bottom"])
def test_hes_filter_fraction(mode: str) -> None:
    rows, stats = run("hes_filter", {"fraction": 0.2, "mode": mode})
    hes = SIG.hes(0.005).astype(np.float64)
    assert np.array_equal(rows, top_rows(hes, 80, largest=mode == "top"))
    assert stats.reasons == {f"hes outside {mode} 0.2": 320}


def test_hes_filter_threshold_other_p_and_absolute() -> None:
    rows, _ = run("hes_filter", {"mode": "threshold", "threshold": 6.0})
    assert np.array_equal(rows, np.flatnonzero(SIG.hes(0.005) > 6.0))
    cls = get_operator("hes_filter")
    assert cls.required_signals(cls.Params(p=0.05)) == ("token_entropy",)
    rows_p, _ = run("hes_filter", {"fraction": 0.3, "p": 0.05})
    assert np.array_equal(rows_p, top_rows(SIG.hes(0.05), 120))
    assert not np.array_equal(rows_p, run("hes_filter", {"fraction": 0.3})[0])
    rows_abs, _ = run("hes_filter", {"score": "hes_abs", "tau": 2.0, "fraction": 0.5})
    assert np.array_equal(rows_abs, top_rows(SIG.hes_abs(2.0), 200))


@pytest.mark.parametrize("metric", ["entropy_mean", "entropy_sum", "varentropy_mean"])
def test_entropy_filter_metrics(metric: str) -> None:
    rows, _ = run("entropy_filter", {"metric": metric, "mode": "bottom", "fraction": 0.25})
    assert np.array_equal(rows, top_rows(SIG.columns[metric], 100, largest=False))
    assert get_operator("entropy_filter").required_signals(
        get_operator("entropy_filter").Params(metric=metric)
    ) == (metric,)


def test_perplexity_filter_band() -> None:
    rows, stats = run("perplexity_filter", {"low_q": 0.1, "high_q": 0.8})
    ppl = SIG.columns["ppl"].astype(np.float64)
    lo, hi = np.quantile(ppl, [0.1, 0.8])
    assert np.array_equal(rows, np.flatnonzero((ppl >= lo) & (ppl <= hi)))
    assert set(stats.reasons) == {"ppl below q0.1", "ppl above q0.8"}


def test_ifd_filter_excludes_above_one_by_default() -> None:
    ifd = SIG.columns["ifd"]
    rows, stats = run("ifd_filter", {"fraction": 1.0})
    assert np.array_equal(rows, np.flatnonzero(ifd <= 1.0))
    assert stats.reasons == {"ifd > 1": int((ifd > 1).sum())}
    rows2, _ = run("ifd_filter", {"fraction": 0.5, "exclude_above_one": False})
    assert (ifd[rows2] > 1).any() and len(rows2) == 200


def test_length_filter_absolute_and_quantiles() -> None:
    tok = SIG.columns["resp_tokens"]
    rows, stats = run("length_filter", {"min_tokens": 50, "max_tokens": 300})
    assert np.array_equal(rows, np.flatnonzero((tok >= 50) & (tok <= 300)))
    assert stats.reasons == {
        "< 50 tokens": int((tok < 50).sum()),
        "> 300 tokens": int((tok > 300).sum()),
    }
    rows_q, _ = run("length_filter", {"low_q": 0.25, "high_q": 0.75})
    lo, hi = np.quantile(tok, [0.25, 0.75])
    assert np.array_equal(rows_q, np.flatnonzero((tok >= lo) & (tok <= hi)))
    with pytest.raises(ValidationError, match="max_tokens .10. must be >= min_tokens .20."):
        get_operator("length_filter").parse({"min_tokens": 20, "max_tokens": 10})


def test_difficulty_filter_band_and_unknown() -> None:
    d = SIG.columns["difficulty"].copy()
    rows, stats = run("difficulty_filter", {"low_q": 0.2, "high_q": 0.7})
    lo, hi = np.quantile(d, [0.2, 0.7])
    assert np.array_equal(rows, np.flatnonzero((d >= lo) & (d <= hi)))
    assert stats.reasons["too easy"] == int((d < lo).sum()) and stats.reasons["too hard"] == int(
        (d > hi).sum()
    )
    SIG.columns["difficulty"] = np.where(np.arange(N) < 10, np.nan, d)
    try:
        kept, _ = run("difficulty_filter", {"low_q": 0.0, "high_q": 1.0})
        dropped, s2 = run("difficulty_filter", {"low_q": 0.0, "high_q": 1.0, "keep_unknown": False})
    finally:
        SIG.columns["difficulty"] = d
    assert len(kept) == N and len(dropped) == N - 10 and s2.reasons == {"unknown difficulty": 10}


def test_relevance_filter_one_or_all_benchmarks() -> None:
    rows, _ = run("relevance_filter", {"benchmark": "mbpp", "fraction": 0.1})
    assert np.array_equal(rows, top_rows(SIG.columns["relevance:mbpp"], 40))
    both = np.maximum(SIG.columns["relevance:mbpp"], SIG.columns["relevance:gsm8k"])
    rows_all, _ = run("relevance_filter", {"fraction": 0.1})
    assert np.array_equal(rows_all, top_rows(both, 40))
    cls = get_operator("relevance_filter")
    assert cls.required_signals(cls.Params(benchmark="mbpp")) == ("relevance:mbpp",)


@pytest.mark.parametrize("keep", ["first", "highest_hes", "longest", "random"])
def test_minhash_dedup_keeps_one_member_per_cluster(keep: str) -> None:
    clusters = SIG.minhash_clusters(0.7)
    rows, stats = run("minhash_dedup", {"threshold": 0.7, "keep": keep})
    assert sorted(clusters[rows].tolist()) == sorted(set(clusters.tolist()))
    assert stats.dropped == N - len(set(clusters.tolist()))
    for c in set(clusters[rows].tolist()):
        members = np.flatnonzero(clusters == c)
        survivor = rows[clusters[rows] == c][0]
        if keep == "first":
            assert survivor == members[0]
        elif keep == "highest_hes":
            assert SIG.columns["hes"][survivor] == SIG.columns["hes"][members].max()
        elif keep == "longest":
            assert SIG.columns["resp_tokens"][survivor] == SIG.columns["resp_tokens"][members].max()


def test_minhash_dedup_random_survivor_depends_on_seed_and_unknown_level_fails() -> None:
    picks = {
        tuple(run("minhash_dedup", {"threshold": 0.5, "keep": "random"}, seed=s)[0])
        for s in range(5)
    }
    assert len(picks) > 1
    with pytest.raises(
        ConfigError, match="MinHash threshold 0.85 is not precomputed; available: 0.5, 0.6"
    ):
        run("minhash_dedup", {"threshold": 0.85})


def test_dedup_within_subset_keeps_a_member_whose_first_is_absent() -> None:
    clusters = SIG.minhash_clusters(0.5)
    big = np.bincount(clusters).argmax()
    members = np.flatnonzero(clusters == big)
    assert len(members) >= 2
    subset = np.setdiff1d(np.arange(N), members[:1])
    rows, _ = run("minhash_dedup", {"threshold": 0.5}, indices=subset)
    assert members[1] in rows


def test_exact_dedup() -> None:
    groups = SIG.exact_groups()
    rows, stats = run("exact_dedup")
    assert len(rows) == len(set(groups.tolist())) and stats.reasons == {
        "exact duplicate": N - len(rows)
    }


def test_source_mix_proportions_and_shortfall() -> None:
    rows, stats = run("source_mix", {"proportions": {"code": 0.5, "math": 0.5}, "total": 100})
    src = np.array(POOL.source_names)[POOL.source_codes[rows]]
    assert (src == "code").sum() == 50 and (src == "math").sum() == 50 and stats.n_out == 100
    assert stats.reasons["source not in mix"] == int(
        (POOL.source_codes == POOL.source_names.index("chat")).sum()
    )
    n_code = int((POOL.source_codes == POOL.source_names.index("code")).sum())
    rows, stats = run(
        "source_mix", {"proportions": {"code": 0.9, "chat": 0.1}, "total": 2 * n_code}
    )
    assert stats.notes and stats.notes[0].startswith("source 'code' short by")
    with pytest.raises(ConfigError, match="unknown source.s. web; pool sources: chat, code, math"):
        run("source_mix", {"proportions": {"web": 1.0}})


def test_source_mix_default_is_a_stratified_fraction() -> None:
    rows, _ = run("source_mix", {"fraction": 0.5})
    before = np.bincount(POOL.source_codes) / N
    after = np.bincount(POOL.source_codes[rows], minlength=3) / len(rows)
    assert len(rows) == 200 and np.abs(before - after).max() < 0.01


@pytest.mark.parametrize("strategy", ["random", "stratified"])
def test_cap(strategy: str) -> None:
    rows, stats = run("cap", {"max_samples": 60, "strategy": strategy})
    assert len(rows) == 60 and stats.reasons == {"over cap 60": N - 60}
    assert len(run("cap", {"max_samples": 1000})[0]) == N


def test_per_prompt_topk() -> None:
    rows, stats = run("per_prompt_topk", {"k": 2})
    hes, groups, correct = SIG.columns["hes"], POOL.group_codes, POOL.correct
    assert (correct[rows] != 0).all()
    for g in np.unique(groups):
        members = [i for i in np.flatnonzero(groups == g) if correct[i] != 0]
        expected = sorted(sorted(members, key=lambda i: (-hes[i], i))[:2])
        assert sorted(rows[groups[rows] == g].tolist()) == expected
    assert stats.reasons["incorrect"] == int((correct == 0).sum())


def test_per_prompt_topk_global_variant() -> None:
    rows, _ = run("per_prompt_topk", {"k": 1, "scope": "global"})
    eligible = np.flatnonzero(POOL.correct != 0)
    n_prompts = len(np.unique(POOL.group_codes[eligible]))
    assert len(rows) == n_prompts
    assert SIG.columns["hes"][rows].min() >= np.sort(SIG.columns["hes"][eligible])[-n_prompts]


def test_union_adds_the_other_subset() -> None:
    rows, stats = run("union", {"recipe_hash": "b" * 64}, indices=np.arange(5, dtype=np.int64))
    assert np.array_equal(rows, np.union1d(np.arange(5), np.arange(0, N, 10)))
    assert stats.dropped == 0 and stats.n_out > stats.n_in


def test_random_sample_size_and_seed() -> None:
    a, _ = run("random_sample", {"fraction": 0.25}, seed=1)
    b, _ = run("random_sample", {"fraction": 0.25}, seed=2)
    assert len(a) == len(b) == 100 and not np.array_equal(a, b)
    assert len(run("random_sample", {"n": 7})[0]) == 7
