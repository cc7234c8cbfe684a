"""One utility scale: per-item normalisation (0 = chance, 1 = ceiling), a chance-level model
scores ~0 and a perfect one ~1, item scores average to the benchmark's normalised primary,
and a primary that could never be computed is refused before training."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autosel.bench.load import load_benchmark_split
from autosel.errors import ConfigError
from autosel.evaluation import BenchmarkSpec, EvalSpec, check_primary_metrics, evaluate, harness
from autosel.evaluation.harness import mc_item_metrics, normalise, score_benchmark, utility
from autosel.evaluation.loglik import LoglikResult

N_ITEMS = 40  # splits into ~20 dev items, enough for the minimum of a single file


def test_normalise_table() -> None:
    for metric in ("mc_accuracy", "mc_accuracy_norm", "mc_prob", "exact_match"):
        assert normalise(metric, 0.25, 4) == pytest.approx(0.0)
        assert normalise(metric, 1.0, 4) == pytest.approx(1.0)
        assert normalise(metric, 0.0, 2) == pytest.approx(-1.0)  # always wrong: below chance
    assert normalise("exact_match", 0.0, None) == 0.0 and normalise("exact_match", 1.0, None) == 1.0
    assert normalise("mc_margin", 0.0, 4) == pytest.approx(0.0)
    assert normalise("mc_margin", 1.0, 4) == pytest.approx(2 / (1 + math.exp(-1.0)) - 1)
    assert normalise("mc_margin", 40.0, 2) == pytest.approx(1.0)
    assert normalise("mc_margin", -40.0, 2) == pytest.approx(-1.0)
    assert normalise("neg_nll", 0.0, None) == pytest.approx(1.0)
    assert normalise("neg_nll", -math.log(4), None) == pytest.approx(0.25)  # nll = ln 4
    with pytest.raises(ValueError, match="number of choices"):
        normalise("mc_prob", 0.5, None)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        normalise("f1", 0.5, None)


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_indifferent_item_is_at_chance(k: int) -> None:
    for gold in range(k):
        m = mc_item_metrics([-3.0] * k, gold, [5] * k)
        assert m["mc_accuracy"] == pytest.approx(1 / k)  # a tie shares the credit
        assert m["mc_accuracy_norm"] == pytest.approx(1 / k)
        assert m["mc_prob"] == pytest.approx(1 / k) and m["mc_margin"] == 0.0
        for metric in ("mc_accuracy", "mc_accuracy_norm", "mc_prob", "mc_margin"):
            assert normalise(metric, m[metric], k) == pytest.approx(0.0, abs=1e-12)


def test_mc_item_metrics_values() -> None:
    m = mc_item_metrics([-1.0, -2.0, -4.0], 0, [1, 1, 1])
    z = math.exp(-1) + math.exp(-2) + math.exp(-4)
    assert m["mc_prob"] == pytest.approx(math.exp(-1) / z)
    assert m["mc_margin"] == pytest.approx(1.0) and m["mc_accuracy"] == 1.0
    wrong = mc_item_metrics([-1.0, -2.0, -4.0], 2, [1, 1, 1])
    assert wrong["mc_margin"] == pytest.approx(-3.0) and wrong["mc_accuracy"] == 0.0
    # Per byte the long choice wins: -4 / 8 > -1 / 1.
    assert mc_item_metrics([-1.0, -2.0, -4.0], 2, [1, 1, 8])["mc_accuracy_norm"] == 1.0


class _Tok:
    """Just enough tokenizer for ``render_prompt``: the chat template joins the contents."""

    def apply_chat_template(self, messages: list[dict[str, str]], **_: Any) -> str:
        return "\n".join(m["content"] for m in messages) + "\nassistant:"


def _write(path: Path, k: int | None, n: int = N_ITEMS) -> Path:
    """``n`` items; with ``k`` choices the gold index cycles so each is equally common."""
    tag = path.stem
    recs = []
    for i in range(n):
        q = f"{tag} question {i}?"
        if k is None:
            recs.append({"id": f"{tag}{i}", "question": q, "answer": f"word{i}"})
        else:
            choices = [f"{tag}{i}-{j}" for j in range(k)]
            recs.append({"id": f"{tag}{i}", "question": q, "answer": i % k, "choices": choices})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def _specs(tmp_path: Path, *, two_files: bool = False) -> list[BenchmarkSpec]:
    """Five benchmarks, one per kind of primary, with different weights.

    ``two_files``: each file is the whole dev split (a small separate test file), so every
    gold index is exactly equally common in dev.
    """

    def files(name: str, k: int | None) -> dict[str, Any]:
        out: dict[str, Any] = {"path": _write(tmp_path / f"{name}.jsonl", k)}
        if two_files:
            out["test_path"] = _write(tmp_path / f"{name}_test.jsonl", k, n=3)
        return out

    return [
        BenchmarkSpec(name="acc4", **files("acc4", 4), generate=False),
        BenchmarkSpec(
            name="prob3", **files("prob3", 3), primary_metric="mc_prob", generate=False, weight=2
        ),
        BenchmarkSpec(
            name="margin2",
            **files("margin2", 2),
            primary_metric="mc_margin",
            generate=False,
            weight=0.5,
        ),
        BenchmarkSpec(name="em4", **files("em4", 4), primary_metric="exact_match"),
        BenchmarkSpec(name="free", **files("free", None), weight=1.5),
    ]


def _answers(specs: list[BenchmarkSpec]) -> dict[str, str]:
    """Question -> gold answer text, over both splits of every benchmark."""
    return {
        it.question: it.answer
        for s in specs
        for split in ("dev", "test")
        for it in load_benchmark_split(s, split).items
    }


def _fake_model(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str], *, perfect: bool) -> None:
    """A model that cannot tell continuations apart (every one -2 nats) and always answers
    "A", or a perfect one (gold continuations log-prob 0, others -1000) that generates the
    gold answer."""
    golds = set(answers.values())

    def loglik(model: Any, tok: Any, requests: Any, **_: Any) -> list[LoglikResult]:
        out = []
        for _ctx, cont in requests:
            lp = (0.0 if cont in golds else -1000.0) if perfect else -2.0
            out.append(LoglikResult(logprob=lp, n_tokens=2, is_greedy=perfect))
        return out

    def gen(model: Any, tok: Any, prompts: list[str], **_: Any) -> list[str]:
        return [answers[p.split("\n")[0]] if perfect else "A" for p in prompts]

    monkeypatch.setattr(harness, "score_loglik", loglik)
    monkeypatch.setattr(harness, "generate", gen)


def _score_all(specs: list[BenchmarkSpec], split: str) -> tuple[dict, dict, dict, dict]:
    per, prim, items, ids = {}, {}, {}, {}
    for s in specs:
        bench = load_benchmark_split(s, split)
        sc = score_benchmark(None, _Tok(), bench, s)
        per[s.name], prim[s.name] = sc.metrics, sc.primary
        items[s.name], ids[s.name] = sc.item_scores, sc.item_ids
        assert ids[s.name] == [it.id for it in bench.items]
    return per, prim, items, ids


def test_chance_level_model_has_utility_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _specs(tmp_path, two_files=True)
    _fake_model(monkeypatch, _answers(specs), perfect=False)
    per, prim, items, _ = _score_all(specs, "dev")
    assert prim == {
        "acc4": "mc_accuracy",
        "prob3": "mc_prob",
        "margin2": "mc_margin",
        "em4": "exact_match",
        "free": "exact_match",
    }
    # Every MC item is exactly at chance; exact match on 4 choices is at chance on average
    # (always "A": right on a quarter of the items); free-form exact match is 0 (wrong).
    for name in ("acc4", "prob3", "margin2"):
        assert np.allclose(items[name], 0.0, atol=1e-12)
    assert per["acc4"]["mc_accuracy"] == pytest.approx(0.25)
    assert per["prob3"]["mc_prob"] == pytest.approx(1 / 3)
    assert per["em4"]["exact_match"] == pytest.approx(0.25)
    assert np.mean(items["em4"]) == pytest.approx(0.0, abs=1e-12)
    assert items["free"] == [0.0] * N_ITEMS
    assert utility(per, specs, prim) == pytest.approx(0.0, abs=1e-12)


def test_perfect_model_has_utility_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = _specs(tmp_path)
    _fake_model(monkeypatch, _answers(specs), perfect=True)
    per, prim, items, _ = _score_all(specs, "dev")
    for name, values in items.items():
        assert np.allclose(values, 1.0, atol=1e-9), name
    assert utility(per, specs, prim) == pytest.approx(1.0, abs=1e-9)
    # The raw metric stays beside its normalised value.
    assert per["margin2"]["mc_margin"] == pytest.approx(1000.0)
    assert per["margin2"]["mc_margin_normalized"] == pytest.approx(1.0)


def test_item_scores_average_to_the_normalised_primary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    specs = _specs(tmp_path)
    golds = set(_answers(specs).values())
    rng = np.random.default_rng(0)

    def loglik(model: Any, tok: Any, requests: Any, **_: Any) -> list[LoglikResult]:
        return [
            LoglikResult(float(rng.normal(-2.0 if c in golds else -2.5, 1.0)), 3, False)
            for _, c in requests
        ]

    monkeypatch.setattr(harness, "score_loglik", loglik)
    monkeypatch.setattr(harness, "generate", lambda m, t, p, **_: ["A"] * len(p))
    per, prim, items, ids = _score_all(specs, "test")
    for s in specs:
        key = f"{prim[s.name]}_normalized"
        assert per[s.name][key] == pytest.approx(np.mean(items[s.name]))
        assert len(items[s.name]) == len(ids[s.name]) == int(per[s.name]["n"])
    # Not a degenerate case: the values differ between items and benchmarks.
    assert len({round(v, 6) for v in items["prob3"]}) > 5
    weights = {s.name: s.weight for s in specs}
    expected = sum(weights[n] * np.mean(v) for n, v in items.items()) / sum(weights.values())
    assert utility(per, specs, prim) == pytest.approx(expected)


def test_neg_nll_items_are_per_token_probabilities(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BenchmarkSpec(
        name="qa",
        path=_write(tmp_path / "qa.jsonl", None),
        primary_metric="neg_nll",
        generate=False,
    )
    # The reference answer of item i gets -(i % 3 + 1) nats over 2 tokens.
    answers = {it.answer: i for i, it in enumerate(load_benchmark_split(spec, "dev").items)}

    def loglik(model: Any, tok: Any, requests: Any, **_: Any) -> list[LoglikResult]:
        return [LoglikResult(-(answers[c] % 3 + 1.0), 2, False) for _, c in requests]

    monkeypatch.setattr(harness, "score_loglik", loglik)
    sc = score_benchmark(None, _Tok(), load_benchmark_split(spec, "dev"), spec)
    nll = [(i % 3 + 1.0) / 2 for i in range(len(answers))]
    assert sc.item_scores == pytest.approx([math.exp(-x) for x in nll])
    assert sc.metrics["neg_nll"] == pytest.approx(-np.mean(nll))
    assert sc.metrics["neg_nll_normalized"] == pytest.approx(np.mean(np.exp(-np.array(nll))))


def test_auto_exact_match_without_generation_is_refused_up_front(tmp_path: Path) -> None:
    free = _write(tmp_path / "free.jsonl", None)
    spec = EvalSpec(benchmarks=[BenchmarkSpec(name="qa", path=free, generate=False)])
    with pytest.raises(ConfigError) as exc:
        check_primary_metrics(spec)
    msg = str(exc.value)
    assert "benchmark 'qa'" in msg and "auto resolves to exact_match" in msg
    assert "generate: true" in msg and "neg_nll" in msg and "mc_" in msg
    # evaluate() refuses before any training (nothing written under the trainer dir).
    rows = [{"prompt": [{"role": "user", "content": "1+1?"}], "response": "2"}]
    with pytest.raises(ConfigError, match="benchmark 'qa'"):
        evaluate(rows, spec.model_copy(update={"device": "cpu"}), tmp_path / "out")
    assert not (tmp_path / "out" / "trainer").exists()
    # Fixes accepted: generation on, or a metric computed without it.
    check_primary_metrics(EvalSpec(benchmarks=[BenchmarkSpec(name="qa", path=free)]))
    check_primary_metrics(
        EvalSpec(
            benchmarks=[
                BenchmarkSpec(name="qa", path=free, generate=False, primary_metric="neg_nll")
            ]
        )
    )


def test_uncomputable_explicit_primaries(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exact_match needs generate: true"):
        EvalSpec.parse(
            {
                "benchmarks": [
                    {"name": "a", "path": "x", "primary_metric": "exact_match", "generate": False}
                ]
            }
        )
    free = _write(tmp_path / "free.jsonl", None)
    spec = EvalSpec(benchmarks=[BenchmarkSpec(name="qa", path=free, primary_metric="mc_prob")])
    with pytest.raises(ConfigError, match="mc_prob needs items with choices"):
        check_primary_metrics(spec)
