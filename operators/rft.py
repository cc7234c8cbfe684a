"""Selection among several responses per prompt (rejection fine-tuning)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import SubsetView
from operators._select import top_k_mask


@register_operator("per_prompt_topk")
class PerPromptTopK(Operator):
    """Keep the ``k`` highest-HES correct responses per prompt (HES paper's RFT selection).

    Prompts are the pool's ``group`` (a row without a group is its own prompt).
    ``scope="global"`` is the global-pool variant: the ``k x (number of prompts)`` highest-
    HES correct responses over the whole subset, whatever their prompt. With
    ``require_correct`` rows labelled incorrect are dropped; rows without a label count
    as correct, so that unlabelled pools still work.
    """

    kind = "filter"
    requires = ("hes",)

    class Params(OpParams):
        k: int = Field(1, ge=1, le=16)
        scope: Literal["per_prompt", "global"] = "per_prompt"
        require_correct: bool = True

    def keep(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n = len(view)
        hes = np.asarray(view.hes(None), dtype=np.float64)
        groups = view.group_codes()
        wrong = (view.correct() == 0) if params.require_correct else np.zeros(n, dtype=bool)
        eligible = ~wrong
        if params.scope == "global":
            n_prompts = int(np.count_nonzero(np.bincount(groups[eligible])))  # codes >= 0
            keep = top_k_mask(np.where(eligible, hes, np.nan), params.k * n_prompts)
        else:
            keep = np.zeros(n, dtype=bool)
            pos = np.flatnonzero(eligible)
            if len(pos):
                order = pos[np.lexsort((pos, -np.nan_to_num(hes[pos], nan=-np.inf), groups[pos]))]
                g = groups[order]
                start = np.r_[True, g[1:] != g[:-1]]
                run_start = np.maximum.accumulate(np.where(start, np.arange(len(g)), 0))
                rank = np.arange(len(g)) - run_start
                keep[order[rank < params.k]] = True
        return Decision(keep, {"incorrect": wrong, f"outside top {params.k} by HES": ~keep})
