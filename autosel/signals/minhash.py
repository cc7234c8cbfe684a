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

from autosel.signals.params import MinHashParams
from autosel.signals.wordhash import word_hashes

EMPTY = np.uint32(0xFFFFFFFF)
CHUNK_SHINGLES = 1 << 12  # columns of the (num_perm x shingles) work matrix per step
KEY_ROWS = 1 << 12  # signature rows turned into uint64 band keys at once
VERIFY_CHUNK = 1 << 12  # candidate pairs compared at once (two 2 MB gathers at 128 perms)
FOLD = np.uint32(0x01000193)  # FNV-1 prime: odd, so the fold is a bijection per step
TEXT_CHUNK = 4096  # texts per shingling step (bounds the list of word strings)


def _word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``xxh32`` of every lower-cased word of ``texts`` (flat) and the word count per text.

    Words: ``text.lower().translate(ASCII punctuation -> " ").split()``; see
    :mod:`autosel.signals.wordhash` (vectorised; same values as hashing word by word).
    """
    return word_hashes(texts)


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
    if len(win_start) == 0:
        return np.zeros(0, dtype=np.uint32), n_sh
    vals = units.take(win_start)  # the first fold step from 0: 0 * FOLD + unit
    short = np.repeat(n_units < k, n_sh)  # texts shorter than a shingle: one short window
    win_len = np.repeat(np.minimum(n_units, k), n_sh) if short.any() else None
    for j in range(1, k):
        step = vals * FOLD + units.take(win_start + j, mode="clip")
        if win_len is None:
            vals = step
        else:
            np.copyto(vals, step, where=j < win_len)
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
    a, b = a[:, None], b[:, None]
    hv = _fmix32(np.asarray(values, dtype=np.uint32))
    n = len(counts)
    out = np.full((n, params.num_perm), EMPTY, dtype=np.uint32)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    # One work matrix for every chunk (no allocation per chunk; it stays in the L2 cache).
    work = np.empty((params.num_perm, CHUNK_SHINGLES), dtype=np.uint32)
    row = 0
    while row < n:
        # Take whole samples until the chunk holds about CHUNK_SHINGLES shingles.
        end = int(np.searchsorted(starts, starts[row] + CHUNK_SHINGLES, side="right")) - 1
        end = min(max(end, row + 1), n)
        lo, hi = int(starts[row]), int(starts[end])
        if hi > lo:
            # Permutations along rows, shingles along columns: the per-sample minimum is
            # then a contiguous reduceat, several times faster than the transposed layout.
            phv = work[:, : hi - lo] if hi - lo <= CHUNK_SHINGLES else None
            phv = np.multiply(a, hv[lo:hi], out=phv)  # uint32 wrap-around = mod 2**32
            phv += b
            nonempty = np.flatnonzero(counts[row:end] > 0)
            red = np.minimum.reduceat(phv, (starts[row:end] - lo)[nonempty], axis=1)
            out[row + nonempty] = red.T
        row = end
    return out


@lru_cache(maxsize=8)
def _column_weights(num_perm: int) -> np.ndarray:
    """An odd 64-bit multiplier per signature column (splitmix64 of the column number)."""
    x = np.arange(1, num_perm + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (x ^ (x >> np.uint64(31))) | np.uint64(1)


def _band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """A 64-bit key per band and row, ``bands x n``: the wrapping sum of column * weight.

    Equal bands always get equal keys; distinct bands collide with probability ~2**-64,
    and every candidate pair is re-checked on the signatures themselves, so a collision
    never adds an edge. Computed in row blocks, so the uint64 copy stays small.
    """
    n = len(sig)
    w = _column_weights(sig.shape[1])[: bands * rows]
    keys = np.empty((bands, n), dtype=np.uint64)
    for s in range(0, n, KEY_ROWS):
        block = sig[s : s + KEY_ROWS, : bands * rows].astype(np.uint64)
        block *= w
        keys[:, s : s + KEY_ROWS] = block.reshape(len(block), bands, rows).sum(axis=2).T
    return keys


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique(x)`` for integers by sort and compare (numpy 2.4's is ~40x slower here)."""
    x = np.sort(x)
    keep = np.empty(len(x), dtype=bool)
    keep[:1] = True
    np.not_equal(x[1:], x[:-1], out=keep[1:])
    return x[keep]


