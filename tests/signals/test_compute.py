"""compute_signals / load_signals: cache hits, resume, columns, manifest, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autosel.errors import ConfigError, NotFoundError
from autosel.signals import compute_signals, load_signals
from autosel.signals import shard as shard_mod
from autosel.signals.params import LN2

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    f = tmp_path_factory.mktemp("bench") / "arith.jsonl"
    f.write_text(
        "\n".join(
            json.dumps(
                {
                    "id": str(i),
                    "question": f"What is {i} plus {i}?",
                    "answer": f"The answer is {2 * i}.",
                }
            )
            for i in range(24)  # >= 20: a single file is split by id; relevance reads dev only
        )
    )
    return f


@pytest.fixture(scope="module")
def computed(small_pool, session_settings, bench_file):
    return compute_signals(
        small_pool,
        settings=session_settings,
        benchmarks={"arith": bench_file},
        ifd=True,
        progress=False,
    )


def test_columns_and_manifest(computed, small_pool) -> None:
    sig = computed
    n = len(small_pool)
    for name in (
        "resp_chars",
        "resp_tokens",
        "lexical_entropy",
        "entropy_mean",
        "entropy_sum",
        "hes",
        "hes_abs",
        "avg_he",
        "varentropy_mean",
        "nll_mean",
        "ppl",
        "ifd",
        "difficulty",
        "relevance:arith",
        "truncated",
        "empty",
    ):
        assert name in sig.names
        col = sig.column(name)
        assert col.shape == (n,) and np.isfinite(col).all(), name
    empty = sig.column("empty").astype(bool)
    assert empty.sum() == 1 and sig.column("hes")[empty] == 0 and sig.column("ppl")[empty] == 1
    assert (sig.column("hes")[~empty] > 0).all()
    np.testing.assert_allclose(sig.hes(unit="nats"), sig.hes() * LN2, rtol=1e-9)
    np.testing.assert_allclose(sig.avg_he(), sig.hes())  # short responses: k = 1
    rel = sig.column("relevance:arith")
    assert rel[0] == rel.max()  # the arithmetic sample is the closest to an arithmetic benchmark
    values, offsets = sig.ragged("token_entropy")
    assert values.dtype == np.float32 and len(offsets) == n + 1
    assert sig.embeddings().shape == (n, 576)
    m = sig.manifest
    assert m["unit"] == "bits" and m["difficulty_source"] == "model_proxy:nll_mean"
    assert m["empty"] == 1 and m["truncated"] == 0 and m["model"]["identity"]
    assert sig.relevance_benchmarks == ["arith"]
    with pytest.raises(ConfigError, match="known: "):
        sig.column("nope")


def test_second_call_is_a_cache_hit(
    computed, small_pool, session_settings, bench_file, monkeypatch
) -> None:
    def boom(*a, **k):
        raise AssertionError("the model must not be loaded on a cache hit")

    monkeypatch.setattr("autosel.base_model.load_model", boom)
    again = compute_signals(
        small_pool,
        settings=session_settings,
        benchmarks={"arith": bench_file},
        ifd=True,
        progress=False,
    )
    np.testing.assert_array_equal(again.column("hes"), computed.column("hes"))
    loaded = load_signals(small_pool, settings=session_settings)
    np.testing.assert_array_equal(loaded.hes(p=0.5), computed.hes(p=0.5))  # new p, no model pass
    assert loaded.names == computed.names


def test_derived_values_are_kept_read_only_and_unchanged(computed) -> None:
    from autosel.signals import scores
    from autosel.signals.signalset import DERIVED_KEPT

    sig = computed
    values, offsets = sig.ragged("token_entropy")
    first = sig.hes(p=0.2)
    assert sig.hes(p=0.2) is first and not first.flags.writeable
    assert first.tobytes() == scores.hes(values, offsets, 0.2, 1 / LN2).tobytes()
    for i in range(DERIVED_KEPT):  # other variants push the oldest out; values stay the same
        sig.hes(p=0.01 + i / 100)
    assert sig.hes(p=0.2) is not first and sig.hes(p=0.2).tobytes() == first.tobytes()
    level = sig.minhash_thresholds[0]
    assert sig.minhash_clusters(level) is sig.minhash_clusters(level)
    assert sig.exact_groups() is sig.exact_groups()


def test_not_found_before_compute(tmp_path: Path, small_pool) -> None:
    from autosel.settings import Settings

    with pytest.raises(NotFoundError, match="autosel signals compute"):
        load_signals(small_pool, settings=Settings(home=tmp_path / "empty"))


def test_resume_skips_finished_shards(tmp_path: Path, small_pool, monkeypatch) -> None:
    from autosel.settings import Settings

    s = Settings(home=tmp_path / "home")
    s.home.mkdir()
    (s.home / "models").symlink_to(Settings().home / "models")  # reuse the converted model
    monkeypatch.setattr("autosel.signals.compute.ROWS_PER_SHARD", 3)
    real = shard_mod.compute_shard
    calls: list[tuple[int, int]] = []

    def crashing(pool_path, row_range, *a, **k):
        calls.append(row_range)
        if row_range[0] == 3 and len(calls) < 3:
            raise KeyboardInterrupt  # simulated Ctrl-C in the second shard
        return real(pool_path, row_range, *a, **k)

    monkeypatch.setattr("autosel.signals.compute.compute_shard", crashing)
    with pytest.raises(KeyboardInterrupt):
        compute_signals(small_pool, settings=s, progress=False)
    partial = list((s.home / "signals").glob("*/model-*.partial/shard-*"))
    assert len(partial) == 1 and not list((s.home / "signals").glob("*/model-*[!l]/manifest.json"))
    done = compute_signals(small_pool, settings=s, progress=False)
    assert calls == [(0, 3), (3, 6), (0, 3), (3, 6), (6, 8)]
    assert not list((s.home / "signals").glob("*/*.partial"))
    assert len(done.column("hes")) == len(small_pool)
