"""Vectorised selection helpers shared by the operators (no Python loop over rows)."""

from __future__ import annotations

import math

import numpy as np


def count_for(fraction: float, n: int) -> int:
    """How many of ``n`` rows a fraction keeps: ``ceil(fraction * n)`` (noise-tolerant)."""
    return min(n, max(0, math.ceil(fraction * n - 1e-9)))


def top_k_mask(values: np.ndarray, k: int, *, largest: bool = True) -> np.ndarray:
    """Keep-mask of the ``k`` largest (or smallest) values; NaN never kept.

    Ties at the cut are broken by position (earlier rows first), so the result is
    deterministic and independent of the partition algorithm. O(n), via ``np.partition``.
    """
    x = np.asarray(values)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    n = len(x)
    # max propagates NaN: one reduction, no mask, for the usual column without NaN
    nan = np.isnan(x) if n and np.isnan(x.max()) else None
    n_nan = int(np.count_nonzero(nan)) if nan is not None else 0
    k = min(k, n - n_nan)
    if k <= 0:
        return np.zeros(n, dtype=bool)
    if nan is not None:  # NaN must lose on both sides; partition sorts it last
        x = np.where(nan, -np.inf if largest else np.inf, x)
    # partition sorts ascending: the k-th largest sits at n - k, the k-th smallest at k - 1.
    cut = n - k if largest else k - 1
    part = x.copy()
    part.partition(cut)
    kth = part[cut]
    mask = x >= kth if largest else x <= kth
    extra = int(np.count_nonzero(mask)) - k
    if extra > 0:  # ties at the cut: the earliest tied rows stay, the last `extra` go
        mask[(x == kth).nonzero()[0][-extra:]] = False
    return mask


def fraction_mask(values: np.ndarray, fraction: float, *, largest: bool = True) -> np.ndarray:
    """Keep-mask of the top (``largest``) or bottom ``fraction`` of the values."""
    return top_k_mask(values, count_for(fraction, len(values)), largest=largest)


def band_masks(values: np.ndarray, low_q: float, high_q: float) -> tuple[np.ndarray, np.ndarray]:
    """Masks of rows strictly below the ``low_q`` quantile and strictly above ``high_q``.

    Quantiles are taken over the non-NaN values of the current subset; NaN rows are
    in neither mask (callers decide what unknown values mean).
    """
    below = np.zeros(len(values), dtype=bool)
    above = np.zeros(len(values), dtype=bool)
    if low_q <= 0 and high_q >= 1:  # the full band: nothing to compute
        return below, above
    x = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(x)
    if not finite.any():
        return below, above
    lo, hi = np.quantile(x[finite], [low_q, high_q])
    if low_q > 0:
        below = finite & (x < lo)
    if high_q < 1:
        above = finite & (x > hi)
    return below, above


def first_per_group(groups: np.ndarray, priority: np.ndarray | None = None) -> np.ndarray:
    """Keep-mask of one member per group: the highest ``priority``, ties to the earliest row.

    Args:
        groups: group id per row (`n`).
        priority: score per row (`n`), larger wins; ``None`` keeps the earliest row.

    Returns:
        Bool mask (`n`) with exactly one True per distinct group.
    """
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if priority is None and groups.min() >= 0 and groups.max() < max(8 * n, 1 << 20):
        # Earliest member: a scatter-min over group ids (small non-negative ints, e.g.
        # pool rows), no sort. Arbitrary ids (hashes) take the sort path below. int32
        # positions when they fit: the scatter then runs about twice as fast.
        small = np.int32 if n < 2**31 else np.int64
        pos = np.arange(n, dtype=small)
        first = np.empty(int(groups.max()) + 1, dtype=small)
        first.fill(n)
        np.minimum.at(first, groups, pos)
        return first.take(groups, mode="clip") == pos  # groups <= max: no bounds check
    pos = np.arange(n, dtype=np.int64)
    if priority is None:
        order = np.argsort(groups, kind="stable")
    else:
        pr = np.nan_to_num(np.asarray(priority, dtype=np.float64), nan=-np.inf)
        order = np.lexsort((pos, -pr, groups))
    g = groups[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = g[1:] != g[:-1]
    mask = np.zeros(n, dtype=bool)
    mask[order[starts]] = True
    return mask


def largest_remainder(weights: np.ndarray, total: int) -> np.ndarray:
    """Integer quotas summing to ``total`` proportional to ``weights`` (Hamilton's method).

    Remainder ties go to the earlier entry, so the allocation is deterministic.
    """
    w = np.asarray(weights, dtype=np.float64)
    if total <= 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = total - int(base.sum())
    if rest > 0:
        order = np.lexsort((np.arange(len(w)), -(exact - base)))
        base[order[:rest]] += 1
    return base
