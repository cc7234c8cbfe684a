"""Fixtures: a small synthetic problem (model-free signals + hidden truth) and its space."""

from __future__ import annotations

import pytest

import operators  # noqa: F401 - registers the built-in operators
from autosel.evaluation.synthetic import make_problem
from autosel.search import RecipeSpace, TrialResult


@pytest.fixture(scope="session")
def problem():
    return make_problem(1200, seed=3)


@pytest.fixture()
def space(problem):
    return RecipeSpace(problem.pool, problem.signals, min_size=40)


def run_search(strategy, space, problem, budget, *, batch=1):
    """Drive a strategy to ``budget`` trials; returns (history, candidates in order)."""
    history, asked = [], []
    while len(history) < budget:
        cands = strategy.ask(history, [], batch)
        if not cands:
            break
        for c in cands:
            asked.append(c)
            r = space.realize(c.recipe)
            history.append(TrialResult(c.recipe, problem.evaluate(r.indices, r.fingerprint)))
    return history, asked
