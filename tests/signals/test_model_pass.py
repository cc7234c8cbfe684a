"""The model pass against a straightforward full log-softmax computation (real model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autosel.signals.model_pass import encode, make_batches, run_samples

pytestmark = pytest.mark.slow


def _encoded(tok, questions, max_tokens: int = 2048):
    prompts = [[{"role": "user", "content": q}] for q, _ in questions]
    return encode(tok, prompts, [a for _, a in questions], max_tokens)


def _reference(model, e):
    """Entropy, log-prob, varentropy and embedding of one sample, the plain way."""
    with torch.no_grad():
        out = model(torch.tensor([e.ids]), output_hidden_states=True)
    logp = torch.log_softmax(out.logits[0].double(), dim=-1)[e.resp_start - 1 : len(e.ids) - 1]
    p = logp.exp()
    ent = -(p * logp).sum(-1)
    var = (p * logp * logp).sum(-1) - ent**2
    target = torch.tensor(e.ids[e.resp_start :])
    lp = logp.gather(1, target[:, None])[:, 0]
    emb = out.hidden_states[-1][0, e.resp_start :].double().mean(0)
    return ent.numpy(), lp.numpy(), var.numpy(), emb.numpy()


def test_token_stats_equal_full_log_softmax(fp32_model, questions) -> None:
    model, tok = fp32_model
    enc = _encoded(tok, questions)
    got = run_samples(model, enc, tok.pad_token_id, batch_tokens=4096)
    for i in (0, 2, 4):
        ent, lp, var, emb = _reference(model, enc[i])
        assert len(got[i].entropy) == len(enc[i].ids) - enc[i].resp_start > 3
        np.testing.assert_allclose(got[i].entropy, ent, atol=2e-4)
        np.testing.assert_allclose(got[i].logprob, lp, atol=2e-4)
        np.testing.assert_allclose(got[i].varentropy, var, atol=2e-3)
        np.testing.assert_allclose(got[i].embedding, emb, atol=2e-4)


def test_batched_bucketed_equals_one_at_a_time(fp32_model, questions) -> None:
    model, tok = fp32_model
    enc = _encoded(tok, questions)
    assert len({len(e.ids) for e in enc}) > 3  # different lengths: padding really happens
    assert any(len(b) > 2 for b in make_batches([len(e.ids) for e in enc], 4096))
    batched = run_samples(model, enc, tok.pad_token_id, batch_tokens=4096)
    single = run_samples(model, enc, tok.pad_token_id, batch_tokens=1)
    for b, s in zip(batched, single, strict=True):
        np.testing.assert_allclose(b.entropy, s.entropy, atol=1e-4)
        np.testing.assert_allclose(b.logprob, s.logprob, atol=1e-4)
        np.testing.assert_allclose(b.embedding, s.embedding, atol=1e-4)


def test_empty_and_truncated_are_flagged(fp32_model, questions) -> None:
    model, tok = fp32_model
    enc = _encoded(tok, questions, max_tokens=40)
    empty = [i for i, (_, a) in enumerate(questions) if not a]
    assert empty and all(enc[i].n_resp == 0 for i in empty)
    assert any(e.truncated for e in enc) and all(len(e.ids) <= 40 for e in enc)
    res = run_samples(model, enc, tok.pad_token_id, batch_tokens=4096)
    assert len(res[empty[0]].entropy) == 0 and not res[empty[0]].embedding.any()
    for e, r in zip(enc, res, strict=True):
        assert len(r.entropy) == e.n_resp and np.isfinite(r.entropy).all()


def test_make_batches_respects_budget() -> None:
    lengths = [5, 50, 7, 50, 20, 3]
    batches = make_batches(lengths, 100)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 100 or len(b) == 1
