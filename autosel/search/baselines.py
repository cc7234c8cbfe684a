"""The comparator strategies a user can pick instead of the GP (``strategy:`` in a search
spec), so that every baseline a practitioner would try is a first-class search with the
same budget, store, report and dashboard:

- ``random`` (:class:`~autosel.search.bo.RandomStrategy`): uniformly random recipes;
- ``grid`` (:class:`GridStrategy`): the single-operator grid — the full pool, then every
  operator alone, each searchable parameter swept one at a time (the others at their
  defaults) on a coarse-to-fine ladder of its unit interval (0.5, 0.1, 0.9, 0.3, 0.7, …),
  operators taken in turn so that a small budget still covers all of them. This is
  the strongest simple baseline: "try each filter at a few settings, keep the best";
- ``tpe`` (:class:`TPEStrategy`): optuna's Tree-structured Parzen Estimator (Bergstra et
  al., 2011) over recipes of up to three steps, as a define-by-run space: the number of
  steps, each step's operator, and that operator's searchable params in their own
  bounds (log scale where the operator says so).

Like :class:`~autosel.search.bo.GPStrategy`, each is a pure function of its seed and the
trial history (TPE rebuilds its study from the history at every ask: no hidden state, so
a restarted server continues the same search), never proposes a subset already
evaluated or pending (by fingerprint), and skips infeasible recipes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from autosel.errors import ConfigError
from autosel.ops import from_unit, param_space, to_unit
from autosel.recipes import Recipe
from autosel.search.bo import GPStrategy, RandomStrategy, _Base, _candidate, _recipes
from autosel.search.space import RecipeSpace
from autosel.search.strategy import (
    Candidate,
    SearchKnobs,
    TrialResult,
    derive_seed,
    remaining,
)

# ``strategy:`` values of a search spec.
STRATEGIES = ("gp", "random", "grid", "tpe")


def grid_levels() -> Iterator[float]:
    """Unit-interval levels, coarse to fine: 0.5, 0.1, 0.9, 0.3, 0.7, then the midpoints
    of every gap so far (0.2, 0.4, …), and so on: any prefix spreads over the interval."""
    yield from (0.5, 0.1, 0.9, 0.3, 0.7)
    done = [0.1, 0.3, 0.5, 0.7, 0.9]
    while True:
        mids = [(a + b) / 2 for a, b in zip(done, done[1:], strict=False)]
        yield from mids
        done = sorted(done + mids)


class GridStrategy(_Base):
    """The single-operator grid (see the module docstring); origin ``grid``."""

    MAX_LEVELS = 33  # per parameter; a budget this large has long found the best setting

    def _sweep(self) -> Iterator[Recipe]:
        space = self.space
        ops = [op for op in space.operators if op != "union"]  # union needs a recipe
        yield space.make([])
        for op in ops:  # every operator alone, at its defaults
            yield space.make([(op, {})])
        per_op: list[list[Recipe]] = []
        levels = list(_take(grid_levels(), self.MAX_LEVELS))
        for op in ops:
            recipes: list[Recipe] = []
            for level in levels:
                for j in range(len(param_space(op))):
                    # Repeats (a categorical has few settings) realize the same subset
                    # and are skipped by fingerprint when asked.
                    u = to_unit(op).copy()
                    u[j] = level
                    recipes.append(space.make([(op, from_unit(op, u).model_dump(mode="json"))]))
            per_op.append(recipes)
        # Round-robin over operators: the k-th setting of every operator before the
        # (k+1)-th of any, so a small budget covers every operator evenly.
        for i in range(max((len(r) for r in per_op), default=0)):
            for recipes in per_op:
                if i < len(recipes):
                    yield recipes[i]

    def ask(
        self, history: Sequence[TrialResult], pending: Sequence[Recipe | Candidate], n: int
    ) -> list[Candidate]:
        k = remaining(self.knobs, history, pending, n)
        seen = self._seen(history, _recipes(pending))
        out: list[Candidate] = []
        if k == 0:
            return out
        for recipe in self._sweep():
            for r, origin in self._fresh([(recipe, "grid")], seen):
                out.append(_candidate(r, self.space, origin, 0))
            if len(out) >= k:
                break
        return out


def _take(it: Iterator[float], n: int) -> Iterator[float]:
    for _, x in zip(range(n), it, strict=False):
        yield x


class TPEStrategy(_Base):
    """optuna's TPE over recipes of up to ``MAX_STEPS`` steps (module docstring); origin
    ``tpe``. Trials whose recipe uses an operator outside the space (e.g. ``union``) are
    left out of the study; failed ones enter it as failed."""

    MAX_STEPS = 3
    TRIES = 40  # proposals per candidate before giving up on finding a fresh subset

    def __init__(self, space: RecipeSpace, knobs: SearchKnobs | None = None) -> None:
        super().__init__(space, knobs)
        try:
            import optuna  # noqa: F401
        except ImportError:  # pragma: no cover - optuna is a dependency of autosel
            raise ConfigError(
                "strategy 'tpe' needs optuna: pip install 'optuna==5.0.0'"
            ) from None
        self.ops = [op for op in space.operators if op != "union"]
        self.max_steps = min(self.MAX_STEPS, space.max_steps, len(self.ops))

    # The define-by-run space, shared by asking and by replaying the history.
    def _distributions(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        dists: dict[str, Any] = {"n_steps": IntDistribution(1, self.max_steps)}
        for i, (op, _) in enumerate(steps):
            dists[f"op{i}"] = CategoricalDistribution(self.ops)
            for d in param_space(op):
                name = f"op{i}.{op}.{d.name}"
                if d.kind == "categorical":
                    dists[name] = CategoricalDistribution(d.choices)
                elif d.kind == "int":
                    dists[name] = IntDistribution(int(d.low), int(d.high), log=d.log)
                else:
                    dists[name] = FloatDistribution(d.low, d.high, log=d.log)
        return dists

    def _params_of(self, recipe: Recipe) -> dict[str, Any] | None:
        steps = self.space.steps_of(recipe)
        if not 1 <= len(steps) <= self.max_steps or any(op not in self.ops for op, _ in steps):
            return None  # outside TPE's space (the full pool, a union, a long recipe)
        values: dict[str, Any] = {"n_steps": len(steps)}
        for i, (op, params) in enumerate(steps):
            values[f"op{i}"] = op
            full = get_params(op, params)
            for d in param_space(op):
                v = full[d.name]
                if d.kind != "categorical":
                    v = min(max(v, d.low), d.high)
                    v = int(round(v)) if d.kind == "int" else float(v)
                values[f"op{i}.{op}.{d.name}"] = v
        return values

    def _suggest(self, trial: Any) -> Recipe:
        steps = []
        for i in range(trial.suggest_int("n_steps", 1, self.max_steps)):
            op = trial.suggest_categorical(f"op{i}", self.ops)
            params: dict[str, Any] = {}
            for d in param_space(op):
                name = f"op{i}.{op}.{d.name}"
                if d.kind == "categorical":
                    params[d.name] = trial.suggest_categorical(name, list(d.choices))
                elif d.kind == "int":
                    params[d.name] = trial.suggest_int(name, int(d.low), int(d.high), log=d.log)
                else:
                    params[d.name] = trial.suggest_float(name, d.low, d.high, log=d.log)
            steps.append((op, params))
        return self.space.make(steps)

    def _study(self, history: Sequence[TrialResult], pending: list[Recipe], salt: int) -> Any:
        import optuna
        from optuna.trial import TrialState, create_trial

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(
            seed=derive_seed(self.knobs.seed, len(history), len(pending), salt, "tpe") % 2**32,
            n_startup_trials=self.knobs.warmup,
            constant_liar=True,  # pending trials push the next proposals elsewhere
        )
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for t in history:
            values = self._params_of(t.recipe)
            if values is None:
                continue
            steps = self.space.steps_of(t.recipe)
            study.add_trial(
                create_trial(
                    params=values,
                    distributions=self._distributions(steps),
                    value=t.score if t.ok else None,
                    state=TrialState.COMPLETE if t.ok else TrialState.FAIL,
                )
            )
        for r in pending:
            values = self._params_of(r)
            if values is not None:
                study.add_trial(
                    create_trial(
                        params=values,
                        distributions=self._distributions(self.space.steps_of(r)),
                        state=TrialState.RUNNING,
                    )
                )
        return study

    def ask(
        self, history: Sequence[TrialResult], pending: Sequence[Recipe | Candidate], n: int
    ) -> list[Candidate]:
        from optuna.trial import TrialState

        k = remaining(self.knobs, history, pending, n)
        pend = _recipes(pending)
        seen = self._seen(history, pend)
        out: list[Candidate] = []
        if k == 0:
            return out
        study = self._study(history, pend, 0)
        scores = {
            self.space.realize(t.recipe).fingerprint: t.score
            for t in history
            if t.ok and t.score is not None
        }
        # An infeasible proposal is told a score below every observed one, so TPE moves
        # away from it (a FAIL state would be ignored and proposed again); one that
        # realizes an evaluated subset is told that subset's score.
        worst = min(scores.values(), default=0.0) - 1.0
        for _ in range(self.TRIES * k):
            if len(out) >= k:
                break
            trial = study.ask()
            recipe = self._suggest(trial)
            fresh = self._fresh([(recipe, "tpe")], seen)
            if fresh:
                r, origin = fresh[0]
                out.append(_candidate(r, self.space, origin, 0))
                # left RUNNING: the constant liar steers the next pick away from it
                continue
            realized = self.space.realize(recipe)
            if realized.feasible and realized.fingerprint in scores:
                study.tell(trial, scores[realized.fingerprint])
            elif realized.feasible:  # pending, or proposed earlier in this ask
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, worst)
        return out


def get_params(op: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` completed with the operator's defaults (validated)."""
    from autosel.ops import get_operator

    return get_operator(op).parse(params).model_dump(mode="json")


def make_strategy(
    name: str,
    space: RecipeSpace,
    knobs: SearchKnobs,
    seed_recipes: Sequence[Recipe] = (),
) -> _Base:
    """The strategy a search spec names (``strategy:``), over ``space``.

    Seed recipes are the GP's warmup; the comparators ignore them (each baseline is its
    own definition of where to start).

    Raises:
        ConfigError: an unknown name, listing :data:`STRATEGIES`.
    """
    if name == "gp":
        return GPStrategy(space, knobs, seed_recipes=seed_recipes)
    if name == "random":
        return RandomStrategy(space, knobs)
    if name == "grid":
        return GridStrategy(space, knobs)
    if name == "tpe":
        return TPEStrategy(space, knobs)
    raise ConfigError(f"strategy {name!r}: accepted {', '.join(STRATEGIES)}")
