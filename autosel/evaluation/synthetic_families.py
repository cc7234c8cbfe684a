"""Synthetic objective *families* for the search benchmark: TEST DOUBLES (no GPU, no model).

The original objective (:func:`autosel.evaluation.synthetic.make_problem`, family
``state_aligned`` here) is partly circular: its duplicate-rate, source-mix and
difficulty terms are also features of the state vector the GP sees
(:mod:`autosel.recipes.state`: retain ratio, token ratio, HES mean and quantiles of the
cached ``hes`` column, mean length, MinHash-0.8 duplicate rate, source-mix divergences,
mean difficulty, mean relevance). A search that models those features is partly handed
the objective. The families below are defined on hidden per-sample labels that the state
vector does not hold; operators reach them only through signals that are *noisy views*
(``ppl``, ``ifd``, ``hes(p)`` at a non-default ``p``), and the view the state vector
reads (``hes`` at the default ``p``) is weak or pure noise:

- ``hidden_quality``: hidden quality and defects; HES is a weak view of quality (not of
  defects), perplexity and IFD flag defects. Needs a defect filter *and* a quality
  selector.
- ``two_defects``: two defect kinds, each visible to one operator only (high perplexity,
  IFD above one); the utility pays ``max`` of the two rates, so removing one kind alone
  gains nothing (it even loses a little: the other kind's share grows).
- ``needle``: quality is visible only to ``hes_filter`` with ``p`` in a narrow band
  around 0.02 (the default is 0.005); everywhere else every selector is a random subset.

Common parts: a utility ``U(S) = size term + family terms`` where the size term is
``0.9 * log1p(c / 150) / log1p(N / 150)`` (diminishing returns in ``c``, the subset's
rows that carry no hidden defect), so the optimum is an interior subset, not "the 100
best rows". Near-duplicates are planted (MinHash levels and exact groups exist, so dedup
operators have something to do) but are *neutral* in these families: their rate is a
state feature, and the point is an objective the state does not spell out.

Evaluation noise: ``evaluate`` adds ``N(0, noise^2)`` seeded by (seed, subset
fingerprint), like a re-run SFT. Default ``noise = 0.02`` (:data:`NOISE`); the
``family_report`` test prints the gaps it is measured against: on ``N = 1500`` rows the
gap between the oracle and the best single operator is 0.1-0.3 and between neighbouring
good recipes (a parameter step apart) ~0.01-0.05, so one evaluation can misrank close
neighbours (as a real dev score with a few hundred items does: a standard error of
~0.02-0.03 on a 0-1 utility) but not a good recipe and the full pool.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.evaluation.synthetic import (
    LEVELS,
    SOURCES,
    TARGET_MIX,
    SyntheticProblem,
    SyntheticSignals,
    _cluster_ids,
    make_problem,
)
from autosel.ops.view import PoolColumns

NOISE = 0.02
SIZE_WEIGHT = 0.9
SIZE_SCALE = 150.0


@dataclass(frozen=True)
class View:
    """How informative ``hes(p)`` / ``hes_abs(tau)`` is about the hidden target column.

    The correlation with the target is ``strength * exp(-(log(x / best) / width) ** 2)``:
    ``strength`` at the best setting ``best``, decaying with log-distance from it.
    """

    best: float
    width: float
    strength: float


@dataclass
class FamilySignals(SyntheticSignals):
    """:class:`SyntheticSignals` whose ``hes`` / ``hes_abs`` views are set per family.

    ``quality`` (the dataclass field) is the hidden column the views look at, standardised.
    """

    views: dict[str, View] = field(default_factory=dict)

    def _family_view(self, kind: str, x: float) -> np.ndarray:
        key = (kind, round(float(x), 6))
        if key not in self._derived:
            v = self.views[kind]
            rho = v.strength * math.exp(-((math.log(x / v.best) / v.width) ** 2))
            seed = int(hashlib.sha256(f"{self.key}/{kind}/{key[1]}".encode()).hexdigest()[:8], 16)
            z = np.random.default_rng(seed).standard_normal(len(self.quality))
            self._derived[key] = 3.0 + rho * self.quality + math.sqrt(1 - rho**2) * z
        return self._derived[key]

    def hes(self, p: float = 0.005, unit: str = "bits") -> np.ndarray:
        return self._family_view("hes", p)

    def hes_abs(self, tau: float = 1.6, unit: str = "bits") -> np.ndarray:
        return self._family_view("hes_abs", tau)


@dataclass
class FamilyProblem:
    """Pool, signals, hidden labels (``truth``) and a family's noise-free utility."""

    name: str
    pool: PoolColumns
    signals: FamilySignals
    truth: dict[str, np.ndarray]
    utility_fn: Callable[[FamilyProblem, np.ndarray], float]
    noise: float
    seed: int

    def utility(self, indices: np.ndarray) -> float:
        """Noise-free utility of the subset (sorted pool rows); -3.0 for an empty one."""
        idx = np.asarray(indices, dtype=np.int64)
        return -3.0 if len(idx) == 0 else float(self.utility_fn(self, idx))

    def evaluate(self, indices: np.ndarray, fingerprint: str) -> float:
        """One noisy 'SFT run': utility plus noise seeded by (seed, fingerprint)."""
        s = int(hashlib.sha256(f"{self.seed}/{fingerprint}".encode()).hexdigest()[:15], 16)
        return self.utility(indices) + self.noise * float(
            np.random.default_rng(s).standard_normal()
        )

    def size_term(self, idx: np.ndarray, clean: np.ndarray | None = None) -> float:
        """``0.9 * log1p(c / 150) / log1p(N / 150)``, ``c`` = rows of ``idx`` with ``clean``."""
        c = len(idx) if clean is None else int(clean[idx].sum())
        return SIZE_WEIGHT * math.log1p(c / SIZE_SCALE) / math.log1p(len(self.pool) / SIZE_SCALE)


