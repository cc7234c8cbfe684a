"""On the demo pool with real signals: golden fingerprints and planted-defect removal rates."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_setup import GOLDEN_FILE, GOLDEN_RECIPES, build  # noqa: E402

from autosel.recipes import Recipe, realize  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return build(tmp_path_factory.mktemp("demo-home"))


def removal_rate(pool, labels: dict[str, str], kept: np.ndarray, defects: set[str]) -> float:  # type: ignore[no-untyped-def]
    ids = pool.sample_ids
    rows = np.array([i for i, sid in enumerate(ids.tolist()) if labels[sid] in defects])
    assert len(rows) >= 10, f"the demo pool should plant {defects}"
    return float(1 - np.isin(rows, kept).mean())


# Recipes whose selection reads model signals (HES). The signal pass runs in bf16 on CPU,
# and bf16 matmul kernels differ between CPU types (AVX512-BF16 vs emulated): on this
# project's machines the same code gave a different top-20% HES set (stop 19's machine vs
# the one the golden file was made on). Those recipes are pinned by id overlap, the others
# (text signals, seeded sampling) exactly.
MODEL_DEPENDENT = {"hes_top20", "dedup_then_hes"}
MIN_JACCARD = 0.9


def test_golden_fingerprints(demo) -> None:  # type: ignore[no-untyped-def]
    pool, signals, _ = demo
    if not GOLDEN_FILE.exists():
        pytest.fail(f"{GOLDEN_FILE} missing: run tests/recipes/golden/make_golden.py and commit it")
    golden = json.loads(GOLDEN_FILE.read_text())
    assert golden["pool_content_hash"] == pool.content_hash
    for name, recipe in GOLDEN_RECIPES.items():
        res = realize(recipe, pool, signals, seed=0)
        want = golden["recipes"][name]
        assert (want["recipe_hash"], want["size"]) == (recipe.recipe_hash, len(res)), name
        if name not in MODEL_DEPENDENT:
            assert want["fingerprint"] == res.fingerprint, name
            continue
        got = set(pool.sample_ids[res.indices].tolist())
        jaccard = len(got & set(want["ids"])) / len(got | set(want["ids"]))
        print(f"{name}: Jaccard {jaccard:.3f} with the golden selection")
        assert jaccard >= MIN_JACCARD, (name, jaccard)


def test_hes_filter_removes_short_and_truncated_responses(demo) -> None:  # type: ignore[no-untyped-def]
    pool, signals, labels = demo
    kept = realize(Recipe.of(("hes_filter", {"fraction": 0.5})), pool, signals).indices
    rate = removal_rate(pool, labels, kept, {"too_short", "truncated"})
    clean = removal_rate(pool, labels, kept, {"clean"})
    print(f"hes_filter top 0.5: removes {rate:.2f} of too_short/truncated, {clean:.2f} of clean")
    assert rate >= 0.8 and rate >= clean + 0.3  # random removes 0.5 of each


def test_minhash_dedup_removes_duplicates(demo) -> None:  # type: ignore[no-untyped-def]
    # Measured on the small demo pool (seed 0): at Jaccard 0.7 the dedup removes 0.64 of
    # the planted exact/near duplicates and 0.15 of clean rows (clean rows that share a
    # prompt with another response of the same group look alike); at 0.8 only 0.48 of the
    # duplicates go, because the planted rewordings sit at Jaccard 0.6-0.86.
    pool, signals, labels = demo
    kept = realize(Recipe.of(("minhash_dedup", {"threshold": 0.7})), pool, signals).indices
    rate = removal_rate(pool, labels, kept, {"near_duplicate", "exact_duplicate"})
    clean = removal_rate(pool, labels, kept, {"clean"})
    exact = removal_rate(pool, labels, kept, {"exact_duplicate"})
    print(f"minhash_dedup 0.7: removes {rate:.2f} of duplicates, {clean:.2f} of clean")
    assert exact == 1.0, "every exact copy goes (the original, listed first, stays)"
    assert rate >= 0.55 and clean <= 0.2 and rate >= 3 * clean


def test_named_hes_recipes_on_the_demo_pool(demo) -> None:  # type: ignore[no-untyped-def]
    """The paper's two settings as named recipes, on real signals: de-noising (drop the
    bottom 20% by HES) spends its cut on too-short and truncated responses more than twice
    as often as on clean ones. (That a set's unit changes values, never the selection, is
    pinned on hand-computed entropies in tests/signals/test_hes_reference.py.)"""
    from autosel.recipes.catalogue import named_recipe

    pool, signals, labels = demo
    for name in ("hes-efficiency", "hes-denoise", "avg-he"):
        kept = realize(named_recipe(name), pool, signals).indices
        rates = {
            d: removal_rate(pool, labels, kept, {d}) for d in ("too_short", "truncated", "clean")
        }
        print(f"{name}: keeps {len(kept)} of {len(pool)}; removes", rates)
    kept = realize(named_recipe("hes-denoise"), pool, signals).indices
    bad = removal_rate(pool, labels, kept, {"too_short", "truncated"})
    clean = removal_rate(pool, labels, kept, {"clean"})
    # Measured (seed-0 small demo pool, SmolLM2 bf16 on CPU): 0.47 of too-short/truncated
    # vs 0.21 of clean; efficiency (top 20%) removes 1.0 / 0.975 of them and 0.85 of clean.
    assert bad >= 2 * clean, (bad, clean)  # random removes 0.2 of each
