"""``SignalSet``: read-only view over the cached signal groups of one pool.

Columns are derived on read from stored arrays (memory-mapped), so HES at any ``p`` or
``tau`` needs no model pass. Every entropy-derived column (``entropy_mean``,
``entropy_sum``, ``hes``, ``hes_abs``, ``avg_he``; ``varentropy_mean`` in unit squared)
is in the set's ``unit`` (bits by default); NLL and perplexity are always in nats
(``ppl = exp(nll_mean)``).

Why bits by default: the public reference implementation of HES, OpenDataArena's
``HESScorer`` (OpenDataArena-Tool, ``data_scorer/model_based/scorers/HESScorer.py``),
takes each token's entropy with ``log2`` and documents HES as "Shannon entropy (in
bits)"; the HES paper (Li et al., "Unified Data Selection for LLM Reasoning",
arXiv:2605.22389) does not state a base. An earlier vLLM-based script of the same
scorer used ``torch.distributions.Categorical.entropy`` (natural log) over only the
top-20 log-probs, so numbers from it are neither bits nor full-vocabulary entropies.

Units never change which tokens or samples are chosen by a column: relative HES and
AvgHE take the same ``k`` tokens in any unit, and the ``hes_abs`` column's threshold is
:data:`HES_TAU` *bits* expressed in the set's unit (1.6 bits = 1.109 nats), so a set in
nats reports the same tokens' sum in nats. ``hes_abs(tau, unit)`` called directly reads
``tau`` in ``unit``.

Derived values are kept once computed: named columns, MinHash levels and clusters, exact
groups, and the last few HES variants by ``(p or tau, unit)``. ``realize()`` asks for them
on every recipe a search tries, and recomputing HES re-sorts every token of the pool.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.signals import scores
from autosel.signals.cache import load_array, read_manifest
from autosel.signals.params import unit_factor

RELEVANCE_PREFIX = "relevance:"
HES_P = 0.005  # the paper's top 0.5% of response tokens
HES_TAU = 1.6  # absolute threshold of the paper's example, in HES_TAU_UNIT
HES_TAU_UNIT = "bits"  # the reference implementation's unit (see the module docstring)
DERIVED_KEPT = 8  # HES variants kept per signal set (a search perturbs p and tau)


# Signal names by where they come from (a SignalSet's ``names`` is built from these).
POOL_SIGNALS = ("difficulty",)  # a pool column, always present (NaN where unknown)
TEXT_SIGNALS = ("resp_chars", "lexical_entropy")  # model-free, always computed
MODEL_SIGNALS = (  # the model pass; plus relevance_<bench> per benchmark, ifd if asked
    "resp_tokens",
    "entropy_mean",
    "entropy_sum",
    "hes",
    "hes_abs",
    "avg_he",
    "varentropy_mean",
    "nll_mean",
    "ppl",
    "truncated",
    "empty",
)


def default_tau(unit: str) -> float:
    """The default absolute-HES threshold (:data:`HES_TAU` bits) expressed in ``unit``.

    Raises:
        ConfigError: ``unit`` is not ``bits`` or ``nats``.
    """
    if unit == HES_TAU_UNIT:
        return HES_TAU
    return HES_TAU * unit_factor(unit) / unit_factor(HES_TAU_UNIT)


class SignalSet:
    """Signals of one pool, aligned with its rows (see the package docstring for names)."""

    def __init__(
        self,
        n_rows: int,
        groups: dict[str, Path],
        bench: dict[str, Path],
        unit: str = "bits",
        pool_difficulty: tuple[np.ndarray, int] | None = None,
    ) -> None:
        unit_factor(unit)  # validates
        self.n_rows = n_rows
        self.unit = unit
        self._groups = dict(groups)  # "text" / "minhash" / "model" / "ifd" -> directory
        self._bench = dict(sorted(bench.items()))
        self._pool_difficulty = pool_difficulty
        self._cache: dict[str, np.ndarray] = {}
        self._structures: dict[tuple[Any, ...], np.ndarray] = {}
        self._variants: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _kept(
        self, key: tuple[Any, ...], compute: Callable[[], np.ndarray], *, variant: bool = False
    ) -> np.ndarray:
        """``compute()`` once per ``key``, read-only from then on.

        ``variant``: one of many parameterisations (HES at some ``p``): only the last
        :data:`DERIVED_KEPT` are kept. Other keys (MinHash levels, exact groups) are few.
        """
        store = self._variants if variant else self._structures
        with self._lock:
            hit = store.get(key)
            if hit is not None:
                if variant:
                    self._variants.move_to_end(key)
                return hit
        value = np.asarray(compute())
        value.setflags(write=False)  # shared by every caller from now on
        with self._lock:
            store[key] = value
            while len(self._variants) > DERIVED_KEPT:
                self._variants.popitem(last=False)
        return value

    # ------------------------------------------------------------------ listing
    def _has(self, group: str) -> bool:
        return group in self._groups

    def _arr(self, group: str, name: str) -> np.ndarray:
        return load_array(self._groups[group], name)

    @property
    def relevance_benchmarks(self) -> list[str]:
        return list(self._bench) if self._has("model") else []

    @property
    def ragged_names(self) -> list[str]:
        return ["token_entropy", "token_logprob", "token_varentropy"] if self._has("model") else []

    @property
    def names(self) -> list[str]:
        out = set(POOL_SIGNALS)
        if self._has("text"):
            out |= set(TEXT_SIGNALS)
        if self._has("model"):
            out |= set(MODEL_SIGNALS)
            out |= {RELEVANCE_PREFIX + b for b in self._bench}
            if self._has("ifd"):
                out.add("ifd")
        return sorted(out)

    # ------------------------------------------------------------------ columns
    def column(self, name: str) -> np.ndarray:
        """Per-row values of a named signal (length ``n_rows``).

        Raises:
            ConfigError: unknown name (the known names are listed).
        """
        if name not in self.names:
            raise ConfigError(f"signal '{name}' is not available; known: {', '.join(self.names)}")
        if name not in self._cache:
            self._cache[name] = np.asarray(self._compute(name))
        return self._cache[name]

    def _compute(self, name: str) -> np.ndarray:
        f = unit_factor(self.unit)
        if name in ("resp_chars", "lexical_entropy"):
            return self._arr("text", name)
        if name == "difficulty":
            return self._difficulty()[0]
        if name.startswith(RELEVANCE_PREFIX):
            return self._relevance(name[len(RELEVANCE_PREFIX) :])
        if name in ("resp_tokens", "truncated", "empty"):
            if name == "empty":
                return (self._arr("model", "resp_tokens") == 0).astype(np.int8)
            return self._arr("model", name)
        ent, off = self.ragged("token_entropy")
        table = {
            "entropy_mean": lambda: scores.segment_mean(ent, off) * f,
            "entropy_sum": lambda: scores.segment_sum(ent, off) * f,
            "hes": lambda: self.hes(),
            "hes_abs": lambda: self.hes_abs(default_tau(self.unit)),
            "avg_he": lambda: self.avg_he(),
            "varentropy_mean": lambda: (
                scores.segment_mean(self.ragged("token_varentropy")[0], off) * f * f
            ),
            "nll_mean": lambda: self._nll_mean(),
            "ppl": lambda: scores.ppl_from_nll(self._nll_mean()),
            "ifd": lambda: self._ifd(),
        }
        return table[name]()

    def ragged(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(values float32, offsets int64 length n+1)`` of a per-token column (nats)."""
        if name not in self.ragged_names:
            raise ConfigError(
                f"ragged signal '{name}' is not available; known: "
                f"{', '.join(self.ragged_names) or 'none (run a model pass)'}"
            )
        return self._arr("model", name), self._arr("model", "offsets")

    def hes(self, p: float = HES_P, unit: str | None = None) -> np.ndarray:
        """Relative HES: sum of the ``max(1, ceil(p*N))`` highest token entropies (read-only).

        ``unit``: ``bits`` or ``nats``; ``None`` is the set's unit. Empty responses get 0.
        """
        unit = self.unit if unit is None else unit
        factor = unit_factor(unit)
        return self._kept(
            ("hes", float(p), unit),
            lambda: scores.hes(
                *self.ragged("token_entropy"), p, factor, sorted_desc=self._entropy_desc()
            ),
            variant=True,
        )

    def hes_abs(self, tau: float | None = None, unit: str | None = None) -> np.ndarray:
        """Absolute HES: sum of the token entropies strictly above ``tau`` (read-only).

        ``tau`` is in ``unit`` (``None``: the set's unit); ``tau=None`` is the default
        threshold, :data:`HES_TAU` bits converted to ``unit`` (:func:`default_tau`).
        """
        unit = self.unit if unit is None else unit
        tau = default_tau(unit) if tau is None else float(tau)
        factor = unit_factor(unit)
        return self._kept(
            ("hes_abs", tau, unit),
            lambda: scores.hes_abs(*self.ragged("token_entropy"), tau, factor),
            variant=True,
        )

    def avg_he(self, p: float = HES_P, unit: str | None = None) -> np.ndarray:
        """AvgHE: the mean of the same ``k`` token entropies HES sums (``HES / k``; 0 if empty).

        ``unit``: ``bits`` or ``nats``; ``None`` is the set's unit.
        """
        unit = self.unit if unit is None else unit
        factor = unit_factor(unit)
        return self._kept(
            ("avg_he", float(p), unit),
            lambda: scores.avg_he(
                *self.ragged("token_entropy"), p, factor, sorted_desc=self._entropy_desc()
            ),
            variant=True,
        )

    def _entropy_desc(self) -> np.ndarray:
        """Token entropies sorted descending within each sample (2 bytes a token, kept):
        HES at a new ``p`` then reads only its top tokens instead of sorting them all."""
        return self._kept(
            ("entropy_desc",), lambda: scores.segment_sorted_desc(*self.ragged("token_entropy"))
        )

    def _nll_mean(self) -> np.ndarray:
        v, off = self.ragged("token_logprob")
        return 0.0 - scores.segment_mean(v, off)  # 0.0 - x: no -0.0 for empty rows

    def _ifd(self) -> np.ndarray:
        # Same response tokens in both passes (see model_pass.encode), so the ratio of means
        # is the ratio of total NLLs; 0 where the prompt-free NLL is 0 (empty responses).
        cond = self._nll_mean()
        free_v, free_off = (
            load_array(self._groups["ifd"], "token_logprob"),
            load_array(self._groups["ifd"], "offsets"),
        )
        free = -scores.segment_mean(free_v, free_off)
        return np.divide(cond, free, out=np.zeros_like(cond), where=free > 0)

    def embeddings(self) -> np.ndarray:
        """Mean final hidden state over response tokens, ``n x d`` float32 (zeros if empty)."""
        if not self._has("model"):
            raise ConfigError("embeddings need a model pass: run `autosel signals compute POOL`")
        return np.asarray(self._arr("model", "embeddings"), dtype=np.float32)

    def _relevance(self, bench: str) -> np.ndarray:
        centroid = load_array(self._bench[bench], "centroid", mmap=False)
        emb = self.embeddings()
        norms = np.linalg.norm(emb, axis=1) * max(float(np.linalg.norm(centroid)), 1e-12)
        return np.divide(emb @ centroid, norms, out=np.zeros(len(emb)), where=norms > 0)

    def _difficulty(self) -> tuple[np.ndarray, str]:
        values, present = self._pool_difficulty or (np.full(self.n_rows, np.nan), 0)
        if present == self.n_rows and self.n_rows:
            return values, "pool"
        if self._has("model"):
            return self._nll_mean(), "model_proxy:nll_mean"
        return values, "pool_partial" if present else "none"

    # ------------------------------------------------------------------ structures
    @property
    def minhash_thresholds(self) -> list[float]:
        return list(self._minhash_levels)

    @cached_property
    def _minhash_levels(self) -> tuple[float, ...]:
        if not self._has("minhash"):
            return ()
        params = read_manifest(self._groups["minhash"])["params"]
        return tuple(float(t) for t in params["thresholds"])

    def minhash_clusters(self, threshold: float) -> np.ndarray:
        """Near-duplicate cluster id per row (= smallest row index of its cluster)."""
        levels = self.minhash_thresholds
        match = [i for i, t in enumerate(levels) if abs(t - float(threshold)) < 1e-9]
        if not match:
            raise ConfigError(
                f"MinHash threshold {threshold} was not precomputed; "
                f"available: {', '.join(map(str, levels)) or 'none'}"
            )
        return self._kept(
            ("minhash", match[0]),
            lambda: np.asarray(self._arr("minhash", "clusters")[match[0]], dtype=np.int64),
        )

    def minhash_signatures(self) -> np.ndarray:
        return self._arr("minhash", "signatures")

    def exact_groups(self) -> np.ndarray:
        """Exact-duplicate group per row (= smallest row index with identical content)."""
        if not self._has("text"):
            raise ConfigError("exact groups need the text signals: run `autosel signals compute`")
        return self._kept(
            ("exact_groups",), lambda: np.asarray(self._arr("text", "exact_groups"), dtype=np.int64)
        )

    @cached_property
    def manifest(self) -> dict[str, Any]:
        groups = {g: {"dir": str(d), **read_manifest(d)} for g, d in sorted(self._groups.items())}
        bench = {b: {"dir": str(d), **read_manifest(d)} for b, d in self._bench.items()}
        model = groups.get("model", {})
        return {
            "rows": self.n_rows,
            "unit": self.unit,
            "units": {
                "entropy": self.unit,
                "varentropy": f"{self.unit}^2",
                "hes_abs threshold": f"{default_tau(self.unit):.6g} {self.unit} "
                f"(= {HES_TAU:g} {HES_TAU_UNIT})",
                "nll": "nats",
                "token arrays": "nats (float32)",
            },
            "difficulty_source": self._difficulty()[1],
            "model": model.get("model"),
            "truncated": model.get("counts", {}).get("truncated"),
            "empty": model.get("counts", {}).get("empty"),
            "names": self.names,
            "groups": groups,
            "benchmarks": bench,
        }
