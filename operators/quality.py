"""Quality filters on model-derived scores: HES, entropy statistics, perplexity, IFD."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import TOKEN_ENTROPY, SubsetView
from operators._select import band_masks, count_for, fraction_mask, top_k_mask

DEFAULT_P = 0.005  # the paper's top 0.5% of response tokens (= signalset.HES_P)
DEFAULT_TAU = 1.6  # the paper's example absolute threshold, read in bits by default
DEFAULT_UNIT: Literal["bits", "nats"] = (
    "bits"  # OpenDataArena HESScorer's unit (log2); see Params.unit
)


@register_operator("hes_filter")
class HesFilter(Operator):
    """Keep the top/bottom fraction by High-Entropy Sum (or AvgHE), or those above a threshold.

    Scores, from the cached per-token entropies of the model pass (any ``p``/``tau`` is
    recomputed without the model):

    - ``hes``: relative HES (Li et al., "Unified Data Selection for LLM Reasoning",
      arXiv:2605.22389): the sum of the ``k = max(1, ceil(p * N))`` highest token
      entropies of the N response tokens (``p = 0.005``: at least one token, 0 for an
      empty response). Ties at the cut count once per slot: exactly ``k`` tokens.
    - ``hes_abs``: absolute HES, the sum of the token entropies strictly above ``tau``.
    - ``avg_he``: AvgHE, the mean of the same ``k`` entropies (``HES / k``).

    ``unit`` (``bits`` or ``nats``) is the unit of ``tau``, of ``threshold`` and of the
    scores. The default, bits, follows the public reference implementation, OpenDataArena's
    ``HESScorer`` (``log2`` entropies, documented "in bits"); the paper gives ``tau = 1.6``
    without a base, so ``tau`` is read in bits unless ``unit: nats`` says otherwise
    (1.6 bits = 1.109 nats). The unit never changes a ``top``/``bottom`` ranking by
    ``hes`` or ``avg_he``; it changes which tokens ``hes_abs`` counts and what a
    ``threshold`` means.

    Defaults are the paper's efficiency setting: keep the top 20% by HES (``fraction =
    0.2``). Its de-noising setting keeps the top 80% (drop the bottom 20%): the named
    recipe ``hes-denoise`` (``autosel recipe list``).
    """

    kind = "filter"

    class Params(OpParams):
        score: Literal["hes", "hes_abs", "avg_he"] = "hes"
        mode: Literal["top", "bottom", "threshold"] = "top"
        fraction: float = Field(0.2, gt=0.0, le=1.0)
        p: float = Field(DEFAULT_P, ge=0.001, le=0.05, json_schema_extra={"log": True})
        tau: float = Field(DEFAULT_TAU, ge=0.5, le=4.0, description="In `unit`.")
        unit: Literal["bits", "nats"] = Field(
            DEFAULT_UNIT,
            description="Unit of tau, threshold and the scores.",
            json_schema_extra={"search": False},
        )
        threshold: float = Field(
            0.0, ge=0.0, description="In `unit`.", json_schema_extra={"search": False}
        )

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        # The cached columns hold the default p and tau; a source that has them also has
        # the token entropies of the same pass (what other values are recomputed from).
        if params.score == "hes_abs":
            if math.isclose(params.tau, DEFAULT_TAU) and params.unit == DEFAULT_UNIT:
                return ("hes_abs",)
            return (TOKEN_ENTROPY,)
        return (params.score,) if math.isclose(params.p, DEFAULT_P) else (TOKEN_ENTROPY,)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        if params.score == "hes":
            v = view.hes(params.p, params.unit)
        elif params.score == "hes_abs":
            v = view.hes_abs(params.tau, params.unit)
        else:
            v = view.avg_he(params.p, params.unit)
        if params.mode == "threshold":
            return Decision(
                v > params.threshold,
                {f"{params.score} <= {params.threshold:g} {params.unit}": v <= params.threshold},
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
