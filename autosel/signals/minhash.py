"""Vectorised MinHash signatures and LSH near-duplicate clusters, identical to datasketch.

Scheme (datasketch 2.x ``affine32``): each shingle has a 32-bit value ``h`` (words hashed
with ``xxh32`` and folded, see :func:`shingle_values`); ``h`` goes
through the MurmurHash3 32-bit finaliser; permutation ``i`` maps it to
``a_i * h + b_i`` modulo 2**32; a signature is the per-permutation minimum. The ``(a, b)``
parameters are taken from ``datasketch.MinHash(num_perm, seed)`` itself, and the LSH band
layout ``(b, r)`` from datasketch's own optimiser, so a per-sample datasketch loop (see
:func:`datasketch_clusters`) yields bit-identical signatures and identical clusters.

Clusters at threshold ``t``: connected components of the graph whose edges are pairs of
rows sharing at least one LSH band *and* with estimated Jaccard ``>= t`` (fraction of equal
signature entries). Cluster id = smallest row index in the cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import xxhash

from autosel.signals.params import MinHashParams

EMPTY = np.uint32(0xFFFFFFFF)
CHUNK_SHINGLES = 1 << 13  # rows of the (shingles x num_perm) work matrix per step
VERIFY_CHUNK = 1 << 16
FOLD = np.uint32(0x01000193)  # FNV-1 prime: odd, so the fold is a bijection per step
TEXT_CHUNK = 4096  # texts per shingling step (bounds the list of word strings)


# Words for shingling: lower-cased, ASCII punctuation removed, split on whitespace. str
# methods run in C at ~30 ns a word, several times faster than a \\w+ regex, and this loop
# is most of the cost of a signature.
_PUNCT_TO_SPACE = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"})


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``xxh32`` of every lower-cased word of ``texts`` (flat) and the word count per text."""
    words: list[str] = []
    counts = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        w = text.lower().translate(_PUNCT_TO_SPACE).split()
        words.extend(w)
        counts[i] = len(w)
    # Hash each distinct word once; per occurrence only a dict lookup (C level).
    h32 = xxhash.xxh32_intdigest
    table = {w: h32(w.encode()) for w in set(words)}
    return np.fromiter(map(table.__getitem__, words), dtype=np.uint32, count=len(words)), counts


def _char_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A 32-bit value per lower-cased character (mixed code point) and the count per text."""
    parts = [np.frombuffer(t.lower().encode("utf-32-le"), dtype=np.uint32) for t in texts]
    counts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    flat = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    return _fmix32(flat), counts


def shingle_values(texts: Sequence[str], params: MinHashParams) -> tuple[np.ndarray, np.ndarray]:
    """The 32-bit value of every shingle of ``texts`` (flat, in text order) and counts per text.

    A shingle is ``params.shingle`` consecutive words (or characters); its value folds the
    unit hashes ``v = v * FOLD + h`` modulo 2**32 (order-sensitive). A text with fewer units
    than one shingle has one shingle of all its units; an empty text has none. This is the
    shared first stage: the datasketch reference receives these values (``hashfunc=int``),
    so both paths hash identical shingles and can be compared bit for bit.
    """
    units, n_units = (_word_hashes if params.unit == "word" else _char_hashes)(texts)
    k = params.shingle
    n_sh = np.where(n_units > 0, np.maximum(n_units - k + 1, 1), 0)
    unit_start = np.concatenate([[0], np.cumsum(n_units)[:-1]]).astype(np.int64)
    win_start = _ranges(unit_start, n_sh)
    win_len = np.repeat(np.minimum(n_units, k), n_sh)
    vals = np.zeros(len(win_start), dtype=np.uint32)
    last = max(len(units) - 1, 0)
    for j in range(k):
        take = units[np.minimum(win_start + j, last)] if len(units) else vals
        vals = np.where(j < win_len, vals * FOLD + take, vals)
    return vals, n_sh


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's ``(a, b)`` for ``(num_perm, seed)`` as uint32 arrays."""
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed).permutations
    return np.asarray(a, dtype=np.uint32), np.asarray(b, dtype=np.uint32)


