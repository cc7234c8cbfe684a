"""Selectors on the model pass's per-sample embeddings: the baselines people compare against.

Three selectors read ``view.embeddings()`` (the mean final hidden state over the response
tokens, cached by the first model pass; no second pass):

- ``k_center_greedy``: core-set selection by farthest-first traversal (Sener & Savarese,
  "Active Learning for Convolutional Neural Networks: A Core-Set Approach", ICLR 2018);
- ``cluster_balanced``: spherical k-means on the embeddings, then an equal share of the
  budget per cluster, sampled at random inside each cluster;
- ``quality_diversity``: score-first, diversity-aware greedy in the spirit of DEITA (Liu et
  al., "What Makes Good Data for Alignment?", ICLR 2024): walk the samples by decreasing
  quality and skip one too similar to a sample already kept.

Geometry: every selector first subtracts the subset's mean embedding (``centre``, on by
default; see :func:`centre_of`), then works on L2-normalised rows, so distances are
cosine distances (for unit vectors ``|a - b|^2 = 2 - 2 cos(a, b)``); a zero row stays
zero and is equally far from everything. All arithmetic is float32.

BLAS runs on one thread inside these selectors (:func:`one_blas_thread`: measured faster).

Cost: ``k_center_greedy`` and ``quality_diversity`` are sequential greedy algorithms of
O(n x k x d) multiply-adds (``n`` rows, ``k`` kept, ``d`` dims); each refuses, with a
:class:`~autosel.errors.ConfigError` naming the sizes, a step whose work would exceed
:data:`KCENTER_MAX_WORK` / :data:`QD_MAX_WORK` (under a minute of one core here) — the
search records such a recipe as infeasible rather than stalling. ``benchmarks/realize.py``
measures all of them at 1M rows x 64 dims: the largest accepted steps take about 25 s
(1,562 centers) and 43 s (176,776 kept; extrapolated from two budgets); the default 20%
budget is refused there. ``cluster_balanced`` stays within the realize budget (0.23 s).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from autosel.errors import ConfigError
from autosel.ops import Decision, Operator, OpParams, register_operator
from autosel.ops.view import EMBEDDINGS, SubsetView
from operators._select import count_for

KCENTER_MAX_WORK = 1e11
"""Largest ``k_center_greedy`` step accepted, in multiply-adds (``n x k x d``). Its picks
are matrix-vector products, which run at memory speed (~15 ms a pick at 1M x 64 here)."""
QD_MAX_WORK = 1e12
"""Largest ``quality_diversity`` step accepted, in multiply-adds (at least ``k^2 / 2 x d``).
Its blocks are matrix products, many times faster per multiply-add than k-center's."""

KMEANS_ITERATIONS = 10
KMEANS_SAMPLE = 8192  # rows k-means fits on (plus 64 per cluster); every row is then assigned
ASSIGN_CHUNK = 65_536  # rows per assignment matmul (`chunk x clusters` float32 scores)
QD_BLOCK = 1024  # candidates compared at once by quality_diversity


def unit_rows(x: np.ndarray, shift: np.ndarray | None = None) -> np.ndarray:
    """Rows of ``x - shift`` scaled to unit L2 norm, float32 (a zero row stays zero); a new
    array."""
    out = np.array(x, dtype=np.float32, copy=True, order="C")
    if shift is not None:
        out -= shift
    norms = np.sqrt(np.einsum("ij,ij->i", out, out))
    np.divide(out, norms[:, None], out=out, where=norms[:, None] > 0)
    return out


def centre_of(emb: np.ndarray, centre: bool) -> np.ndarray | None:
    """The mean embedding of the subset (float32), or ``None`` when not centring.

    Raw mean-pooled hidden states are anisotropic: they share a large common component,
    so every pair looks alike (measured on SmolLM2 signals of the 240-row demo pool:
    median pairwise cosine 0.85 raw, -0.15 after subtracting the mean). Removing the
    mean is the usual remedy (Mu & Viswanath, "All-but-the-Top", ICLR 2018).
    """
    if not centre or len(emb) == 0:
        return None
    return np.asarray(emb.mean(axis=0, dtype=np.float64), dtype=np.float32)