def _base(n: int, seed: int, family: str) -> tuple[np.random.Generator, dict[str, Any]]:
    """Rows shared by the families: sources, planted near-duplicates, neutral columns."""
    rng = np.random.default_rng([seed, int(hashlib.sha256(family.encode()).hexdigest()[:8], 16)])
    src = rng.choice(len(SOURCES), size=n, p=[0.2, 0.4, 0.15, 0.25])
    is_dup = (rng.random(n) < 0.15) & (np.arange(n) > 0)
    original = np.where(is_dup, (rng.random(n) * np.arange(n)).astype(np.int64), np.arange(n))
    src = src[original]  # a copy comes from its original's source
    sim = rng.uniform(0.5, 1.0, n)
    levels = {
        t: _cluster_ids(np.where(is_dup & (sim >= t), original, np.arange(n))) for t in LEVELS
    }
    exact = _cluster_ids(np.where(is_dup & (sim >= 0.97), original, np.arange(n)))
    return rng, {"src": src, "original": original, "levels": levels, "exact": exact}


def _build(
    name: str,
    n: int,
    seed: int,
    noise: float,
    rng: np.random.Generator,
    base: dict[str, Any],
    target: np.ndarray,
    views: dict[str, View],
    cols: dict[str, np.ndarray],
    truth: dict[str, np.ndarray],
    utility_fn: Callable[[FamilyProblem, np.ndarray], float],
) -> FamilyProblem:
    """Assemble a problem: neutral columns where the family gave none, then HES views."""
    ids = np.array([f"{name[:3]}{i:06d}" for i in range(n)], dtype=object)
    pool = PoolColumns.from_arrays(ids, np.array(SOURCES, dtype=object)[base["src"]])
    toks = np.exp(rng.normal(5.0, 0.7, n)).astype(np.int32) + 5
    neutral: dict[str, np.ndarray] = {
        "resp_tokens": toks,
        "entropy_mean": rng.standard_normal(n).astype(np.float32),
        "entropy_sum": (toks * (1 + 0.1 * rng.standard_normal(n))).astype(np.float32),
        "varentropy_mean": rng.random(n).astype(np.float32),
        "ppl": np.exp(1.5 + 0.4 * rng.standard_normal(n)).astype(np.float32),
        "ifd": np.clip(0.7 + 0.12 * rng.standard_normal(n), 0.05, 2).astype(np.float32),
        "difficulty": np.clip(rng.beta(2, 2, n), 0, 1),
        "relevance:target": rng.standard_normal(n).astype(np.float32),
    }
    columns = {**neutral, **cols}
    z = (target - target.mean()) / max(float(target.std()), 1e-12)
    sig = FamilySignals(
        columns, z, base["levels"], base["exact"], f"{name}-{n}-{seed}", views=views
    )
    columns["hes"] = sig.hes(0.005).astype(np.float32)
    columns["hes_abs"] = sig.hes_abs(1.6).astype(np.float32)
    return FamilyProblem(name, pool, sig, truth, utility_fn, noise, seed)