@lru_cache(maxsize=64)
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """``(bands, rows per band)`` exactly as ``datasketch.MinHashLSH(threshold, num_perm)``."""
    from datasketch.lsh import _optimal_param

    return _optimal_param(threshold, num_perm, 0.5, 0.5)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def signatures(texts: Sequence[str], params: MinHashParams) -> np.ndarray:
    """MinHash signatures ``n x num_perm`` (uint32) of ``texts``."""
    out = np.full((len(texts), params.num_perm), EMPTY, dtype=np.uint32)
    for s in range(0, len(texts), TEXT_CHUNK):
        vals, counts = shingle_values(texts[s : s + TEXT_CHUNK], params)
        out[s : s + len(counts)] = signatures_from_values(vals, counts, params)
    return out


def signatures_from_values(
    values: np.ndarray, counts: np.ndarray, params: MinHashParams
) -> np.ndarray:
    """Signatures from flat shingle values (see :func:`shingle_values`)."""
    a, b = permutations(params.num_perm, params.seed)
    hv = _fmix32(np.asarray(values, dtype=np.uint32))
    n = len(counts)
    out = np.full((n, params.num_perm), EMPTY, dtype=np.uint32)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    row = 0
    while row < n:
        # Take whole samples until the chunk holds about CHUNK_SHINGLES shingles.
        end = int(np.searchsorted(starts, starts[row] + CHUNK_SHINGLES, side="right")) - 1
        end = min(max(end, row + 1), n)
        lo, hi = int(starts[row]), int(starts[end])
        if hi > lo:
            # Permutations along rows, shingles along columns: the per-sample minimum is
            # then a contiguous reduceat, several times faster than the transposed layout.
            phv = np.multiply.outer(a, hv[lo:hi])  # uint32 wrap-around = mod 2**32
            phv += b[:, None]
            nonempty = np.flatnonzero(counts[row:end] > 0)
            red = np.minimum.reduceat(phv, (starts[row:end] - lo)[nonempty], axis=1)
            out[row + nonempty] = red.T
        row = end
    return out


def _mixed(sig: np.ndarray) -> np.ndarray:
    """Each signature entry mixed to 64 bits (splitmix64 of value and column), ``n x P``.

    A band's key is then the wrapping sum of its columns: equal bands always get equal
    keys; distinct bands collide with probability ~2**-64, and :func:`_band_pairs`
    re-checks band equality for every candidate pair, so a collision never adds an edge.
    """
    x = sig.astype(np.uint64) + (np.arange(sig.shape[1], dtype=np.uint64) << np.uint64(32))
    x += np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _bucket_pairs(keys: np.ndarray) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of rows sharing a key, as ``p x 2`` int64."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    boundaries = np.flatnonzero(np.diff(sk)) + 1
    starts = np.concatenate([[0], boundaries])
    sizes = np.diff(np.concatenate([starts, [len(sk)]]))
    multi = sizes > 1
    if not multi.any():
        return np.empty((0, 2), dtype=np.int64)
    starts, sizes = starts[multi], sizes[multi]
    # Positions of every member of a multi-row bucket, with its bucket's start and end.
    member_pos = _ranges(starts, sizes)
    bucket_end = np.repeat(starts + sizes, sizes)
    partners = bucket_end - member_pos - 1  # later members in the same bucket
    left = np.repeat(member_pos, partners)
    first_right = np.repeat(member_pos + 1, partners)
    within = np.arange(len(left), dtype=np.int64) - np.repeat(
        np.cumsum(partners) - partners, partners
    )
    right = first_right + within
    i, j = order[left], order[right]
    return np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1).astype(np.int64)


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, s + z)`` for each pair, vectorised."""
    total = int(sizes.sum())
    offs = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    return np.arange(total, dtype=np.int64) + offs


def _components_min_index(n: int, pairs: np.ndarray) -> np.ndarray:
    """Cluster id (smallest member index) per node of the graph with edges ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(pairs) == 0:
        return np.arange(n, dtype=np.int64)
    graph = coo_matrix(
        (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n)
    )
    _, labels = connected_components(graph, directed=False)
    first = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n, dtype=np.int64))
    return first[labels]


def lsh_clusters(sig: np.ndarray, threshold: float) -> np.ndarray:
    """Near-duplicate cluster id per row at Jaccard ``threshold`` (see module docstring)."""
    return lsh_clusters_all(sig, [threshold])[float(threshold)]


