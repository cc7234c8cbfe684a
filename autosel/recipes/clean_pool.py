"""A pool with some rows removed before any recipe runs (decontamination).

:func:`without_rows` returns the pool's :class:`~autosel.ops.view.PoolColumns` whose
``all_rows`` — the subset every recipe starts from in
:func:`~autosel.recipes.realize.realize` — leaves out the given rows. Row numbers, sample
ids, fingerprints and signals stay those of the stored pool (nothing is copied or
recomputed); only the starting subset shrinks, so the empty recipe (the full-pool arm),
every searched recipe and every ``random_sample`` draw see the same, smaller pool.

The scheduler builds it from the rows ``create_search`` stored for a search's
``decontaminate`` step (``autosel.signals.contamination``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

import numpy as np

from autosel.ops.view import PoolColumns


@dataclass(frozen=True, eq=False)
class RestrictedColumns(PoolColumns):
    """Pool columns whose recipes start from ``base_rows`` instead of every row.

    Args:
        base_rows: sorted, distinct pool rows every realization starts from (int64).
    """

    base_rows: np.ndarray

    @cached_property
    def all_rows(self) -> np.ndarray:
        rows = np.asarray(self.base_rows, dtype=np.int64).copy()
        rows.setflags(write=False)
        return rows


def without_rows(cols: PoolColumns, removed: np.ndarray, *, tag: str = "") -> PoolColumns:
    """``cols`` with ``removed`` pool rows taken out of every recipe's starting subset.

    Args:
        cols: the pool's columns (``autosel.recipes.realize.pool_columns``).
        removed: pool rows to leave out (any order, repeats allowed).
        tag: names why (part of the cache identity, with the removed rows).

    Returns:
        ``cols`` itself when nothing is removed; otherwise columns with a distinct
        ``content_hash`` (so cached realizations of the whole pool are never reused).

    Raises:
        IndexError: a removed row lies outside the pool.
    """
    removed = np.asarray(removed, dtype=np.int64)
    if not len(removed):
        return cols
    keep = np.ones(len(cols), dtype=bool)
    keep[removed] = False
    base = np.flatnonzero(keep).astype(np.int64)
    digest = hashlib.sha256(np.unique(removed).tobytes()).hexdigest()[:16]
    values: dict[str, Any] = {f.name: getattr(cols, f.name) for f in fields(PoolColumns)}
    values["content_hash"] = f"{cols.content_hash}/without:{tag}:{digest}"
    return RestrictedColumns(**values, base_rows=base)
