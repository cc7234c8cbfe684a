"""Ask/tell search strategies: the values they exchange, their knobs and their protocol.

A strategy is a pure function of its seed, its knobs and the trial history: ``ask(history,
pending, n)`` returns up to ``n`` candidates and never touches the DB. The scheduler tells
results back by appending :class:`TrialResult` values to the history it passes next time,
so a restarted server that reloads the history continues exactly the same search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from autosel.errors import ConfigError
from autosel.recipes.model import Recipe
from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET
from autosel.search.edits import MOVES, Move

Status = Literal["ok", "failed", "infeasible"]


@dataclass(frozen=True)
class Candidate:
    """A recipe proposed for evaluation, with the evidence that picked it.

    Args:
        recipe: the recipe to evaluate.
        recipe_hash: its identity.
        fingerprint: hash of the sorted sample ids of the subset it realizes.
        state: the realized subset's state vector (named by ``state_names``).
        state_names: feature names of ``state``.
        size: number of samples in the realized subset.
        mean: surrogate posterior mean of its score (``None`` before the GP is used).
        std: surrogate posterior standard deviation.
        acquisition: qLogNEI value it was ranked by (``None`` for warmup / random).
        origin: ``warmup``, ``seed``, ``edit:<move>``, ``reseed``, ``random`` or ``baseline``.
        trajectory: index of the local-search trajectory (incremented by each reseed).
    """

    recipe: Recipe
    recipe_hash: str
    fingerprint: str
    state: np.ndarray
    state_names: tuple[str, ...]
    size: int
    mean: float | None = None
    std: float | None = None
    acquisition: float | None = None
    origin: str = "random"
    trajectory: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the job store and the API)."""
        return {
            "recipe": self.recipe.to_dict(),
            "recipe_hash": self.recipe_hash,
            "fingerprint": self.fingerprint,
            "size": self.size,
            "state": dict(zip(self.state_names, map(float, self.state), strict=True)),
            "mean": self.mean,
            "std": self.std,
            "acquisition": self.acquisition,
            "origin": self.origin,
            "trajectory": self.trajectory,
        }