def lsh_clusters_all(sig: np.ndarray, thresholds: Sequence[float]) -> dict[float, np.ndarray]:
    """Cluster ids per row for several thresholds, sharing the per-signature work."""
    n, num_perm = sig.shape
    if n == 0:
        return {float(t): np.empty(0, dtype=np.int64) for t in thresholds}
    # Rows with identical signatures are one node: they share every band and estimate 1.0.
    void = np.ascontiguousarray(sig).view(np.dtype((np.void, 4 * num_perm))).ravel()
    _, cls = np.unique(void, return_inverse=True)
    cls = cls.ravel()
    first = np.full(cls.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, cls, np.arange(n, dtype=np.int64))
    reps = np.sort(first)
    row_node = np.searchsorted(reps, first)[cls]
    uniq = np.ascontiguousarray(sig[reps])
    mixed = _mixed(uniq)
    out = {}
    for t in thresholds:
        pairs = _band_pairs(uniq, mixed, float(t))
        node_cluster = _components_min_index(len(reps), pairs)
        # Nodes are numbered in the order of their representative (smallest) rows, so the
        # smallest node of a component maps to the smallest row of the cluster.
        out[float(t)] = reps[node_cluster][row_node]
    return out


def _band_pairs(uniq: np.ndarray, mixed: np.ndarray, threshold: float) -> np.ndarray:
    """Verified candidate pairs (node indices) at ``threshold``: shared band, estimate >= t."""
    m, num_perm = uniq.shape
    bands, rows = lsh_bands(threshold, num_perm)
    keys = mixed[:, : bands * rows].reshape(m, bands, rows).sum(axis=2)
    cand = []
    for k in range(bands):
        p = _bucket_pairs(keys[:, k])
        band = uniq[:, k * rows : (k + 1) * rows]
        cand.append(p[(band[p[:, 0]] == band[p[:, 1]]).all(axis=1)])
    pairs = np.concatenate(cand)
    if not len(pairs):
        return pairs
    pairs = np.unique(pairs[:, 0] * m + pairs[:, 1])
    pairs = np.stack([pairs // m, pairs % m], axis=1)
    keep = np.zeros(len(pairs), dtype=bool)
    for s in range(0, len(pairs), VERIFY_CHUNK):
        p = pairs[s : s + VERIFY_CHUNK]
        eq = np.count_nonzero(uniq[p[:, 0]] == uniq[p[:, 1]], axis=1)
        # Same float expression as datasketch's MinHash.jaccard, so ties agree.
        keep[s : s + VERIFY_CHUNK] = eq.astype(np.float64) / float(num_perm) >= threshold
    return pairs[keep]


def datasketch_clusters(
    texts: Sequence[str], params: MinHashParams, thresholds: Sequence[float], mode: str = "loop"
) -> dict[float, np.ndarray]:
    """Reference clusters with datasketch itself (for tests and the benchmark baselines).

    ``mode="loop"``: ``MinHash()`` + ``update()`` per shingle; ``mode="bulk"``:
    ``MinHash.bulk`` (datasketch's fastest CPU path). Both then ``MinHashLSH`` query/insert
    per sample, verification by ``MinHash.jaccard`` and union-find.
    """
    from datasketch import MinHash, MinHashLSH

    kw = {"num_perm": params.num_perm, "seed": params.seed, "hashfunc": int}
    sh: list[list[int]] = []
    for s in range(0, len(texts), TEXT_CHUNK):
        vals, counts = shingle_values(texts[s : s + TEXT_CHUNK], params)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        flat = vals.tolist()
        sh.extend(flat[bounds[i] : bounds[i + 1]] for i in range(len(counts)))
    if mode == "bulk":
        mhs = MinHash.bulk(sh, **kw)
    else:
        mhs = []
        for s in sh:
            mh = MinHash(**kw)
            for x in s:
                mh.update(x)
            mhs.append(mh)
    out: dict[float, np.ndarray] = {}
    for t in thresholds:
        lsh = MinHashLSH(threshold=t, num_perm=params.num_perm)
        parent = list(range(len(mhs)))

        def find(x: int, parent: list[int] = parent) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for i, mh in enumerate(mhs):
            for c in lsh.query(mh):
                if mh.jaccard(mhs[c]) >= t:
                    ra, rb = find(i), find(c)
                    parent[max(ra, rb)] = min(ra, rb)  # root = smallest index
            lsh.insert(i, mh)
        out[t] = np.array([find(i) for i in range(len(mhs))], dtype=np.int64)
    return out
