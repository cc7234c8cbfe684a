"""Selection among several responses per prompt (rejection fine-tuning, RFT)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import SubsetView
from operators._select import top_k_mask


@register_operator("per_prompt_topk")
class PerPromptTopK(Operator):
    """Keep the ``k`` highest-HES correct responses of each prompt (the HES paper's RFT).

    In rejection fine-tuning several responses are sampled per prompt, the incorrect
    ones are rejected, and the HES method (Li et al., "Unified Data Selection for LLM
    Reasoning", arXiv:2605.22389) keeps, of each prompt's correct responses, the ``k``
    with the highest High-Entropy Sum. Prompts are the pool's ``group`` (a row without a
    group is its own prompt). With ``require_correct`` rows labelled incorrect are
    rejected; rows without a label count as correct, so unlabelled pools still work.

    ``scope``:

    - ``per_prompt``: each prompt keeps its ``min(k, eligible)`` best responses, where
      ``eligible`` is how many of its responses survive the correctness check (a prompt
      with no correct response keeps none).
    - ``global``: the same *number* of responses, ``sum over prompts of min(k,
      eligible)``, taken as the highest-HES eligible responses of the whole subset
      whatever their prompt. The two scopes keep exactly as many samples, so comparing
      them compares *which* samples are kept, not how many (volume-matched).

    Ties in HES go to the earlier row, so the result is deterministic.
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
            # Volume-matched: as many as the per-prompt scope keeps (codes are >= 0).
            per_prompt = np.bincount(groups[eligible])
            n_keep = int(np.minimum(per_prompt, params.k).sum())
            keep = top_k_mask(np.where(eligible, hes, np.nan), n_keep)
            why = f"outside the global top {n_keep} by HES"
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
            why = f"outside top {params.k} of its prompt by HES"
        return Decision(keep, {"incorrect": wrong, why: eligible & ~keep})
