"""Relevance never sees test items or answers: every text that reaches a model-pass function
during ``compute_signals`` is recorded, and no test-split question, gold answer or choice
may be among them, while every dev question must be (so the check can fail).

The model is a test double (no weights are loaded): ``encode``/``run_samples`` record their
inputs and return fixed-size statistics, so the whole ``compute_signals`` path runs,
pool pass and centroids included, in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from autosel.bench.load import is_test_item
from autosel.evaluation import BenchmarkSpec
from autosel.settings import Settings
from autosel.signals import compute_signals, load_signals, model_pass
from autosel.signals.model_pass import Encoded, SampleStats
from autosel.signals.params import BENCH_VERSION
from autosel.signals.relevance import EMBEDDING
from tests.signals.conftest import QUESTIONS, write_pool_file

DIM = 8


class Recorder:
    """Stands in for the model pass; keeps every text it is handed."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.prompt_free_calls = 0

    def encode(
        self,
        tok: Any,
        prompts: Any,
        responses: Any,
        max_tokens: int,
        prompt_free: bool = False,
    ) -> list[Encoded]:
        for messages in prompts:
            self.texts += [m["content"] for m in messages]
        self.texts += list(responses)
        self.prompt_free_calls += bool(prompt_free)
        return [
            Encoded(ids=[1, 2, 3, 4], resp_start=1, resp_total=3, truncated=False)
            for _ in responses
        ]

    def run_samples(self, model: Any, encoded: Any, pad_id: int, batch_tokens: int, **_: Any):
        rng = np.random.default_rng(len(encoded))
        return [
            SampleStats(
                entropy=np.ones(3, dtype=np.float32),
                logprob=-np.ones(3, dtype=np.float32),
                varentropy=np.zeros(3, dtype=np.float32),
                embedding=rng.normal(size=DIM).astype(np.float32),
            )
            for _ in encoded
        ]


@pytest.fixture()
def recorder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    import autosel.base_model as models

    rec = Recorder()
    monkeypatch.setattr(model_pass, "encode", rec.encode)
    monkeypatch.setattr(model_pass, "run_samples", rec.run_samples)
    fake_model = SimpleNamespace(
        config=SimpleNamespace(hidden_size=DIM, max_position_embeddings=4096)
    )
    fake_tok = SimpleNamespace(pad_token_id=0)
    monkeypatch.setattr(models, "resolve_model", lambda ref=None: tmp_path / "fake-model")
    monkeypatch.setattr(models, "model_identity", lambda path: "fake-model-id")
    monkeypatch.setattr(models, "pick_device", lambda requested=None: "cpu")
    monkeypatch.setattr(models, "pick_dtype", lambda device, requested=None: "torch.float32")
    monkeypatch.setattr(models, "load_model", lambda *a, **k: (fake_model, fake_tok))
    return rec


@pytest.fixture()
def env(tmp_path: Path) -> tuple[Settings, Any]:
    from autosel.pool.ingest import add_pool

    settings = Settings(home=tmp_path / "home")
    f = write_pool_file(tmp_path / "pool.jsonl", QUESTIONS)
    return settings, add_pool(f, settings=settings).pool


