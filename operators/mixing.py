"""Mixing and sampling: source proportions, hard caps, the random baseline.

All randomness comes from the step's ``rng`` (seeded by ``realize`` from the search seed,
the recipe hash and the step index). Sources are visited in sorted order so the draws do
not depend on dict or set ordering.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from autosel.errors import ConfigError
from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import SubsetView
from operators._select import count_for, largest_remainder


def source_positions(codes: np.ndarray, k: int) -> list[np.ndarray]:
    """Sorted positions of each source code ``0..k-1`` (their lengths are the counts).

    One comparison pass per code for the usual handful of sources (no sort, no int64
    copy as ``np.bincount`` makes); one stable sort for many sources.
    """
    if k <= 16:
        return [(codes == c).nonzero()[0] for c in range(k)]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(k + 1))
    return [order[bounds[c] : bounds[c + 1]] for c in range(k)]


def sample_per_source(
    positions: list[np.ndarray], quotas: dict[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, dict[int, int]]:
    """Uniformly sample ``quotas[c]`` of the positions of each source code ``c`` (sorted codes).

    Args:
        positions: sorted positions per code (:func:`source_positions`).
        quotas: rows wanted per code.
        rng: the step's generator.

    Returns:
        Positions (unordered: the base class turns them into a mask, which is O(n) where
        sorting would be O(n log n)), and the shortfall per source whose quota exceeded
        its rows.
    """
    picked: list[np.ndarray] = []
    short: dict[int, int] = {}
    for code in sorted(quotas):
        pos = positions[code]
        want = quotas[code]
        if want >= len(pos):
            picked.append(pos)
            if want > len(pos):
                short[code] = want - len(pos)
        elif want > 0:
            picked.append(rng.choice(pos, size=want, replace=False, shuffle=False))
    out = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    return out, short


@register_operator("source_mix")
class SourceMix(Operator):
    """Resample the subset to target proportions per source.

    The target size is ``total`` (absolute) or ``fraction`` of the current subset; it is
    split over sources by largest remainder and each source is sampled uniformly. A
    source with fewer rows than its quota contributes all it has, and the step says so.
    Sources missing from ``proportions`` are dropped; empty ``proportions`` keeps the
    current mix (proportional allocation, i.e. a stratified sample).
    """

    kind = "select"

    class Params(OpParams):
        proportions: dict[str, float] = Field(
            default_factory=dict, json_schema_extra={"search": False}
        )
        fraction: float = Field(1.0, gt=0.0, le=1.0)
        total: int | None = Field(None, ge=1, json_schema_extra={"search": False})

        @field_validator("proportions")
        @classmethod
        def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
            bad = sorted(k for k, x in v.items() if not x >= 0)
            if bad:
                raise ValueError(f"proportions must be >= 0 (got negative for {', '.join(bad)})")
            if v and sum(v.values()) <= 0:
                raise ValueError("proportions must not all be 0")
            return dict(sorted(v.items()))

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        names = view.pool.source_names
        positions = source_positions(view.source_codes(), len(names))
        counts = np.array([len(p) for p in positions], dtype=np.int64)
        if params.proportions:
            unknown = sorted(set(params.proportions) - set(names))
            if unknown:
                raise ConfigError(
                    f"source_mix: unknown source(s) {', '.join(unknown)}; "
                    f"pool sources: {', '.join(names)}"
                )
            weights = np.array([params.proportions.get(s, 0.0) for s in names])
        else:
            weights = counts.astype(np.float64)
        target = params.total if params.total is not None else count_for(params.fraction, len(view))
        quota = largest_remainder(weights, target)
        pos, short = sample_per_source(
            positions, {c: int(q) for c, q in enumerate(quota) if weights[c] > 0}, rng
        )
        notes = tuple(
            f"source '{names[c]}' short by {k} (had {counts[c]}, quota {quota[c]})"
            for c, k in sorted(short.items())
        )
        reasons: dict[str, np.ndarray | int] = {"over source quota": len(view) - len(pos)}
        if (weights == 0).any():
            not_in_mix = int(counts[weights == 0].sum())
            reasons = {
                "source not in mix": not_in_mix,
                "over source quota": len(view) - len(pos) - not_in_mix,
            }
        return Decision(pos, reasons, notes)


MIX_SLOTS = 8  # searchable source weights; further sources share their mean weight


@register_operator("mix_weights")
class MixWeights(Operator):
    """Resample the subset to a searched source mixture (a point of the sources' simplex).

    The search tunes the proportions without knowing the pool's source names. Source ``i`` in sorted order gets the weight ``-log(1 - 0.999 * w_i)`` (an exponential
    variate of the unit coordinate ``w_i``: uniform ``w`` give a uniform point of the
    simplex, as a flat Dirichlet; all ``w_i = 0.5`` is the even mix); sources after the
    first :data:`MIX_SLOTS` share the mean weight. The proportions are met exactly: the
    subset keeps ``min(fraction x size, count_s / p_s over sources)`` rows, so no source
    falls short of its quota (the cost of a skewed mix is a smaller subset, which
    ``min_size`` bounds). With fixed, named proportions use ``source_mix``.
    """

    kind = "select"

    class Params(OpParams):
        w0: float = Field(0.5, ge=0.0, le=1.0)
        w1: float = Field(0.5, ge=0.0, le=1.0)
        w2: float = Field(0.5, ge=0.0, le=1.0)
        w3: float = Field(0.5, ge=0.0, le=1.0)
        w4: float = Field(0.5, ge=0.0, le=1.0)
        w5: float = Field(0.5, ge=0.0, le=1.0)
        w6: float = Field(0.5, ge=0.0, le=1.0)
        w7: float = Field(0.5, ge=0.0, le=1.0)
        fraction: float = Field(1.0, gt=0.0, le=1.0)

    @staticmethod
    def proportions(params: Params, k: int) -> np.ndarray:
        """The simplex point for ``k`` sources (sorted order), summing to 1."""
        w = np.array([getattr(params, f"w{i}") for i in range(MIX_SLOTS)], dtype=np.float64)
        e = -np.log1p(-0.999 * w)
        weights = np.concatenate([e[:k], np.full(max(0, k - MIX_SLOTS), e.mean())])
        if weights.sum() <= 0:  # every searched weight 0: the even mix
            weights = np.ones(k)
        return weights / weights.sum()

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        names = view.pool.source_names
        positions = source_positions(view.source_codes(), len(names))
        counts = np.array([len(p) for p in positions], dtype=np.int64)
        p = self.proportions(params, len(names))
        present = counts > 0
        p = np.where(present, p, 0.0)
        if p.sum() <= 0:
            return Decision(np.zeros(0, dtype=np.int64), {"no source left": len(view)})
        p = p / p.sum()
        live = p > 0
        fits = float(np.min(counts[live] / p[live]))  # the largest exact-mix size
        target = int(min(count_for(params.fraction, len(view)), np.floor(fits + 1e-9)))
        quota = np.minimum(largest_remainder(p, target), counts)
        pos, _ = sample_per_source(
            positions, {c: int(q) for c, q in enumerate(quota) if q > 0}, rng
        )
        notes = tuple(
            f"source '{names[c]}': {int(quota[c])} of {int(counts[c])} ({p[c]:.1%})"
            for c in range(len(names))
            if counts[c]
        )
        return Decision(pos, {"over the searched mix": len(view) - len(pos)}, notes)


@register_operator("cap")
class Cap(Operator):
    """Hard cap on the number of samples: uniform at random, or stratified by source."""

    kind = "select"

    class Params(OpParams):
        max_samples: int = Field(10_000, ge=1, json_schema_extra={"search": False})
        strategy: Literal["random", "stratified"] = "random"

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n = len(view)
        if n <= params.max_samples:
            return Decision(np.ones(n, dtype=bool))
        if params.strategy == "random":
            return Decision(
                rng.choice(n, size=params.max_samples, replace=False, shuffle=False),
                {f"over cap {params.max_samples}": n - params.max_samples},
            )
        positions = source_positions(view.source_codes(), len(view.pool.source_names))
        counts = np.array([len(p) for p in positions], dtype=np.int64)
        quota = largest_remainder(counts.astype(np.float64), params.max_samples)
        pos, _ = sample_per_source(
            positions, {c: int(q) for c, q in enumerate(quota) if counts[c]}, rng
        )
        return Decision(pos, {f"over cap {params.max_samples}": n - len(pos)})


@register_operator("random_sample")
class RandomSample(Operator):
    """The baseline: a uniform random ``fraction`` (or ``n`` samples) of the current subset."""

    kind = "select"

    class Params(OpParams):
        fraction: float = Field(0.5, gt=0.0, le=1.0)
        n: int | None = Field(None, ge=0, json_schema_extra={"search": False})

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        size = len(view)
        k = min(params.n, size) if params.n is not None else count_for(params.fraction, size)
        if k >= size:
            return Decision(np.ones(size, dtype=bool))
        return Decision(
            rng.choice(size, size=k, replace=False, shuffle=False), {"not sampled": size - k}
        )
