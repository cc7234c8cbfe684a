"""``realize(recipe, pool, signals, seed)``: the subset a recipe selects, in milliseconds.

Pure and deterministic: the same recipe, pool, signals and seed give the same subset,
fingerprint, funnel and state. Randomness comes only from one ``numpy.random.Generator``
per step, seeded from ``(seed, recipe hash, step index)``, so editing a later step never
changes the draws of an earlier one. Results are cached (LRU) by
``(recipe hash, pool content hash, signals key, seed, min_size, target mix)``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.ops.base import StepStats
from autosel.ops.registry import get_operator
from autosel.ops.view import PoolColumns, SignalSource, SubsetView, available_signals
from autosel.recipes.model import Recipe
from autosel.recipes.state import state_from_inputs, state_inputs
from autosel.recipes.validate import DEFAULT_MAX_STEPS, validated_params

DEFAULT_MIN_SIZE = 1
CACHE_SIZE = 256

RecipeResolver = Callable[[str], "Recipe | np.ndarray"]


@dataclass(frozen=True, eq=False)
class Realization:
    """The outcome of realizing a recipe.

    Attributes:
        recipe_hash: identity of the recipe.
        indices: sorted pool row indices of the subset (`k`, int64, read-only).
        fingerprint: sha256 of the subset's sample ids sorted and newline-joined.
        funnel: per-step statistics, in order.
        state: ordered features (see :mod:`autosel.recipes.state`).
        feasible: False when the subset fell below ``min_size`` at some step.
        reason: why it is infeasible (step index, operator, size), else None.
        seconds: wall time of the realization (0 when served from the cache is not reset).
    """

    recipe_hash: str
    indices: np.ndarray
    fingerprint: str
    funnel: tuple[StepStats, ...]
    state: dict[str, float]
    feasible: bool
    reason: str | None
    seconds: float
    pool: PoolColumns = field(repr=False)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def sample_ids(self) -> list[str]:
        """Sample ids of the subset, in row order."""
        return self.pool.sample_ids[self.indices].tolist()

    @property
    def state_names(self) -> list[str]:
        return list(self.state)

    @property
    def state_vector(self) -> np.ndarray:
        """:attr:`state` values as a float64 array (`d`), in :attr:`state_names` order."""
        return np.fromiter(self.state.values(), dtype=np.float64, count=len(self.state))

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe_hash": self.recipe_hash,
            "size": len(self),
            "fingerprint": self.fingerprint,
            "feasible": self.feasible,
            "reason": self.reason,
            "seconds": self.seconds,
            "funnel": [s.to_dict() for s in self.funnel],
            "state": dict(self.state),
        }


def subset_fingerprint(pool: PoolColumns, indices: np.ndarray) -> str:
    """sha256 of the subset's sample ids, sorted, joined by newlines.

    Args:
        pool: the pool the rows index.
        indices: pool rows (`k`); duplicates count once.

    Raises:
        IndexError: a row outside the pool.
    """
    rows = np.asarray(indices, dtype=np.int64)
    ordered = len(rows) < 2 or bool((rows[1:] > rows[:-1]).all())
    if not ordered or (len(rows) and (rows[0] < 0 or rows[-1] >= len(pool))):
        mask = np.zeros(len(pool), dtype=bool)
        mask[rows] = True  # sorts, drops repeats, raises on rows outside the pool
        rows = mask.nonzero()[0]
    return _sorted_fingerprint(pool, rows)


def _sorted_fingerprint(pool: PoolColumns, rows: np.ndarray) -> str:
    """:func:`subset_fingerprint` of sorted, distinct rows within the pool (`k`, int64)."""
    rank = pool.id_rank
    if rank is None:  # the pool's row order is its id order
        pos = rows
    else:  # positions in id order, sorted by a scatter into a mask (no O(k log k) sort)
        mask = np.zeros(len(pool), dtype=bool)
        mask[rank.take(rows, mode="clip")] = True
        pos = mask.nonzero()[0]
    # pos is sorted and within the pool: "clip" skips numpy's per-element bounds check.
    blob = pool.id_blob
    if blob is None:
        return hashlib.sha256(
            "\n".join(pool.sample_ids[pool.id_order.take(pos, mode="clip")].tolist()).encode()
        ).hexdigest()
    ids = blob.take(pos, mode="clip")
    # Fixed-width ids hash straight from the array; padded ones lose their NULs first.
    data = ids.tobytes().replace(b"\x00", b"") if pool.id_blob_padded else ids.data.cast("B")
    # Every id ends with a newline; the joined form has none after the last one.
    return hashlib.sha256(memoryview(data)[:-1]).hexdigest()


def step_rng(seed: int, recipe_hash: str, step: int) -> np.random.Generator:
    """The generator of one step: independent streams per (seed, recipe, step).

    The stream of ``SeedSequence([seed, int(recipe_hash[:16], 16), step])``. The entropy
    is handed over as the uint32 words numpy would split those ints into: the same pool
    and the same draws, without numpy's per-int conversion (a third of the cost of a step
    that draws nothing).
    """
    words = [*_uint32_words(seed), *_uint32_words(int(recipe_hash[:16], 16)), *_uint32_words(step)]
    entropy = np.array(words, dtype=np.uint32)
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _uint32_words(n: int) -> list[int]:
    """``n >= 0`` as 32-bit words, least significant first (0 is one word), as numpy splits it."""
    if n < 0:
        raise ValueError(f"expected a non-negative seed or step, got {n}")
    words = [n & 0xFFFFFFFF]
    n >>= 32
    while n:
        words.append(n & 0xFFFFFFFF)
        n >>= 32
    return words


_POOLS: OrderedDict[str, PoolColumns] = OrderedDict()
_CACHE: OrderedDict[tuple[Any, ...], Realization] = OrderedDict()
_LOCK = threading.Lock()


def pool_columns(pool: Any) -> PoolColumns:
    """The metadata arrays of ``pool`` (a stored ``Pool`` or ``PoolColumns``), cached per pool."""
    if isinstance(pool, PoolColumns):
        return pool
    key = pool.content_hash
    with _LOCK:
        if key in _POOLS:
            _POOLS.move_to_end(key)
            return _POOLS[key]
    cols = PoolColumns.from_pool(pool)
    with _LOCK:
        _POOLS[key] = cols
        while len(_POOLS) > 4:
            _POOLS.popitem(last=False)
    return cols


def signals_key(signals: SignalSource) -> Any:
    """Cache identity of a signal set: its ``key`` attribute or manifest key, else its id."""
    key = getattr(signals, "key", None) or signals.manifest.get("key")
    if key is None and signals.manifest.get("groups"):
        # A stored SignalSet: its group directories are named by their cache keys.
        blob = json.dumps(
            [signals.manifest.get("unit"), signals.manifest["groups"]], sort_keys=True, default=str
        )
        key = hashlib.sha256(blob.encode()).hexdigest()
    return key if key is not None else ("id", id(signals))


def clear_cache() -> None:
    """Forget cached realizations (tests; after signals were recomputed in place)."""
    with _LOCK:
        _CACHE.clear()
        _POOLS.clear()


def _target_mix(recipe: Recipe, given: Mapping[str, float] | None) -> dict[str, float] | None:
    if given:
        return dict(sorted(given.items()))
    mixes = [s.params.get("proportions") for s in recipe.steps if s.operator == "source_mix"]
    given_mixes = [m for m in mixes if m]
    return dict(sorted(given_mixes[-1].items())) if given_mixes else None


def realize(
    recipe: Recipe,
    pool: Any,
    signals: SignalSource,
    seed: int = 0,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_steps: int = DEFAULT_MAX_STEPS,
    recipe_resolver: RecipeResolver | None = None,
    target_mix: Mapping[str, float] | None = None,
    use_cache: bool = True,
) -> Realization:
    """Apply ``recipe`` to the whole pool and describe the subset it selects.

    Args:
        recipe: the recipe (validated here against the signals before anything runs).
        pool: a stored ``autosel.pool.Pool`` or a :class:`PoolColumns`.
        signals: the pool's signals (``autosel.signals.SignalSet`` or any ``SignalSource``).
        seed: search seed (non-negative).
        min_size: a subset smaller than this after any step makes the recipe infeasible.
        max_steps: longest accepted recipe.
        recipe_resolver: maps a recipe hash referenced by ``union`` to a ``Recipe`` (realized
            here with the same pool, signals and seed) or directly to sorted pool rows.
        target_mix: source proportions for the ``source_js_target`` feature (default: the
            last ``source_mix`` step's proportions, else the pool's mix).
        use_cache: serve and store results in the LRU cache.

    Raises:
        RecipeValidationError: the recipe is invalid for these signals.
        ConfigError: a step failed at run time (message names the step).
    """
    return _realize(
        recipe, pool, signals, seed, min_size, max_steps, recipe_resolver, target_mix, use_cache, ()
    )


def _realize(
    recipe: Recipe,
    pool: Any,
    signals: SignalSource,
    seed: int,
    min_size: int,
    max_steps: int,
    resolver: RecipeResolver | None,
    target_mix: Mapping[str, float] | None,
    use_cache: bool,
    stack: tuple[str, ...],
) -> Realization:
    if seed < 0:
        raise ConfigError(f"seed {seed}: accepted values are integers >= 0")
    cols = pool_columns(pool)
    h = recipe.recipe_hash
    mix = _target_mix(recipe, target_mix)
    key = (
        h,
        cols.content_hash,
        signals_key(signals),
        seed,
        min_size,
        tuple(mix.items()) if mix else None,
    )
    if use_cache:
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None:
                _CACHE.move_to_end(key)
                return hit
    t0 = time.perf_counter()
    available = available_signals(signals)
    parsed = validated_params(recipe, available, max_steps=max_steps)

    def resolve(ref: str) -> np.ndarray:
        # ``stack`` holds this recipe's hash and every hash being resolved above it.
        if ref in stack or ref == h:
            raise ConfigError("union cycle: " + " -> ".join(x[:12] for x in (*stack, h, ref)))
        if resolver is None:
            raise ConfigError(
                f"union with recipe {ref[:12]}…: realize() was given no recipe_resolver"
            )
        target = resolver(ref)
        if isinstance(target, Recipe):
            return _realize(
                target,
                cols,
                signals,
                seed,
                0,
                max_steps,
                resolver,
                None,
                use_cache,
                (*stack, h, ref),
            ).indices
        return np.asarray(target, dtype=np.int64)

    # Operators, params and generators first, in one go: Python object work runs several
    # times slower between array steps, whose data has pushed it out of the CPU caches.
    plan = [
        (get_operator(step.operator), p, step_rng(seed, h, i))
        for i, (step, p) in enumerate(zip(recipe.steps, parsed, strict=True))
    ]
    state_in = state_inputs(cols, signals, mix, available=available)
    idx = cols.all_rows
    funnel: list[StepStats] = []
    reason = None
    for i, (step, (cls, params, rng)) in enumerate(zip(recipe.steps, plan, strict=True)):
        view = SubsetView(idx, cols, signals, resolve_recipe=resolve)
        try:
            idx, stats = cls.apply(view, params, rng)
        except ConfigError as err:
            raise ConfigError(f"steps[{i}] ({step.operator}): {err}") from err
        funnel.append(stats)
        if reason is None and len(idx) < min_size:
            reason = (
                f"steps[{i}] ({step.operator}) left {len(idx)} samples, below min_size {min_size}"
            )
    if reason is None and len(idx) < min_size:  # only reachable with no steps
        reason = f"the recipe selects {len(idx)} samples, below min_size {min_size}"
    idx.setflags(write=False)
    result = Realization(
        h,
        idx,
        _sorted_fingerprint(cols, idx),
        tuple(funnel),
        state_from_inputs(state_in, idx),
        reason is None,
        reason,
        time.perf_counter() - t0,
        cols,
    )
    if use_cache:
        with _LOCK:
            _CACHE[key] = result
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result
