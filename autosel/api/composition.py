"""Source composition of a trial's subset against its pool (for the dashboard's bar chart)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _counts(column: pa.ChunkedArray | pa.Array) -> dict[str, int]:
    filled = pc.fill_null(column, "default")  # the pool schema's value for a missing source
    counts = pc.value_counts(filled).to_pylist()
    return {str(c["values"]): int(c["counts"]) for c in counts}


def source_composition(pool: Any, indices: np.ndarray) -> dict[str, Any]:
    """Rows per source in the subset and in the pool, with shares, sources sorted by name.

    Args:
        pool: a stored :class:`~autosel.pool.pool.Pool`.
        indices: row indices of the subset, `n` ints.
    """
    column = pool.table(["source"]).column(0)
    pool_counts = _counts(column)
    subset_counts = _counts(column.take(pa.array(np.asarray(indices, dtype=np.int64))))
    n_pool, n_subset = len(column), int(len(indices))
    sources = [
        {
            "source": s,
            "pool": pool_counts[s],
            "subset": subset_counts.get(s, 0),
            "pool_share": pool_counts[s] / n_pool if n_pool else 0.0,
            "subset_share": subset_counts.get(s, 0) / n_subset if n_subset else 0.0,
        }
        for s in sorted(pool_counts)
    ]
    return {"pool_rows": n_pool, "subset_rows": n_subset, "sources": sources}
