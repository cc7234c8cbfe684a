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
WVC_PER_DOMAIN, WVC_EPOCHS, WVC_LR, WVC_LIMIT = 16, 2.0, 2e-4, 24


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
    # The utility is the mean of the normalised accuracies (2 choices: 2 * acc - 1), which
    # are the means of the per-item scores.
    expected = sum(m["mc_accuracy_normalized"] for m in res.per_benchmark.values()) / len(DOMAINS)
    assert res.utility == pytest.approx(expected)
    for name, m in res.per_benchmark.items():
        assert len(res.item_scores[name]) == len(res.item_ids[name]) == 12
        assert m["mc_accuracy_normalized"] == pytest.approx(sum(res.item_scores[name]) / 12)
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


def _paired_wrong_and_clean(
    pool_path: Path, labels: dict[str, str], per_domain: int, clean_share: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A mostly-wrong subset and a clean one over the *same prompts*.

    The demo pool has prompts with several responses (``group``); where a group holds a
    wrong and a clean response, the wrong subset takes the wrong one and the clean subset
    the clean one, so the two subsets differ only in the correctness of the answers (same
    questions, same domains, same lengths give or take a line). ``clean_share`` of the
    prompts keep their clean response in both subsets ("mostly" wrong).
    """
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    with open(pool_path, "rb") as f:
        for line in f:
            rec = json.loads(line)
            if rec.get("group") and labels[rec["id"]] in ("clean", "wrong_answer"):
                groups.setdefault(rec["group"], {})[labels[rec["id"]]] = rec
    wrong: list[dict[str, Any]] = []
    clean: list[dict[str, Any]] = []
    taken: dict[str, int] = {}
    for g in groups.values():
        if len(g) < 2 or taken.get(g["clean"]["source"], 0) >= per_domain:
            continue
        k = taken[g["clean"]["source"]] = taken.get(g["clean"]["source"], 0) + 1
        keep_clean = k <= round(clean_share * per_domain)
        clean.append(_row(g["clean"]))
        wrong.append(_row(g["clean"] if keep_clean else g["wrong_answer"]))
    return wrong, clean


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    """A demo-pool JSONL record as the evaluator's row (prompt messages + response)."""
    msgs = rec["messages"]
    return {"sample_id": rec["id"], "prompt": msgs[:-1], "response": msgs[-1]["content"]}


def _margins(run: Path, bench: Path) -> dict[str, float]:
    """Per item: log-likelihood of the correct solution minus the flawed one (nats)."""
    gold = {}
    with open(bench) as f:
        for line in f:
            it = json.loads(line)
            gold[it["id"]] = it["choices"].index(it["answer"])
    out = {}
    with open(run / "predictions" / f"{bench.stem}.jsonl") as f:
        for line in f:
            p = json.loads(line)
            lp, g = p["choice_logprobs"], gold[p["id"]]
            out[p["id"]] = lp[g] - lp[1 - g]
    return out


@pytest.mark.slow
@pytest.mark.timeout(2400)  # generous: CI machines are shared
def test_mostly_wrong_answers_score_worse_than_clean(tmp_path: Path) -> None:
    """Training on wrong answers measurably hurts the held-out reasoning checks.

    Same spec, seed and prompts; only the answers' correctness differs. The held-out sets
    are the demo's reasoning-check sets (correct vs flawed worked solution, scored by
    log-likelihood margin ``mc_margin``). The short-answer sets do not separate the two
    at this scale (measured: answer NLL 3.066 clean vs 3.069 wrong, MC accuracy equal),
    because a 135M model cannot compute the answer without writing the reasoning out.

    Measured 2026-11-23 on this 2-core machine (SmolLM2-135M, LoRA, 64 paired prompts,
    56 of them wrong in the wrong subset, 2 epochs, lr 2e-4, 24 items per domain): mean
    margin clean 0.647 vs mostly-wrong 0.493 nats (gap 0.154), lower after wrong training
    in all four domains (0.27 arithmetic, 0.12 graphs, 0.16 boolean, 0.07 dates), clean
    wins on 60 of 96 items (sign test z = 2.4), paired t = 1.2 (graphs items swing by
    +-3 nats either way). Four runs with variants of this setup (lr 2e-4 to 5e-4, 48-64
    prompts, with and without phrasing-matched pairs) all had a positive gap in every
    domain (16 of 16); the item-level evidence is modest (t 0.9-4.2). At this scale the
    effect is real but small, so the assertions are on direction and consistency.
    """
    from autosel.pool.demo import generate_demo_pool, load_labels

    demo = generate_demo_pool(tmp_path / "demo", size="medium", seed=0)
    df = load_labels(demo.out_dir)
    labels = dict(zip(df["id"], df["defect"], strict=True))
    wrong, clean = _paired_wrong_and_clean(demo.pool_path, labels, WVC_PER_DOMAIN, 1 / 8)
    n = len(clean)
    assert n == len(wrong) == WVC_PER_DOMAIN * len(DOMAINS)
    n_wrong = sum(labels[r["sample_id"]] == "wrong_answer" for r in wrong)
    assert n_wrong >= 0.8 * n and all(labels[r["sample_id"]] == "clean" for r in clean)
    benches = [
        BenchmarkSpec(
            name=p.stem, path=p, limit=WVC_LIMIT, generate=False, primary_metric="mc_margin"
        )
        for p in demo.reasoning_bench_paths
    ]
    spec = EvalSpec(
        device="cpu",
        max_seq_len=384,
        epochs=WVC_EPOCHS,
        learning_rate=WVC_LR,
        torch_threads=2,
        benchmarks=benches,
    )
    res = {
        tag: evaluate(rows, spec, tmp_path / tag)
        for tag, rows in (("clean", clean), ("wrong", wrong))
    }
    assert res["clean"].status == res["wrong"].status == "succeeded"
    per_domain, diffs, norm_diffs = {}, [], []
    for p in demo.reasoning_bench_paths:
        mc, mw = _margins(tmp_path / "clean", p), _margins(tmp_path / "wrong", p)
        assert set(mc) == set(mw) and len(mc) == WVC_LIMIT
        d = [mc[k] - mw[k] for k in mc]
        diffs += d
        per_domain[p.stem] = round(sum(d) / len(d), 3)
        # The utility's scale: each margin normalised as 2 * sigmoid(m) - 1 = tanh(m / 2).
        norm_diffs += [math.tanh(mc[k] / 2) - math.tanh(mw[k] / 2) for k in mc]
    mean = sum(diffs) / len(diffs)
    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1))
    t = mean / sd * math.sqrt(len(diffs))
    gap = res["clean"].utility - res["wrong"].utility
    print(
        f"\nwrong-vs-clean ({n_wrong}/{n} wrong, same prompts): normalised mc_margin clean "
        f"{res['clean'].utility:.3f} vs mostly-wrong {res['wrong'].utility:.3f} (gap {gap:.3f}; "
        f"{mean:.3f} nats, paired t {t:.2f} over {len(diffs)} items); per-domain gap "
        f"{per_domain}; "
        f"mc_accuracy clean {[res['clean'].per_benchmark[d]['mc_accuracy'] for d in DOMAINS]} "
        f"wrong {[res['wrong'].per_benchmark[d]['mc_accuracy'] for d in DOMAINS]}; train "
        f"{res['clean'].train_seconds:.0f}+{res['wrong'].train_seconds:.0f} s"
    )
    # The utility is the mean normalised margin (equal item counts).
    assert gap == pytest.approx(sum(norm_diffs) / len(norm_diffs), abs=1e-3)
    wins = sum(x > 0 for x in diffs)
    print(f"clean wins on {wins}/{len(diffs)} items")
    # Direction on the metric itself (nats). The normalised utility, 2*sigmoid(m) - 1 per
    # item, saturates for whole-solution margins of several nats: measured gap -0.003 while
    # the raw margins favoured clean by 0.175 nats on 65/96 items (README, Limits).
    assert mean > 0  # worse on average ...
    assert sum(v > 0 for v in per_domain.values()) >= 3  # ... on most domains, not one fluke ...
    assert wins > len(diffs) / 2  # ... and on most items
