"""Filters on the shape of the data: response length, difficulty band, task relevance.

Also two baselines from the literature: the longest responses (``longest_filter``, the
HES paper's "Length" baseline) and the intermediate difficulty band
(``intermediate_difficulty``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import RELEVANCE_PREFIX, SubsetView
from operators._select import band_masks, fraction_mask


@register_operator("length_filter")
class LengthFilter(Operator):
    """Keep responses within absolute token bounds and within a quantile band of lengths.

    ``min_tokens``/``max_tokens`` are absolute (``max_tokens=None``: no upper bound);
    ``low_q``/``high_q`` drop the shortest/longest quantiles of the current subset.
    Both apply.
    """

    kind = "filter"
    requires = ("resp_tokens",)

    class Params(OpParams):
        min_tokens: int = Field(0, ge=0, json_schema_extra={"search": False})
        max_tokens: int | None = Field(None, ge=1, json_schema_extra={"search": False})
        low_q: float = Field(0.0, ge=0.0, le=0.5)
        high_q: float = Field(1.0, ge=0.5, le=1.0)

        @model_validator(mode="after")
        def _ordered(self) -> LengthFilter.Params:
            if self.max_tokens is not None and self.max_tokens < self.min_tokens:
                raise ValueError(
                    f"max_tokens ({self.max_tokens}) must be >= min_tokens ({self.min_tokens})"
                )
            return self

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n_tok = view.column("resp_tokens")
        # Only the active bounds are computed: on a million rows every mask costs time.
        reasons: dict[str, np.ndarray | int] = {}
        if params.min_tokens > 0:
            reasons[f"< {params.min_tokens} tokens"] = n_tok < params.min_tokens
        if params.max_tokens is not None:
            reasons[f"> {params.max_tokens} tokens"] = n_tok > params.max_tokens
        if params.low_q > 0 or params.high_q < 1:
            below, above = band_masks(n_tok, params.low_q, params.high_q)
            reasons[f"shorter than q{params.low_q:g}"] = below
            reasons[f"longer than q{params.high_q:g}"] = above
        masks = list(reasons.values())
        if not masks:
            return Decision(np.ones(len(n_tok), dtype=bool))
        drop = np.asarray(masks[0] if len(masks) == 1 else np.logical_or(masks[0], masks[1]))
        for mask in masks[2:]:
            drop |= mask
        return Decision(~drop, reasons)


@register_operator("longest_filter")
class LongestFilter(Operator):
    """Keep the ``fraction`` of the subset with the longest responses (in tokens).

    The "Length" baseline of the HES paper (Li et al., "Unified Data Selection for LLM
    Reasoning", arXiv:2605.22389, 2026): longer chain-of-thought is taken as a proxy for
    harder, richer reasoning. The default 0.2 matches the paper's efficiency budget (the
    top 20%, as ``hes_filter`` keeps), so the two are compared at the same size. Ties at
    the cut go to the earlier row.
    """

    kind = "filter"
    requires = ("resp_tokens",)

    class Params(OpParams):
        fraction: float = Field(0.2, gt=0.0, le=1.0)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        keep = fraction_mask(view.column("resp_tokens"), params.fraction, largest=True)
        return Decision(keep, {f"shorter than the longest {params.fraction:g}": ~keep})


@register_operator("difficulty_filter")
class DifficultyFilter(Operator):
    """Keep a difficulty band: drop the easiest ``low_q`` and the hardest ``1 - high_q``.

    Higher ``difficulty`` means harder. Optional absolute bounds apply as well. Rows with
    unknown difficulty are kept unless ``keep_unknown`` is false.
    """

    kind = "filter"
    requires = ("difficulty",)

    class Params(OpParams):
        low_q: float = Field(0.1, ge=0.0, le=0.5)
        high_q: float = Field(0.9, ge=0.5, le=1.0)
        min_difficulty: float | None = Field(None, json_schema_extra={"search": False})
        max_difficulty: float | None = Field(None, json_schema_extra={"search": False})
        keep_unknown: bool = Field(True, json_schema_extra={"search": False})

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        d = np.asarray(view.column("difficulty"), dtype=np.float64)
        unknown = np.isnan(d)
        easy, hard = band_masks(d, params.low_q, params.high_q)
        if params.min_difficulty is not None:
            easy |= d < params.min_difficulty
        if params.max_difficulty is not None:
            hard |= d > params.max_difficulty
        unknown_drop = unknown if not params.keep_unknown else np.zeros(len(d), dtype=bool)
        drop = easy | hard | unknown_drop
        return Decision(
            ~drop, {"too easy": easy, "too hard": hard, "unknown difficulty": unknown_drop}
        )


INTERMEDIATE_BAND = (0.25, 0.75)
"""Difficulty quantiles ``intermediate_difficulty`` keeps by default: the middle half."""


@register_operator("intermediate_difficulty")
class IntermediateDifficulty(DifficultyFilter):
    """Keep the intermediate-difficulty band: neither the easiest nor the hardest samples.

    The named setting of ``difficulty_filter`` that curricula for reasoning models use:
    samples a model always solves or never solves carry little learning signal, so the
    middle of the difficulty range is kept (DAPO's dynamic sampling, Yu et al. 2025,
    arXiv:2503.14476, drops prompts solved by all or none of the samples; online
    difficulty filtering, Bae et al. 2025, arXiv:2504.03380, keeps prompts of
    intermediate pass rate). Those papers bound a pass rate; autosel's ``difficulty`` may
    be a pool column or the NLL proxy, whose scales differ, so the band is in quantiles
    of the current subset: by default the middle half, :data:`INTERMEDIATE_BAND` (an
    autosel choice), searchable within ``[0.1, 0.4]`` and ``[0.6, 0.9]``.
    """

    class Params(DifficultyFilter.Params):
        low_q: float = Field(INTERMEDIATE_BAND[0], ge=0.1, le=0.4)
        high_q: float = Field(INTERMEDIATE_BAND[1], ge=0.6, le=0.9)


@register_operator("relevance_filter")
class RelevanceFilter(Operator):
    """Keep the top fraction by relevance to one target benchmark or to all of them.

    ``benchmark="all"`` scores a sample by its ``combine`` (max or mean) relevance over
    every benchmark the signal set has.
    """

    kind = "filter"

    class Params(OpParams):
        fraction: float = Field(0.5, gt=0.0, le=1.0)
        benchmark: str = Field("all", min_length=1, json_schema_extra={"search": False})
        combine: Literal["max", "mean"] = "max"

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        # "relevance:*" means "at least one relevance column"; the validator knows the wildcard.
        if params.benchmark == "all":
            return (RELEVANCE_PREFIX + "*",)
        return (RELEVANCE_PREFIX + params.benchmark,)

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        if params.benchmark == "all":
            names = view.relevance_names()
            cols = (
                np.stack([np.asarray(view.column(n), dtype=np.float64) for n in names])
                if names
                else np.full((1, len(view)), np.nan)
            )
            score = cols.max(axis=0) if params.combine == "max" else cols.mean(axis=0)
        else:
            score = view.column(RELEVANCE_PREFIX + params.benchmark)
        keep = fraction_mask(score, params.fraction, largest=True)
        return Decision(keep, {f"relevance outside top {params.fraction:g}": ~keep})