@dataclass(frozen=True)
class TrialResult:
    """One finished evaluation, as told back to the strategy.

    Args:
        recipe: the evaluated recipe (the history must be enough to rebuild the search).
        score: the utility (higher is better); ``None`` unless ``status == "ok"``.
        per_benchmark: per-benchmark scores.
        cost: device-seconds spent.
        status: ``ok``; ``failed`` (the evaluation crashed: never fitted, not retried);
            ``infeasible`` (the recipe cannot be evaluated, e.g. an empty subset).
        reason: why it failed / is infeasible.
        recipe_hash: defaults to ``recipe.recipe_hash``.
        fingerprint: subset fingerprint, if the caller knows it (else realized again).
        noise_var: variance of ``score`` as an observation (utility², e.g. item variance
            plus training-seed variance), or ``None`` when unknown. When every fitted
            trial has one, the GP treats the noise as known (``SearchKnobs.gp_noise``).
    """

    recipe: Recipe
    score: float | None
    per_benchmark: dict[str, float] = field(default_factory=dict)
    cost: float = 0.0
    status: Status = "ok"
    reason: str | None = None
    recipe_hash: str = ""
    fingerprint: str | None = None
    noise_var: float | None = None

    def __post_init__(self) -> None:
        if not self.recipe_hash:
            object.__setattr__(self, "recipe_hash", self.recipe.recipe_hash)
        if self.noise_var is not None and not (
            math.isfinite(self.noise_var) and self.noise_var >= 0
        ):
            raise ConfigError(
                f"trial {self.recipe_hash[:12]}: noise_var {self.noise_var!r}; accepted: "
                "None (unknown) or a finite variance >= 0"
            )
        if self.status not in ("ok", "failed", "infeasible"):
            raise ConfigError(
                f"trial status {self.status!r}: accepted are 'ok', 'failed', 'infeasible'"
            )
        if self.status == "ok" and (self.score is None or not math.isfinite(self.score)):
            raise ConfigError(
                f"trial {self.recipe_hash[:12]}: status 'ok' needs a finite score, "
                f"got {self.score!r} (report a crash as status='failed' with a reason)"
            )
        if self.status != "ok" and not self.reason:
            raise ConfigError(
                f"trial {self.recipe_hash[:12]}: status {self.status!r} needs a reason"
            )

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class SearchKnobs(BaseModel):
    """Algorithm knobs of a search (explicit, validated, stored with the search).

    Args:
        budget: full evaluations to spend (finished trials, failures included); in a
            search, always the spec's budget.
        n_warmup: space-filling probes before the GP takes over; default
            ``max(3, budget // 5)``. User seed recipes count towards it.
        patience: consecutive successful evaluations without a new best that trigger a
            reseed of the local-edit neighbourhood.
        edit_moves: the local edit moves used (``union`` needs a union operator).
        max_steps: the longest recipe proposed.
        n_candidates: edited candidates realized and ranked per ask.
        n_random: random recipes added to the candidates per ask.
        n_sobol: size of the scrambled-Sobol set warmup probes are chosen from.
        n_parents: best recipes of the current trajectory that edits start from.
        sigma: perturbation scale of a parameter in its unit interval.
        fit_maxiter: L-BFGS-B iteration cap of the GP fit (bounds time per ask).
        min_size: smallest realized subset accepted as feasible, in rows. ``None`` (the
            default): :data:`DEFAULT_MIN_SHARE` of the pool, at least 1 (see
            :func:`resolve_min_size`). A subset of a few rows cannot be compared with the
            full pool at equal training budget; with the old default of 1 the search
            spent evaluations on 3-row subsets.
        gp_noise: the GP's observation noise. ``"known"``: each trial's ``noise_var``
            (``train_Yvar``) when every fitted trial has one, else learned. ``"known+learned"``:
            the same, plus one learned homoskedastic variance on top (for noise that
            ``noise_var`` does not hold, e.g. training seeds when it holds items only).
            ``"learned"``: one homoskedastic variance fitted with the GP, ``noise_var``
            ignored. See :func:`autosel.search.gp.fit_surrogate`.
        features: GP input: ``"state"`` (realized state vector only), ``"state+ops"``
            (plus one enabled flag per operator) or ``"full"`` (plus every param).
        default_seeds: without user seed recipes, treat the full pool and each operator
            at its defaults as anchors: warmup picks among them and they stay candidates.
        perturb_scales: multipliers of ``sigma`` a parameter perturbation draws from
            (small steps refine, large ones jump across a size range).
        p_more: geometric continuation probability of random recipes' length.
        operators: allowed operators (default: every registered operator, sorted).
        seed: the search seed; every random draw derives from it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    budget: int = Field(DEFAULT_BUDGET, ge=1, le=MAX_BUDGET)
    n_warmup: int | None = Field(None, ge=1)
    patience: int = Field(4, ge=1)
    edit_moves: tuple[Move, ...] = MOVES
    max_steps: int = Field(5, ge=1, le=20)
    n_candidates: int = Field(384, ge=8, le=20_000)
    n_random: int = Field(32, ge=0, le=5_000)
    n_sobol: int = Field(512, ge=16, le=65_536)
    n_parents: int = Field(3, ge=1, le=50)
    sigma: float = Field(0.15, gt=0.0, le=1.0)
    fit_maxiter: int = Field(75, ge=5, le=1000)
    gp_noise: Literal["known", "known+learned", "learned"] = "known"
    min_size: int | None = Field(None, ge=1)
    features: Literal["state", "state+ops", "full"] = "state"
    default_seeds: bool = True
    perturb_scales: tuple[float, ...] = (0.33, 1.0, 2.5)
    p_more: float = Field(0.35, ge=0.0, lt=1.0)
    operators: tuple[str, ...] | None = None
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SearchKnobs:
        if not self.edit_moves:
            raise ValueError(f"edit_moves must name at least one of {list(MOVES)}")
        if len(set(self.edit_moves)) != len(self.edit_moves):
            raise ValueError(f"edit_moves has duplicates: {list(self.edit_moves)}")
        if self.n_warmup is not None and self.n_warmup > self.budget:
            raise ValueError(f"n_warmup={self.n_warmup} exceeds budget={self.budget}")
        if self.operators is not None and not self.operators:
            raise ValueError("operators, when given, must name at least one operator")
        return self

    @property
    def warmup(self) -> int:
        """Effective number of warmup probes."""
        return (
            self.n_warmup
            if self.n_warmup is not None
            else min(self.budget, max(3, self.budget // 5))
        )


@runtime_checkable
class Strategy(Protocol):
    """What the scheduler calls. Deterministic given the seed, history and pending jobs."""

    def ask(
        self, history: Sequence[TrialResult], pending: Sequence[Recipe | Candidate], n: int
    ) -> list[Candidate]:
        """Up to ``n`` new candidates (fewer when the budget or the space runs out)."""
        ...


def remaining(
    knobs: SearchKnobs, history: Sequence[TrialResult], pending: Sequence[Any], n: int
) -> int:
    """How many candidates an ask may return given the budget."""
    return max(0, min(int(n), knobs.budget - len(history) - len(pending)))


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from (search seed, trial count, purpose, ...): stable across processes."""
    import hashlib

    text = "/".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def rng_for(*parts: int | str) -> np.random.Generator:
    """A fresh ``numpy`` generator seeded by :func:`derive_seed`."""
    return np.random.default_rng(derive_seed(*parts))


# Default smallest feasible subset, as a share of the pool (SearchKnobs.min_size = None).
DEFAULT_MIN_SHARE = 0.05


def resolve_min_size(knobs: SearchKnobs, n_pool: int) -> int:
    """The smallest feasible subset for a pool of ``n_pool`` rows: ``knobs.min_size``, or
    :data:`DEFAULT_MIN_SHARE` of the pool rounded up (at least 1).

    Raises:
        ConfigError: ``knobs.min_size`` is larger than the pool (no recipe could be
            feasible), naming the field and the pool's size.
    """
    from autosel.errors import ConfigError

    if knobs.min_size is None:
        return max(1, math.ceil(DEFAULT_MIN_SHARE * n_pool))
    if knobs.min_size > n_pool:
        raise ConfigError(
            f"search spec: field 'knobs.min_size': {knobs.min_size} is larger than the pool "
            f"({n_pool} rows), so no recipe could be feasible; accepted 1..{n_pool}, or "
            f"leave it out for {DEFAULT_MIN_SHARE:.0%} of the pool"
        )
    return knobs.min_size
