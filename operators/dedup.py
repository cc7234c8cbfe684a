"""Deduplication: near duplicates (precomputed MinHash clusters) and exact duplicates.

Clusters are computed once over the whole pool; within the current subset one member of
each cluster present survives. Which one is a parameter. A second application keeps
everything, because every cluster then has a single member in the subset.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import EXACT_GROUPS, MINHASH, SubsetView
from operators._select import first_per_group

Survivor = Literal["first", "highest_hes", "longest", "random"]
MINHASH_LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def _survivors(
    view: SubsetView, groups: np.ndarray, keep: str, rng: np.random.Generator
) -> np.ndarray:
    if keep == "first":
        priority = None
    elif keep == "highest_hes":
        priority = view.hes(None)
    elif keep == "longest":
        priority = view.column("resp_tokens")
    else:
        priority = rng.random(len(groups))
    return first_per_group(groups, priority)


def _extra(keep: str) -> tuple[str, ...]:
    return {"highest_hes": ("hes",), "longest": ("resp_tokens",)}.get(keep, ())


@register_operator("minhash_dedup")
class MinhashDedup(Operator):
    """Drop near duplicates: keep one member per MinHash cluster at a precomputed threshold."""

    kind = "filter"

    class Params(OpParams):
        threshold: float = Field(
            0.8, gt=0.0, le=1.0, json_schema_extra={"choices": list(MINHASH_LEVELS)}
        )
        keep: Survivor = "first"

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        return (MINHASH, *_extra(params.keep))

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        mask = _survivors(view, view.minhash_clusters(params.threshold), params.keep, rng)
        return Decision(mask, {f"near duplicate (minhash {params.threshold:g})": ~mask})


@register_operator("exact_dedup")
class ExactDedup(Operator):
    """Drop exact duplicates (same prompt and response): keep one member per group."""

    kind = "filter"

    class Params(OpParams):
        keep: Survivor = "first"

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        return (EXACT_GROUPS, *_extra(params.keep))

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        mask = _survivors(view, view.exact_groups(), params.keep, rng)
        return Decision(mask, {"exact duplicate": ~mask})
