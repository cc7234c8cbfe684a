"""evaluate(): failures are explicit (never a silent 0), baselines are reproducible."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from autosel.errors import InputError
from autosel.evaluation import BenchmarkSpec, EvalSpec, baseline_subsets, evaluate, sft

ROWS = [{"prompt": [{"role": "user", "content": "1+1?"}], "response": "Final answer: 2"}]


def test_empty_subset_fails_with_reason(tmp_path: Path) -> None:
    res = evaluate([], EvalSpec(device="cpu"), tmp_path)
    assert res.status == "failed" and res.failure_reason == "empty subset"
    assert res.utility is None and res.per_benchmark == {}
    saved = json.loads(Path(res.artifacts["metrics_json"]).read_text())
    assert saved["status"] == "failed" and saved["utility"] is None and saved["spec"]["seed"] == 0


def test_bad_benchmark_raises_before_training(tmp_path: Path) -> None:
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"question": "q"}\n')
    spec = EvalSpec(device="cpu", benchmarks=[BenchmarkSpec(name="b", path=bad)])
    with pytest.raises(InputError, match="line 1, field 'answer'"):
        evaluate(ROWS, spec, tmp_path / "out")
    assert not (tmp_path / "out" / "trainer").exists()


def test_baseline_subsets_are_seeded_and_sized() -> None:
    a, b = baseline_subsets(100, 30, seed=7), baseline_subsets(100, 30, seed=7)
    assert np.array_equal(a["full"], np.arange(100))
    assert np.array_equal(a["random"], b["random"]) and len(np.unique(a["random"])) == 30
    assert np.all(np.diff(a["random"]) > 0) and a["random"].max() < 100
    assert not np.array_equal(a["random"], baseline_subsets(100, 30, seed=8)["random"])
    with pytest.raises(ValueError, match="recipe_size"):
        baseline_subsets(10, 11, seed=0)


def _log(watch: Any, step: int, loss: float) -> Any:
    control = SimpleNamespace(should_training_stop=False)
    watch.on_log(None, SimpleNamespace(global_step=step), control, logs={"loss": loss})
    return control


@pytest.mark.parametrize(
    ("losses", "fragment"),
    [
        ([2.0, 1.5, float("nan")], "non-finite loss (nan) at step 3"),
        ([2.0, 3.0, 9.0], "9 at step 3 exceeds 4.0x the first logged loss 2"),
        ([2.0, float("inf")], "non-finite loss (inf) at step 2"),
    ],
)
def test_divergence_stops_training(losses: list[float], fragment: str) -> None:
    curve: list[tuple[int, float]] = []
    failure: list[str] = []
    watch = sft._watchdog(EvalSpec(), curve, failure)
    controls = [_log(watch, i + 1, x) for i, x in enumerate(losses)]
    assert [c.should_training_stop for c in controls] == [False] * (len(losses) - 1) + [True]
    assert failure[0].startswith("diverged loss: ") and fragment in failure[0]
    assert len(curve) == len(losses)


def test_healthy_curve_is_not_divergence() -> None:
    failure: list[str] = []
    watch = sft._watchdog(EvalSpec(), [], failure)
    assert not any(
        _log(watch, i, x).should_training_stop for i, x in enumerate([2.0, 1.2, 7.9, 0.4])
    )
    assert failure == []


def test_out_of_memory_becomes_a_failure_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import torch

    class _OOMTrainer:
        state = SimpleNamespace(num_input_tokens_seen=0, global_step=0)

        def train(self) -> None:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(sft, "build_trainer", lambda *a, **k: _OOMTrainer())
    res = sft.train(SimpleNamespace(eval=lambda: None), None, ROWS, EvalSpec(), tmp_path, "cuda")
    assert res.failure_reason is not None and res.failure_reason.startswith(
        "out of memory: CUDA out"
    )
    assert sft.is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"))
    assert not sft.is_oom(RuntimeError("shape mismatch"))


def test_failed_result_is_never_a_number(tmp_path: Path) -> None:
    res = evaluate([], EvalSpec(device="cpu"), tmp_path)
    d = res.to_dict()
    assert d["utility"] is None and not any(
        isinstance(v, float) and math.isnan(v) for v in d.values()
    )
