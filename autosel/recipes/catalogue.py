"""Named recipes: the published settings a user (or a search's seeds) can ask for by name.

A small, fixed catalogue of recipes that reproduce a method's reference settings, so they
need not be written by hand and a search can start from them::

    autosel recipe list                          # this catalogue
    autosel recipe run hes-efficiency --pool P   # a name wherever a recipe file goes
    seed_recipes: [hes-efficiency, hes-denoise]  # in a search spec

Each entry is an ordinary :class:`~autosel.recipes.Recipe` (its identity is its steps, as
for any recipe; the name is display only), with the reference it reproduces.

The HES entries follow Li et al., "Unified Data Selection for LLM Reasoning"
(arXiv:2605.22389): HES with ``p = 0.005``; in SFT, training on the top 20% by HES
matches the full dataset (efficiency) and dropping the lowest-HES samples removes noise
(de-noising, ρ = 0.8: keep 80%); in RFT, the highest-HES correct response per prompt.
AvgHE (``HES / k``) is the paper's per-token comparison score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autosel.errors import ConfigError
from autosel.recipes.model import Recipe, Step


@dataclass(frozen=True)
class NamedRecipe:
    """One catalogue entry: a recipe, what it does, and where the setting comes from."""

    name: str
    summary: str
    reference: str
    steps: tuple[tuple[str, dict[str, Any]], ...]

    @property
    def recipe(self) -> Recipe:
        return Recipe(
            steps=tuple(Step(operator=op, params=dict(params)) for op, params in self.steps),
            name=self.name,
            description=self.summary,
        )

    def to_dict(self) -> dict[str, Any]:
        """Name, summary, reference, the steps as written and the recipe hash."""
        return {
            "name": self.name,
            "summary": self.summary,
            "reference": self.reference,
            "steps": [{"operator": op, "params": dict(p)} for op, p in self.steps],
            "recipe_hash": self.recipe.recipe_hash,
        }


_HES_PAPER = "Li et al., Unified Data Selection for LLM Reasoning, arXiv:2605.22389"

CATALOGUE: dict[str, NamedRecipe] = {
    r.name: r
    for r in (
        NamedRecipe(
            "hes-efficiency",
            "keep the top 20% of samples by HES (p = 0.005)",
            f"{_HES_PAPER}: SFT efficiency setting, rho = 0.2",
            (("hes_filter", {"score": "hes", "mode": "top", "fraction": 0.2}),),
        ),
        NamedRecipe(
            "hes-denoise",
            "drop the bottom 20% of samples by HES (keep the top 80%)",
            f"{_HES_PAPER}: SFT de-noising setting, rho = 0.8",
            (("hes_filter", {"score": "hes", "mode": "top", "fraction": 0.8}),),
        ),
        NamedRecipe(
            "avg-he",
            "keep the top 20% of samples by AvgHE (HES / k)",
            f"{_HES_PAPER}: AvgHE comparison score at the efficiency setting",
            (("hes_filter", {"score": "avg_he", "mode": "top", "fraction": 0.2}),),
        ),
        NamedRecipe(
            "hes-rft",
            "of each prompt's correct responses, keep the one with the highest HES",
            f"{_HES_PAPER}: RFT selection, top-1 per prompt",
            (("per_prompt_topk", {"k": 1, "scope": "per_prompt", "require_correct": True}),),
        ),
    )
}


def named_recipe_names() -> list[str]:
    """The catalogue's names, sorted."""
    return sorted(CATALOGUE)


def named_recipe(name: str) -> Recipe:
    """The catalogue recipe called ``name``.

    Raises:
        ConfigError: unknown name (the accepted names are listed).
    """
    entry = CATALOGUE.get(name)
    if entry is None:
        raise ConfigError(
            f"no named recipe '{name}'; accepted names: {', '.join(named_recipe_names())}"
        )
    return entry.recipe


def list_named_recipes() -> list[dict[str, Any]]:
    """Every entry as plain data (name order), for the CLI and the API."""
    return [CATALOGUE[n].to_dict() for n in named_recipe_names()]
