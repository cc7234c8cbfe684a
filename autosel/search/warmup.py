"""Warmup: a scrambled-Sobol candidate set and a greedy max-min choice of probes.

Sobol points spread over the *recipe* encoding, but two very different recipes can
realize almost the same subset (a loose filter after a strict one changes nothing). What
the GP needs to see early is spread in what was actually selected, so probes are chosen
by greedy max-min distance on the realized state vectors (retain ratio weighted up: subset
size is the strongest driver of SFT utility), starting from the points already evaluated
or pending so that later probes fill the gaps earlier ones left.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc


def sobol_points(dim: int, n: int, seed: int) -> np.ndarray:
    """A scrambled Sobol sequence in the unit cube.

    Args:
        dim: dimension `d`.
        n: number of points; rounded up to a power of two (Sobol balance properties).
        seed: scrambling seed.

    Returns:
        `n' x d` points (``n' >= n``, a power of two).
    """
    if dim < 1:
        return np.zeros((max(n, 1), 0))
    m = max(int(np.ceil(np.log2(max(n, 2)))), 1)
    engine = qmc.Sobol(d=dim, scramble=True, rng=np.random.default_rng(seed))
    return engine.random_base2(m)


def normalise_states(states: np.ndarray) -> np.ndarray:
    """Scale each column to ``[0, 1]`` over the rows given (constant columns become 0).

    Args:
        states: `n x s` state vectors.
    """
    states = np.asarray(states, dtype=np.float64)
    lo = states.min(axis=0)
    span = states.max(axis=0) - lo
    span[span <= 0] = 1.0
    return (states - lo) / span


def maxmin_select(
    points: np.ndarray,
    k: int,
    *,
    fixed: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> list[int]:
    """Greedy max-min design: repeatedly take the point farthest from everything chosen.

    Ties are broken by the lowest index, so the choice is deterministic.

    Args:
        points: `m x s` candidates (already normalised).
        k: how many to choose.
        fixed: `f x s` points already chosen (evaluated or pending).
        weights: `s` per-feature weights of the Euclidean distance.

    Returns:
        Indices into ``points``, in order of choice (at most ``min(k, m)``).
    """
    m = len(points)
    if m == 0 or k <= 0:
        return []
    w = np.ones(points.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    p = points * np.sqrt(w)
    dist = np.full(m, np.inf)
    if fixed is not None and len(fixed):
        f = np.asarray(fixed, dtype=np.float64) * np.sqrt(w)
        dist = np.min(((p[:, None, :] - f[None, :, :]) ** 2).sum(-1), axis=1)
    chosen: list[int] = []
    if not np.isfinite(dist).any():
        # Nothing fixed: start from the point closest to the centre of the cloud (a
        # "typical" subset), not from an extreme corner.
        first = int(np.argmin(((p - p.mean(axis=0)) ** 2).sum(-1)))
        chosen.append(first)
        dist = ((p - p[first]) ** 2).sum(-1)
    while len(chosen) < min(k, m):
        dist[chosen] = -1.0
        nxt = int(np.argmax(dist))
        if dist[nxt] < 0:
            break
        chosen.append(nxt)
        dist = np.minimum(dist, ((p - p[nxt]) ** 2).sum(-1))
    return chosen