def _write_bench(path: Path, prefix: str, n: int) -> list[dict[str, Any]]:
    recs = [
        {
            "id": f"{prefix}{i}",
            "question": f"Q[{prefix}{i}] how many legs do {i} spiders have in total?",
            "answer": f"GOLD[{prefix}{i}]",
            "choices": [f"GOLD[{prefix}{i}]", f"CHOICE[{prefix}{i}]"],
            "fewshot": [{"question": f"SHOT[{prefix}{i}]", "answer": f"SHOTANSWER[{prefix}{i}]"}],
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return recs


def _leaks(texts: list[str], forbidden: list[str]) -> list[str]:
    return sorted({f for f in forbidden for t in texts if f in t})


def test_single_file_relevance_reads_only_dev_questions(
    recorder: Recorder, env: tuple[Settings, Any], tmp_path: Path
) -> None:
    settings, pool = env
    recs = _write_bench(tmp_path / "arith.jsonl", "a", 60)
    sig = compute_signals(
        pool, settings=settings, benchmarks={"arith": tmp_path / "arith.jsonl"}, progress=False
    )
    dev = [r for r in recs if not is_test_item(r["id"], 0.5)]
    test = [r for r in recs if is_test_item(r["id"], 0.5)]
    assert dev and test
    forbidden = [r["question"] for r in test]
    forbidden += [t for r in recs for t in (r["answer"], *r["choices"])]
    forbidden += [t for r in recs for s in r["fewshot"] for t in s.values()]
    assert _leaks(recorder.texts, forbidden) == []
    # The check can fail: the dev questions themselves are there, embedded prompt-free.
    assert {r["question"] for r in dev} <= set(recorder.texts)
    assert recorder.prompt_free_calls == 1
    assert "relevance:arith" in sig.names
    man = sig.manifest["benchmarks"]["arith"]
    assert (man["version"], man["split"], man["items"], man["embedded"]) == (
        BENCH_VERSION,
        "dev",
        len(dev),
        EMBEDDING,
    )


def test_the_centroid_step_says_what_it_does(
    recorder: Recorder, env: tuple[Settings, Any], tmp_path: Path, capsys: Any
) -> None:
    """The benchmark-centroid pass prints a line before and after (on stderr), so a
    long embedding of many questions is never a silent stretch."""
    settings, pool = env
    _write_bench(tmp_path / "legs.jsonl", "l", 40)
    compute_signals(
        pool, settings=settings, benchmarks={"legs": tmp_path / "legs.jsonl"}, progress=True
    )
    err = capsys.readouterr().err
    assert "benchmark 'legs': embedding" in err
    assert "benchmark 'legs': centroid of" in err and " dev questions in " in err


def test_two_file_benchmark_never_reads_the_test_file(
    recorder: Recorder, env: tuple[Settings, Any], tmp_path: Path
) -> None:
    settings, pool = env
    dev = _write_bench(tmp_path / "dev.jsonl", "d", 5)
    test = _write_bench(tmp_path / "test.jsonl", "t", 5)
    spec = BenchmarkSpec(name="b", path=tmp_path / "dev.jsonl", test_path=tmp_path / "test.jsonl")
    compute_signals(pool, settings=settings, benchmarks={"b": spec}, progress=False)
    forbidden = [r["question"] for r in test] + [
        t for r in dev + test for t in (r["answer"], *r["choices"])
    ]
    assert _leaks(recorder.texts, forbidden) == []
    assert {r["question"] for r in dev} <= set(recorder.texts)


def test_split_change_is_a_new_centroid_and_old_recipes_are_not_reused(
    recorder: Recorder, env: tuple[Settings, Any], tmp_path: Path
) -> None:
    settings, pool = env
    _write_bench(tmp_path / "arith.jsonl", "a", 60)
    path = tmp_path / "arith.jsonl"
    half = compute_signals(pool, settings=settings, benchmarks={"arith": path}, progress=False)
    n_texts = len(recorder.texts)
    again = compute_signals(pool, settings=settings, benchmarks={"arith": path}, progress=False)
    assert len(recorder.texts) == n_texts, "same dev questions: a cache hit"
    spec = BenchmarkSpec(name="arith", path=path, test_fraction=0.2)
    other = compute_signals(pool, settings=settings, benchmarks={"arith": spec}, progress=False)
    d_half = half.manifest["benchmarks"]["arith"]["dir"]
    assert again.manifest["benchmarks"]["arith"]["dir"] == d_half
    assert other.manifest["benchmarks"]["arith"]["dir"] != d_half
    # A centroid written by the old recipe (version 1: questions + answers) is never loaded,
    # even when it is the newest one of that name.
    old = Path(d_half).with_name("bench-oldrecipe")
    old.mkdir()
    np.save(old / "centroid.npy", np.ones(DIM, dtype=np.float32))
    man = json.loads((Path(d_half) / "manifest.json").read_text())
    man.update(version=1, created_at="9999-01-01T00:00:00Z")
    (old / "manifest.json").write_text(json.dumps(man))
    loaded = load_signals(pool, settings=settings, model="fake")
    assert loaded.manifest["benchmarks"]["arith"]["version"] == BENCH_VERSION


def test_bad_benchmark_fails_before_any_model_pass(
    recorder: Recorder, env: tuple[Settings, Any], tmp_path: Path
) -> None:
    from autosel.errors import InputError

    settings, pool = env
    _write_bench(tmp_path / "tiny.jsonl", "x", 5)  # too small to split by id
    with pytest.raises(InputError, match="at least 20"):
        compute_signals(
            pool, settings=settings, benchmarks={"t": tmp_path / "tiny.jsonl"}, progress=False
        )
    assert recorder.texts == []
