"""The state vector of a realized subset: what the surrogate sees besides the recipe.

Two recipes that pick nearly the same subset get nearly the same state, which is what
lets the GP treat them as alike. Features, in order (:func:`state_feature_names`):

==================== =======================================================================
retain_ratio          subset rows / pool rows
token_ratio           subset response tokens / pool response tokens (``resp_tokens``)
hes_mean              mean HES (cached ``hes`` column) over the subset
hes_q10/q50/q90       HES quantiles over the subset
length_mean           mean response tokens
duplicate_rate        1 - distinct near-duplicate clusters / rows (MinHash at 0.8 or the
                      nearest level; exact groups when MinHash is absent)
source_js_pool        Jensen-Shannon divergence (nats, in [0, ln 2]) of the subset's source
                      mix from the pool's
source_js_target      the same from the target mix (``target_mix``; default the pool's mix)
difficulty_mean       mean ``difficulty`` over rows where it is known
relevance:<bench>     mean relevance to each benchmark, benchmarks sorted
==================== =======================================================================

A feature whose signal is absent, or that is undefined on an empty subset, is 0.0 so the
vector is always finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from autosel.errors import ConfigError
from autosel.ops.view import (
    EXACT_GROUPS,
    MINHASH,
    RELEVANCE_PREFIX,
    PoolColumns,
    SignalSource,
    available_signals,
)

BASE_FEATURES = (
    "retain_ratio",
    "token_ratio",
    "hes_mean",
    "hes_q10",
    "hes_q50",
    "hes_q90",
    "length_mean",
    "duplicate_rate",
    "source_js_pool",
    "source_js_target",
    "difficulty_mean",
)
REFERENCE_MINHASH = 0.8
HES_QUANTILES = (0.1, 0.5, 0.9)


def state_feature_names(signals: SignalSource) -> list[str]:
    """Feature names of the state vector for this signal set (fixed for a pool)."""
    rel = sorted(n for n in signals.names if n.startswith(RELEVANCE_PREFIX))
    return [*BASE_FEATURES, *rel]


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats; 0.0 when either distribution is empty."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p_sum, q_sum = p.sum(), q.sum()
    if p_sum <= 0 or q_sum <= 0:
        return 0.0
    p, q = p / p_sum, q / q_sum
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        a = a[nz]
        return float((a * np.log(a / m[nz])).sum())

    return max(0.5 * kl(p) + 0.5 * kl(q), 0.0)


def _mean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    nan = np.isnan(x)
    if nan.any():
        x = x[~nan]
    return float(x.mean()) if x.size else 0.0


def _sum(x: np.ndarray) -> float:
    """``float(np.sum(x, dtype=float64))``, without the float copy for integer columns.

    Integer partial sums below 2**53 are exact in float64, so summing in int64 gives the
    same value bit for bit whatever order the float sum would have added them in.
    """
    if x.dtype.kind in "iu" and x.size:
        info = np.iinfo(x.dtype)
        bound = max(-int(info.min), int(info.max))  # int32: no range pass below 4M rows
        if bound * x.size >= 2**53:
            bound = max(-int(x.min()), int(x.max()))
        if bound * x.size < 2**53:
            return float(int(x.sum(dtype=np.int64)))
    return float(np.sum(x, dtype=np.float64))


def linear_quantiles(ordered: np.ndarray, qs: Sequence[float]) -> list[float]:
    """``np.quantile(x, qs)`` (default ``linear`` method) from ``ordered = np.sort(x)``.

    The same float64 arithmetic as numpy's interpolation, on a sorted array: one
    ``np.sort`` is several times faster than the multi-``kth`` partition ``np.quantile``
    runs. ``ordered`` must be non-empty and NaN-free; ``tests/recipes`` checks the values
    equal ``np.quantile``'s bit for bit.
    """
    n = len(ordered)
    out = []
    for q in qs:
        v = (n - 1) * float(q)
        prev = math.floor(v)
        nxt = prev + 1
        if v >= n - 1:  # numpy takes the last element for both neighbours
            prev = nxt = -1
        gamma = v - prev
        a, b = float(ordered[prev]), float(ordered[nxt])
        diff = b - a
        out.append(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)
    return out


def _code_counts(codes: np.ndarray, k: int) -> np.ndarray:
    """Rows per code ``0..k-1`` as float64 (``np.bincount``, without its int64 copy)."""
    if k > 16:
        return np.bincount(codes, minlength=k).astype(np.float64)
    return np.array([np.count_nonzero(codes == c) for c in range(k)], dtype=np.float64)


def _distinct(groups: np.ndarray) -> int:
    """Number of distinct values among non-negative integer ids."""
    if groups.min() < 0:  # bincount says what is wrong with negative ids
        return int(np.count_nonzero(np.bincount(groups, minlength=1)))
    seen = np.zeros(int(groups.max()) + 1, dtype=bool)
    seen[groups] = True
    return int(np.count_nonzero(seen))


def _duplicate_groups(signals: SignalSource, names: set[str]) -> np.ndarray | None:
    if MINHASH in names:
        levels = [float(t) for t in signals.minhash_thresholds]
        level = min(levels, key=lambda t: (abs(t - REFERENCE_MINHASH), t))
        return np.asarray(signals.minhash_clusters(level))
    if EXACT_GROUPS in names:
        return np.asarray(signals.exact_groups())
    return None


@dataclass(frozen=True)
class StateInputs:
    """What the state of any subset of one pool reads: its columns and pool-wide constants.

    Gathered once per realization before the steps run (:func:`state_inputs`), so the
    Python work of finding signals is not interleaved with the array work of the steps.
    """

    names: tuple[str, ...]
    n_pool: int
    tokens: np.ndarray | None
    token_total: float
    hes: np.ndarray | None
    groups: np.ndarray | None
    codes: np.ndarray
    pool_mix: np.ndarray
    target_mix: np.ndarray
    difficulty: np.ndarray | None
    relevance: tuple[tuple[str, np.ndarray], ...]


def state_inputs(
    pool: PoolColumns,
    signals: SignalSource,
    target_mix: Mapping[str, float] | None = None,
    *,
    available: Sequence[str] | None = None,
) -> StateInputs:
    """The columns and constants :func:`state_from_inputs` needs for ``pool`` and ``signals``.

    ``available``: :func:`~autosel.ops.view.available_signals` of ``signals`` if known.
    """
    names = set(available if available is not None else available_signals(signals))
    features = tuple(state_feature_names(signals))
    tokens = np.asarray(signals.column("resp_tokens")) if "resp_tokens" in names else None
    pool_mix = pool.source_counts.astype(np.float64)
    return StateInputs(
        names=features,
        n_pool=len(pool),
        tokens=tokens,
        token_total=_sum(tokens) if tokens is not None else 0.0,
        hes=np.asarray(signals.column("hes")) if "hes" in names else None,
        groups=_duplicate_groups(signals, names),
        codes=pool.source_codes,
        pool_mix=pool_mix,
        target_mix=pool_mix
        if not target_mix
        else np.array([float(target_mix.get(s, 0.0)) for s in pool.source_names]),
        difficulty=np.asarray(signals.column("difficulty")) if "difficulty" in names else None,
        relevance=tuple(
            (name, np.asarray(signals.column(name))) for name in features[len(BASE_FEATURES) :]
        ),
    )


def state_from_inputs(inputs: StateInputs, indices: np.ndarray) -> dict[str, float]:
    """The state of the subset ``indices`` (sorted pool rows) as an ordered dict.

    Raises:
        ConfigError: the rows fall outside the pool.
    """
    n = len(indices)
    if n and (indices[0] < 0 or indices[-1] >= inputs.n_pool):
        raise ConfigError(f"subset rows fall outside the pool of {inputs.n_pool} rows")
    out = dict.fromkeys(inputs.names, 0.0)
    out["retain_ratio"] = n / inputs.n_pool if inputs.n_pool else 0.0
    if inputs.tokens is not None:
        total = inputs.token_total
        sub = _sum(inputs.tokens.take(indices, mode="clip"))
        out["token_ratio"] = sub / total if total > 0 else 0.0
        out["length_mean"] = sub / n if n else 0.0
    if inputs.hes is not None and n:
        ordered = inputs.hes.take(indices, mode="clip")
        h = ordered.astype(np.float64)  # a copy: the mean adds in row order
        # Sorted in place in the column's own dtype (float32 sorts faster); NaN sorts last.
        ordered.sort()
        if np.isnan(ordered[-1]):
            out["hes_mean"] = _mean(h)
            finite = int(np.count_nonzero(~np.isnan(ordered)))
        else:  # no NaN: the mean of all rows, without the NaN mask _mean builds
            out["hes_mean"] = float(h.mean())
            finite = n
        if finite:
            out["hes_q10"], out["hes_q50"], out["hes_q90"] = linear_quantiles(
                ordered[:finite], HES_QUANTILES
            )
    if inputs.groups is not None and n:
        out["duplicate_rate"] = float(1.0 - _distinct(inputs.groups.take(indices, mode="clip")) / n)
    sub_mix = _code_counts(inputs.codes.take(indices, mode="clip"), len(inputs.pool_mix))
    out["source_js_pool"] = js_divergence(sub_mix, inputs.pool_mix)
    out["source_js_target"] = js_divergence(sub_mix, inputs.target_mix)
    if inputs.difficulty is not None and n:
        out["difficulty_mean"] = _mean(inputs.difficulty.take(indices, mode="clip"))
    for name, col in inputs.relevance:
        if n:
            out[name] = _mean(col.take(indices, mode="clip"))
    return out


def state_vector(
    indices: np.ndarray,
    pool: PoolColumns,
    signals: SignalSource,
    target_mix: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The state of the subset ``indices`` (sorted pool rows) as an ordered dict."""
    return state_from_inputs(state_inputs(pool, signals, target_mix), indices)
