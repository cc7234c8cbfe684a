"""Measured evaluation noise, paired comparisons with confidence intervals, flat objectives.

Pure numpy (no torch): the report, the CLI summary and the scheduler use it without a model.

Where the noise of a utility comes from, and how each part is measured:

- **Items.** A benchmark is a sample of the questions it could have asked. With the trained
  models held fixed, the utility would move if other items had been drawn. Measured from
  the per-item normalised scores: by a paired, benchmark-stratified bootstrap in
  :func:`compare`, analytically in :func:`item_noise_variance`.
- **Training seeds.** Retraining the same subset with another seed moves the utility on the
  *same* items (measured on the demo: by several item-paired standard errors). Measured
  from replicates: :func:`pooled_seed_variance` pools the within-arm variance of the
  replicate utilities over every arm that has at least two replicates.

The two parts add: ``se² = se_items² + se_seeds²`` for a difference of two arms. The item
part is computed on the replicate-averaged per-item scores (the same items in both arms,
so the bootstrap is paired and per-item differences cancel what both arms share).

Intervals are 95%, ``diff ± crit · se``. By default ``crit = 1.96``, a normal
approximation: the item part has as many degrees of freedom as there are items (hundreds),
where the normal is exact enough. Its known weakness is the seed part, estimated from a
handful of replicates (a few degrees of freedom). When the caller passes ``seed_dof`` to
:func:`compare`, ``crit`` becomes the Student-t quantile at the Welch-Satterthwaite
effective degrees of freedom of the two-part variance, which widens the interval when the
seed part dominates and is estimated from few replicates (with 4 degrees of freedom and
only seed noise, ``crit`` = 2.78).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal."""

Verdict = Literal["better", "worse", "not distinguishable"]

_PHRASE: dict[str, str] = {
    "better": "better than",
    "worse": "worse than",
    "not distinguishable": "not distinguishable from",
}


@dataclass(frozen=True)
class Arm:
    """One thing compared in a report (the best recipe, the full pool, random subsets, ...).

    Args:
        name: short name used in a difference, e.g. ``"best"``, ``"full pool"``.
        items: per benchmark an `R x n_b` array of normalised per-item scores, one row per
            replicate (a training seed; for a random-subset arm, a fresh random draw). A
            1-D array of length `n_b` is read as one replicate. Every benchmark has the
            same `R`; items are in the same order in every arm (the same test split).
        weights: per benchmark its weight in the utility (``>= 0``, not all zero); the
            same keys as ``items``.
        label: how a sentence names the arm after "than" / "from", e.g.
            ``"the full pool"``, ``"random subsets of the same size"``; defaults to ``name``.
    """

    name: str
    items: dict[str, np.ndarray]
    weights: dict[str, float]
    label: str = field(default="")

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError(f"arm {self.name!r}: no benchmarks in items")
        if sorted(self.items) != sorted(self.weights):
            raise ValueError(
                f"arm {self.name!r}: items has benchmarks {sorted(self.items)} but weights has "
                f"{sorted(self.weights)}; both must name the same benchmarks"
            )
        items: dict[str, np.ndarray] = {}
        for b in sorted(self.items):
            # A private copy: the arm is frozen and must not alias (or lock) the caller's array.
            a = np.array(self.items[b], dtype=np.float64)
            if a.ndim == 1:
                a = a[None, :]
            if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
                raise ValueError(
                    f"arm {self.name!r}, benchmark {b!r}: items must be `R x n_b` with "
                    f"R, n_b >= 1, got shape {np.shape(self.items[b])}"
                )
            if not np.isfinite(a).all():
                raise ValueError(
                    f"arm {self.name!r}, benchmark {b!r}: {int((~np.isfinite(a)).sum())} "
                    "non-finite item scores; every score must be a finite number"
                )
            a.setflags(write=False)
            items[b] = a
        reps = {b: a.shape[0] for b, a in items.items()}
        if len(set(reps.values())) != 1:
            raise ValueError(
                f"arm {self.name!r}: benchmarks have different replicate counts {reps}; "
                "every replicate must score every benchmark"
            )
        weights = {
            b: _weight(f"arm {self.name!r}, ", b, self.weights[b]) for b in sorted(self.weights)
        }
        if sum(weights.values()) <= 0:
            raise ValueError(f"arm {self.name!r}: every weight is 0; at least one must be > 0")
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "weights", weights)
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def replicates(self) -> int:
        """`R`, the number of replicates."""
        return next(iter(self.items.values())).shape[0]

    @property
    def n_items(self) -> dict[str, int]:
        """Items per benchmark."""
        return {b: a.shape[1] for b, a in self.items.items()}

    def replicate_utilities(self) -> np.ndarray:
        """The utility of each replicate, `R`: ``sum_b w_b * mean_i items[b][r, i] / sum_b w_b``."""
        total = sum(self.weights.values())
        return sum(w * self.items[b].mean(axis=1) for b, w in self.weights.items()) / total

    def utility(self) -> float:
        """Weighted mean over benchmarks of the mean over replicates and items."""
        return float(self.replicate_utilities().mean())

    def item_means(self) -> dict[str, np.ndarray]:
        """Per benchmark the replicate-averaged score of each item, `n_b`."""
        return {b: a.mean(axis=0) for b, a in self.items.items()}


