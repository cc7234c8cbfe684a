"""A demo pool with model-free signals and a label-based evaluation test double."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from autosel.settings import Settings


@dataclass(frozen=True)
class FakeEvalResult:
    """Shape of autosel.evaluation.EvalResult, produced without any training."""

    status: str
    failure_reason: str | None
    per_benchmark: dict[str, dict[str, float]]
    primary_metrics: dict[str, str]
    utility: float | None
    train_seconds: float = 0.01
    eval_seconds: float = 0.01
    device: str = "cpu"
    n_samples: int = 0
    train_tokens: int = 0
    artifacts: dict[str, str] = field(default_factory=dict)
    item_scores: dict[str, list[float]] = field(default_factory=dict)
    item_ids: dict[str, list[str]] = field(default_factory=dict)


# Per-item offsets of the label objective's 24 benchmark items: item difficulty that every
# subset shares (paired), symmetric around 0 so the item mean is the utility itself.
_OFFSETS = [0.02 * k for k in range(-6, 0)] * 2 + [0.02 * k for k in range(1, 7)] * 2
N_ITEMS = len(_OFFSETS)


def items_around(
    util: float, name: str = "demo"
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Per-item scores whose mean is ``util`` (``item_scores``, ``item_ids`` of a result)."""
    return {name: [util + o for o in _OFFSETS]}, {name: [f"q{i}" for i in range(N_ITEMS)]}


class LabelObjective:
    """TEST DOUBLE for SFT: utility = clean share x diminishing size term, from hidden labels.

    Thread-safe; records every evaluated subset (sample ids) so tests can check that no
    subset is evaluated twice. ``crash_on`` makes chosen calls raise (worker crash).
    """

    def __init__(self, labels: dict[str, str], crash_on: set[int] | None = None) -> None:
        self.labels = labels
        self.calls: list[tuple[str, ...]] = []
        self.crash_on = crash_on or set()
        self.lock = threading.Lock()

    def __call__(
        self,
        rows: list[dict[str, Any]],
        spec: Any,
        out: Path,
        *,
        stop: threading.Event | None = None,
    ) -> FakeEvalResult:
        ids = tuple(sorted(r["sample_id"] for r in rows))
        with self.lock:
            self.calls.append(ids)
            call = len(self.calls)
        if call in self.crash_on:
            raise RuntimeError(f"simulated crash on call {call}")
        if not rows:
            return FakeEvalResult("failed", "empty subset", {}, {}, None)
        clean = sum(self.labels[i] == "clean" for i in ids) / len(ids)
        util = clean * math.log1p(len(ids)) / math.log1p(800)
        scores, item_ids = items_around(util)
        return FakeEvalResult(
            "succeeded",
            None,
            {"demo": {"acc": clean}},
            {"demo": "acc"},
            util,
            n_samples=len(ids),
            item_scores=scores,
            item_ids=item_ids,
        )


FAST_KNOBS = {"n_candidates": 64, "n_random": 8, "n_sobol": 64, "max_steps": 3, "min_size": 20}


def fast_spec(
    pool_id: str, budget: int, *, seed: int = 0, knobs: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """A search spec on model-free signals with small candidate sets, for fast tests."""
    return {
        "pool": pool_id,
        "budget": budget,
        "signals": {"model": None, "relevance": False},
        "knobs": {**FAST_KNOBS, "seed": seed, **(knobs or {})},
        **fields,
    }


@pytest.fixture(scope="session")
def demo_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small demo pool, ingested, with model-free signals cached, in a session home."""
    import json

    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool
    from autosel.signals import compute_signals

    root = tmp_path_factory.mktemp("sched")
    settings = Settings(home=root / "home")
    demo = generate_demo_pool(root / "demo", size="small", seed=0)
    pool = add_pool(demo.pool_path, settings=settings).pool
    compute_signals(pool, model=None, progress=False, settings=settings)
    labels = {
        json.loads(x)["id"]: json.loads(x)["defect"]
        for x in Path(demo.labels_path).read_text().splitlines()
    }
    return {"settings": settings, "pool": pool, "labels": labels, "root": root}
