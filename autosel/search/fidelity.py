"""Multi-fidelity evaluation: a ladder of cheaper evaluations and asynchronous successive
halving (ASHA; Li et al., "A System for Massively Parallel Hyperparameter Tuning", MLSys
2020) over it.

A *fidelity* ``f`` in ``(0, 1]`` is the share of a full evaluation's training compute a
screening run spends: ``ceil(f x max_steps)`` steps on the whole subset when the
evaluation has a fixed step budget, else one epoch over a seeded subsample of
``ceil(f x n)`` of the subset's examples (:func:`autosel.evaluation.evaluator.at_fidelity`);
the benchmark's dev items are all scored. It costs about ``f`` of a full evaluation. The search spends its budget in
**compute units** (full-evaluation equivalents): a trial at fidelity ``f`` costs ``f``,
whether it succeeds or fails.

With a ladder ``(f_0, ..., 1.0)`` the strategy's new candidates are evaluated at ``f_0``;
a trial is *promoted* to the next rung (a new trial of the same recipe, origin
``promote``) once it ranks in the top ``1/eta`` of the trials completed at its rung
(ASHA's rule: at least ``eta`` of them). The best recipe — what the final report
re-trains — is taken from the highest rung that has a score, so a lucky cheap score
never wins. With the default ladder ``(1.0,)`` every evaluation is a full one and nothing
here changes the search.

Which rung the surrogate learns from: the highest rung with at least two scores (mixing
fidelities in one GP would treat a quarter-trained model's score as a full one's);
trials at other rungs are passed as pending, so they are never proposed again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

FULL = 1.0
T = TypeVar("T")


class FidelitySpec(BaseModel):
    """The fidelity ladder of a search (``fidelity:`` in the spec).

    Attributes:
        ladder: increasing fidelities in ``(0, 1]``, ending at 1.0 (full). ``(1.0,)``: no
            screening (the default).
        eta: promotion factor: the top ``1/eta`` of a rung move up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    ladder: tuple[float, ...] = Field(
        (FULL,), description="Increasing training shares ending at 1.0; (1.0,) = full only."
    )
    eta: int = Field(3, ge=2, le=16, description="Promote the top 1/eta of each rung.")

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v:
            raise ValueError("the ladder needs at least one rung; accepted e.g. [0.25, 1.0]")
        for i, f in enumerate(v):
            if not 0.0 < f <= FULL:
                raise ValueError(
                    f"rung {i} is {f}: a fidelity is a share of the subset trained on, "
                    f"accepted 0 < f <= 1.0 (a rung above full cannot exist)"
                )
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError(f"rungs must increase strictly, got {list(v)}")
        if v[-1] != FULL:
            raise ValueError(f"the last rung must be 1.0 (full), got {list(v)}")
        return tuple(float(f) for f in v)

    @property
    def screening(self) -> bool:
        return len(self.ladder) > 1


@dataclass(frozen=True)
class RungTrial:
    """What promotion needs of one search trial."""

    number: int
    fidelity: float
    score: float | None  # None: not finished, or failed
    promoted_from: int | None = None


def screening_warmup(budget: float, f0: float, anchors: int) -> int:
    """Warmup screens of a multi-fidelity search: every anchor (the distinct subsets of
    the seed recipes, or of the full pool and each operator at its defaults), at most half
    of the screening runs the budget buys (``budget / f0``), at least 3. With full
    evaluations only a budget of 8 probes 3 of the ~15 single-operator anchors; at a
    quarter of the cost a budget of 8 screens all 15 and still has half its units for
    promotions and the GP's own proposals (measured on the demo: README, Results)."""
    runs = int(budget / f0 + 1e-9)
    return max(3, min(anchors, runs // 2))


def promotion_reserve(spec: FidelitySpec) -> float:
    """Compute units kept back whenever a new lowest-rung screen is proposed: the cost of
    promoting one screen all the way to full fidelity (``sum(ladder[1:])``), so every
    screen the search starts could still become the best.

    Without it a screen proposed after the promotions had spent the budget could rank in a
    rung's top ``1/eta`` and never be promoted: measured on the demo (budget 10, ladder
    [0.25, 1.0], eta 3), 15 warmup screens, 5 promotions, then 5 GP screens (1.25 units,
    ~1.7 minutes) of which none could be.
    """
    return float(math.fsum(spec.ladder[1:]))


def rung_of(ladder: Sequence[float], fidelity: float) -> int:
    """Index of ``fidelity`` in the ladder (the nearest rung, for stored rounding)."""
    return min(range(len(ladder)), key=lambda i: abs(ladder[i] - fidelity))


def promotable(trials: Sequence[RungTrial], spec: FidelitySpec) -> list[tuple[int, float]]:
    """``(trial number, next fidelity)`` of every trial ASHA promotes now, best first.

    A trial at rung ``r`` (not the top) is promoted when its score ranks among the top
    ``floor(n_r / eta)`` of the ``n_r`` scored trials at rung ``r`` and no trial was
    promoted from it yet. Ties: the earlier trial.
    """
    ladder = spec.ladder
    children = {t.promoted_from for t in trials if t.promoted_from is not None}
    out: list[tuple[float, int, float]] = []
    for r in range(len(ladder) - 1):
        scored = sorted(
            (t for t in trials if t.score is not None and rung_of(ladder, t.fidelity) == r),
            key=lambda t: (-(t.score or 0.0), t.number),
        )
        k = len(scored) // spec.eta
        for t in scored[:k]:
            if t.number not in children:
                out.append((-(t.score or 0.0), t.number, ladder[r + 1]))
    return [(n, f) for _, n, f in sorted(out)]


def units(fidelities: Sequence[float]) -> float:
    """Compute units spent by evaluations at these fidelities."""
    return float(math.fsum(fidelities))


def fidelity_of(trajectory: Mapping[str, Any] | None) -> float:
    """The fidelity a search trial was evaluated at, from its stored ``trajectory``
    (1.0 unless it was a screening rung)."""
    return float((trajectory or {}).get("fidelity", FULL))


def best_at_top_fidelity(
    done: Iterable[T],
    score: Callable[[T], float],
    fidelity: Callable[[T], float],
    number: Callable[[T], int],
) -> T | None:
    """The best scored trial among those of the highest fidelity that has a score (a cheap
    screening score never beats a full one); ties go to the earlier trial."""
    items = list(done)
    if not items:
        return None
    top = max(fidelity(t) for t in items)
    return max((t for t in items if fidelity(t) == top), key=lambda t: (score(t), -number(t)))
