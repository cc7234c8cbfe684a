"""Local edit moves on recipes: add / remove / replace an operator, perturb, reorder, union.

Edits work on a plain step list, ``[(operator name, params dict), ...]``, and on the unit
cube of each operator's params (:func:`autosel.ops.space.to_unit` / ``from_unit``), so a
perturbation has the same meaning for every operator: a Gaussian step of ``sigma`` in the
normalised space (log-scaled params move multiplicatively). Categorical params are
resampled with probability ``sigma`` instead of moved. Fields outside the search space
(``search=False``: explicit proportions, totals) keep the parent's value.

Every move draws from the ``numpy.random.Generator`` it is given; nothing here iterates a
set, so the same generator state gives the same edits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

Steps = list[tuple[str, dict[str, Any]]]
Move = Literal["add", "remove", "replace", "perturb", "reorder", "union"]
MOVES: tuple[Move, ...] = ("add", "remove", "replace", "perturb", "reorder", "union")


class EditSpace:
    """What the edit moves need to know about the recipe space.

    Args:
        operators: allowed operator names (sorted).
        max_steps: the longest admissible recipe.
        dims: ``op -> list of Dimension`` (its searchable params).
        to_unit: ``(op, params) -> unit vector``.
        from_unit: ``(op, unit vector, base params) -> params dict``.
        union_op: name of the operator that unions with another evaluated subset, if any.
        union_params: ``(other recipe hash) -> params dict`` for that operator.
    """

    def __init__(
        self,
        operators: Sequence[str],
        max_steps: int,
        dims: dict[str, list[Any]],
        to_unit: Callable[[str, dict[str, Any]], np.ndarray],
        from_unit: Callable[[str, np.ndarray, dict[str, Any]], dict[str, Any]],
        union_op: str | None = None,
        union_params: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.operators = list(operators)
        self.max_steps = max_steps
        self.dims = dims
        self.to_unit = to_unit
        self.from_unit = from_unit
        self.union_op = union_op
        self.union_params = union_params

    def random_params(self, op: str, rng: np.random.Generator) -> dict[str, Any]:
        """Params drawn uniformly from the operator's unit cube."""
        return self.from_unit(op, rng.random(len(self.dims[op])), {})


def _perturb_params(
    space: EditSpace, op: str, params: dict[str, Any], rng: np.random.Generator, sigma: float
) -> dict[str, Any]:
    dims = space.dims[op]
    if not dims:
        return dict(params)
    u = space.to_unit(op, params).copy()
    # Move one coordinate most of the time (a local step), all of them sometimes. A
    # numeric coordinate is picked twice as often as a categorical one: resampling a
    # category (e.g. a filter's mode) is a jump, not a local step, and numeric params
    # such as a kept fraction set the subset size, the strongest driver of utility.
    w = np.array([1.0 if d.kind == "categorical" else 2.0 for d in dims])
    which = (
        np.arange(len(dims))
        if rng.random() < 0.25
        else np.array([rng.choice(len(dims), p=w / w.sum())])
    )
    for j in which:
        if dims[j].kind == "categorical":
            if len(which) == 1 or rng.random() < sigma:
                u[j] = rng.random()
        else:
            u[j] = float(np.clip(u[j] + rng.normal(0.0, sigma), 0.0, 1.0))
    return space.from_unit(op, u, params)


