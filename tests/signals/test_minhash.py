"""MinHash/LSH clusters: identical to datasketch, planted near-duplicates found."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autosel.signals import minhash
from autosel.signals.params import MinHashParams


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(400)]
    texts: list[str] = []
    for i in range(n):
        if i > 5 and rng.random() < 0.25:  # a near-duplicate of an earlier text
            words = texts[int(rng.integers(0, i))].split()
            j = int(rng.integers(0, max(1, len(words))))
            words[j : j + 1] = ["edited"]
            texts.append(" ".join(words))
        else:
            texts.append(" ".join(rng.choice(vocab, int(rng.integers(0, 50)))))
    return texts


@pytest.mark.parametrize(
    "params", [MinHashParams(), MinHashParams(unit="char", shingle=4, num_perm=64)]
)
def test_identical_to_datasketch_loop_and_bulk(params: MinHashParams) -> None:
    texts = _texts(400, seed=3)
    sig = minhash.signatures(texts, params)
    ours = minhash.lsh_clusters_all(sig, params.thresholds)
    for mode in ("loop", "bulk"):
        ref = minhash.datasketch_clusters(texts, params, params.thresholds, mode=mode)
        for t in params.thresholds:
            np.testing.assert_array_equal(ours[t], ref[t], err_msg=f"{mode} t={t}")
    # Some clusters exist, and the id is the smallest member's row.
    c = ours[0.5]
    assert (c != np.arange(len(c))).sum() > 10
    assert (c <= np.arange(len(c))).all() and (c[c] == c).all()


def test_signatures_match_datasketch_minhash() -> None:
    from datasketch import MinHash

    params = MinHashParams(num_perm=32)
    texts = ["the quick brown fox jumps", "", "x"]
    sig = minhash.signatures(texts, params)
    vals, counts = minhash.shingle_values(texts, params)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for i in range(len(texts)):
        m = MinHash(num_perm=32, seed=1, hashfunc=int)
        for v in vals[bounds[i] : bounds[i + 1]].tolist():
            m.update(v)
        np.testing.assert_array_equal(sig[i], m.hashvalues)


def test_distinct_texts_are_not_merged_and_duplicates_are() -> None:
    texts = [
        "alpha beta gamma delta epsilon zeta eta theta",
        "one two three four five six",
        "alpha beta gamma delta epsilon zeta eta theta",
        "completely different words here now",
    ]
    sig = minhash.signatures(texts, MinHashParams())
    for t in MinHashParams().thresholds:
        assert minhash.lsh_clusters(sig, t).tolist() == [0, 1, 0, 3]


def test_demo_pool_planted_near_duplicates(tmp_path: Path) -> None:
    demo = pytest.importorskip("autosel.pool.demo")
    from autosel.pool.ingest import add_pool
    from autosel.settings import Settings
    from autosel.signals import compute_signals

    demo.generate_demo_pool(tmp_path / "demo", size="small", seed=0)
    s = Settings(home=tmp_path / "home")
    pool = add_pool(tmp_path / "demo" / "pool.jsonl", settings=s).pool
    sig = compute_signals(pool, model=None, settings=s, progress=False)
    labels = [json.loads(x) for x in (tmp_path / "demo" / "labels.jsonl").read_text().splitlines()]
    idx = {sid: i for i, sid in enumerate(pool.sample_ids.tolist())}
    pairs = {
        d: [(idx[x["id"]], idx[x["duplicate_of"]]) for x in labels if x["defect"] == d]
        for d in ("near_duplicate", "exact_duplicate")
    }
    assert pairs["near_duplicate"] and pairs["exact_duplicate"]
    # Planted near-duplicates (edited prompt and/or response lines) have Jaccard around
    # 0.5-0.7 on word 3-grams: nearly all are found at 0.5, fewer at stricter thresholds.
    recall = [
        np.mean(
            [
                sig.minhash_clusters(t)[a] == sig.minhash_clusters(t)[b]
                for a, b in pairs["near_duplicate"]
            ]
        )
        for t in sig.minhash_thresholds
    ]
    assert recall[0] >= 0.85
    assert all(x >= y for x, y in zip(recall, recall[1:], strict=False))
    eg = sig.exact_groups()
    assert all(eg[a] == eg[b] for a, b in pairs["exact_duplicate"])
    # Exact groups hold only the planted exact duplicates.
    assert (eg != np.arange(len(eg))).sum() == len(pairs["exact_duplicate"])
    # At 0.9, rows merged outside planted duplicates share their prompt (several responses
    # to one prompt): samples of distinct prompts are never merged.
    prompts = pool.table(["prompt"]).column(0).to_pylist()
    planted = {a for v in pairs.values() for a, _ in v}
    c9 = sig.minhash_clusters(0.9)
    for i in np.flatnonzero(c9 != np.arange(len(c9))):
        if int(i) not in planted:
            assert prompts[i] == prompts[c9[i]]
