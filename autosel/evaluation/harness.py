"""The benchmark harness: log-likelihood scoring, answer NLL, generation + exact match.

Log-likelihoods are scored as lm-evaluation-harness does: the continuation's summed
token log-probabilities given the context, with the context and the continuation
tokenised separately so the continuation's tokens are exactly its own. Requests are
batched with *left* padding and explicit position ids, so every row ends in the last
column: the LM head then runs only on the last ``max continuation`` positions
(``logits_to_keep``) instead of the whole ``batch x seq x vocab`` block, and a request
scores the same alone or in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autosel.evaluation.bench import Benchmark, BenchItem, item_messages
from autosel.evaluation.extract import exact_match, extract_answer
from autosel.evaluation.spec import BenchmarkSpec


@dataclass(frozen=True)
class LoglikResult:
    """Summed log-probability of a continuation, its token count, and whether it is greedy."""

    logprob: float
    n_tokens: int
    is_greedy: bool


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The chat-templated prompt, ending where the assistant's answer starts."""
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The chat template already carries the special tokens; adding BOS again would shift it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def score_loglik(model: Any, tokenizer: Any, requests: Sequence[tuple[str, str]], *,
                 batch_size: int = 16, max_length: int = 2048) -> list[LoglikResult]:
    """Score ``(context, continuation)`` pairs, batched.

    Args:
        requests: the continuation is scored given the context (neither gets special tokens).
        batch_size: rows per forward pass; 1 gives the one-at-a-time baseline.
        max_length: contexts are cut from the left to fit.

    Returns:
        One ``LoglikResult`` per request, in request order.
    """
    import torch

    encoded = []
    for ctx, cont in requests:
        c_ids, x_ids = _encode(tokenizer, ctx), _encode(tokenizer, cont)
        if not x_ids:
            raise ValueError(f"empty continuation for context {ctx[-60:]!r}")
        seq = (c_ids + x_ids)[-max_length:]
        encoded.append((seq, min(len(x_ids), len(seq) - 1)))
    # Longest first (as lm-eval does): similar lengths share a batch, less padding.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out: list[LoglikResult | None] = [None] * len(encoded)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            seqs = [encoded[i][0] for i in idx]
            n_cont = [encoded[i][1] for i in idx]
            width, keep = max(map(len, seqs)), max(n_cont) + 1
            ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for r, s in enumerate(seqs):
                ids[r, width - len(s):] = torch.tensor(s)
                mask[r, width - len(s):] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                           position_ids=pos.to(device), logits_to_keep=keep, use_cache=False).logits
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # predicts the last keep-1 tokens
            targets = ids[:, width - keep + 1:].to(device)
            tok_lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            greedy = logp.argmax(-1) == targets
            for r, i in enumerate(idx):
                k = n_cont[r]
                out[i] = LoglikResult(float(tok_lp[r, -k:].sum()), k, bool(greedy[r, -k:].all()))
    return [r for r in out if r is not None]


