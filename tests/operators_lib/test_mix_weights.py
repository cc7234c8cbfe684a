"""``mix_weights``: a searched point of the source simplex, met exactly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ops"))
from doubles import synthetic  # noqa: E402

from autosel.ops import SubsetView, get_operator, param_space  # noqa: E402
from autosel.recipes import step_rng  # noqa: E402

N = 400
POOL, SIG = synthetic(N, seed=1, groups_of=4)  # sources chat, code, math
MIX = get_operator("mix_weights")


def run(params: dict, indices: np.ndarray | None = None):
    idx = np.arange(N, dtype=np.int64) if indices is None else indices
    view = SubsetView(idx, POOL, SIG, resolve_recipe=lambda h: idx)
    return MIX.apply(view, MIX.parse(params), step_rng(0, "2" * 64, 0))


def shares(rows: np.ndarray) -> np.ndarray:
    return np.bincount(POOL.source_codes[rows], minlength=3) / len(rows)


def test_even_weights_give_the_even_mix_as_large_as_the_smallest_source_allows() -> None:
    counts = np.bincount(POOL.source_codes, minlength=3)
    rows, stats = run({})
    assert np.allclose(shares(rows), 1 / 3, atol=0.01)
    assert len(rows) == 3 * counts.min()  # exact mix: the smallest source sets the size
    assert len(set(rows.tolist())) == len(rows) and stats.n_out == len(rows)


def test_skewed_weights_are_met_exactly_with_no_source_short() -> None:
    params = {"w0": 0.9, "w1": 0.2, "w2": 0.2, "fraction": 0.5}  # chat-heavy
    p = MIX.proportions(MIX.parse(params), 3)
    e = -np.log1p(-0.999 * np.array([0.9, 0.2, 0.2]))
    assert np.allclose(p, e / e.sum())
    rows, stats = run(params)
    counts = np.bincount(POOL.source_codes, minlength=3)
    want = min(int(np.ceil(0.5 * N)), int(np.floor(np.min(counts / p))))
    assert abs(len(rows) - want) <= 1
    assert np.allclose(shares(rows), p, atol=1.5 / len(rows) + 0.005)
    assert all("of" in note for note in stats.notes)


def test_a_zero_weight_drops_the_source_and_the_params_are_searchable() -> None:
    rows, _ = run({"w1": 0.0})  # sorted sources: chat, code, math -> code gets 0
    assert shares(rows)[1] == 0 and np.allclose(shares(rows)[[0, 2]], 0.5, atol=0.01)
    names = [d.name for d in param_space("mix_weights")]
    assert names == [f"w{i}" for i in range(8)] + ["fraction"]


def test_more_sources_than_slots_share_the_mean_weight() -> None:
    p = MIX.proportions(MIX.parse({"w0": 0.99}), 10)
    assert p.shape == (10,) and p.sum() == pytest.approx(1.0)
    assert p[0] > p[1] and np.allclose(p[8:], p[8]) and np.all(p[1:8] == p[1])