def _weight(where: str, bench: str, w: float) -> float:
    w = float(w)
    if not math.isfinite(w) or w < 0:
        raise ValueError(f"{where}benchmark {bench!r}: weight {w!r}; accepted: a finite w >= 0")
    return w


@dataclass(frozen=True)
class Comparison:
    """``a − b`` with its standard error, 95% CI and verdict in words.

    Args:
        a: name of the first arm.
        b: name of the second arm.
        diff: ``a.utility() - b.utility()``.
        se: ``sqrt(se_items² + se_seeds²)``.
        se_items: paired, benchmark-stratified bootstrap SE over items.
        se_seeds: ``sqrt(seed_var / R_a + seed_var / R_b)``.
        lo: lower end of the 95% CI, ``diff - crit * se``.
        hi: upper end, ``diff + crit * se``.
        z: ``diff / se`` (``±inf`` when ``se == 0`` and ``diff != 0``; ``None`` in
            :meth:`to_dict`).
        verdict: ``"better"`` (CI above 0), ``"worse"`` (below) or ``"not distinguishable"``.
        sentence: e.g. ``"best − full pool: +0.081 [95% CI +0.032, +0.130]: better than the
            full pool"``.
        crit: the CI's multiplier (1.96, or a t quantile when ``dof`` is set).
        dof: Welch-Satterthwaite degrees of freedom behind ``crit``; ``None`` for the normal.
        a_label: how the sentence would name ``a``.
        b_label: how the sentence names ``b``.
    """

    a: str
    b: str
    diff: float
    se: float
    se_items: float
    se_seeds: float
    lo: float
    hi: float
    z: float
    verdict: str
    sentence: str
    crit: float = Z95
    dof: float | None = None
    a_label: str = ""
    b_label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite numbers become ``None``)."""
        return {k: _finite_or_none(v) for k, v in asdict(self).items()}


def _finite_or_none(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def pooled_seed_variance(arms: Sequence[Arm]) -> tuple[float, int]:
    """Pooled within-arm variance of the replicate utilities.

    ``sum over arms of sum_r (u_r - mean u)² / sum over arms of (R - 1)``, over the arms
    with ``R >= 2``. For a random-subset arm the replicates are different draws, so its
    spread also holds draw-to-draw variation; pass it or not according to what the
    variance should describe (including it is the conservative choice).

    Args:
        arms: the arms; those with one replicate contribute nothing.

    Returns:
        ``(variance, degrees of freedom)``. ``(0.0, 0)`` when no arm has two replicates:
        the seed noise is then *unmeasured*, not zero; callers must say so
        (:func:`noise_summary` does).
    """
    ss, dof = 0.0, 0
    for arm in arms:
        u = arm.replicate_utilities()
        if len(u) >= 2:
            ss += float(((u - u.mean()) ** 2).sum())
            dof += len(u) - 1
    return (ss / dof if dof else 0.0), dof


def _check_pair(a: Arm, b: Arm) -> None:
    if sorted(a.items) != sorted(b.items):
        raise ValueError(
            f"cannot compare arm {a.name!r} with {b.name!r}: benchmarks {sorted(a.items)} vs "
            f"{sorted(b.items)}; both must be scored on the same benchmarks"
        )
    if a.n_items != b.n_items:
        raise ValueError(
            f"cannot compare arm {a.name!r} with {b.name!r}: items per benchmark {a.n_items} vs "
            f"{b.n_items}; both must be scored on the same items (the same split)"
        )
    wa, wb = sum(a.weights.values()), sum(b.weights.values())
    for k in a.weights:
        if not math.isclose(a.weights[k] / wa, b.weights[k] / wb, rel_tol=1e-9, abs_tol=1e-12):
            raise ValueError(
                f"cannot compare arm {a.name!r} with {b.name!r}: weights {a.weights} vs "
                f"{b.weights}; both utilities must weight the benchmarks alike"
            )


def _bootstrap_se(
    diffs: Mapping[str, np.ndarray], shares: Mapping[str, float], n_boot: int, seed: int
) -> float:
    """SE of ``sum_b share_b * mean(diffs[b])`` by resampling items within each benchmark.

    Benchmarks are visited in sorted order and the draws come from one generator, so the
    result depends only on the inputs and ``seed``. Draws are made in chunks of about a
    million indices to bound memory on large benchmarks.
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for b in sorted(diffs):
        d = diffs[b]
        n = len(d)
        step = max(1, 1_000_000 // n)
        for s in range(0, n_boot, step):
            m = min(step, n_boot - s)
            idx = rng.integers(0, n, size=(m, n))
            total[s : s + m] += shares[b] * d[idx].mean(axis=1)
    return float(total.std(ddof=1))


def _item_dof(diffs: Mapping[str, np.ndarray], shares: Mapping[str, float]) -> float:
    """Welch-Satterthwaite degrees of freedom of the stratified item part."""
    parts = [
        (shares[b] ** 2 * d.var(ddof=1) / len(d), len(d) - 1)
        for b, d in diffs.items()
        if len(d) >= 2
    ]
    num = sum(c for c, _ in parts) ** 2
    den = sum(c**2 / k for c, k in parts)
    return num / den if den > 0 else math.inf


def compare(
    a: Arm,
    b: Arm,
    *,
    seed_var: float,
    n_boot: int = 2000,
    seed: int = 0,
    seed_dof: int | None = None,
) -> Comparison:
    """``a − b``: the utility difference with a 95% CI carrying item and training-seed noise.

    Args:
        a: the first arm.
        b: the arm it is compared with (same benchmarks, items and relative weights).
        seed_var: variance of one replicate's utility across training seeds (e.g. from
            :func:`pooled_seed_variance`); ``0`` when unmeasured (the CI then holds item
            noise only, and says less than it seems).
        n_boot: bootstrap draws for the item part (``>= 2``).
        seed: seeds ``numpy.random.default_rng`` for the bootstrap.
        seed_dof: degrees of freedom of ``seed_var``. ``None`` (default): the CI uses 1.96
            (normal approximation). Given: the Student-t quantile at the
            Welch-Satterthwaite degrees of freedom of ``se`` (wider when seed noise
            dominates and was estimated from few replicates). See the module docstring.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: the arms differ in benchmarks, item counts or relative weights, or
            ``seed_var`` / ``n_boot`` / ``seed_dof`` is out of range.
    """
    _check_pair(a, b)
    if not math.isfinite(seed_var) or seed_var < 0:
        raise ValueError(f"seed_var={seed_var!r}; accepted: a finite variance >= 0")
    if n_boot < 2:
        raise ValueError(f"n_boot={n_boot}; accepted: >= 2 bootstrap draws")
    if seed_dof is not None and seed_dof < 0:
        raise ValueError(f"seed_dof={seed_dof}; accepted: None or >= 0")
    total = sum(a.weights.values())
    shares = {k: w / total for k, w in a.weights.items()}
    ma, mb = a.item_means(), b.item_means()
    diffs = {k: ma[k] - mb[k] for k in ma if shares[k] > 0}
    diff = a.utility() - b.utility()
    se_items = _bootstrap_se(diffs, shares, n_boot, seed)
    se_seeds = math.sqrt(seed_var / a.replicates + seed_var / b.replicates)
    se = math.hypot(se_items, se_seeds)
    crit, dof = Z95, None
    if seed_dof is not None and se > 0:
        dof = _satterthwaite(se_items, _item_dof(diffs, shares), se_seeds, seed_dof)
        crit = _t975(dof)
    lo, hi = diff - crit * se, diff + crit * se
    z = diff / se if se > 0 else 0.0 if diff == 0 else math.copysign(math.inf, diff)
    verdict: Verdict = "better" if lo > 0 else "worse" if hi < 0 else "not distinguishable"
    sentence = (
        f"{a.name} − {b.name}: {diff:+.3f} [95% CI {lo:+.3f}, {hi:+.3f}]: "
        f"{_PHRASE[verdict]} {b.label}"
    )
    return Comparison(
        a=a.name,
        b=b.name,
        diff=float(diff),
        se=se,
        se_items=se_items,
        se_seeds=se_seeds,
        lo=float(lo),
        hi=float(hi),
        z=float(z),
        verdict=verdict,
        sentence=sentence,
        crit=float(crit),
        dof=dof,
        a_label=a.label,
        b_label=b.label,
    )


def _satterthwaite(se_items: float, dof_items: float, se_seeds: float, dof_seeds: int) -> float:
    """Effective degrees of freedom of ``se_items² + se_seeds²``; ``inf`` if exact."""
    den = 0.0
    if se_items > 0:
        den += se_items**4 / dof_items if math.isfinite(dof_items) else 0.0
    if se_seeds > 0:
        if dof_seeds == 0:
            return 1.0  # seed noise guessed with no replicate: the widest honest interval
        den += se_seeds**4 / dof_seeds
    return (se_items**2 + se_seeds**2) ** 2 / den if den > 0 else math.inf


def _t975(dof: float) -> float:
    """Two-sided 95% Student-t quantile (scipy imported only here)."""
    if not math.isfinite(dof):
        return Z95
    from scipy.special import stdtrit

    return float(stdtrit(dof, 0.975))


def _stratified_var(groups: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> float:
    total = sum(weights.values())
    var = 0.0
    for b in sorted(groups):
        w = weights[b] / total
        x = groups[b]
        if w == 0:
            continue
        if len(x) < 2:
            raise ValueError(
                f"benchmark {b!r} has {len(x)} scored item: the item variance needs >= 2 items"
            )
        var += w**2 * float(x.var(ddof=1)) / len(x)
    return var


def item_noise_variance(
    item_scores: Mapping[str, Sequence[float]], weights: Mapping[str, float]
) -> float:
    """Variance of one evaluation's utility that comes from the choice of items.

    Analytic: ``sum_b (w_b / W)² · var(items_b) / n_b`` (``var`` with ``ddof=1``,
    ``W = sum_b w_b``), the variance of a stratified mean with the benchmarks as strata.
    It equals the bootstrap estimate :func:`compare` uses up to the bootstrap's own
    sampling error and a factor ``(n_b - 1) / n_b``, and is exact and instant, which
    matters because the scheduler calls it for every trial (as the GP's known noise,
    together with the seed variance). It does not include training-seed noise.

    Args:
        item_scores: per benchmark the normalised primary score of each item (one
            evaluation, e.g. ``EvalResult.item_scores``).
        weights: per benchmark its weight; zero-weight benchmarks are ignored and may be
            absent from ``item_scores``.

    Returns:
        The variance (utility units squared).

    Raises:
        ValueError: a weighted benchmark lacks scores or has fewer than 2, a weight is
            negative or every weight is 0, or a score is not finite.
    """
    ws = {b: _weight("", b, w) for b, w in weights.items()}
    if sum(ws.values()) <= 0:
        raise ValueError(f"weights {dict(weights)}: every weight is 0; at least one must be > 0")
    missing = sorted(b for b, w in ws.items() if w > 0 and b not in item_scores)
    if missing:
        raise ValueError(
            f"no item scores for weighted benchmark(s) {missing}; "
            f"item_scores has {sorted(item_scores)}"
        )
    unweighted = sorted(set(item_scores) - set(ws))
    if unweighted:
        raise ValueError(
            f"item scores for benchmark(s) {unweighted} that have no weight; "
            f"weights has {sorted(ws)}"
        )
    groups = {}
    for b, w in ws.items():
        if w > 0:
            x = np.asarray(item_scores[b], dtype=np.float64).reshape(-1)
            if not np.isfinite(x).all():
                raise ValueError(f"benchmark {b!r}: non-finite item scores")
            groups[b] = x
    return _stratified_var(groups, ws)


def noise_summary(arms: Sequence[Arm], seed_var: float, dof: int) -> dict[str, Any]:
    """JSON-ready description of the measured noise, for the report.

    Args:
        arms: the arms of the report.
        seed_var: the seed variance used (e.g. from :func:`pooled_seed_variance`).
        dof: its degrees of freedom (0 = unmeasured).

    Returns:
        ``{"seed_sd", "seed_var", "seed_dof", "seed_measured", "method", "arms": {name:
        {"label", "replicates", "items", "utility", "replicate_utilities", "item_se"}}}``;
        ``item_se`` is the item-sampling SE of the arm's replicate-averaged utility
        (``None`` when a benchmark has a single item).
    """
    out_arms: dict[str, Any] = {}
    for arm in arms:
        try:
            item_se: float | None = math.sqrt(_stratified_var(arm.item_means(), arm.weights))
        except ValueError:
            item_se = None
        out_arms[arm.name] = {
            "label": arm.label,
            "replicates": arm.replicates,
            "items": arm.n_items,
            "utility": arm.utility(),
            "replicate_utilities": [float(u) for u in arm.replicate_utilities()],
            "item_se": item_se,
        }
    return {
        "seed_sd": math.sqrt(seed_var) if seed_var >= 0 else None,
        "seed_var": float(seed_var),
        "seed_dof": int(dof),
        "seed_measured": dof > 0,
        "method": (
            "items: paired, benchmark-stratified bootstrap of replicate-averaged item scores; "
            "training seeds: pooled within-arm variance of replicate utilities"
            + ("" if dof > 0 else " (not measured: no arm has 2 replicates; seed noise left out)")
        ),
        "arms": out_arms,
    }


def flat_objective(scores: Sequence[float], noise_se: float) -> str | None:
    """A warning when the search's dev scores all lie within evaluation noise.

    The objective is flat when ``max − min < 1.96 · √2 · noise_se``: even the two most
    different trials are not further apart than two evaluations of the *same* recipe
    would be at the 95% level (``√2 · noise_se`` is the SE of a difference of two
    evaluations), or when every score is identical.

    Args:
        scores: the dev utilities of the search's successful trials (non-finite ignored).
        noise_se: the standard error of one evaluation's utility (items and seeds).

    Returns:
        The warning text (what is flat, its spread against the noise, what to change), or
        ``None`` when the spread exceeds the noise or fewer than 2 scores exist.

    Raises:
        ValueError: ``noise_se`` is negative or not finite.
    """
    if not math.isfinite(noise_se) or noise_se < 0:
        raise ValueError(f"noise_se={noise_se!r}; accepted: a finite standard error >= 0")
    x = np.asarray([s for s in scores if math.isfinite(s)], dtype=np.float64)
    if len(x) < 2:
        return None
    lo, hi = float(x.min()), float(x.max())
    spread = hi - lo
    limit = Z95 * math.sqrt(2) * noise_se
    if spread > limit:
        return None
    return (
        f"Flat objective: the {len(x)} dev scores of this search span {spread:.4f} "
        f"({lo:.4f} to {hi:.4f}), within the evaluation noise: two evaluations of the same "
        f"recipe differ by up to {limit:.4f} by chance (1.96·√2·SE, SE {noise_se:.4f}). "
        "The search could not tell these recipes apart, so its best is not better than the "
        "others by any measure. To make the data choice measurable: use a bigger eval "
        "profile, give the benchmarks more items (smaller SE), or train for more steps per "
        "trial (larger differences between subsets)."
    )
