"""Per-sample scores derived from ragged per-token arrays, without the model.

A ragged column is ``(values, offsets)``: sample ``i`` owns ``values[offsets[i]:offsets[i+1]]``
(``offsets`` has length ``n + 1``). Everything here is vectorised over all samples at once
and computed in float64 whatever the storage dtype (float32 on disk; float16 before signal version 2).

Empty samples (no response tokens) get 0 for sums and means, and ``ppl`` 1.0.
"""

from __future__ import annotations

import math

import numpy as np

from autosel.errors import ConfigError


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """Row index of every value: ``[0, 0, 1, 2, 2, 2]`` for offsets ``[0, 2, 3, 6]``."""
    lengths = np.diff(offsets)
    return np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)


def segment_sum(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-sample sum (float64)."""
    n = len(offsets) - 1
    return np.bincount(
        segment_ids(offsets), weights=np.asarray(values, dtype=np.float64), minlength=n
    )


def segment_mean(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per-sample mean; 0 for empty samples."""
    lengths = np.diff(offsets)
    sums = segment_sum(values, offsets)
    return np.divide(sums, lengths, out=np.zeros_like(sums), where=lengths > 0)


def top_k_count(lengths: np.ndarray, p: float) -> np.ndarray:
    """``k = max(1, ceil(p * N))`` per sample (0 when ``N = 0``).

    A tiny epsilon keeps ``ceil`` from rounding ``p * N`` up when the product is an
    integer plus floating-point noise (0.005 * 200 must give k = 1, not 2).
    """
    if not 0.0 < p <= 1.0:
        raise ConfigError(f"HES fraction p={p}: accepted values are 0 < p <= 1")
    lengths = np.asarray(lengths, dtype=np.int64)
    k = np.ceil(lengths * p - 1e-9).astype(np.int64)
    k = np.maximum(k, 1)
    return np.where(lengths > 0, k, 0)


def segment_sorted_desc(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each sample's values in descending order (same dtype, same offsets).

    The one sort behind every top-k sum: computed once, it serves HES at any ``p``.
    """
    seg = segment_ids(offsets)
    order = np.lexsort((-np.asarray(values, dtype=np.float64), seg))
    return np.asarray(values)[order]


def top_k_sum_sorted(sorted_desc: np.ndarray, offsets: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per-sample sum (float64) of the first ``k[i]`` values of sample ``i`` of ``sorted_desc``.

    Reads only the ``sum(k)`` kept values, summed largest first (as
    :func:`segment_top_k_sum` adds them, so both give the same floats).
    """
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    k = np.minimum(np.asarray(k, dtype=np.int64), np.diff(offsets))
    n, total = len(starts), int(k.sum())
    pos = np.arange(total, dtype=np.int64) + np.repeat(starts - (np.cumsum(k) - k), k)
    weights = np.asarray(sorted_desc[pos], dtype=np.float64)
    return np.bincount(np.repeat(np.arange(n, dtype=np.int64), k), weights=weights, minlength=n)


def segment_top_k_sum(values: np.ndarray, offsets: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per-sample sum of the ``k[i]`` largest values of sample ``i``."""
    return top_k_sum_sorted(segment_sorted_desc(values, offsets), offsets, k)


def hes(
    values: np.ndarray,
    offsets: np.ndarray,
    p: float = 0.005,
    factor: float = 1.0,
    *,
    sorted_desc: np.ndarray | None = None,
) -> np.ndarray:
    """Relative High-Entropy Sum: sum of the ``max(1, ceil(p*N))`` largest token entropies.

    ``factor`` converts stored units (nats) to the reported unit; the same k tokens are
    chosen in any unit, so HES in bits is exactly HES in nats / ln 2. ``sorted_desc``:
    :func:`segment_sorted_desc` of ``values``, if kept from an earlier call.
    """
    k = top_k_count(np.diff(offsets), p)
    if sorted_desc is None:
        sorted_desc = segment_sorted_desc(values, offsets)
    return top_k_sum_sorted(sorted_desc, offsets, k) * factor


def hes_abs(
    values: np.ndarray, offsets: np.ndarray, tau: float = 1.6, factor: float = 1.0
) -> np.ndarray:
    """Absolute HES: sum of token entropies strictly above ``tau`` (in the reported unit)."""
    v = np.asarray(values, dtype=np.float64) * factor
    seg = segment_ids(offsets)
    return np.bincount(seg, weights=np.where(v > tau, v, 0.0), minlength=len(offsets) - 1)


def avg_he(
    values: np.ndarray,
    offsets: np.ndarray,
    p: float = 0.005,
    factor: float = 1.0,
    *,
    sorted_desc: np.ndarray | None = None,
) -> np.ndarray:
    """Mean entropy of the high-entropy tokens: ``HES / k`` (0 for empty samples)."""
    k = top_k_count(np.diff(offsets), p)
    if sorted_desc is None:
        sorted_desc = segment_sorted_desc(values, offsets)
    total = top_k_sum_sorted(sorted_desc, offsets, k) * factor
    return np.divide(total, k, out=np.zeros_like(total), where=k > 0)


def ppl_from_nll(nll_mean: np.ndarray) -> np.ndarray:
    """Perplexity from mean NLL in nats (1.0 for empty samples, whose NLL is 0)."""
    return np.exp(np.minimum(np.asarray(nll_mean, dtype=np.float64), math.log(1e30)))