def one_blas_thread() -> Any:
    """Context limiting BLAS to one thread.

    These selectors' products are thin (a few dozen columns) or small, so they run at
    memory speed: BLAS threads add start-up and, on a shared machine, waits for each
    other. Measured on 2 cores at load ~5 (cluster_balanced, 1M x 64): k-means fit
    0.83 s -> 0.04 s, assigning every row 0.53 s -> 0.08 s. threadpoolctl comes with
    botorch, a dependency.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _check_work(name: str, what: str, work: float, limit: float) -> None:
    if work > limit:
        raise ConfigError(
            f"operator '{name}': {what} = {work:.3g} float32 multiply-adds, over the limit "
            f"of {limit:.3g} (under a minute of one core); lower 'fraction' or put "
            "'random_sample' or 'cap' before this step"
        )


def k_center_order(x: np.ndarray, k: int, first: int) -> np.ndarray:
    """Positions of ``k`` centers picked farthest-first (Gonzalez's greedy k-center).

    Args:
        x: unit rows, `n x d` float32.
        k: centers to pick, ``1 <= k <= n``.
        first: position of the first center.

    Returns:
        `k` positions in pick order. Each pick is the row whose largest cosine similarity
        to the centers so far is smallest (the farthest row); ties go to the earliest row.
        One `n x d` matrix-vector product per pick.
    """
    n = len(x)
    picked = np.empty(k, dtype=np.int64)
    nearest = np.full(n, -np.inf, dtype=np.float32)  # best similarity to any center
    sim = np.empty(n, dtype=np.float32)
    c = first
    for j in range(k):
        picked[j] = c
        np.dot(x, x[c], out=sim)
        np.maximum(nearest, sim, out=nearest)
        nearest[c] = np.inf  # never picked twice (an exact duplicate has similarity 1)
        c = int(nearest.argmin())
    return picked


@register_operator("k_center_greedy")
class KCenterGreedy(Operator):
    """Keep a ``fraction`` of the subset chosen by greedy k-center on the embeddings.

    Core-set selection (Sener & Savarese, ICLR 2018, "k-Center-Greedy"): start from a
    random row (drawn from the step's rng), then repeatedly add the row farthest (in cosine
    distance) from every row kept so far, which minimises the largest distance from any
    row to its nearest kept row within a factor 2. Deterministic given the rng; O(n x k x d)
    (refused above :data:`KCENTER_MAX_WORK`).
    """

    kind = "select"
    requires = (EMBEDDINGS,)

    class Params(OpParams):
        fraction: float = Field(0.2, gt=0.0, le=1.0)
        centre: bool = Field(True, json_schema_extra={"search": False})

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n = len(view)
        k = count_for(params.fraction, n)
        if k >= n:
            return Decision(np.ones(n, dtype=bool))
        keep = np.zeros(n, dtype=bool)
        if k > 0:
            emb = view.embeddings()
            d = emb.shape[1]
            what = f"{n:,} rows x {k:,} centers x {d} dims"
            _check_work(self.name, what, n * k * d, KCENTER_MAX_WORK)
            with one_blas_thread():
                x = unit_rows(emb, centre_of(emb, params.centre))
                keep[k_center_order(x, k, int(rng.integers(n)))] = True
        return Decision(keep, {f"not among {k:,} k-center picks": ~keep})


def kmeans_centroids(
    x: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator,
    *,
    iterations: int = KMEANS_ITERATIONS,
    shift: np.ndarray | None = None,
) -> np.ndarray:
    """Unit centroids of spherical k-means on a random sample of the rows of ``x``.

    Spherical k-means (Dhillon & Modha 2001): k-means with cosine similarity, centroids
    renormalised to unit length. k-means++ seeding (D^2 sampling on the sphere) then
    ``iterations`` Lloyd steps, both on at most ``KMEANS_SAMPLE + 64 * n_clusters`` rows
    drawn without replacement. An emptied cluster keeps its previous centroid.

    Args:
        x: embeddings, `n x d` (any scale: only directions count), ``n >= n_clusters >= 1``.
        shift: subtracted from every row first (the centre), `d`.

    Returns:
        `n_clusters x d` float32 unit rows.
    """
    with one_blas_thread():
        return _fit(x, n_clusters, rng, iterations, shift)


def _fit(
    x: np.ndarray,
    n_clusters: int,
    rng: np.random.Generator,
    iterations: int,
    shift: np.ndarray | None,
) -> np.ndarray:
    n = len(x)
    m = min(n, KMEANS_SAMPLE + 64 * n_clusters)
    s = unit_rows(x if m == n else x[np.sort(rng.choice(n, size=m, replace=False))], shift)
    centers = np.empty((n_clusters, s.shape[1]), dtype=np.float32)
    centers[0] = s[rng.integers(m)]
    d2 = np.maximum(2 - 2 * (s @ centers[0]), 0)  # |a - b|^2 of unit rows
    for j in range(1, n_clusters):
        total = float(d2.sum())
        pick = int(rng.integers(m)) if total <= 0 else int(rng.choice(m, p=d2 / total))
        centers[j] = s[pick]
        np.minimum(d2, np.maximum(2 - 2 * (s @ centers[j]), 0), out=d2)
    ids = np.arange(n_clusters)
    for _ in range(iterations):
        member = (assign_clusters(s, centers)[:, None] == ids).astype(np.float32)  # `m x k`
        sums = member.T @ s  # per-cluster sums as one matrix product
        norms = np.linalg.norm(sums, axis=1)
        moved = norms > 0  # an emptied cluster keeps its centroid
        centers[moved] = sums[moved] / norms[moved, None]
    return centers


def assign_clusters(
    x: np.ndarray, centers: np.ndarray, shift: np.ndarray | None = None
) -> np.ndarray:
    """Most cosine-similar unit centroid of every row, in chunks of :data:`ASSIGN_CHUNK`.

    ``argmax_c x . c`` does not depend on the norm of ``x``: rows need no normalising, and
    a ``shift`` (the centre) is one constant per cluster, ``shift . c``.
    A zero row goes to cluster 0. Returns int16 ids (int64 from 32,768 clusters): a
    stable sort of int16 is a radix sort.
    """
    out = np.empty(len(x), dtype=np.int16 if len(centers) < 2**15 else np.int64)
    ct = np.ascontiguousarray(centers.T, dtype=np.float32)
    offset = None if shift is None else np.asarray(shift, dtype=np.float32) @ ct
    for a in range(0, len(x), ASSIGN_CHUNK):
        scores = np.asarray(x[a : a + ASSIGN_CHUNK], dtype=np.float32) @ ct
        if offset is not None:
            scores -= offset
        out[a : a + ASSIGN_CHUNK] = scores.argmax(axis=1)  # ties: the lower id
    return out


def equal_shares(sizes: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster quotas summing to ``min(k, sizes.sum())``, as equal as the sizes allow.

    Water-filling: a cluster smaller than the equal share gives all its rows and the rest
    is shared by the others; the remainder of an uneven division goes to the lowest
    cluster ids among those with room.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    quota = np.zeros(len(sizes), dtype=np.int64)
    left, open_ = min(k, int(sizes.sum())), np.ones(len(sizes), dtype=bool)
    for c in np.argsort(sizes, kind="stable"):  # smallest first
        share = left / int(open_.sum())
        if sizes[c] <= share:  # takes all its rows
            quota[c], left = sizes[c], left - int(sizes[c])
            open_[c] = False
        else:  # every open cluster is larger than the share: split it evenly
            ids = np.flatnonzero(open_)
            quota[ids] = left // len(ids)
            quota[ids[: left % len(ids)]] += 1
            break
    return quota


@register_operator("cluster_balanced")
class ClusterBalanced(Operator):
    """Keep a ``fraction`` of the subset with an equal share from each k-means cluster.

    Cluster-balanced sampling: spherical k-means (``n_clusters``, k-means++ seeding, a few
    Lloyd steps on a sample, then every row assigned to its most similar centroid) on the
    embeddings, then each cluster contributes the same number of rows, drawn at random
    (a cluster too small for its share gives all its rows and the others share the rest).
    Rare regions of the pool are thereby over-represented relative to a uniform sample —
    the usual diversity baseline of data-selection studies (e.g. the clustering baselines
    of SemDeDup, Abbas et al. 2023, and of D4, Tirumala et al. 2023). Deterministic given
    the rng.
    """

    kind = "select"
    requires = (EMBEDDINGS,)

    class Params(OpParams):
        fraction: float = Field(0.2, gt=0.0, le=1.0)
        n_clusters: int = Field(16, ge=2, le=64, json_schema_extra={"log": True})
        centre: bool = Field(True, json_schema_extra={"search": False})

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n = len(view)
        k = count_for(params.fraction, n)
        if k >= n:
            return Decision(np.ones(n, dtype=bool))
        keep = np.zeros(n, dtype=bool)
        if k > 0:
            x = view.embeddings()
            mu = centre_of(x, params.centre)
            with one_blas_thread():
                centers = kmeans_centroids(x, min(params.n_clusters, n), rng, shift=mu)
                labels = assign_clusters(x, centers, mu)
            quota = equal_shares(np.bincount(labels, minlength=min(params.n_clusters, n)), k)
            # A random order inside each cluster: a random permutation, then a stable sort by
            # cluster (int16 labels: numpy's stable sort is then a radix sort, O(n)).
            perm = rng.permutation(n)
            order = perm[np.argsort(labels[perm], kind="stable")]
            sorted_labels = labels[order]
            starts = np.searchsorted(sorted_labels, np.arange(len(quota)))
            rank = np.arange(n) - starts[sorted_labels]
            keep[order[rank < quota[sorted_labels]]] = True
        return Decision(keep, {f"over the equal share of {params.n_clusters} clusters": ~keep})


def diverse_by_score(
    x: np.ndarray,
    order: np.ndarray,
    k: int,
    max_similarity: float,
    shift: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """Walk rows in ``order``, keeping a row unless its cosine similarity to a kept row
    exceeds ``max_similarity``; stop once ``k`` are kept.

    Blocked: :data:`QD_BLOCK` candidates at a time are compared with every kept row by one
    matrix product, then with each other (earlier candidates first, as a sequential walk
    would); the result is exactly the sequential walk's.

    Args:
        x: embeddings, `n x d` (any scale: each walked row is normalised).
        shift: subtracted from each walked row before normalising (the centre), `d`.
        order: positions in walk order.

    Returns:
        ``(kept positions in walk order, rows walked)``; rows after the last walked one
        were never compared (the budget was filled first).
    """
    kept_vecs = np.empty((k, x.shape[1]), dtype=np.float32)
    kept = np.empty(k, dtype=np.int64)
    m = walked = 0
    for a in range(0, len(order), QD_BLOCK):
        if m >= k:
            break
        idx = order[a : a + QD_BLOCK]
        xb = unit_rows(x[idx], shift)  # only the rows walked are ever normalised
        ok = np.ones(len(idx), dtype=bool)
        for b in range(0, m, 16 * QD_BLOCK):  # bounded `block x 16 block` similarity tiles
            ok &= (xb @ kept_vecs[b : min(m, b + 16 * QD_BLOCK)].T).max(axis=1) <= max_similarity
        cand = np.flatnonzero(ok)
        sim = xb[cand] @ xb[cand].T
        clash = np.triu(sim > max_similarity, 1)  # clash[i, j]: earlier candidate i vs j
        accept = np.ones(len(cand), dtype=bool)
        for j in np.flatnonzero(clash.any(axis=0)):  # only rows with an earlier clash
            accept[j] = not (clash[:j, j] & accept[:j]).any()
        new = cand[accept][: k - m]
        kept[m : m + len(new)] = idx[new]
        kept_vecs[m : m + len(new)] = xb[new]
        m += len(new)
        walked = a + (int(new[-1]) + 1 if m >= k and len(new) else len(idx))
    return kept[:m], walked


@register_operator("quality_diversity")
class QualityDiversity(Operator):
    """Keep up to a ``fraction`` of the subset by quality first, skipping near-duplicates.

    In the spirit of DEITA's score-first, diversity-aware selection (Liu et al., ICLR
    2024): rows are taken in decreasing ``score`` (increasing when ``largest`` is false;
    unknown scores last; ties to the earlier row), and a row whose cosine similarity to
    any row already kept exceeds ``max_similarity`` is skipped, until the budget is full.
    DEITA scores with trained complexity and quality scorers and uses a threshold of 0.9;
    here the score is one of the cached signals (HES by default), so no extra model pass
    is needed. Fewer rows than the budget are kept when the pool runs out of
    sufficiently distinct rows. O(rows walked x k x d) (refused above :data:`QD_MAX_WORK`).
    """

    kind = "select"

    class Params(OpParams):
        fraction: float = Field(0.2, gt=0.0, le=1.0)
        score: Literal["hes", "hes_abs", "avg_he", "entropy_mean", "nll_mean", "ppl", "ifd"] = "hes"
        largest: bool = True
        max_similarity: float = Field(0.9, ge=0.5, le=0.99)
        centre: bool = Field(True, json_schema_extra={"search": False})

    @classmethod
    def required_signals(cls, params: Params) -> tuple[str, ...]:  # type: ignore[override]  # own Params: the registry passes no other
        return (EMBEDDINGS, params.score)

    def select(self, view: SubsetView, params: Params, rng: np.random.Generator) -> Decision:
        n = len(view)
        k = count_for(params.fraction, n)
        if n == 0 or k == 0:
            return Decision(np.zeros(n, dtype=bool))
        emb = view.embeddings()
        # Lower bound of the work: even with no skip, the i-th kept row meets i - 1 others.
        d = emb.shape[1]
        _check_work(self.name, f"{k:,} kept x {k:,} / 2 x {d} dims", k * k / 2 * d, QD_MAX_WORK)
        s = np.asarray(view.column(params.score), dtype=np.float64)
        order = np.argsort(-s if params.largest else s, kind="stable")  # NaN sorts last
        with one_blas_thread():
            mu = centre_of(emb, params.centre)
            kept, walked = diverse_by_score(emb, order, k, params.max_similarity, mu)
        keep = np.zeros(n, dtype=bool)
        keep[kept] = True
        skipped = np.zeros(n, dtype=bool)
        skipped[order[:walked]] = True
        skipped &= ~keep
        return Decision(
            keep,
            {
                f"cosine > {params.max_similarity:g} to a better-scored kept row": skipped,
                f"outside the budget of {k:,}": ~(keep | skipped),
            },
        )


__all__ = [
    "ClusterBalanced",
    "KCenterGreedy",
    "QualityDiversity",
    "assign_clusters",
    "equal_shares",
    "k_center_order",
    "kmeans_centroids",
    "unit_rows",
]
