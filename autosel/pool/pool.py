"""A stored pool: an immutable Parquet table plus its manifest, addressed by content hash.

Layout under ``$AUTOSEL_HOME/pools/<pool_id>/``: ``pool.parquet`` (canonical rows, see
:mod:`autosel.pool.schema`), ``manifest.json`` and, when records were skipped,
``skipped.jsonl``. ``pool_id`` is the first 16 hex digits of the sha256 of the canonical
rows in order, so the same data ingested twice is the same pool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from autosel.errors import InputError, NotFoundError
from autosel.settings import Settings, get_settings

PARQUET_NAME = "pool.parquet"
MANIFEST_NAME = "manifest.json"
SKIPPED_NAME = "skipped.jsonl"


@dataclass(frozen=True, eq=False)
class Pool:
    """Read-only handle on a stored pool. Rows are addressed by their 0-based row index."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @classmethod
    def open(cls, path: str | Path) -> Pool:
        p = Path(path)
        try:
            manifest = json.loads((p / MANIFEST_NAME).read_text())
        except FileNotFoundError:
            raise NotFoundError(f"{p}: not a pool directory (no {MANIFEST_NAME})") from None
        return cls(path=p, manifest=manifest)

    @property
    def pool_id(self) -> str:
        return str(self.manifest["pool_id"])

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.pool_id))

    @property
    def content_hash(self) -> str:
        return str(self.manifest["content_hash"])

    @property
    def parquet_path(self) -> Path:
        return self.path / PARQUET_NAME

    def __len__(self) -> int:
        return int(self.manifest["rows"])

    def table(self, columns: Sequence[str] | None = None) -> pa.Table:
        """The pool as an Arrow table (memory-mapped; only ``columns`` are read)."""
        return pq.read_table(
            self.parquet_path, columns=list(columns) if columns else None, memory_map=True
        )

    @cached_property
    def sample_ids(self) -> np.ndarray:
        """Sample ids in row order (``object`` array of str)."""
        return self.table(["sample_id"]).column(0).to_numpy(zero_copy_only=False)

    @cached_property
    def _id_index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.sample_ids.tolist())}

    def indices_of(self, ids: Sequence[str]) -> np.ndarray:
        """Row indices of the given sample ids (order kept).

        Raises:
            InputError: an id is not in this pool (the first few unknown ids are named).
        """
        index = self._id_index
        missing = [i for i in ids if i not in index]
        if missing:
            shown = ", ".join(map(repr, missing[:5]))
            raise InputError(
                f"{len(missing)} sample id(s) not in pool {self.pool_id}: {shown}", field="ids"
            )
        return np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids))

    def rows(
        self,
        indices: Sequence[int] | np.ndarray | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Iterate canonical rows as dicts (all rows, or ``indices`` in the given order)."""
        table = self.table(columns)
        if indices is not None:
            table = table.take(pa.array(np.asarray(indices, dtype=np.int64)))
        for batch in table.to_batches(max_chunksize=4096):
            yield from batch.to_pylist()

    def stats(self) -> dict[str, Any]:
        """Summary statistics for display: rows, sources, lengths, groups, fields present."""
        t = self.table(["response", "prompt", "group", "correct", "difficulty"])
        resp_len = pc.utf8_length(t.column("response")).to_numpy(zero_copy_only=False)
        turns = pc.list_value_length(t.column("prompt")).to_numpy(zero_copy_only=False)
        groups = t.column("group").drop_null()
        n_groups = len(pc.unique(groups)) if len(groups) else 0
        diff = t.column("difficulty").drop_null().to_numpy(zero_copy_only=False)
        m = self.manifest
        return {
            "pool_id": self.pool_id,
            "name": self.name,
            "format": m.get("format"),
            "rows": len(self),
            "skipped": m.get("skipped", 0),
            "sources": m.get("source_counts", {}),
            "exact_duplicate_rows": m.get("exact_duplicate_rows", 0),
            "response_chars": _summary(resp_len),
            "prompt_messages": _summary(turns),
            "groups": n_groups,
            "rows_in_groups": len(groups),
            "correct_labelled": int(t.column("correct").drop_null().__len__()),
            "difficulty": _summary(diff) if len(diff) else None,
            "fields_present": m.get("fields_present", {}),
            "content_hash": self.content_hash,
        }


def _summary(x: np.ndarray) -> dict[str, float]:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return {"mean": 0.0, "min": 0.0, "p50": 0.0, "max": 0.0}
    return {
        "mean": float(x.mean()),
        "min": float(x.min()),
        "p50": float(np.median(x)),
        "max": float(x.max()),
    }


def list_pools(settings: Settings | None = None) -> list[Pool]:
    """Every stored pool, sorted by creation time then id."""
    root = (settings or get_settings()).pools_dir
    if not root.is_dir():
        return []
    pools = [Pool.open(p) for p in sorted(root.iterdir()) if (p / MANIFEST_NAME).is_file()]
    return sorted(pools, key=lambda p: (p.manifest.get("created_at", ""), p.pool_id))


MIN_PREFIX = 6  # shorter id prefixes match too many pools to mean one


def find_pool(ref: str, settings: Settings | None = None) -> Pool:
    """A stored pool by id, unique id prefix (at least ``MIN_PREFIX`` characters) or name
    (the rule searches follow too, :func:`autosel.refs.resolve_ref`); never by a
    filesystem path (this is what the API accepts).

    Raises:
        NotFoundError: nothing matches, or a prefix/name is ambiguous (candidates listed).
    """
    from autosel.refs import resolve_ref

    pools = list_pools(settings) if ref.strip() else []
    known = (
        ", ".join(f"{x.pool_id} ({x.name})" for x in pools[:10])
        or "none yet: run `autosel pool add FILE`"
    )
    return resolve_ref(
        ref,
        pools,
        kind="pool",
        id_of=lambda x: x.pool_id,
        name_of=lambda x: x.name,
        min_prefix=MIN_PREFIX,
        unknown_hint=f"known pools: {known}",
    )


def _pool_dir(ref: str) -> Path | None:
    """``ref`` as a pool directory on this machine, or None (also for unusable paths)."""
    try:
        p = Path(ref).expanduser()
        return p if ref and (p / MANIFEST_NAME).is_file() else None
    except (OSError, RuntimeError, ValueError):  # '~unknownuser', name too long, NUL byte
        return None


def get_pool(ref: str, settings: Settings | None = None) -> Pool:
    """A stored pool by id, unique id prefix, name or — for the local CLI only — the path
    of a pool directory on this machine. API routes use :func:`find_pool`.

    Raises:
        NotFoundError: nothing matches, or a prefix/name is ambiguous (candidates listed).
    """
    try:
        return find_pool(ref, settings)
    except NotFoundError:
        path = _pool_dir(ref)
        if path is None:
            raise
        return Pool.open(path)
