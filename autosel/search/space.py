"""The recipe space as the search sees it: decoding unit points, random recipes, GP encoding.

Layout of a point of the *unit cube* (what Sobol warmup samples): for each searchable
operator, in sorted order, ``[gate, position, params...]``. An operator is enabled when its
gate is below ``p_on`` (tuned so a recipe has about two steps on average); at most
``max_steps`` enabled operators are kept (smallest gates first) and they run in order of
``position``. ``union`` has no unit coordinates: it references an evaluated recipe, so
only the ``union`` edit move adds it.

*GP encoding* of a realized recipe: for each searchable operator a slot
``[enabled, params]`` where numeric params are their unit coordinate and categorical params
are **one-hot** (an ordinal bin code would tell the GP that ``"top"`` lies between
``"bottom"`` and ``"threshold"``); a disabled slot is all zeros. Then ``[union enabled]``
if union is allowed, then the realized state vector (``autosel.recipes.state``; the GP's
``Normalize`` transform rescales it). An operator used twice is encoded by its first step;
the state vector still sees the effect of both.

Thin adapter over ``autosel.recipes.realize``: realizations are cached here by recipe
hash for the lifetime of the space (the recipes LRU holds 256, fewer than one ask ranks),
and a failed realization or validation becomes an infeasible entry instead of an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.ops import (
    available_signals,
    from_unit,
    get_operator,
    list_operators,
    param_space,
    to_unit,
)
from autosel.recipes import Recipe, check_recipe, realize
from autosel.recipes.state import state_feature_names
from autosel.search.edits import EditSpace, Steps

UNION = "union"


@dataclass(frozen=True)
class Realized:
    """What the search keeps of a realization."""

    recipe: Recipe
    recipe_hash: str
    fingerprint: str
    indices: np.ndarray
    state: np.ndarray
    feasible: bool
    reason: str | None

    @property
    def size(self) -> int:
        return len(self.indices)


class RecipeSpace:
    """Recipes of at most ``max_steps`` steps over the allowed operators of one pool.

    Args:
        pool: ``PoolColumns`` or a stored pool.
        signals: the pool's signals.
        operators: allowed operator names (default: every registered operator whose
            default params' signals are available).
        max_steps: longest recipe.
        min_size: smallest feasible subset.
        seed: realization seed (randomised operators draw from it).
        target_mix: source proportions for the ``source_js_target`` state feature.
    """

    def __init__(
        self,
        pool: Any,
        signals: Any,
        *,
        operators: Sequence[str] | None = None,
        max_steps: int = 5,
        min_size: int = 1,
        seed: int = 0,
        target_mix: Mapping[str, float] | None = None,
    ) -> None:
        self.pool, self.signals = pool, signals
        self.max_steps, self.min_size, self.seed = max_steps, min_size, seed
        self.target_mix = dict(target_mix) if target_mix else None
        available = available_signals(signals)
        names = sorted(operators) if operators is not None else list_operators()
        usable = []
        for op in names:
            issues = check_recipe(Recipe.of((op, {})), available) if op != UNION else []
            if issues and operators is not None:
                raise ConfigError(f"operator '{op}' cannot run on these signals: {issues[0]}")
            if not issues:
                usable.append(op)
        self.union = UNION in usable
        self.operators = [op for op in usable if op != UNION]
        if not self.operators:
            raise ConfigError(
                "the recipe space has no usable operator; registered: "
                + ", ".join(list_operators())
            )
        self.dims = {op: param_space(op) for op in self.operators}
        self.state_names = tuple(state_feature_names(signals))
        self.p_on = min(0.5, 2.0 / len(self.operators))
        self.known: dict[str, Recipe] = {}
        self._cache: dict[str, Realized] = {}
        self.edit_space = EditSpace(
            self.operators,
            max_steps,
            self.dims,
            to_unit=lambda op, p: to_unit(op, p),
            from_unit=lambda op, u, base: from_unit(op, u, base).model_dump(mode="json"),
            union_op=UNION if self.union else None,
            union_params=lambda h: {"recipe_hash": h},
        )

    # ----- construction -------------------------------------------------------------
    @property
    def unit_dim(self) -> int:
        """Dimension of the unit cube warmup samples (`u`)."""
        return sum(2 + len(self.dims[op]) for op in self.operators)

    def from_unit(self, u: np.ndarray) -> Recipe:
        """Decode a point of the unit cube (`u`) into a recipe (see the module docstring)."""
        u = np.asarray(u, dtype=np.float64)
        if u.shape != (self.unit_dim,):
            raise ConfigError(f"expected a point of dimension {self.unit_dim}, got {u.shape}")
        picked: list[tuple[float, float, str, dict[str, Any]]] = []
        j = 0
        for op in self.operators:
            k = len(self.dims[op])
            gate, pos, params = u[j], u[j + 1], u[j + 2 : j + 2 + k]
            j += 2 + k
            if gate < self.p_on:
                picked.append(
                    (float(gate), float(pos), op, from_unit(op, params).model_dump(mode="json"))
                )
        picked = sorted(picked)[: self.max_steps]
        steps = [(op, p) for _, _, op, p in sorted(picked, key=lambda t: (t[1], t[2]))]
        return self.make(steps)

    def random_recipe(self, rng: np.random.Generator) -> Recipe:
        """A uniformly random recipe of 1..min(3, max_steps) distinct operators."""
        n = int(rng.integers(1, min(3, self.max_steps, len(self.operators)) + 1))
        ops = [self.operators[i] for i in rng.permutation(len(self.operators))[:n]]
        return self.make([(op, self.edit_space.random_params(op, rng)) for op in ops])

    def short_recipe(self, rng: np.random.Generator, p_more: float = 0.35) -> Recipe:
        """A random recipe whose length is geometric: 1 step, then one more w.p. ``p_more``.

        Every step is a filter that shrinks the subset, so long random recipes mostly
        realize tiny or infeasible subsets; a prior towards short recipes (P(1 step) =
        0.65, P(2) = 0.23, P(3) = 0.08 with the default) puts most of the candidate mass
        where single strong operators and simple pairs live, while longer recipes stay
        reachable (edits grow them from good parents).
        """
        n = 1
        while n < min(self.max_steps, len(self.operators)) and rng.random() < p_more:
            n += 1
        ops = [self.operators[i] for i in rng.permutation(len(self.operators))[:n]]
        return self.make([(op, self.edit_space.random_params(op, rng)) for op in ops])

    def default_recipes(self) -> list[Recipe]:
        """The full pool, then every operator alone at its default params (sorted by name).

        An operator's defaults are its author's recommended setting (e.g. the HES top
        fraction of the HES paper), so these are the "expert" recipes a user would try
        first; HPO tools seed with the default configuration for the same reason.
        """
        return [self.make([])] + [self.make([(op, {})]) for op in self.operators]

    def distinct_subsets(
        self, recipes: Sequence[Recipe], exclude: Collection[str] = ()
    ) -> list[Realized]:
        """The feasible realizations of ``recipes``, one per distinct subset (first
        recipe wins), leaving out subsets whose fingerprint is in ``exclude``. Several
        operators at their defaults (cap, length_filter, ...) keep the whole pool: one
        probe of it is enough, and the screening warmup counts anchors this way."""
        out: list[Realized] = []
        taken = set(exclude)
        for r in map(self.realize, recipes):
            if r.feasible and r.fingerprint not in taken:
                taken.add(r.fingerprint)
                out.append(r)
        return out

    def make(self, steps: Steps) -> Recipe:
        return Recipe.of(*[(op, dict(p)) for op, p in steps])

    @staticmethod
    def steps_of(recipe: Recipe) -> Steps:
        return [(s.operator, dict(s.params)) for s in recipe.steps]

    # ----- realization ----------------------------------------------------------------
    def register(self, recipes: Sequence[Recipe]) -> None:
        """Make recipes referable by ``union`` steps (evaluated and pending ones)."""
        for r in recipes:
            self.known.setdefault(r.recipe_hash, r)

    def _resolve(self, h: str) -> np.ndarray:
        if h not in self.known:
            raise ConfigError(f"union with unknown recipe {h[:12]}…")
        return self.realize(self.known[h]).indices

    def realize(self, recipe: Recipe) -> Realized:
        """Realize (cached by recipe hash); invalid or failing recipes come back infeasible."""
        h = recipe.recipe_hash
        hit = self._cache.get(h)
        if hit is not None:
            return hit
        # Mark in-progress so a union cycle reads as infeasible instead of recursing.
        empty = np.zeros(0, dtype=np.int64)
        self._cache[h] = Realized(
            recipe, h, "", empty, np.zeros(len(self.state_names)), False, "union cycle"
        )
        try:
            r = realize(
                recipe,
                self.pool,
                self.signals,
                self.seed,
                min_size=self.min_size,
                max_steps=self.max_steps,
                recipe_resolver=self._resolve,
                target_mix=self.target_mix,
                use_cache=False,
            )
            out = Realized(
                recipe, h, r.fingerprint, r.indices, r.state_vector, r.feasible, r.reason
            )
        except ConfigError as err:  # RecipeValidationError is a ConfigError too
            out = Realized(recipe, h, "", empty, np.zeros(len(self.state_names)), False, str(err))
        self._cache[h] = out
        return out

    # ----- GP encoding ----------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """Dimension of the ``"full"`` :meth:`encode` (`d`)."""
        return self.encoded_dim("full")

    def encoded_dim(self, features: str) -> int:
        """Dimension of :meth:`encode` for an encoding (see :meth:`encode`)."""
        if features == "state":
            return len(self.state_names)
        if features == "state+ops":
            return len(self.operators) + int(self.union) + len(self.state_names)
        slots = sum(
            1 + sum(len(d.choices) if d.kind == "categorical" else 1 for d in self.dims[op])
            for op in self.operators
        )
        return slots + int(self.union) + len(self.state_names)

    def encoded_names(self, features: str = "full") -> list[str]:
        """A name for each entry of :meth:`encode` (``op``, ``op.param``,
        ``op.param=choice``, ``union``, then the state feature names)."""
        if features == "state":
            return list(self.state_names)
        if features == "state+ops":
            return [*self.operators, *([UNION] if self.union else []), *self.state_names]
        names: list[str] = []
        for op in self.operators:
            names.append(op)
            for d in self.dims[op]:
                if d.kind == "categorical":
                    names += [f"{op}.{d.name}={c}" for c in d.choices]
                else:
                    names.append(f"{op}.{d.name}")
        return [*names, *([UNION] if self.union else []), *self.state_names]

    def encode(self, realized: Realized, features: str = "full") -> np.ndarray:
        """The GP input of a realized recipe (`d`).

        Args:
            realized: the realized recipe.
            features: ``"full"`` (operator slots with params, then the state vector),
                ``"state+ops"`` (one enabled flag per operator, then the state) or
                ``"state"`` (the realized state vector only).
        """
        if features == "state":
            return np.asarray(realized.state, dtype=np.float64).copy()
        first: dict[str, dict[str, Any]] = {}
        for s in realized.recipe.steps:
            first.setdefault(s.operator, s.params)
        if features == "state+ops":
            flags = [1.0 if op in first else 0.0 for op in self.operators]
            if self.union:
                flags.append(1.0 if UNION in first else 0.0)
            return np.concatenate([np.asarray(flags), realized.state])
        parts: list[float] = []
        for op in self.operators:
            dims = self.dims[op]
            if op not in first:
                parts += [0.0] * (
                    1 + sum(len(d.choices) if d.kind == "categorical" else 1 for d in dims)
                )
                continue
            params = get_operator(op).parse(first[op])
            parts.append(1.0)
            for d in dims:
                v = getattr(params, d.name)
                if d.kind == "categorical":
                    parts += [1.0 if c == v else 0.0 for c in d.choices]
                else:
                    parts.append(d.encode(v))
        if self.union:
            parts.append(1.0 if UNION in first else 0.0)
        return np.concatenate([np.asarray(parts), realized.state])