def _copy_from_original(x: np.ndarray, base: dict[str, Any]) -> np.ndarray:
    return x[base["original"]]


# ----- hidden_quality ------------------------------------------------------------------
def _u_hidden_quality(p: FamilyProblem, idx: np.ndarray) -> float:
    q, d = p.truth["quality"], p.truth["defect"]
    return p.size_term(idx, ~d) + 0.8 * float(q[idx].mean()) - 1.6 * float(d[idx].mean())


def make_hidden_quality(n: int = 1500, seed: int = 0, *, noise: float = NOISE) -> FamilyProblem:
    """Hidden quality and defects, seen only through noisy views.

    Hidden: ``quality ~ N(0, 1)`` and a ``defect`` label (~15% of rows, likelier at low
    quality). ``U = size(clean rows) + 0.8 * mean quality - 1.6 * defect rate``.

    Views: ``hes(p)`` correlates 0.6 with quality at ``p = 0.005`` (the default; the
    state's ``hes`` features therefore see a weak view of quality), less away from it;
    ``hes_abs`` 0.4 at ``tau = 1.6``; ``entropy_mean`` 0.25. HES says nothing about
    defects. ``ppl`` (high; d' ~2.5) and ``ifd`` (above one for most defects) flag them.

    Optimum: a defect filter (IFD with ``fraction`` near 1, or perplexity ``high_q``
    ~0.85) and HES top ~10-30%: a two-operator recipe (U 1.07-1.11 on 1500 rows, full
    pool ~0.63; the benchmark's oracle, which also tries three steps, reaches 1.19). HES alone (its default top 20%) gets most of the way (~0.97): it keeps a small
    subset in which defects are as common as anywhere; the defect filter alone ~0.87
    (see ``tests/search/test_synthetic_families.py``).
    """
    rng, base = _base(n, seed, "hidden_quality")
    q0 = rng.standard_normal(n)
    quality = _copy_from_original(q0, base)
    defect = _copy_from_original(rng.random(n) < 0.12 + 0.1 * (q0 < -1), base)
    cols = {
        "entropy_mean": (0.25 * quality + 0.97 * rng.standard_normal(n)).astype(np.float32),
        "ppl": np.exp(1.5 + 0.4 * rng.standard_normal(n) + 1.0 * defect).astype(np.float32),
        "ifd": np.clip(0.7 + 0.12 * rng.standard_normal(n) + 0.45 * defect, 0.05, 2).astype(
            np.float32
        ),
    }
    views = {"hes": View(0.005, 1.2, 0.6), "hes_abs": View(1.6, 0.6, 0.4)}
    truth = {"quality": quality, "defect": defect}
    return _build(
        "hidden_quality", n, seed, noise, rng, base, quality, views, cols, truth,
        _u_hidden_quality,
    )  # fmt: skip


# ----- two_defects ---------------------------------------------------------------------
def _u_two_defects(p: FamilyProblem, idx: np.ndarray) -> float:
    a, b = p.truth["defect_a"], p.truth["defect_b"]
    rate = max(float(a[idx].mean()), float(b[idx].mean()))
    return p.size_term(idx, ~(a | b)) - 2.5 * rate


