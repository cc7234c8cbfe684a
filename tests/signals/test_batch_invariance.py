"""A sample's signals do not depend on its batch-mates (real embedded model, CPU).

Each sample is scored alone (``batch_tokens=1``: one sample a batch) and inside mixed
batches (samples of different lengths, a large budget), and the per-token values are
compared. Tolerances per precision (torch 2.13, CPU):

- fp32: ``1e-5`` nats; bf16: ``1e-4`` nats. Measured with fixed-row matrix products
  (``model_pass.fixed_row_gemms``): bit-identical in both.
- Two earlier failures this test caught: (1) before the width buckets of ``model_pass``
  a sample padded to a longer batch-mate's length moved by 0.01-0.12 nats per token
  (PyTorch's CPU flash attention takes another code path from 64 padded tokens on);
  (2) with width buckets but free row counts, on a CPU with AMX/AVX512-bf16 (oneDNN
  picks GEMM blocking from the row count) sample 0 moved by up to 0.22 nats per token in
  bf16 and 1.4e-5 in fp32 between alone and a batch of its width-mates.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autosel.signals.model_pass import (
    encode,
    fixed_row_gemms,
    make_batches,
    padded_width,
    run_samples,
)

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


class _Scaled(torch.nn.Linear):
    """A Linear subclass (as adapters are): blocked through its own forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fixed_row_gemms_rows_do_not_depend_on_the_row_count(dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(576, 192, dtype=dtype),
        _Scaled(192, 1536, bias=False, dtype=dtype),
        torch.nn.Linear(1536, 576, dtype=dtype),
    )
    x = torch.randn(3, 600, 576, dtype=dtype)
    with torch.inference_mode():
        plain = model(x[:1, :5])
        with fixed_row_gemms(model, rows=64):
            # the first 5 rows of sample 0, computed with 5, 5 x 3, 600 and 1,800 rows
            outs = [model(x[:1, :5]), model(x[:, :5])[:1], model(x[:1])[:, :5], model(x)[:1, :5]]
        after = model(x[:1, :5])
    for o in outs[1:]:
        assert torch.equal(o, outs[0])
    # the same function (up to rounding order), and the modules are restored on exit
    torch.testing.assert_close(outs[0].float(), plain.float(), atol=0.05, rtol=0.02)
    assert torch.equal(after, plain)
    assert all("forward" not in m.__dict__ for m in model)
