"""The selectors people compare against, each on a tiny pool whose answer is known by hand."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ops"))
from doubles import ArraySignals  # noqa: E402

import operators.diversity as div  # noqa: E402
from autosel.errors import ConfigError  # noqa: E402
from autosel.ops import PoolColumns, SubsetView, get_operator, list_operators  # noqa: E402
from autosel.ops.space import param_space  # noqa: E402
from autosel.ops.view import available_signals  # noqa: E402
from autosel.recipes import Recipe, check_recipe, step_rng  # noqa: E402

NEW = (
    "longest_filter",
    "intermediate_difficulty",
    "k_center_greedy",
    "cluster_balanced",
    "quality_diversity",
)


def run(name: str, columns: dict, vectors: np.ndarray | None = None, seed: int = 0, **params):
    n = len(next(iter(columns.values())))
    pool = PoolColumns.from_arrays([f"r{i:03d}" for i in range(n)])
    sig = ArraySignals(dict(columns), vectors=vectors)
    view = SubsetView(np.arange(n, dtype=np.int64), pool, sig)
    cls = get_operator(name)
    return cls.apply(view, cls.parse(params), step_rng(seed, "2" * 64, 0))


def directions(*degrees: float) -> np.ndarray:
    """Unit vectors in the plane at the given angles, with their scale varied (the
    selectors compare directions, so scale must not matter)."""
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    scale = 1.0 + np.arange(len(a)) % 3
    return (np.stack([np.cos(a), np.sin(a)], axis=1) * scale[:, None]).astype(np.float32)


def test_registered_searchable_and_catalogued() -> None:
    for name in NEW:
        assert name in list_operators()
        dims = {d.name: d for d in param_space(name)}
        assert dims, f"{name} has no searchable params"
        doc = get_operator(name).__doc__ or ""
        assert any(year in doc for year in ("2018", "2023", "2024", "2025", "2026")), name
    assert [d.name for d in param_space("cluster_balanced")] == ["fraction", "n_clusters"]
    assert [d.name for d in param_space("quality_diversity")] == [
        "fraction",
        "score",
        "largest",
        "max_similarity",
    ]


def test_embedding_selectors_need_embeddings() -> None:
    cols = {"resp_tokens": np.array([3, 4], dtype=np.int32), "hes": np.array([1.0, 2.0])}
    without = ArraySignals(dict(cols))
    assert "embeddings" not in available_signals(without)
    with_ = ArraySignals(dict(cols), vectors=np.eye(2, dtype=np.float32))
    assert "embeddings" in available_signals(with_)
    for name in ("k_center_greedy", "cluster_balanced", "quality_diversity"):
        issues = check_recipe(Recipe.of((name, {})), available_signals(without))
        assert issues and "embeddings" in issues[0].message
        assert check_recipe(Recipe.of((name, {})), available_signals(with_)) == []


def test_longest_filter_keeps_the_longest_fraction() -> None:
    toks = np.array([5, 50, 10, 40, 30, 40, 1, 2, 3, 4], dtype=np.int32)
    rows, stats = run("longest_filter", {"resp_tokens": toks}, fraction=0.3)
    assert rows.tolist() == [1, 3, 5]  # 50, 40, 40
    rows, _ = run("longest_filter", {"resp_tokens": toks}, fraction=0.2)
    assert rows.tolist() == [1, 3]  # the tie at 40 goes to the earlier row
    assert stats.reasons == {"shorter than the longest 0.3": 7}
    assert get_operator("longest_filter").Params().fraction == 0.2


def test_intermediate_difficulty_keeps_the_middle_half() -> None:
    # Thirteen known difficulties k/12 (quantiles 0.25 and 0.75 land exactly on 3/12 and
    # 9/12) and one unknown: 3 too easy, 3 too hard, 7 in the band plus the unknown kept.
    ks = [6, 0, 12, 3, 9, 1, 11, 4, 8, 2, 10, 5, 7]
    d = np.array([k / 12 for k in ks[:5]] + [np.nan] + [k / 12 for k in ks[5:]])
    rows, stats = run("intermediate_difficulty", {"difficulty": d})
    expected = [i for i, v in enumerate(d) if np.isnan(v) or 3 <= round(v * 12) <= 9]
    assert rows.tolist() == expected and len(expected) == 8
    assert stats.reasons == {"too easy": 3, "too hard": 3}
    cls = get_operator("intermediate_difficulty")
    assert (cls.Params().low_q, cls.Params().high_q) == (0.25, 0.75)
    with pytest.raises(ValueError):
        cls.parse({"low_q": 0.05})  # outside the named band's bounds


def test_k_center_picks_one_per_direction_group() -> None:
    # Three groups of four directions, 120 degrees apart, each within 4 degrees.
    angles = [a + j for a in (0, 120, 240) for j in (0, 1, 2, 3)]
    rows, stats = run(
        "k_center_greedy", {"x": np.zeros(12)}, directions(*angles), fraction=0.25, centre=False
    )
    assert sorted(r // 4 for r in rows) == [0, 1, 2]
    assert stats.reasons == {"not among 3 k-center picks": 9}


def test_k_center_order_is_farthest_first() -> None:
    # On a half circle, from 0 degrees: 180 (farthest), then 90, then 50 (40 degrees from
    # its nearest pick, where 150 is 30 and 10 is 10).
    x = div.unit_rows(directions(0, 50, 90, 150, 180, 10))
    assert div.k_center_order(x, 4, first=0).tolist() == [0, 4, 2, 1]
    rng = np.random.default_rng(3)
    y = div.unit_rows(rng.normal(size=(60, 5)).astype(np.float32))
    assert div.k_center_order(y, 12, first=7).tolist() == _k_center_reference(y, 12, 7)


def _k_center_reference(x: np.ndarray, k: int, first: int) -> list[int]:
    """Textbook k-center greedy with Euclidean distances, one row at a time."""
    picked = [first]
    while len(picked) < k:
        dist = [min(math.dist(x[i], x[c]) for c in picked) for i in range(len(x))]
        picked.append(max(range(len(x)), key=lambda i: (dist[i], -i)))
    return picked


def test_cluster_balanced_gives_each_cluster_an_equal_share() -> None:
    # Groups of 10, 5 and 2 rows far apart; 12 rows to keep: 5, 5 and all 2.
    angles = [0 + j for j in range(10)] + [120 + j for j in range(5)] + [240, 241]
    groups = np.array([0] * 10 + [1] * 5 + [2] * 2)
    for seed in range(4):
        rows, stats = run(
            "cluster_balanced",
            {"x": np.zeros(17)},
            directions(*angles),
            seed=seed,
            fraction=12 / 17,
            n_clusters=3,
            centre=False,
        )
        assert np.bincount(groups[rows], minlength=3).tolist() == [5, 5, 2]
        assert stats.dropped == 5
    again, _ = run(
        "cluster_balanced",
        {"x": np.zeros(17)},
        directions(*angles),
        seed=3,
        fraction=12 / 17,
        n_clusters=3,
        centre=False,
    )
    assert np.array_equal(rows, again)


def test_equal_shares_water_fills() -> None:
    assert div.equal_shares(np.array([10, 5, 2]), 12).tolist() == [5, 5, 2]
    assert div.equal_shares(np.array([10, 5, 2]), 11).tolist() == [5, 4, 2]  # lower id first
    assert div.equal_shares(np.array([1, 1, 9]), 9).tolist() == [1, 1, 7]
    assert div.equal_shares(np.array([3, 3]), 100).tolist() == [3, 3]
    assert div.equal_shares(np.array([4, 4, 4]), 0).tolist() == [0, 0, 0]


def test_quality_diversity_skips_near_copies_of_better_rows() -> None:
    # a (best), a' (5 degrees from a: cos 0.996), b (90), c (b + 20: cos 0.94), d (200).
    x = directions(0, 5, 90, 110, 200)
    hes = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    rows, stats = run("quality_diversity", {"hes": hes}, x, fraction=0.6, centre=False)
    assert rows.tolist() == [0, 2, 4]
    assert stats.reasons == {"cosine > 0.9 to a better-scored kept row": 2}
    rows, stats = run("quality_diversity", {"hes": hes}, x, fraction=0.4, centre=False)
    assert rows.tolist() == [0, 2]  # budget full before c and d are walked
    assert stats.reasons == {
        "cosine > 0.9 to a better-scored kept row": 1,
        "outside the budget of 2": 2,
    }
    # A looser threshold keeps c (cos 0.94 <= 0.95); the lowest scores first keeps d first.
    rows, _ = run(
        "quality_diversity", {"hes": hes}, x, fraction=0.6, max_similarity=0.95, centre=False
    )
    assert rows.tolist() == [0, 2, 3]
    rows, _ = run(
        "quality_diversity",
        {"nll_mean": hes},
        x,
        fraction=0.4,
        score="nll_mean",
        largest=False,
        centre=False,
    )
    assert rows.tolist() == [3, 4]


def test_centring_removes_a_shared_component() -> None:
    # Six distinct directions riding on one large common offset, as raw mean-pooled hidden
    # states do: uncentred every pair has cosine > 0.9, so quality_diversity keeps only the
    # best row; centred (the default) the directions are apart again and the budget fills.
    rng = np.random.default_rng(4)
    x = (np.full((6, 8), 10.0) + 2.0 * rng.normal(size=(6, 8))).astype(np.float32)
    u = div.unit_rows(x)
    assert (u @ u.T).min() > 0.9
    hes = np.arange(6.0)[::-1].copy()
    rows, _ = run("quality_diversity", {"hes": hes}, x, fraction=0.5, centre=False)
    assert rows.tolist() == [0]
    rows, _ = run("quality_diversity", {"hes": hes}, x, fraction=0.5)
    assert rows.tolist() == [0, 1, 2]
    # k-center and cluster_balanced see the same centred geometry.
    c = div.unit_rows(x, x.mean(axis=0))
    assert (c @ c.T)[~np.eye(6, dtype=bool)].max() < 0.9
    assert div.assign_clusters(x, c[:2], x.mean(axis=0)).tolist()[:2] == [0, 1]


@pytest.mark.parametrize(("block", "tau"), [(7, 0.8), (50, 0.5), (50, 0.95)])
def test_quality_diversity_blocks_match_a_sequential_walk(
    monkeypatch: pytest.MonkeyPatch, block: int, tau: float
) -> None:
    rng = np.random.default_rng(0)
    x = div.unit_rows(rng.normal(size=(300, 3)).astype(np.float32))
    order = rng.permutation(300)
    # Many blocks; clashes within and across them, and chains (a row clashing only with
    # an earlier row of its block that was itself skipped must be kept).
    monkeypatch.setattr(div, "QD_BLOCK", block)
    kept, walked = div.diverse_by_score(x, order, 40, tau)
    ref: list[int] = []
    for i in order:
        if len(ref) == 40:
            break
        if all(float(x[i] @ x[j]) <= tau for j in ref):
            ref.append(int(i))
    assert kept.tolist() == ref
    assert walked == order.tolist().index(ref[-1]) + 1 if len(ref) == 40 else walked == 300


def test_greedy_selectors_refuse_work_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(div, "KCENTER_MAX_WORK", 10.0)
    monkeypatch.setattr(div, "QD_MAX_WORK", 10.0)
    x = directions(*range(0, 200, 10))
    with pytest.raises(ConfigError, match="k_center_greedy.*over the limit"):
        run("k_center_greedy", {"x": np.zeros(20)}, x, fraction=0.5)
    with pytest.raises(ConfigError, match="quality_diversity.*over the limit"):
        run("quality_diversity", {"hes": np.arange(20.0)}, x, fraction=0.5)
