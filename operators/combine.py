"""Combining recipes: union with the subset another recipe selects."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import SubsetView


@register_operator("union")
class Union(Operator):
    """Add the subset selected by another recipe (named by its ``recipe_hash``).

    The only operator whose output is not within its input: it is within the input plus
    the other recipe's subset. ``realize`` resolves the hash (cycles are rejected when the
    recipe is validated); an empty hash is a validation error.
    """

    kind = "combine"

    class Params(OpParams):
        recipe_hash: str = Field(
            "", pattern=r"^([0-9a-f]{64})?$", json_schema_extra={"search": False}
        )

    def combine(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        other = view.resolve_recipe(params.recipe_hash)
        # The base class sorts and deduplicates combined rows (np.union1d would do it twice).
        return Decision(np.concatenate([view.indices, other]))
