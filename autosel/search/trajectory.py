"""Replaying the trial history: incumbent, stagnation counter and reseeding trajectories.

The search keeps no state between asks; everything here is recomputed from the ordered
history, so a restarted server continues the same search.

Rule: counting starts after the warmup trials (space-filling probes are not a local
search that can stagnate). Each successful result that does not beat the best score so
far increments the stagnation counter; a new best resets it. When it reaches
``patience``, a reseed happens right after that result: a new trajectory starts and the
counter resets. Failed / infeasible trials neither improve nor stagnate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autosel.search.strategy import TrialResult


@dataclass(frozen=True)
class Trajectories:
    """The history's search state.

    Attributes:
        best_index: index in the history of the best successful trial (``None`` if none).
        since_improvement: stagnation counter after the last trial.
        reseeds: history indices after which a reseed happened, in order.
        start: first history index of the current trajectory.
    """

    best_index: int | None
    since_improvement: int
    reseeds: tuple[int, ...] = field(default_factory=tuple)
    start: int = 0

    @property
    def trajectory(self) -> int:
        """Index of the current trajectory (0 before any reseed)."""
        return len(self.reseeds)


def replay(history: Sequence[TrialResult], *, warmup: int, patience: int) -> Trajectories:
    """Recompute the incumbent, the stagnation counter and the reseed points."""
    best_index: int | None = None
    best = float("-inf")
    since = 0
    reseeds: list[int] = []
    for i, t in enumerate(history):
        if not t.ok:
            continue
        assert t.score is not None
        if t.score > best:
            best, best_index = t.score, i
            since = 0
        elif i >= warmup:
            since += 1
        if since >= patience:
            reseeds.append(i)
            since = 0
    start = reseeds[-1] + 1 if reseeds else 0
    return Trajectories(best_index, since, tuple(reseeds), start)
