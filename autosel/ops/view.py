"""What operators see: the current subset of a pool, its metadata and its signals.

An operator never receives the pool or the signal store directly. It gets a
:class:`SubsetView`: the sorted row indices of the current subset plus lazily sliced,
cached columns (``view.column("hes")`` is the pool-wide column restricted to the subset,
computed once per step). Everything is a numpy array aligned with ``view.indices``, so an
operator is one vectorised expression and never a Python loop over rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np

from autosel.errors import ConfigError

# Names of signals that are not per-row columns but derived structures; operators list them
# in ``required_signals`` like any column, and :func:`available_signals` knows how to find them.
MINHASH = "minhash"
EXACT_GROUPS = "exact_groups"
TOKEN_ENTROPY = "token_entropy"
RELEVANCE_PREFIX = "relevance:"
EMBEDDINGS = "embeddings"  # `n x d` per-sample embeddings of the model pass (not a column)
HES_P = 0.005  # the cached columns' HES fraction (autosel.signals.signalset.HES_P)


@runtime_checkable
class SignalSource(Protocol):
    """The part of ``autosel.signals.SignalSet`` that operators and ``realize()`` use."""

    @property
    def names(self) -> list[str]: ...

    @property
    def minhash_thresholds(self) -> list[float]: ...

    @property
    def relevance_benchmarks(self) -> list[str]: ...

    @property
    def manifest(self) -> dict[str, Any]: ...

    def column(self, name: str) -> np.ndarray: ...

    def ragged(self, name: str) -> tuple[np.ndarray, np.ndarray]: ...

    # HES variants: ``unit`` is "bits" or "nats"; callers in autosel always pass it. A
    # source may also offer ``avg_he(p, unit)`` (see SubsetView.avg_he); it is optional.
    def hes(self, p: float = ..., unit: str = ...) -> np.ndarray: ...

    def hes_abs(self, tau: float = ..., unit: str = ...) -> np.ndarray: ...

    def minhash_clusters(self, threshold: float) -> np.ndarray: ...

    def exact_groups(self) -> np.ndarray: ...


def available_signals(signals: SignalSource) -> list[str]:
    """Every signal name a recipe may require from ``signals`` (sorted).

    Per-row columns come from ``signals.names``; the derived structures are added when the
    signal set has them (MinHash levels, exact-duplicate groups, ragged token entropies).
    """
    names = set(signals.names)
    if list(signals.minhash_thresholds):
        names.add(MINHASH)
    if callable(getattr(signals, "exact_groups", None)):
        names.add(EXACT_GROUPS)
    if has_embeddings(signals):
        names.add(EMBEDDINGS)
    ragged = getattr(signals, "ragged_names", None)
    if ragged is not None:
        names.update(ragged)
    elif TOKEN_ENTROPY in json.dumps(signals.manifest, default=str):
        names.add(TOKEN_ENTROPY)
    return sorted(names)


def has_embeddings(signals: SignalSource) -> bool:
    """Whether ``signals`` can give per-sample embeddings (``signals.embeddings()``).

    A source may say so itself (a ``has_embeddings`` attribute); otherwise the embeddings
    come with the model pass, the same pass that yields ``resp_tokens``.
    """
    said = getattr(signals, "has_embeddings", None)
    if said is not None:
        return bool(said)
    return callable(getattr(signals, "embeddings", None)) and "resp_tokens" in signals.names


@dataclass(frozen=True, eq=False)
class PoolColumns:
    """The pool metadata operators read, as arrays aligned with pool rows.

    Args:
        sample_ids: ``object`` array of str, one per row.
        source_codes: ``int32`` code of each row's source into ``source_names``.
        source_names: sorted distinct source names.
        group_codes: ``int64`` prompt group code; rows without a group get a unique code.
        correct: ``int8``: 1 correct, 0 wrong, -1 unknown.
        content_hash: identity of the pool content (cache key).
    """

    sample_ids: np.ndarray
    source_codes: np.ndarray
    source_names: tuple[str, ...]
    group_codes: np.ndarray
    correct: np.ndarray
    content_hash: str

    def __len__(self) -> int:
        return len(self.sample_ids)

    # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass.
    @cached_property
    def id_order(self) -> np.ndarray:
        """Row indices sorted by sample id (computed once; used for subset fingerprints)."""
        return np.argsort(self.sample_ids, kind="stable")

    @cached_property
    def all_rows(self) -> np.ndarray:
        """``0..n-1`` (int64, read-only): the subset before the first step of every recipe.

        Built once per pool rather than once per realization (8 bytes a row).
        """
        rows = np.arange(len(self), dtype=np.int64)
        rows.setflags(write=False)
        return rows

    @cached_property
    def id_rank(self) -> np.ndarray | None:
        """Position of each row in sorted-id order, or ``None`` when that is the row order.

        Pools ingested with sequential ids (and the synthetic benchmark pools) are already
        sorted: a fingerprint then gathers the subset's ids directly, without a pass over
        the whole pool.
        """
        order = self.id_order
        if np.array_equal(order, np.arange(len(order))):
            return None
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order), dtype=np.int64)
        return rank

    @cached_property
    def id_blob(self) -> np.ndarray | None:
        """UTF-8 ``id + "\n"`` per row in sorted-id order, NUL-padded to a fixed width.

        Lets a fingerprint hash the sorted ids of any subset with one gather and one
        ``tobytes`` instead of a Python join. ``None`` if an id contains NUL (padding
        would then be ambiguous); fingerprints fall back to joining strings.
        """
        encoded = [s.encode() + b"\n" for s in self.sample_ids[self.id_order].tolist()]
        if any(b"\x00" in e for e in encoded):
            return None
        return np.array(encoded, dtype=bytes)

    @cached_property
    def id_blob_padded(self) -> bool:
        """True when :attr:`id_blob` holds NUL padding (ids of different byte lengths)."""
        blob = self.id_blob
        if blob is None or len(blob) == 0:
            return False
        # A bytes array strips trailing NULs on read: every entry at full width means
        # every id encodes to the same length, so the blob has no padding at all.
        width = blob.dtype.itemsize
        return bool((np.char.str_len(blob) != width).any())

    @cached_property
    def source_counts(self) -> np.ndarray:
        """Rows per source code (`len(source_names)`)."""
        return np.bincount(self.source_codes, minlength=len(self.source_names))

    @classmethod
    def from_arrays(
        cls,
        sample_ids: Sequence[str] | np.ndarray,
        sources: Sequence[str] | np.ndarray | None = None,
        groups: Sequence[str | None] | np.ndarray | None = None,
        correct: Sequence[bool | None] | np.ndarray | None = None,
        content_hash: str | None = None,
    ) -> PoolColumns:
        """Build from plain sequences (tests, benchmarks, in-memory pools)."""
        ids = np.asarray(sample_ids, dtype=object)
        n = len(ids)
        src = np.asarray(sources if sources is not None else ["default"] * n, dtype=object)
        names, codes = np.unique(src.astype(str), return_inverse=True)
        group_codes = _group_codes(groups, n)
        corr = np.full(n, -1, dtype=np.int8)
        if correct is not None:
            c = np.asarray(correct, dtype=object)
            corr[c == True] = 1  # noqa: E712 -- elementwise on an object array with None
            corr[c == False] = 0  # noqa: E712
        if content_hash is None:
            import hashlib

            content_hash = hashlib.sha256("\n".join(ids.tolist()).encode()).hexdigest()
        return cls(
            ids,
            codes.astype(np.int32),
            tuple(str(x) for x in names),
            group_codes,
            corr,
            content_hash,
        )

    @classmethod
    def from_pool(cls, pool: Any) -> PoolColumns:
        """Read the metadata columns of a stored ``autosel.pool.Pool`` (one Parquet read)."""
        t = pool.table(["sample_id", "source", "group", "correct"])
        return cls.from_arrays(
            t.column("sample_id").to_numpy(zero_copy_only=False),
            t.column("source").to_numpy(zero_copy_only=False),
            t.column("group").to_pylist(),
            t.column("correct").to_pylist(),
            content_hash=pool.content_hash,
        )


def _group_codes(groups: Sequence[str | None] | np.ndarray | None, n: int) -> np.ndarray:
    # A row without a group is its own prompt: codes after the named groups keep them apart.
    if groups is None:
        return np.arange(n, dtype=np.int64)
    g = np.asarray(groups, dtype=object)
    missing = np.array([x is None for x in g.tolist()], dtype=bool)
    codes = np.empty(n, dtype=np.int64)
    if (~missing).any():
        _, inv = np.unique(g[~missing].astype(str), return_inverse=True)
        codes[~missing] = inv
    start = int(codes[~missing].max()) + 1 if (~missing).any() else 0
    codes[missing] = start + np.arange(int(missing.sum()), dtype=np.int64)
    return codes


class SubsetView:
    """The current subset of a pool as seen by one operator application.

    ``indices`` are sorted, distinct pool rows.

    Columns are sliced from the pool-wide arrays on first use and cached, so an operator
    that reads ``hes`` twice pays once. Positions ``0..len(view)-1`` index the subset;
    ``view.indices[pos]`` is the pool row.
    """

    def __init__(
        self,
        indices: np.ndarray,
        pool: PoolColumns,
        signals: SignalSource,
        *,
        resolve_recipe: Callable[[str], np.ndarray] | None = None,
    ) -> None:
        if len(indices) and (indices[0] < 0 or indices[-1] >= len(pool)):
            raise ConfigError(
                f"subset rows {indices[0]}..{indices[-1]} fall outside the pool of {len(pool)} rows"
            )
        self.indices = indices
        self.pool = pool
        self.signals = signals
        self._resolve = resolve_recipe
        self._cache: dict[tuple[Any, ...], np.ndarray] = {}
        self._whole = len(indices) == len(pool) and (
            len(indices) == 0 or (indices[0] == 0 and indices[-1] == len(pool) - 1)
        )

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def n_pool(self) -> int:
        return len(self.pool)

    @property
    def is_whole(self) -> bool:
        """True when the view is the whole pool (``indices`` is ``0..n_pool-1``)."""
        return self._whole

    def _sliced(self, key: tuple[Any, ...], full: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self._cache:
            col = np.asarray(full())
            # The first step of a recipe sees the whole pool: no gather, no copy. Sorted rows
            # checked at construction: "clip" skips numpy's per-element bounds check.
            self._cache[key] = col if self._whole else col.take(self.indices, axis=0, mode="clip")
        return self._cache[key]

    def column(self, name: str) -> np.ndarray:
        """Signal column ``name`` restricted to the subset."""
        return self._sliced(("col", name), lambda: self.signals.column(name))

    def _unit(self, unit: str | None) -> str:
        # None: the signal set's own unit (a SignalSet says it; test sources are in bits).
        return unit if unit is not None else str(getattr(self.signals, "unit", "bits"))

    def hes(self, p: float | None = None, unit: str | None = None) -> np.ndarray:
        """Relative HES at fraction ``p`` in ``unit`` on the subset.

        ``p`` and ``unit`` both ``None``: the cached ``hes`` column (the set's unit, p =
        0.005). Otherwise ``p`` defaults to 0.005 and ``unit`` to the set's unit.
        """
        if p is None and unit is None:
            return self.column("hes")
        p = HES_P if p is None else p
        u = self._unit(unit)
        return self._sliced(("hes", p, u), lambda: self.signals.hes(p=p, unit=u))

    def hes_abs(self, tau: float, unit: str | None = None) -> np.ndarray:
        """Absolute HES (sum of token entropies above ``tau``, ``tau`` in ``unit``)."""
        u = self._unit(unit)
        return self._sliced(("hes_abs", tau, u), lambda: self.signals.hes_abs(tau=tau, unit=u))

    def avg_he(self, p: float | None = None, unit: str | None = None) -> np.ndarray:
        """AvgHE (HES / k: mean entropy of the top-``p`` tokens) in ``unit`` on the subset.

        ``p`` and ``unit`` both ``None``: the cached ``avg_he`` column. A source without an
        ``avg_he(p, unit)`` method (test and synthetic sources) serves its ``avg_he``
        column at the default ``p``, else HES divided by ``k = max(1, ceil(p * N))``
        from its per-token offsets.

        Raises:
            ConfigError: such a source has neither the column nor per-token entropies.
        """
        if p is None and unit is None:
            return self.column("avg_he")
        pp = HES_P if p is None else p
        u = self._unit(unit)
        fetch = getattr(self.signals, "avg_he", None)
        if fetch is not None:
            return self._sliced(("avg_he", pp, u), lambda: fetch(p=pp, unit=u))
        if abs(pp - HES_P) < 1e-12 and "avg_he" in self.signals.names:
            return self.column("avg_he")
        return self._sliced(("avg_he", pp, u), lambda: self._avg_he_from_hes(pp, u))

    def _avg_he_from_hes(self, p: float, unit: str) -> np.ndarray:
        try:
            offsets = np.asarray(self.signals.ragged(TOKEN_ENTROPY)[1], dtype=np.int64)
        except (ConfigError, KeyError, NotImplementedError):
            raise ConfigError(
                f"AvgHE at p={p:g} needs the per-token entropies of a model pass; "
                "this signal source has none"
            ) from None
        n = np.diff(offsets)
        k = np.where(n > 0, np.maximum(np.ceil(n * p - 1e-9), 1), 0)  # as HES counts them
        hes = np.asarray(self.signals.hes(p=p, unit=unit), dtype=np.float64)
        return np.divide(hes, k, out=np.zeros_like(hes), where=k > 0)

    def embeddings(self) -> np.ndarray:
        """Per-sample embeddings of the subset rows, `len(view) x d` (read-only for callers).

        Raises:
            ConfigError: the signal source has no embeddings (no model pass).
        """
        fetch = getattr(self.signals, "embeddings", None)
        if fetch is None or not has_embeddings(self.signals):
            raise ConfigError(
                "embeddings are not available: run the model pass "
                "(`autosel signals compute POOL`) to compute them"
            )
        return self._sliced(("embeddings",), fetch)

    def minhash_clusters(self, threshold: float) -> np.ndarray:
        """Near-duplicate cluster id (smallest pool row in the cluster) of each subset row.

        Raises:
            ConfigError: ``threshold`` is not one of the precomputed levels (they are listed).
        """
        levels = [float(t) for t in self.signals.minhash_thresholds]
        match = [t for t in levels if abs(t - threshold) < 1e-9]
        if not match:
            shown = ", ".join(f"{t:g}" for t in sorted(levels)) or "none computed"
            raise ConfigError(
                f"MinHash threshold {threshold:g} is not precomputed; available: {shown}"
            )
        return self._sliced(("minhash", match[0]), lambda: self.signals.minhash_clusters(match[0]))

    def exact_groups(self) -> np.ndarray:
        """Exact-duplicate group id of each subset row."""
        return self._sliced(("exact",), self.signals.exact_groups)

    def source_codes(self) -> np.ndarray:
        return self._sliced(("source",), lambda: self.pool.source_codes)

    def group_codes(self) -> np.ndarray:
        return self._sliced(("group",), lambda: self.pool.group_codes)

    def correct(self) -> np.ndarray:
        return self._sliced(("correct",), lambda: self.pool.correct)

    def relevance_names(self) -> list[str]:
        """Relevance column names present in the signal set, sorted."""
        return sorted(n for n in self.signals.names if n.startswith(RELEVANCE_PREFIX))

    def resolve_recipe(self, recipe_hash: str) -> np.ndarray:
        """Sorted pool rows selected by another recipe (for ``union``).

        Raises:
            ConfigError: no resolver was given to ``realize()``.
        """
        if self._resolve is None:
            raise ConfigError(
                f"recipe {recipe_hash[:12]}… cannot be resolved: "
                "realize() was given no recipe_resolver"
            )
        return np.asarray(self._resolve(recipe_hash), dtype=np.int64)
