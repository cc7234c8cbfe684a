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
# Wrong-vs-clean sizes: see the measurements in the test's docstring.
WVC_N, WVC_EPOCHS, WVC_LIMIT, WVC_PREFIX, WVC_MARGIN = 48, 2.0, 20, "Final answer: ", 0.02


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
@pytest.mark.timeout(2400)  # generous: CI machines are shared
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


def _wrong_and_clean(
    demo_pool: Any, labels: dict[str, str], n: int, n_clean_in_wrong: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A mostly-wrong subset and a clean one of the same size and the same domain mix."""
    rows = list(demo_pool.rows())
    wrong = [r for r in rows if labels[r["sample_id"]] == "wrong_answer"][: n - n_clean_in_wrong]
    clean_by_source: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if labels[r["sample_id"]] == "clean":
            clean_by_source.setdefault(r["source"], []).append(r)
    # The clean subset mirrors the wrong one's domains, so only correctness differs.
    clean = [clean_by_source[r["source"]].pop(0) for r in wrong]
    sources = sorted(clean_by_source)
    filler = [clean_by_source[sources[i % len(sources)]].pop(0) for i in range(n_clean_in_wrong)]
    extra = [clean_by_source[sources[i % len(sources)]].pop(0) for i in range(n_clean_in_wrong)]
    return wrong + filler, clean + extra


@pytest.mark.slow
@pytest.mark.skip(
    reason="no measurable effect yet at CPU scale (issue 6 stays open): measured 2026-11-23 on "
    "an idle 2-core machine, 48 samples, SmolLM2-135M LoRA: 2 epochs lr 2e-4 gave held-out "
    "answer NLL clean 3.066 vs mostly-wrong 3.069 (gap 0.003 < 0.02); 3 epochs lr 1e-3 gave "
    "clean 2.086 vs wrong 1.949 (wrong *better*). The comparison needs a stronger setup."
)
@pytest.mark.timeout(2400)  # generous: CI machines are shared
def test_mostly_wrong_answers_score_worse_than_clean(
    demo_pool: Any, demo_dir: Path, demo_labels: dict[str, str], tmp_path: Path
) -> None:
    wrong, clean = _wrong_and_clean(demo_pool, demo_labels, n=WVC_N, n_clean_in_wrong=WVC_N // 6)
    assert len(wrong) == len(clean) == WVC_N
    assert sum(demo_labels[r["sample_id"]] == "wrong_answer" for r in wrong) >= 0.8 * WVC_N
    benches = [
        BenchmarkSpec(
            name=d,
            path=demo_dir / "bench" / f"{d}.jsonl",
            limit=WVC_LIMIT,
            generate=False,
            primary_metric="neg_nll",
            answer_prefix=WVC_PREFIX,
        )
        for d in DOMAINS
    ]
    spec = EvalSpec(
        device="cpu", max_seq_len=256, epochs=WVC_EPOCHS, torch_threads=2, benchmarks=benches
    )
    res_clean = evaluate(clean, spec, tmp_path / "clean")
    res_wrong = evaluate(wrong, spec, tmp_path / "wrong")
    assert res_clean.status == res_wrong.status == "succeeded"
    gap = res_clean.utility - res_wrong.utility  # utility = mean of -NLL of held-out answers
    per = {
        d: round(res_wrong.per_benchmark[d]["nll"] - res_clean.per_benchmark[d]["nll"], 4)
        for d in DOMAINS
    }
    print(
        f"\nwrong-vs-clean (n={WVC_N}): answer NLL clean {-res_clean.utility:.4f} vs mostly-wrong "
        f"{-res_wrong.utility:.4f} (gap {gap:.4f}); per-domain NLL increase {per}; mc_accuracy "
        f"clean {[res_clean.per_benchmark[d]['mc_accuracy'] for d in DOMAINS]} wrong "
        f"{[res_wrong.per_benchmark[d]['mc_accuracy'] for d in DOMAINS]}"
    )
    assert gap > WVC_MARGIN
    assert sum(v > 0 for v in per.values()) >= 3  # worse on most held-out domains, not one fluke
