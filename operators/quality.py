"""Quality filters on model-derived scores: HES, entropy statistics, perplexity, IFD."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import TOKEN_ENTROPY, SubsetView
from operators._select import band_masks, count_for, fraction_mask, top_k_mask

DEFAULT_P = 0.005
DEFAULT_TAU = 1.6


@register_operator("hes_filter")
class HesFilter(Operator):
    """Keep the top/bottom fraction of High-Entropy Sum, or samples above a threshold.

    ``score="hes"``: relative HES, the sum of the entropies of the top ``p`` fraction of
    response tokens; ``score="hes_abs"``: the sum of token entropies above ``tau`` bits.
    A ``p``/``tau`` other than the cached default is recomputed from the ragged token
    entropies (no model pass). ``threshold`` is in bits.
    """

    kind = "filter"

    class Params(OpParams):
        score: Literal["hes", "hes_abs"] = "hes"
        mode: Literal["top", "bottom", "threshold"] = "top"
        fraction: float = Field(0.5, gt=0.0, le=1.0)
        p: float = Field(DEFAULT_P, ge=0.001, le=0.05, json_schema_extra={"log": True})
        tau: float = Field(DEFAULT_TAU, ge=0.5, le=4.0)
        threshold: float = Field(0.0, ge=0.0, json_schema_extra={"search": False})

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        # Only the default p / tau are cached as columns; others need the ragged entropies.
        if params.score == "hes":
            return ("hes",) if math.isclose(params.p, DEFAULT_P) else (TOKEN_ENTROPY,)
        return ("hes_abs",) if math.isclose(params.tau, DEFAULT_TAU) else (TOKEN_ENTROPY,)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        v = view.hes(params.p) if params.score == "hes" else view.hes_abs(params.tau)
        if params.mode == "threshold":
            return Decision(
                v > params.threshold,
                {f"{params.score} <= {params.threshold:g}": v <= params.threshold},
            )
        keep = fraction_mask(v, params.fraction, largest=params.mode == "top")
        side = "top" if params.mode == "top" else "bottom"
        return Decision(keep, {f"{params.score} outside {side} {params.fraction:g}": ~keep})


@register_operator("entropy_filter")
class EntropyFilter(Operator):
    """Keep the top or bottom fraction by mean token entropy, entropy sum or varentropy."""

    kind = "filter"

    class Params(OpParams):
        metric: Literal["entropy_mean", "entropy_sum", "varentropy_mean"] = "entropy_mean"
        mode: Literal["top", "bottom"] = "top"
        fraction: float = Field(0.5, gt=0.0, le=1.0)

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        return (params.metric,)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        keep = fraction_mask(
            view.column(params.metric), params.fraction, largest=params.mode == "top"
        )
        return Decision(keep, {f"{params.metric} outside {params.mode} {params.fraction:g}": ~keep})


@register_operator("perplexity_filter")
class PerplexityFilter(Operator):
    """Drop the lowest (``low_q``) and highest (``high_q``) perplexity quantiles.

    Very low perplexity flags boilerplate and memorised text; very high perplexity flags
    noise. Rows without a perplexity are kept.
    """

    kind = "filter"
    requires = ("ppl",)

    class Params(OpParams):
        low_q: float = Field(0.0, ge=0.0, le=0.5)
        high_q: float = Field(0.9, ge=0.5, le=1.0)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        below, above = band_masks(view.column("ppl"), params.low_q, params.high_q)
        return Decision(
            ~(below | above),
            {f"ppl below q{params.low_q:g}": below, f"ppl above q{params.high_q:g}": above},
        )


@register_operator("ifd_filter")
class IfdFilter(Operator):
    """Keep the top fraction by Instruction-Following Difficulty.

    IFD > 1 means the prompt makes the response *harder* to predict, i.e. prompt and
    response do not match; such samples are excluded by default, as is usual.
    """

    kind = "filter"
    requires = ("ifd",)

    class Params(OpParams):
        fraction: float = Field(0.5, gt=0.0, le=1.0)
        exclude_above_one: bool = True

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        ifd = np.asarray(view.column("ifd"), dtype=np.float64)
        above = ifd > 1.0 if params.exclude_above_one else np.zeros(len(ifd), dtype=bool)
        eligible = np.where(above, np.nan, ifd)
        # The fraction is of the eligible rows: excluding IFD > 1 must not shrink it further.
        k = count_for(params.fraction, int((~np.isnan(eligible)).sum()))
        keep = top_k_mask(eligible, k, largest=True)
        return Decision(keep, {"ifd > 1": above, f"ifd outside top {params.fraction:g}": ~keep})