def make_two_defects(n: int = 1500, seed: int = 0, *, noise: float = NOISE) -> FamilyProblem:
    """An interaction: two defect kinds, each removable by a different operator only.

    Hidden: ``defect_a`` (~14%: degenerate, high-perplexity answers) and ``defect_b``
    (~14%: answers to another prompt, IFD above one), independent.
    ``U = size(rows with neither defect) - 2.5 * max(rate_a, rate_b)``: a model trained
    on the subset is only as good as its worst defect lets it be.

    Views: ``ppl`` is high for ``defect_a`` (d' 2.5), ``ifd`` is above one for ~90% of
    ``defect_b`` and ~1% of clean rows. No other signal (HES included, so the state
    vector's HES features are noise) says anything about either kind.

    Optimum: ``perplexity_filter`` with ``high_q`` ~0.85 *and* ``ifd_filter`` with
    ``fraction`` near 1 (IFD > 1 excluded), in either order. Either alone does not
    improve on the full pool: removing one kind raises the other's share, and ``max``
    keeps paying for it.
    """
    rng, base = _base(n, seed, "two_defects")
    a = _copy_from_original(rng.random(n) < 0.14, base)
    b = _copy_from_original(rng.random(n) < 0.14, base)
    cols = {
        "ppl": np.exp(1.5 + 0.4 * rng.standard_normal(n) + 1.0 * a).astype(np.float32),
        "ifd": np.clip(0.7 + 0.12 * rng.standard_normal(n) + 0.5 * b, 0.05, 2).astype(np.float32),
    }
    views = {"hes": View(0.005, 1.2, 0.0), "hes_abs": View(1.6, 0.6, 0.0)}
    truth = {"defect_a": a, "defect_b": b}
    noise_target = rng.standard_normal(n)  # the (pure noise) column HES "views"
    return _build(
        "two_defects", n, seed, noise, rng, base, noise_target, views, cols, truth,
        _u_two_defects,
    )  # fmt: skip


# ----- needle --------------------------------------------------------------------------
NEEDLE_P = 0.02  # the one HES percentile at which HES sees quality (unit coordinate 0.77)
NEEDLE_WIDTH = 0.15  # log-width: correlation > half of its peak for p in ~[0.0177, 0.0226]


def _u_needle(p: FamilyProblem, idx: np.ndarray) -> float:
    return p.size_term(idx) + 0.5 * float(p.truth["quality"][idx].mean())


def make_needle(n: int = 1500, seed: int = 0, *, noise: float = NOISE) -> FamilyProblem:
    """A needle: only a narrow ``p`` band of ``hes_filter`` pays.

    Hidden: ``quality ~ N(0, 1)``. ``U = size(rows) + 0.5 * mean quality``.

    Views: ``hes(p)`` correlates ``0.85 * exp(-(log(p / 0.02) / 0.15) ** 2)`` with
    quality: 0.85 at ``p = 0.02``, under 0.43 outside ``p`` in [0.0177, 0.0226] (about 6%
    of ``p``'s log range [0.001, 0.05]) and ~0 at the default 0.005, which is also the
    column the state vector reads. No other signal sees quality.

    Optimum: ``hes_filter(score=hes, mode=top, p~0.02)`` with ``fraction`` anywhere in
    ~0.1-0.5 (a plateau at U ~1.01 on 1500 rows; full pool 0.90). Anywhere else a
    selector keeps a random subset for quality, whose utility is the size term alone
    (best: the full pool), so the landscape is flat, up to sampling, outside the band.
    """
    rng, base = _base(n, seed, "needle")
    quality = _copy_from_original(rng.standard_normal(n), base)
    views = {"hes": View(NEEDLE_P, NEEDLE_WIDTH, 0.85), "hes_abs": View(1.6, 0.6, 0.0)}
    return _build(
        "needle", n, seed, noise, rng, base, quality, views, {}, {"quality": quality}, _u_needle
    )


# ----- registry ------------------------------------------------------------------------
@dataclass(frozen=True)
class Family:
    """A named objective: its builder and the target mix a search spec would give."""

    name: str
    build: Callable[..., SyntheticProblem | FamilyProblem]
    target_mix: Mapping[str, float] | None
    summary: str


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "state_aligned",
            make_problem,
            TARGET_MIX,
            "the original objective (autosel.evaluation.synthetic); partly circular: "
            "duplicate rate, mix and difficulty terms are state features",
        ),
        Family(
            "hidden_quality",
            make_hidden_quality,
            None,
            "hidden quality + defects via noisy views (weak HES, ppl/IFD for defects)",
        ),
        Family(
            "two_defects",
            make_two_defects,
            None,
            "interaction: max of two defect rates, one removable by ppl, one by IFD",
        ),
        Family("needle", make_needle, None, "only hes_filter with p near 0.02 pays"),
    )
}


def make_family(name: str, n: int = 1500, seed: int = 0) -> SyntheticProblem | FamilyProblem:
    """Build family ``name`` on ``n`` rows (each family's own noise default).

    Raises:
        ConfigError: an unknown family, listing the accepted names.
    """
    if name not in FAMILIES:
        raise ConfigError(f"synthetic family {name!r}: accepted {', '.join(FAMILIES)}")
    return FAMILIES[name].build(n, seed)
