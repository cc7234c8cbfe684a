"""Recipe validation before anything runs.

Every problem is reported with the step index and the field, all at once:
unknown operator, params of the wrong type or out of bounds, a signal the pool's signal
manifest does not have, a union with no/unknown target, a union cycle, too many steps.
The CLI and the API print ``str(error)``, so both show the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from autosel.errors import ConfigError
from autosel.ops.base import OpParams, format_validation_error
from autosel.ops.registry import get_operator, list_operators
from autosel.recipes.model import Recipe

DEFAULT_MAX_STEPS = 5
UNION = "union"


@dataclass(frozen=True)
class RecipeIssue:
    """One problem: where (0-based step index, operator, field) and what."""

    step: int | None
    operator: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.step is not None:
            where.append(f"steps[{self.step}]" + (f" ({self.operator})" if self.operator else ""))
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class RecipeValidationError(ConfigError):
    """A recipe failed validation; ``issues`` lists every problem found."""

    code = "invalid_recipe"

    def __init__(self, issues: list[RecipeIssue], recipe_name: str | None = None) -> None:
        self.issues = issues
        head = f"recipe '{recipe_name}' is invalid" if recipe_name else "recipe is invalid"
        super().__init__(head + ":\n" + "\n".join(f"  {i}" for i in issues))

    def to_dict(self) -> list[dict[str, object]]:
        return [
            {"step": i.step, "operator": i.operator, "field": i.field, "error": i.message}
            for i in self.issues
        ]


def _missing(required: Iterable[str], available: set[str]) -> list[str]:
    out = []
    for name in required:
        if name.endswith("*"):
            if not any(a.startswith(name[:-1]) for a in available):
                out.append(name)
        elif name not in available:
            out.append(name)
    return out


def _union_cycle(recipe: Recipe, known: Mapping[str, Recipe]) -> list[str] | None:
    """The first cycle of union references reachable from ``recipe`` (hashes), or None."""

    def targets(r: Recipe) -> list[str]:
        return [str(s.params.get("recipe_hash", "")) for s in r.steps if s.operator == UNION]

    stack: list[str] = [recipe.recipe_hash]

    def visit(r: Recipe) -> list[str] | None:
        for h in targets(r):
            if h in stack:
                return [*stack[stack.index(h) :], h]
            if h in known:
                stack.append(h)
                found = visit(known[h])
                stack.pop()
                if found:
                    return found
        return None

    return visit(recipe)


def check_recipe(
    recipe: Recipe,
    signal_names: Iterable[str] | None = None,
    *,
    known_recipes: Mapping[str, Recipe] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[RecipeIssue]:
    """Every problem of ``recipe`` (empty when valid).

    Args:
        recipe: the recipe.
        signal_names: names available in the pool's signal manifest (see
            :func:`autosel.ops.view.available_signals`); ``None`` skips the signal check.
        known_recipes: recipes by hash that ``union`` steps may reference; ``None`` skips
            the reference and cycle checks (an empty hash is still reported).
        max_steps: longest accepted recipe.
    """
    return _check(recipe, signal_names, known_recipes, max_steps, [])


def _check(
    recipe: Recipe,
    signal_names: Iterable[str] | None,
    known_recipes: Mapping[str, Recipe] | None,
    max_steps: int,
    parsed: list[OpParams],
) -> list[RecipeIssue]:
    """:func:`check_recipe`, appending each step's parsed params to ``parsed`` as it goes."""
    issues: list[RecipeIssue] = []
    if len(recipe.steps) > max_steps:
        issues.append(
            RecipeIssue(
                None, None, "steps", f"{len(recipe.steps)} steps; at most {max_steps} are accepted"
            )
        )
    available = set(signal_names) if signal_names is not None else None
    known_ops = list_operators()
    for i, step in enumerate(recipe.steps):
        if step.operator not in known_ops:
            issues.append(
                RecipeIssue(
                    i,
                    step.operator,
                    "operator",
                    f"unknown operator '{step.operator}'; known operators: " + ", ".join(known_ops),
                )
            )
            continue
        cls = get_operator(step.operator)
        try:
            params = cls.parse(step.params)
            parsed.append(params)
        except ValidationError as err:
            issues += [
                RecipeIssue(i, step.operator, f"params.{f}", msg)
                for f, msg in format_validation_error(err)
            ]
            continue
        if available is not None:
            for name in _missing(cls.required_signals(params), available):
                shown = ", ".join(sorted(available)) or "none"
                issues.append(
                    RecipeIssue(
                        i,
                        step.operator,
                        "signals",
                        f"needs signal '{name}', which the pool's signals lack; available: {shown}",
                    )
                )
        if step.operator == UNION:
            target = str(step.params.get("recipe_hash", ""))
            if not target:
                issues.append(
                    RecipeIssue(
                        i,
                        UNION,
                        "params.recipe_hash",
                        "union needs the recipe_hash of another recipe",
                    )
                )
            elif known_recipes is not None and target not in known_recipes:
                issues.append(
                    RecipeIssue(
                        i, UNION, "params.recipe_hash", f"no known recipe has hash {target[:12]}…"
                    )
                )
    if known_recipes is not None:
        cycle = _union_cycle(recipe, known_recipes)
        if cycle:
            at = next(i for i, s in enumerate(recipe.steps) if s.operator == UNION)
            issues.append(
                RecipeIssue(
                    at,
                    UNION,
                    "params.recipe_hash",
                    "union cycle: " + " -> ".join(h[:12] for h in cycle),
                )
            )
    return issues


def validate_recipe(
    recipe: Recipe,
    signal_names: Iterable[str] | None = None,
    *,
    known_recipes: Mapping[str, Recipe] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> Recipe:
    """Return ``recipe`` if valid.

    Raises:
        RecipeValidationError: every problem :func:`check_recipe` found.
    """
    validated_params(recipe, signal_names, known_recipes=known_recipes, max_steps=max_steps)
    return recipe


def validated_params(
    recipe: Recipe,
    signal_names: Iterable[str] | None = None,
    *,
    known_recipes: Mapping[str, Recipe] | None = None,
    max_steps: int = DEFAULT_MAX_STEPS,
) -> list[OpParams]:
    """The parsed params of every step of ``recipe``, if it is valid (one parse per step).

    Raises:
        RecipeValidationError: every problem :func:`check_recipe` finds.
    """
    parsed: list[OpParams] = []
    issues = _check(recipe, signal_names, known_recipes, max_steps, parsed)
    if issues:
        raise RecipeValidationError(issues, recipe.name)
    return parsed
