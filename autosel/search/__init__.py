"""Recipe search: ask/tell strategies over the recipe space (never touches the DB or a GPU).

The scheduler builds a :class:`RecipeSpace` for the pool, a :class:`GPStrategy` with
:class:`SearchKnobs`, and calls ``strategy.ask(history, pending, n)`` with the ordered
:class:`TrialResult` history and the recipes being evaluated.
"""

from autosel.search.bo import GPStrategy, RandomStrategy
from autosel.search.space import Realized, RecipeSpace
from autosel.search.strategy import Candidate, SearchKnobs, Strategy, TrialResult
from autosel.search.trajectory import Trajectories, replay

__all__ = [
    "Candidate",
    "GPStrategy",
    "RandomStrategy",
    "Realized",
    "RecipeSpace",
    "SearchKnobs",
    "Strategy",
    "Trajectories",
    "TrialResult",
    "replay",
]
