"""Shared fixtures of the evaluation tests.

The suite-wide ``tests/conftest.py`` already gives the session one ``AUTOSEL_HOME`` and one
model cache, so the embedded model is converted from GGUF once per session. Here: the
demo pool (generated and ingested once) and the embedded model loaded once for the fast
harness tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small demo pool (800 samples), its hidden labels and benchmarks, seed 0."""
    from autosel.pool.demo import generate_demo_pool

    out = tmp_path_factory.mktemp("demo")
    generate_demo_pool(out, size="small", seed=0)
    return out


@pytest.fixture(scope="session")
def demo_pool(demo_dir: Path) -> Any:
    """The demo pool ingested into the session's AUTOSEL_HOME."""
    from autosel.pool.ingest import add_pool
    from autosel.settings import get_settings

    return add_pool(demo_dir / "pool.jsonl", settings=get_settings()).pool


@pytest.fixture(scope="session")
def demo_labels(demo_dir: Path) -> dict[str, str]:
    """Hidden defect label per sample id."""
    from autosel.pool.demo import load_labels

    df = load_labels(demo_dir)
    return dict(zip(df["id"], df["defect"], strict=True))


@pytest.fixture(scope="session")
def model_and_tok() -> tuple[Any, Any]:
    """The embedded SmolLM2-135M in fp32 on CPU, eval mode (shared: never train it)."""
    import torch

    from autosel.base_model import load_model

    torch.set_num_threads(2)
    return load_model("smollm2", device="cpu", dtype="fp32")
