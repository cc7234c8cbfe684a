"""Signal parameters: max_tokens is part of the cache key, the batch budget is not (it only
changes speed), truncation is counted, and per-token values are stored at a precision that
does not move a token across the HES threshold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autosel.errors import ConfigError
from autosel.signals import compute_signals, load_signals, scores
from autosel.signals.cache import load_array, save_arrays
from autosel.signals.params import LN2
from autosel.signals.shard import _cat


def _home(tmp_path: Path):
    from autosel.settings import Settings

    s = Settings(home=tmp_path / "home")
    s.home.mkdir()
    (s.home / "models").symlink_to(Settings().home / "models")  # reuse the converted model
    return s


def _model_dir(sig) -> str:
    return sig.manifest["groups"]["model"]["dir"]


@pytest.mark.slow
def test_max_tokens_keys_the_cache_batch_budget_does_not(
    tmp_path: Path, questions, monkeypatch
) -> None:
    from autosel.cli import app
    from autosel.pool.ingest import add_pool
    from tests.signals.conftest import write_pool_file

    s = _home(tmp_path)
    pool = add_pool(write_pool_file(tmp_path / "p.jsonl", questions), settings=s).pool
    monkeypatch.setenv("AUTOSEL_HOME", str(s.home))
    # the CLI computes at max_tokens 40 with a small batch budget, and reports truncation
    out = CliRunner().invoke(
        app,
        [
            "signals",
            "compute",
            pool.pool_id,
            "--model",
            "smollm2",
            "--max-tokens",
            "40",
            "--batch-tokens",
            "64",
        ],
    )
    assert out.exit_code == 0, out.output
    at40 = load_signals(pool, settings=s, max_tokens=40)
    n_trunc = int(at40.column("truncated").sum())
    assert n_trunc > 0 and at40.manifest["truncated"] == n_trunc
    assert f"truncated at max_tokens: {n_trunc} of {len(pool)}" in " ".join(out.output.split())
    assert at40.manifest["groups"]["model"]["batch_tokens"] == 64
    assert at40.manifest["groups"]["model"]["params"]["max_tokens"] == 40

    # the same max_tokens with another batch budget: reused, the model is not even loaded
    def boom(*a, **k):
        raise AssertionError("the model must not be loaded on a cache hit")

    monkeypatch.setattr("autosel.base_model.load_model", boom)
    again = compute_signals(pool, settings=s, max_tokens=40, batch_tokens=4096, progress=False)
    assert _model_dir(again) == _model_dir(at40)
    np.testing.assert_array_equal(again.column("hes"), at40.column("hes"))
    # another max_tokens is another pass: not reused (here: the model must load)
    with pytest.raises(AssertionError, match="must not be loaded"):
        compute_signals(pool, settings=s, max_tokens=48, progress=False)
    monkeypatch.undo()
    at48 = compute_signals(pool, settings=s, max_tokens=48, progress=False)
    assert _model_dir(at48) != _model_dir(at40)
    assert int(at48.column("truncated").sum()) < n_trunc
    # load_signals picks the pass of the asked cap, whatever was computed last
    assert _model_dir(load_signals(pool, settings=s, max_tokens=40)) == _model_dir(at40)
    assert _model_dir(load_signals(pool, settings=s, max_tokens=48)) == _model_dir(at48)
    with pytest.raises(ConfigError, match="not available"):
        load_signals(pool, settings=s, max_tokens=64).column("hes")


@pytest.mark.parametrize("unit", ["nats", "bits"])
def test_token_at_threshold_keeps_its_side(tmp_path: Path, unit: str) -> None:
    """A token entropy of 1.600003 (in ``unit``) stays above tau = 1.6 through storage.

    float16 (the old storage) kept ~3 digits: 1.600003 nats was stored as 1.5996 and the
    token dropped out of absolute HES at tau 1.6 nats (checked below).
    """
    factor = 1.0 if unit == "nats" else 1 / LN2
    value = np.array([1.600003 / factor], dtype=np.float32)  # stored in nats
    offsets = np.array([0, 1])
    save_arrays(tmp_path, {"token_entropy": _cat([value])})
    back = load_array(tmp_path, "token_entropy")
    assert back.dtype == np.float32
    got = scores.hes_abs(back, offsets, tau=1.6, factor=factor)
    np.testing.assert_allclose(got, [1.600003], atol=1e-6)
    if unit == "nats":
        old = scores.hes_abs(value.astype(np.float16), offsets, tau=1.6, factor=factor)
        assert old[0] == 0.0  # what float16 storage did


def test_storage_cost_is_12_bytes_per_response_token(tmp_path: Path) -> None:
    parts = [np.ones(n, dtype=np.float32) for n in (3, 0, 5)]
    save_arrays(tmp_path, {"token_entropy": _cat(parts)})
    assert load_array(tmp_path, "token_entropy").nbytes == 8 * 4  # 3 arrays x 4 B a token


def test_signals_spec_carries_max_tokens_and_batch_budget_to_the_job(monkeypatch) -> None:
    """SignalsSpec -> signals job payload -> compute_signals keeps both values."""
    import autosel.signals as signals
    from autosel.scheduler.spec import SignalsSpec
    from autosel.settings import Settings
    from autosel.worker.loop import compute_signals_job, signals_payload

    spec = SignalsSpec(max_tokens=4096, batch_tokens=512)
    assert SignalsSpec().max_tokens == 2048 and SignalsSpec().batch_tokens is None
    with pytest.raises(Exception, match="max_tokens"):
        SignalsSpec(max_tokens=4)
    payload = signals_payload(
        "p",
        3,
        model=spec.model,
        device=None,
        precision=spec.precision,
        ifd=False,
        benchmarks=[],
        max_tokens=spec.max_tokens,
        batch_tokens=spec.batch_tokens,
    )
    seen: dict[str, object] = {}
    monkeypatch.setattr(signals, "compute_signals", lambda pool, **kw: seen.update(kw))
    compute_signals_job(object(), payload, Settings())
    assert seen["max_tokens"] == 4096 and seen["batch_tokens"] == 512


def test_default_batch_budget_by_device() -> None:
    from autosel.signals.compute import default_batch_tokens

    assert default_batch_tokens("cpu") == 8192
    assert default_batch_tokens("cuda:1") == default_batch_tokens("cuda") == 8192
