"""In-memory test double of ``autosel.signals.SignalSet`` and a synthetic pool.

``ArraySignals`` satisfies :class:`autosel.ops.view.SignalSource` from plain arrays, so
operator and recipe tests run in milliseconds without the model. ``synthetic`` builds a
small pool with known structure (planted duplicates, lengths, sources, groups).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.ops.view import PoolColumns

LN2 = math.log(2.0)


@dataclass
class ArraySignals:
    """Signals held in memory: per-row ``columns``, ragged token entropies (nats), clusters."""

    columns: dict[str, np.ndarray]
    token_entropy: tuple[np.ndarray, np.ndarray] | None = None
    clusters: dict[float, np.ndarray] = field(default_factory=dict)
    exact: np.ndarray | None = None
    key: str = "array-signals"
    vectors: np.ndarray | None = None  # `n x d` per-sample embeddings, if any

    @property
    def has_embeddings(self) -> bool:
        return self.vectors is not None

    def embeddings(self) -> np.ndarray:
        if self.vectors is None:
            raise ConfigError("these test signals have no embeddings")
        return self.vectors

    @property
    def names(self) -> list[str]:
        return sorted(self.columns)

    @property
    def ragged_names(self) -> list[str]:
        return ["token_entropy"] if self.token_entropy is not None else []

    @property
    def minhash_thresholds(self) -> list[float]:
        return sorted(self.clusters)

    @property
    def relevance_benchmarks(self) -> list[str]:
        return sorted(n.split(":", 1)[1] for n in self.columns if n.startswith("relevance:"))

    @property
    def manifest(self) -> dict[str, Any]:
        return {"key": self.key, "columns": self.names}

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise ConfigError(f"unknown signal '{name}'; known: {', '.join(self.names)}")
        return self.columns[name]

    def ragged(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        if name != "token_entropy" or self.token_entropy is None:
            raise ConfigError(f"unknown ragged signal '{name}'")
        return self.token_entropy

    def _unit(self, unit: str) -> float:
        return 1.0 / LN2 if unit == "bits" else 1.0

    def hes(self, p: float = 0.005, unit: str = "bits") -> np.ndarray:
        # Row-by-row on purpose: an independent reference for the vectorised operators.
        if self.token_entropy is None:
            return self.columns["hes"]
        v, off = self.token_entropy
        out = np.zeros(len(off) - 1)
        for i in range(len(off) - 1):
            seg = np.sort(v[off[i] : off[i + 1]].astype(np.float64))[::-1]
            if len(seg):
                out[i] = seg[: max(1, math.ceil(p * len(seg) - 1e-9))].sum() * self._unit(unit)
        return out

    def hes_abs(self, tau: float = 1.6, unit: str = "bits") -> np.ndarray:
        if self.token_entropy is None:
            return self.columns["hes_abs"]
        v, off = self.token_entropy
        x = v.astype(np.float64) * self._unit(unit)
        seg = np.repeat(np.arange(len(off) - 1), np.diff(off))
        return np.bincount(seg, weights=np.where(x > tau, x, 0.0), minlength=len(off) - 1)

    def minhash_clusters(self, threshold: float) -> np.ndarray:
        return self.clusters[threshold]

    def exact_groups(self) -> np.ndarray:
        if self.exact is None:
            return np.arange(len(next(iter(self.columns.values()))), dtype=np.int64)
        return self.exact


def cluster_ids(labels: np.ndarray) -> np.ndarray:
    """Cluster id per row = smallest row index with the same label (the SignalSet convention)."""
    labels = np.asarray(labels)
    _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
    return first[inv].astype(np.int64)


def synthetic(
    n: int = 200,
    seed: int = 0,
    *,
    sources: tuple[str, ...] = ("code", "math", "chat"),
    groups_of: int = 1,
    with_tokens: bool = True,
) -> tuple[PoolColumns, ArraySignals]:
    """A pool of ``n`` rows with random signals, ~10% near duplicates and ~3% exact ones."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"s{i:06d}" for i in range(n)], dtype=object)
    src = np.array(sources, dtype=object)[rng.integers(0, len(sources), n)]
    groups = [f"g{i // groups_of}" for i in range(n)] if groups_of > 1 else None
    correct = rng.random(n) < 0.7 if groups_of > 1 else None
    pool = PoolColumns.from_arrays(ids, src, groups, correct)
    toks = rng.integers(5, 400, n).astype(np.int32)
    # Each planted near duplicate has a similarity; at threshold t it joins its original iff
    # similarity >= t, so clusters nest as the threshold rises (as with real MinHash LSH).
    dup = rng.random(n) < 0.1
    original = rng.integers(0, n, n)
    similarity = rng.uniform(0.5, 1.0, n)

    def level(t: float) -> np.ndarray:
        labels = np.arange(n)
        join = dup & (similarity >= t)
        labels[join] = original[join]
        return cluster_ids(labels)

    ex_labels = np.arange(n)
    ex = rng.random(n) < 0.03
    ex_labels[ex] = np.maximum(np.flatnonzero(ex) - 1, 0)
    cols: dict[str, np.ndarray] = {
        "resp_tokens": toks,
        "resp_chars": toks * 4,
        "entropy_mean": rng.random(n).astype(np.float32),
        "entropy_sum": (rng.random(n) * toks).astype(np.float32),
        "varentropy_mean": rng.random(n).astype(np.float32),
        "ppl": (1 + rng.random(n) * 20).astype(np.float32),
        "ifd": (rng.random(n) * 1.4).astype(np.float32),
        "difficulty": rng.random(n),
        "relevance:gsm8k": rng.random(n).astype(np.float32),
        "relevance:mbpp": rng.random(n).astype(np.float32),
    }
    tok_ent = None
    if with_tokens:
        lengths = np.minimum(toks, 64)
        off = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        vals = (rng.gamma(1.0, 0.8, int(off[-1]))).astype(np.float16)
        tok_ent = (vals, off)
    levels = {t: level(t) for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)}
    # Embeddings from their own generator: the draws above (and every test pinned to them)
    # stay as they were. Clustered, so diversity selectors have structure to find.
    erng = np.random.default_rng(seed + 7919)
    centres = erng.normal(size=(8, 16))
    vectors = (centres[erng.integers(0, 8, n)] + 0.3 * erng.normal(size=(n, 16))).astype(np.float32)
    sig = ArraySignals(cols, tok_ent, levels, cluster_ids(ex_labels), vectors=vectors)
    if with_tokens:
        cols["hes"] = sig.hes(0.005).astype(np.float32)
        cols["hes_abs"] = sig.hes_abs(1.6).astype(np.float32)
    else:
        cols["hes"] = rng.random(n).astype(np.float32) * 10
        cols["hes_abs"] = rng.random(n).astype(np.float32) * 20
    # Derived without drawing: segments of <= 64 tokens have one top-0.5% token, so AvgHE
    # equals HES; NLL is the log of the perplexity.
    cols["avg_he"] = cols["hes"].copy()
    cols["nll_mean"] = np.log(cols["ppl"])
    return pool, sig
