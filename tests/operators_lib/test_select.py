"""The vectorised selection helpers against plain-Python references on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from operators._select import first_per_group, top_k_mask
from operators.mixing import source_positions


def _first_reference(groups: list[int]) -> list[bool]:
    seen: set[int] = set()
    out = []
    for g in groups:
        out.append(g not in seen)
        seen.add(g)
    return out


def _cluster_ids(labels: np.ndarray) -> np.ndarray:
    """Smallest row with the same label (the SignalSet convention)."""
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    return first[inv].astype(np.int64)


@pytest.mark.parametrize("kind", ["clusters", "arbitrary", "large"])
def test_first_per_group_keeps_the_earliest_member(kind: str) -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n_pool = int(rng.integers(1, 400))
        labels = rng.integers(0, max(1, n_pool // int(rng.integers(1, 6))), n_pool)
        pool_ids = {
            "clusters": _cluster_ids(labels),  # scatter-min path
            "arbitrary": labels.astype(np.int64),
            "large": labels.astype(np.int64) * 2**40,  # hash-like ids: the sort path
        }[kind]
        rows = np.sort(rng.choice(n_pool, size=int(rng.integers(0, n_pool + 1)), replace=False))
        groups = pool_ids[rows]
        assert first_per_group(groups).tolist() == _first_reference(groups.tolist())


def test_top_k_mask_keeps_the_earliest_ties_and_never_nan() -> None:
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(0, 60))
        x = rng.integers(0, 6, n).astype(np.float64)
        x[rng.random(n) < 0.15] = np.nan
        k = int(rng.integers(0, n + 2))
        for largest in (True, False):
            valid = [i for i in range(n) if not np.isnan(x[i])]
            order = sorted(valid, key=lambda i: (-x[i] if largest else x[i], i))
            expect = np.zeros(n, dtype=bool)
            expect[order[:k]] = True
            assert top_k_mask(x, k, largest=largest).tolist() == expect.tolist()


@pytest.mark.parametrize("k", [1, 4, 40])
def test_source_positions(k: int) -> None:
    codes = np.random.default_rng(2).integers(0, k, 1000).astype(np.int32)
    got = source_positions(codes, k)
    assert [p.tolist() for p in got] == [np.flatnonzero(codes == c).tolist() for c in range(k)]
