"""A sample's signals do not depend on its batch-mates (real embedded model, CPU).

Each sample is scored alone (``batch_tokens=1``: one sample a batch) and inside mixed
batches (samples of different lengths, a large budget), and the per-token values are
compared. Tolerances per precision, from measurement on this code (torch 2.13, CPU):

- fp32: ``1e-5`` nats (measured: up to 1.7e-6, float32 rounding of row-blocked GEMMs);
- bf16: ``1e-4`` nats (measured: bit-identical). Before the width buckets of
  ``model_pass`` a sample padded to a longer batch-mate's length moved by 0.01-0.12 nats
  per token on these very samples (PyTorch's CPU flash attention takes another code path
  from 64 padded tokens on), so this test fails on that code.
"""

from __future__ import annotations

import numpy as np
import pytest

from autosel.signals.model_pass import encode, make_batches, padded_width, run_samples

pytestmark = pytest.mark.slow

LONG = (
    "Photosynthesis turns light into chemical energy: chloroplasts split water, release "
    "oxygen and fix carbon dioxide into sugars through the Calvin cycle. "
) * 4
TOL = {"fp32": 1e-5, "bf16": 1e-4}


@pytest.fixture(scope="module")
def bf16_model():
    from autosel.base_model import load_model

    return load_model("smollm2", device="cpu", dtype="bf16")


def _encoded(tok, questions):
    pairs = [*questions, ("Explain photosynthesis.", LONG), ("Again, shorter.", LONG[:150])]
    prompts = [[{"role": "user", "content": q}] for q, _ in pairs]
    return encode(tok, prompts, [a for _, a in pairs], max_tokens=96)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sample_alone_equals_sample_in_mixed_batch(
    precision: str, fp32_model, bf16_model, questions
) -> None:
    model, tok = fp32_model if precision == "fp32" else bf16_model
    enc = _encoded(tok, questions)
    lengths = [len(e.ids) for e in enc]
    # the mixes really are mixed: different lengths share a batch, and widths both below
    # and above 64 tokens occur (where the CPU attention kernel changes path)
    batches = make_batches(lengths, 4096)
    assert any(len({lengths[i] for i in b}) > 1 for b in batches)
    assert min(lengths) < 64 < max(lengths) and any(e.truncated for e in enc)
    alone = run_samples(model, enc, tok.pad_token_id, batch_tokens=1)
    for budget in (4096, 256):
        mixed = run_samples(model, enc, tok.pad_token_id, batch_tokens=budget)
        for i, (a, m) in enumerate(zip(alone, mixed, strict=True)):
            for field in ("entropy", "logprob", "varentropy", "embedding"):
                np.testing.assert_allclose(
                    getattr(m, field),
                    getattr(a, field),
                    atol=TOL[precision],
                    rtol=0,
                    err_msg=f"{precision} sample {i} ({lengths[i]} tokens) {field}, "
                    f"budget {budget}",
                )


def test_padded_width_depends_on_own_length_only() -> None:
    assert [padded_width(n) for n in (1, 16, 17, 63, 64, 65)] == [16, 16, 32, 64, 64, 80]
    lengths = [5, 50, 7, 50, 20, 3, 64, 61]
    for budget in (1, 100, 10_000):
        batches = make_batches(lengths, budget)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        for b in batches:
            assert len({padded_width(lengths[i]) for i in b}) == 1
            assert padded_width(lengths[b[0]]) * len(b) <= budget or len(b) == 1
