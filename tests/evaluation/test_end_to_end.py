"""Real SFT on the embedded model, CPU, demo pool: scores, costs, reproducible adapter.

Slow (minutes on 2 CPU cores) but part of CI. Sizes are chosen so both tests together
stay under ~10 minutes: short ``max_seq_len``, one epoch, a few benchmark items per
domain, generation on one domain only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from autosel.evaluation import BenchmarkSpec, EvalSpec, baseline_subsets, evaluate, evaluate_adapter

DOMAINS = ("arithmetic", "boolean", "dates", "graphs")


def _bench_specs(
    demo_dir: Path, limit: int, generate_on: tuple[str, ...] = ()
) -> list[BenchmarkSpec]:
    return [
        BenchmarkSpec(
            name=d,
            path=demo_dir / "bench" / f"{d}.jsonl",
            limit=limit,
            generate=d in generate_on,
            max_new_tokens=72,
        )
        for d in DOMAINS
    ]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_200_sample_evaluation_reloads_and_reproduces(
    demo_pool: Any, demo_dir: Path, tmp_path: Path
) -> None:
    idx = baseline_subsets(len(demo_pool), 200, seed=0)["random"]
    rows = list(demo_pool.rows(idx))
    spec = EvalSpec(
        device="cpu",
        max_seq_len=256,
        torch_threads=2,
        benchmarks=_bench_specs(demo_dir, limit=12, generate_on=("graphs",)),
    )
    res = evaluate(rows, spec, tmp_path / "run")

    assert res.status == "succeeded" and res.failure_reason is None, res.failure_reason
    assert (res.n_samples, res.device) == (200, "cpu")
    assert set(res.per_benchmark) == set(DOMAINS)
    for name, m in res.per_benchmark.items():
        assert m["n"] == 12 and m["nll"] > 0 and 0 <= m["mc_accuracy"] <= 1, name
        assert res.primary_metrics[name] == "mc_accuracy"
    assert 0 <= res.per_benchmark["graphs"]["exact_match"] <= 1
    expected = sum(m["mc_accuracy"] for m in res.per_benchmark.values()) / len(DOMAINS)
    assert res.utility == pytest.approx(expected)
    # Costs: real training happened, evaluation was timed separately.
    assert res.train_seconds > 1 and res.eval_seconds > 0.1 and res.train_tokens > 200 * 60
    assert len(res.loss_curve) == math.ceil(200 / spec.batch_size)
    losses = [x for _, x in res.loss_curve]
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < losses[0]  # the model learned the pool's answer format
    # Artifacts: the metrics file is the result; the adapter reloads and reproduces it.
    saved = json.loads(Path(res.artifacts["metrics_json"]).read_text())
    assert saved["per_benchmark"] == res.per_benchmark and saved["utility"] == res.utility
    adapter = Path(res.artifacts["adapter_dir"])
    assert (adapter / "adapter_config.json").is_file()
    again = evaluate_adapter(adapter, spec)
    assert again.utility == pytest.approx(res.utility, abs=1e-9)
    for name, m in res.per_benchmark.items():
        for metric, value in m.items():
            assert again.per_benchmark[name][metric] == pytest.approx(value, abs=1e-4), (
                name,
                metric,
            )
    print(
        f"\n200-sample e2e: train {res.train_seconds:.0f}s ({res.train_tokens} tokens), eval "
        f"{res.eval_seconds:.0f}s, utility {res.utility:.3f}, "
        + json.dumps(
            {k: {m: round(v, 3) for m, v in d.items()} for k, d in res.per_benchmark.items()}
        )
    )
