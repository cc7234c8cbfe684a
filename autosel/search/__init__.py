"""Recipe search: ask/tell strategies over the recipe space (never touches the DB or a GPU).

The scheduler builds a :class:`RecipeSpace` for the pool, a :class:`GPStrategy` with
:class:`SearchKnobs`, and calls ``strategy.ask(history, pending, n)`` with the ordered
:class:`TrialResult` history and the recipes being evaluated.

The names below are imported on first use (PEP 562): the GP strategy pulls in torch and
BoTorch (seconds), and a light caller such as the search spec, which only needs
:class:`SearchKnobs`, must not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from autosel.search.bo import GPStrategy, RandomStrategy
    from autosel.search.space import Realized, RecipeSpace
    from autosel.search.strategy import Candidate, SearchKnobs, Strategy, TrialResult
    from autosel.search.trajectory import Trajectories, replay

_WHERE = {
    "Candidate": "strategy",
    "GPStrategy": "bo",
    "RandomStrategy": "bo",
    "Realized": "space",
    "RecipeSpace": "space",
    "SearchKnobs": "strategy",
    "Strategy": "strategy",
    "Trajectories": "trajectory",
    "TrialResult": "strategy",
    "replay": "trajectory",
}

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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'autosel.search' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"autosel.search.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
