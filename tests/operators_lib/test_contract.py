"""Contract suite: every registered operator, at its defaults and at random points of its space.

(The directory is not called ``tests/operators``: without ``__init__.py`` files pytest puts
``tests/`` on ``sys.path``, and a ``tests/operators/`` directory would then shadow the real
``operators`` package as a namespace package under a bare ``pytest`` invocation.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "ops"))
from doubles import synthetic  # noqa: E402

from autosel.ops import SubsetView, from_unit, get_operator, list_operators, param_space  # noqa: E402
from autosel.recipes import step_rng  # noqa: E402

OTHER = "a" * 64
# Params an operator cannot run without (its defaults validate, but name nothing to act on).
NEEDS = {"union": {"recipe_hash": OTHER}}


def _other_rows(n: int) -> np.ndarray:
    return np.arange(0, n, 7, dtype=np.int64)


def _params(name: str) -> list:
    cls = get_operator(name)
    base = cls.Params(**NEEDS.get(name, {}))
    rng = np.random.default_rng(1)
    d = len(param_space(name))
    return [base, *(from_unit(name, rng.random(d), base=base) for _ in range(3))]


def _apply(name: str, indices: np.ndarray, params, seed: int = 3):
    pool, sig = synthetic(300, seed=0, groups_of=3)
    view = SubsetView(indices, pool, sig, resolve_recipe=lambda h: _other_rows(len(pool)))
    return get_operator(name).apply(view, params, step_rng(seed, "0" * 64, 0))


def _input(n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.sort(rng.choice(n, size=200, replace=False)).astype(np.int64)


@pytest.mark.parametrize("name", list_operators())
def test_defaults_validate_and_round_trip_json(name: str) -> None:
    cls = get_operator(name)
    p = cls.Params()
    assert cls.Params.model_validate_json(p.model_dump_json()) == p
    for q in _params(name):
        assert cls.Params.model_validate_json(q.model_dump_json()) == q
    assert isinstance(cls.required_signals(p), tuple)
    assert cls.kind in ("filter", "select", "combine")


@pytest.mark.parametrize("name", list_operators())
def test_deterministic_and_within_input(name: str) -> None:
    inp = _input()
    for p in _params(name):
        out1, stats = _apply(name, inp, p)
        out2, _ = _apply(name, inp, p)
        assert np.array_equal(out1, out2)
        assert np.all(np.diff(out1) > 0), "sorted, unique rows"
        allowed = np.union1d(inp, _other_rows(300)) if name == "union" else inp
        assert np.isin(out1, allowed).all()
        assert stats.n_in == len(inp) and stats.n_out == len(out1)
        assert sum(stats.reasons.values()) == stats.dropped
        assert stats.seconds >= 0


@pytest.mark.parametrize("name", list_operators())
def test_empty_input(name: str) -> None:
    for p in _params(name):
        out, stats = _apply(name, np.zeros(0, dtype=np.int64), p)
        expected = _other_rows(300) if name == "union" else np.zeros(0, dtype=np.int64)
        assert np.array_equal(out, expected) and stats.n_in == 0


@pytest.mark.parametrize("name", list_operators())
def test_never_mutates_pool_or_signals(name: str) -> None:
    pool, sig = synthetic(300, seed=0, groups_of=3)
    before = {k: v.copy() for k, v in sig.columns.items()}
    codes = pool.source_codes.copy()
    inp = _input()
    for p in _params(name):
        view = SubsetView(inp, pool, sig, resolve_recipe=lambda h: _other_rows(300))
        get_operator(name).apply(view, p, step_rng(0, "0" * 64, 0))
    assert all(np.array_equal(before[k], sig.columns[k]) for k in before)
    assert np.array_equal(codes, pool.source_codes)
    assert np.array_equal(inp, _input())


@pytest.mark.parametrize("name", [n for n in list_operators() if n.endswith("_dedup")])
def test_dedup_second_application_keeps_everything(name: str) -> None:
    for p in _params(name):
        once, s1 = _apply(name, _input(), p)
        assert s1.dropped > 0, "the synthetic pool has duplicates to remove"
        twice, s2 = _apply(name, once, p, seed=11)
        assert np.array_equal(once, twice) and s2.dropped == 0
