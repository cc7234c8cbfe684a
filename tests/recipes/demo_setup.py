"""Shared by the demo-pool tests and ``golden/make_golden.py``: demo pool + real signals.

The golden recipes are fixed here; their subset fingerprints on the small demo pool
(seed 0, real SmolLM2 signals) are pinned in ``golden/fingerprints.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autosel.recipes import Recipe

GOLDEN_FILE = Path(__file__).parent / "golden" / "fingerprints.json"
GOLDEN_RECIPES = {
    "hes_top20": Recipe.of(("hes_filter", {"fraction": 0.2})),
    "dedup_then_hes": Recipe.of(
        ("minhash_dedup", {"threshold": 0.8}),
        ("exact_dedup", {}),
        ("hes_filter", {"fraction": 0.5}),
    ),
    "length_band_mix": Recipe.of(
        ("length_filter", {"low_q": 0.1, "high_q": 0.9}),
        ("source_mix", {"fraction": 0.7}),
        ("cap", {"max_samples": 300}),
    ),
    "random_half": Recipe.of(("random_sample", {"fraction": 0.5})),
}


def build(home: Path) -> tuple[Any, Any, dict[str, str]]:
    """Generate the small demo pool under ``home``, ingest it, compute signals.

    Returns:
        ``(pool, signals, defect by sample id)``.
    """
    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool
    from autosel.settings import Settings
    from autosel.signals import compute_signals

    settings = Settings(home=home)
    demo = generate_demo_pool(home / "demo", size="small", seed=0)
    pool = add_pool(demo.pool_path, settings=settings).pool
    bench = {p.stem: p for p in demo.bench_paths}
    signals = compute_signals(pool, benchmarks=bench, settings=settings, progress=False)
    labels = {}
    for line in demo.labels_path.read_text().splitlines():
        rec = json.loads(line)
        labels[rec["id"]] = rec["defect"]
    return pool, signals, labels