def _identical_rows(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Classes of identical signature rows: ``(reps, row_node)``.

    ``reps``: the smallest row of each class, sorted (`c`); ``row_node``: the class of
    each row as an index into ``reps`` (`n`). Rows are grouped by a 64-bit key of the
    whole row, and every grouped row is compared with its group's first; a key collision
    (never seen) falls back to ``np.unique`` on the raw rows.
    """
    n = len(sig)
    key = _band_keys(sig, 1, sig.shape[1])[0]
    order = np.argsort(key, kind="stable")  # within a key, rows stay in ascending order
    sk = key.take(order)
    start = np.empty(n, dtype=bool)
    start[:1] = True
    np.not_equal(sk[1:], sk[:-1], out=start[1:])
    run = np.cumsum(start) - 1
    firsts = order[start]  # smallest row of each run
    later = ~start
    if later.any():
        rows, first_rows = order[later], firsts[run[later]]
        if not (sig.take(rows, axis=0) == sig.take(first_rows, axis=0)).all():
            return _identical_rows_by_sort(sig)
    reps = np.sort(firsts)
    row_node = np.empty(n, dtype=np.int64)
    row_node[order] = np.searchsorted(reps, firsts)[run]
    return reps, row_node


def _identical_rows_by_sort(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_identical_rows` by sorting the raw rows (exact whatever the keys)."""
    n, num_perm = sig.shape
    void = np.ascontiguousarray(sig).view(np.dtype((np.void, 4 * num_perm))).ravel()
    _, cls = np.unique(void, return_inverse=True)
    cls = cls.ravel()
    first = np.full(cls.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, cls, np.arange(n, dtype=np.int64))
    reps = np.sort(first)
    return reps, np.searchsorted(reps, first)[cls]


def _bucket_pairs(keys: np.ndarray) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of rows sharing a key, as ``p x 2`` int64 (any order)."""
    # Any sort will do: pairs are normalised to (min, max) and deduplicated by the caller,
    # and the default (SIMD) sort is several times faster than a stable one.
    order = np.argsort(keys)
    sk = keys.take(order)
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
    reps, row_node = _identical_rows(np.ascontiguousarray(sig))
    uniq = np.ascontiguousarray(sig[reps])
    out = {}
    for t in thresholds:
        pairs = _band_pairs(uniq, float(t))
        node_cluster = _components_min_index(len(reps), pairs)
        # Nodes are numbered in the order of their representative (smallest) rows, so the
        # smallest node of a component maps to the smallest row of the cluster.
        out[float(t)] = reps[node_cluster][row_node]
    return out


def _band_pairs(uniq: np.ndarray, threshold: float) -> np.ndarray:
    """Verified candidate pairs (node indices) at ``threshold``: shared band, estimate >= t.

    Candidates are rows with equal band keys in some band; one comparison of their full
    signatures then gives both the estimate and the proof that some band is really equal
    (keys could, with probability ~2**-64, collide).
    """
    m, num_perm = uniq.shape
    bands, rows = lsh_bands(threshold, num_perm)
    keys = _band_keys(uniq, bands, rows)
    pairs = np.concatenate([_bucket_pairs(keys[k]) for k in range(bands)])
    if not len(pairs):
        return pairs
    pairs = _sorted_unique(pairs[:, 0] * m + pairs[:, 1])
    pairs = np.stack([pairs // m, pairs % m], axis=1)
    keep = np.zeros(len(pairs), dtype=bool)
    for s in range(0, len(pairs), VERIFY_CHUNK):
        p = pairs[s : s + VERIFY_CHUNK]
        equal = uniq.take(p[:, 0], axis=0) == uniq.take(p[:, 1], axis=0)
        # Same float expression as datasketch's MinHash.jaccard, so ties agree.
        eq = equal.view(np.uint8).sum(axis=1, dtype=np.uint16)  # 2x count_nonzero(axis=1)
        ok = eq.astype(np.float64) / float(num_perm) >= threshold
        share = equal[ok, : bands * rows].reshape(-1, bands, rows).all(axis=2).any(axis=1)
        keep[s + np.flatnonzero(ok)[share]] = True
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
    for start in range(0, len(texts), TEXT_CHUNK):
        vals, counts = shingle_values(texts[start : start + TEXT_CHUNK], params)
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
