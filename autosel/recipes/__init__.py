"""Recipes: ordered operator steps, their identity, validation and realization."""

from autosel.recipes.model import Recipe, Step, dump_recipe, load_recipe, recipe_from_data
from autosel.recipes.realize import (
    Realization,
    clear_cache,
    realize,
    step_rng,
    subset_fingerprint,
)
from autosel.recipes.state import BASE_FEATURES, state_feature_names
from autosel.recipes.validate import (
    DEFAULT_MAX_STEPS,
    RecipeIssue,
    RecipeValidationError,
    check_recipe,
    validate_recipe,
)

__all__ = [
    "BASE_FEATURES",
    "DEFAULT_MAX_STEPS",
    "Realization",
    "Recipe",
    "RecipeIssue",
    "RecipeValidationError",
    "Step",
    "check_recipe",
    "clear_cache",
    "dump_recipe",
    "load_recipe",
    "realize",
    "recipe_from_data",
    "state_feature_names",
    "step_rng",
    "subset_fingerprint",
    "validate_recipe",
]