def generate(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int,
             batch_size: int = 16) -> list[str]:
    """Greedy, batched, left-padded generation; returns only the new text of each prompt."""
    import torch

    device = next(model.parameters()).device
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    out: list[str] = [""] * len(prompts)
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                     num_beams=1, pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=tokenizer.eos_token_id, temperature=None,
                                     top_p=None, top_k=None)
                new = gen[:, enc["input_ids"].shape[1]:]
                for r, i in enumerate(idx):
                    out[i] = tokenizer.decode(new[r], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = old_side
    return out


def resolve_primary(spec: BenchmarkSpec, bench: Benchmark) -> str:
    """The spec's primary metric, with ``auto`` resolved from the items."""
    if spec.primary_metric != "auto":
        return spec.primary_metric
    return "mc_accuracy" if bench.is_multiple_choice else "exact_match"


def _mc_requests(items: Sequence[BenchItem], ctxs: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    return [(ctx, prefix + c) for it, ctx in zip(items, ctxs, strict=True) for c in it.choices or ()]


def score_benchmark(model: Any, tokenizer: Any, bench: Benchmark, spec: BenchmarkSpec, *,
                    batch_size: int = 16, max_length: int = 2048
                    ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """All metrics of one benchmark, plus one record per item (for ``predictions.jsonl``).

    Metrics: ``n``; ``nll`` (mean per-token NLL of the reference answer, teacher-forced) and
    ``neg_nll``; for multiple-choice items ``mc_accuracy`` and ``mc_accuracy_norm``
    (log-likelihood per byte, like lm-eval's ``acc_norm``); with ``spec.generate``,
    ``exact_match`` of the greedy answer.
    """
    items = bench.items
    ctxs = [render_prompt(tokenizer, item_messages(it, spec.n_fewshot)) for it in items]
    prefix = spec.answer_prefix
    nll_res = score_loglik(model, tokenizer, [(c, prefix + it.answer) for c, it in zip(ctxs, items, strict=True)],
                           batch_size=batch_size, max_length=max_length)
    per_tok = np.array([-r.logprob / r.n_tokens for r in nll_res])
    metrics: dict[str, float] = {"n": float(len(items)), "nll": float(per_tok.mean())}
    metrics["neg_nll"] = -metrics["nll"]
    records: list[dict[str, Any]] = [{"id": it.id, "answer": it.answer, "nll": float(v)}
                                     for it, v in zip(items, per_tok, strict=True)]
    mc_items = [i for i, it in enumerate(items) if it.choices]
    if mc_items:
        res = iter(score_loglik(model, tokenizer,
                                _mc_requests([items[i] for i in mc_items], [ctxs[i] for i in mc_items],
                                             prefix),
                                batch_size=batch_size, max_length=max_length))
        hits, hits_norm = [], []
        for i in mc_items:
            it = items[i]
            lps = [next(res) for _ in it.choices or ()]
            raw = np.array([r.logprob for r in lps])
            norm = raw / np.array([max(1, len(c.encode())) for c in it.choices or ()])
            hits.append(int(raw.argmax()) == it.gold)
            hits_norm.append(int(norm.argmax()) == it.gold)
            records[i].update(choice_logprobs=raw.round(4).tolist(), pred=int(raw.argmax()))
        metrics["mc_accuracy"] = float(np.mean(hits))
        metrics["mc_accuracy_norm"] = float(np.mean(hits_norm))
    if spec.generate:
        prompts = [render_prompt(tokenizer, item_messages(it, spec.n_fewshot, with_choices=True))
                   for it in items]
        texts = generate(model, tokenizer, prompts, max_new_tokens=spec.max_new_tokens,
                         batch_size=batch_size)
        em = []
        for rec, it, text in zip(records, items, texts, strict=True):
            ok = exact_match(text, it.answer, it.choices)
            em.append(ok)
            rec.update(generation=text, extracted=extract_answer(text, it.answer, it.choices), em=ok)
        metrics["exact_match"] = float(np.mean(em))
    return metrics, records


def utility(per_benchmark: dict[str, dict[str, float]], specs: Sequence[BenchmarkSpec],
            primaries: dict[str, str]) -> float:
    """Weighted mean of each benchmark's primary metric (weights from the spec).

    Raises:
        KeyError: a benchmark's primary metric was not computed (e.g. exact_match with
            ``generate: false``) — a missing score is never read as 0.
    """
    total = sum(s.weight for s in specs)
    if total <= 0:
        raise ValueError("benchmark weights sum to 0")
    acc = 0.0
    for s in specs:
        metric = primaries[s.name]
        if metric not in per_benchmark[s.name]:
            raise KeyError(f"benchmark '{s.name}': primary metric '{metric}' was not computed")
        acc += s.weight * per_benchmark[s.name][metric]
    return acc / total
