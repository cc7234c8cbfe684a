"""The harness on the embedded model: batching changes nothing, labels mask the prompt."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from autosel.bench.load import item_messages
from autosel.evaluation import BenchmarkSpec, EvalSpec, load_benchmark, utility
from autosel.evaluation.harness import render_prompt, resolve_primary, score_benchmark
from autosel.evaluation.loglik import score_loglik


def test_loglik_batched_equals_one_at_a_time(
    model_and_tok: tuple[Any, Any], demo_dir: Path
) -> None:
    model, tok = model_and_tok
    items = load_benchmark(demo_dir / "bench" / "arithmetic.jsonl", limit=4).items
    items += load_benchmark(demo_dir / "bench" / "boolean.jsonl", limit=3).items
    reqs = [(render_prompt(tok, item_messages(it)), c) for it in items for c in it.choices or ()]
    reqs.append((reqs[0][0], "Final answer: a longer continuation of several tokens"))
    single = score_loglik(model, tok, reqs, batch_size=1, share_context=False)
    for kwargs in ({"batch_size": 8}, {"batch_size": 5, "share_context": False}, {"batch_size": 1}):
        batched = score_loglik(model, tok, reqs, **kwargs)
        assert [b.n_tokens for b in batched] == [s.n_tokens for s in single]
        for b, s in zip(batched, single, strict=True):
            assert math.isfinite(b.logprob) and b.logprob < 0
            assert b.logprob == pytest.approx(s.logprob, abs=2e-3)
            assert b.is_greedy == s.is_greedy
    # Different continuations really get different scores (the test would catch a constant).
    assert len({round(b.logprob, 3) for b in batched}) > len(batched) // 2


def test_score_benchmark_metrics(model_and_tok: tuple[Any, Any], demo_dir: Path) -> None:
    model, tok = model_and_tok
    bench = load_benchmark(demo_dir / "bench" / "boolean.jsonl", name="boolean", limit=6)
    spec = BenchmarkSpec(name="boolean", path=bench.path, max_new_tokens=8)
    scored = score_benchmark(model, tok, bench, spec, batch_size=4)
    metrics, records = scored.metrics, scored.records
    assert set(metrics) == {
        "n",
        "nll",
        "neg_nll",
        "mc_accuracy",
        "mc_accuracy_norm",
        "mc_margin",
        "mc_prob",
        "exact_match",
        "mc_accuracy_normalized",
    }
    assert metrics["n"] == 6 and metrics["nll"] > 0 and metrics["neg_nll"] == -metrics["nll"]
    for k in ("mc_accuracy", "mc_accuracy_norm", "mc_prob", "exact_match"):
        assert 0.0 <= metrics[k] <= 1.0
    # Two choices: normalised accuracy is 2 * accuracy - 1, item by item.
    assert scored.item_ids == [it.id for it in bench.items]
    assert metrics["mc_accuracy_normalized"] == pytest.approx(2 * metrics["mc_accuracy"] - 1)
    assert metrics["mc_accuracy_normalized"] == pytest.approx(sum(scored.item_scores) / 6)
    assert len(records) == 6 and all(
        "generation" in r and len(r["choice_logprobs"]) == 2 for r in records
    )
    acc = sum(
        r["pred"] == list(it.choices).index(it.answer)
        for r, it in zip(records, bench.items, strict=True)
    )
    assert metrics["mc_accuracy"] == acc / 6
    # mc_margin: gold minus the other choice (two choices here), from the stored logprobs.
    margins = [
        r["choice_logprobs"][g] - r["choice_logprobs"][1 - g]
        for r, g in (
            (r, list(it.choices).index(it.answer))
            for r, it in zip(records, bench.items, strict=True)
        )
    ]
    assert metrics["mc_margin"] == pytest.approx(sum(margins) / 6, abs=1e-3)
    assert (metrics["mc_margin"] > 0) == (sum(margins) > 0)
    assert resolve_primary(spec, bench) == "mc_accuracy"
    json.dumps(records)  # predictions.jsonl must be serialisable


def test_prompt_tokens_get_label_minus_100(tmp_path: Path) -> None:
    from autosel.evaluation import sft

    spec = EvalSpec(max_seq_len=256)
    model, tok = sft.load_for_training(spec, "cpu")
    rows = [
        {
            "prompt": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "2+3?"},
            ],
            "response": "2 + 3 = 5.\nFinal answer: 5",
        },
        {"prompt": [{"role": "user", "content": "Is 7 odd?"}], "response": "Final answer: yes"},
    ]
    trainer = sft.build_trainer(model, tok, rows, spec, tmp_path, "cpu")
    for ex, row in zip(trainer.train_dataset, rows, strict=True):
        ids, labels = ex["input_ids"], ex["labels"]
        prompt_ids = tok.apply_chat_template(
            row["prompt"], tokenize=False, add_generation_prompt=True
        )
        n_prompt = len(tok(prompt_ids, add_special_tokens=False)["input_ids"])
        assert all(lab == -100 for lab in labels[:n_prompt])
        trained = [i for i, lab in zip(ids, labels, strict=True) if lab != -100]
        assert trained == ids[n_prompt : n_prompt + len(trained)]
        text = tok.decode(trained)
        assert text.startswith(row["response"]) and "<|im_end|>" in text  # learns to stop


def test_utility_is_weighted_mean_of_normalised_primaries() -> None:
    specs = [
        BenchmarkSpec(name="a", path=Path("a"), weight=3.0),
        BenchmarkSpec(name="b", path=Path("b"), weight=1.0, primary_metric="neg_nll"),
    ]
    # The raw metrics are on different scales; the utility reads the normalised ones.
    per = {
        "a": {"mc_accuracy": 0.5, "exact_match": 0.0, "mc_accuracy_normalized": 0.2},
        "b": {"neg_nll": -1.0, "mc_accuracy": 1.0, "neg_nll_normalized": 0.4},
    }
    assert utility(per, specs, {"a": "mc_accuracy", "b": "neg_nll"}) == pytest.approx(
        (3 * 0.2 + 1 * 0.4) / 4
    )
    with pytest.raises(KeyError, match="primary metric 'exact_match' was not computed"):
        utility(
            {"a": {"mc_accuracy": 1.0}, "b": per["b"]}, specs, {"a": "exact_match", "b": "neg_nll"}
        )