def edit(
    steps: Steps,
    move: Move,
    space: EditSpace,
    rng: np.random.Generator,
    *,
    sigma: float = 0.15,
    others: Sequence[str] = (),
) -> Steps | None:
    """Apply one move to a recipe's steps.

    Args:
        steps: the parent recipe's steps.
        move: which move.
        space: the recipe space.
        rng: the only source of randomness.
        sigma: perturbation scale in the unit cube.
        others: hashes of evaluated recipes a ``union`` may combine with.

    Returns:
        The edited steps, or ``None`` when the move does not apply (e.g. ``remove`` on an
        empty recipe, ``add`` at ``max_steps``).
    """
    steps = [(op, dict(p)) for op, p in steps]
    present = [op for op, _ in steps]
    absent = [op for op in space.operators if op not in present and op != space.union_op]
    n = len(steps)
    if move == "add":
        if n >= space.max_steps or not absent:
            return None
        op = absent[rng.integers(len(absent))]
        steps.insert(int(rng.integers(n + 1)), (op, space.random_params(op, rng)))
    elif move == "remove":
        if n == 0:
            return None
        del steps[int(rng.integers(n))]
    elif move == "replace":
        if n == 0 or not absent:
            return None
        op = absent[rng.integers(len(absent))]
        steps[int(rng.integers(n))] = (op, space.random_params(op, rng))
    elif move == "perturb":
        tunable = [i for i, (op, _) in enumerate(steps) if space.dims.get(op)]
        if not tunable:
            return None
        i = tunable[int(rng.integers(len(tunable)))]
        op, p = steps[i]
        steps[i] = (op, _perturb_params(space, op, p, rng, sigma))
    elif move == "reorder":
        if n < 2:
            return None
        i = int(rng.integers(n - 1))
        steps[i], steps[i + 1] = steps[i + 1], steps[i]
    elif move == "union":
        if (
            space.union_op is None
            or space.union_params is None
            or not others
            or n >= space.max_steps
        ):
            return None
        other = others[int(rng.integers(len(others)))]
        steps.append((space.union_op, space.union_params(other)))
    else:
        raise ValueError(f"unknown edit move {move!r}; known moves: {list(MOVES)}")
    return steps


def propose_edits(
    parents: Sequence[Steps],
    space: EditSpace,
    rng: np.random.Generator,
    n: int,
    *,
    moves: Sequence[Move] = MOVES,
    sigma: float = 0.15,
    others: Sequence[str] = (),
    max_tries: int | None = None,
    scales: Sequence[float] = (1.0,),
    weights: dict[str, float] | None = None,
) -> list[tuple[Steps, Move, int]]:
    """Draw ``n`` edited recipes from the parents (round-robin over parents, random moves).

    Perturbations are drawn twice as often as structural moves: they are the finest
    local step, and a GP ranks many of them cheaply. A few edits chain two moves so the
    neighbourhood is not limited to distance one.

    Args:
        parents: the parents' steps (edited round-robin).
        space: the recipe space.
        rng: the only source of randomness.
        n: how many edits to return.
        moves: allowed moves.
        sigma: base perturbation scale in the unit cube.
        others: hashes of evaluated recipes a ``union`` may combine with.
        max_tries: cap on attempts (default ``4 n + 16``).
        scales: each edit draws its step ``sigma * scale`` uniformly from these: one
            fixed ``sigma`` either refines around the incumbent or jumps, while the
            optimum of a size-like param (a kept fraction) may be 0.05 or 0.5 away in
            the unit interval; a few scales let the GP choose among both.
        weights: relative move frequencies (default: ``perturb`` 2, others 1).

    Returns:
        ``(steps, move, parent index)`` triples; fewer than ``n`` if moves keep failing.
        The move label of a chained edit is its first move.
    """
    if not parents or not moves:
        return []
    w = {"perturb": 2.0, **(weights or {})}
    probs = np.array([w.get(m, 1.0) for m in moves], dtype=np.float64)
    probs /= probs.sum()
    out: list[tuple[Steps, Move, int]] = []
    tries = 0
    limit = max_tries if max_tries is not None else 4 * n + 16
    while len(out) < n and tries < limit:
        k = tries % len(parents)
        tries += 1
        move = moves[int(rng.choice(len(moves), p=probs))]
        step = sigma * float(scales[int(rng.integers(len(scales)))])
        child = edit(parents[k], move, space, rng, sigma=step, others=others)
        if child is None:
            continue
        if rng.random() < 0.2:
            second = moves[int(rng.choice(len(moves), p=probs))]
            child = edit(child, second, space, rng, sigma=step, others=others) or child
        out.append((child, move, k))
    return out
