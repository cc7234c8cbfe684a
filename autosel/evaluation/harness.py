"""The benchmark harness: multiple-choice log-likelihood, answer NLL, generation + exact match.

Prompts are the benchmark questions rendered with the model's chat template (few-shot
examples as earlier turns), ending where the assistant's answer starts: the same place
the fine-tuned model learned to answer from. Log-likelihood scoring lives in
:mod:`autosel.evaluation.loglik`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autosel.evaluation.bench import Benchmark, item_messages
from autosel.evaluation.extract import exact_match, extract_answer
from autosel.evaluation.loglik import score_loglik
from autosel.evaluation.spec import BenchmarkSpec


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The chat-templated prompt, ending where the assistant's answer starts."""
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def generate(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int = 16
) -> list[str]:
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
                idx = order[start : start + batch_size]
                enc = tokenizer(
                    [prompts[i] for i in idx],
                    return_tensors="pt",
                    padding=True,
                    add_special_tokens=False,
                ).to(device)
                gen = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                )
                new = gen[:, enc["input_ids"].shape[1] :]
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


def score_benchmark(
    model: Any,
    tokenizer: Any,
    bench: Benchmark,
    spec: BenchmarkSpec,
    *,
    batch_size: int = 16,
    max_length: int = 2048,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """All metrics of one benchmark, plus one record per item (for ``predictions.jsonl``).

    Metrics: ``n``; ``nll`` (mean per-token NLL of the reference answer, teacher-forced) and
    ``neg_nll``; for multiple-choice items ``mc_accuracy`` and ``mc_accuracy_norm``
    (log-likelihood per byte, like lm-eval's ``acc_norm``) and ``mc_margin`` (mean of the
    gold choice's log-likelihood minus the best other choice's, in nats: a continuous
    accuracy that moves before any argmax flips — the metric for small, noisy
    evaluations and the demo's reasoning-check sets); with ``spec.generate``,
    ``exact_match`` of the greedy answer.
    """
    items = bench.items
    ctxs = [render_prompt(tokenizer, item_messages(it, spec.n_fewshot)) for it in items]
    prefix = spec.answer_prefix
    # One request per choice (or per answer when there are none); the reference answer of a
    # multiple-choice item *is* its gold choice, so its NLL needs no request of its own.
    requests: list[tuple[str, str]] = []
    spans: list[tuple[int, int]] = []
    for it, ctx in zip(items, ctxs, strict=True):
        conts = it.choices or (it.answer,)
        spans.append((len(requests), len(requests) + len(conts)))
        requests += [(ctx, prefix + c) for c in conts]
    res = score_loglik(model, tokenizer, requests, batch_size=batch_size, max_length=max_length)
    records: list[dict[str, Any]] = []
    per_tok = np.empty(len(items))
    hits, hits_norm, margins = [], [], []
    for i, (it, (start, end)) in enumerate(zip(items, spans, strict=True)):
        lps = res[start:end]
        gold = lps[it.gold] if it.choices else lps[0]
        per_tok[i] = -gold.logprob / gold.n_tokens
        rec: dict[str, Any] = {"id": it.id, "answer": it.answer, "nll": float(per_tok[i])}
        if it.choices:
            raw = np.array([r.logprob for r in lps])
            norm = raw / np.array([max(1, len(c.encode())) for c in it.choices])
            hits.append(int(raw.argmax()) == it.gold)
            hits_norm.append(int(norm.argmax()) == it.gold)
            others = np.delete(raw, it.gold)
            margins.append(float(raw[it.gold] - others.max()) if others.size else 0.0)
            rec.update(choice_logprobs=raw.round(4).tolist(), pred=int(raw.argmax()))
        records.append(rec)
    metrics: dict[str, float] = {"n": float(len(items)), "nll": float(per_tok.mean())}
    metrics["neg_nll"] = -metrics["nll"]
    if hits:
        metrics["mc_accuracy"] = float(np.mean(hits))
        metrics["mc_accuracy_norm"] = float(np.mean(hits_norm))
        metrics["mc_margin"] = float(np.mean(margins))
    if spec.generate:
        prompts = [
            render_prompt(tokenizer, item_messages(it, spec.n_fewshot, with_choices=True))
            for it in items
        ]
        texts = generate(
            model, tokenizer, prompts, max_new_tokens=spec.max_new_tokens, batch_size=batch_size
        )
        em = []
        for rec, it, text in zip(records, items, texts, strict=True):
            ok = exact_match(text, it.answer, it.choices)
            em.append(ok)
            rec.update(
                generation=text, extracted=extract_answer(text, it.answer, it.choices), em=ok
            )
        metrics["exact_match"] = float(np.mean(em))
    return metrics, records


def utility(
    per_benchmark: dict[str, dict[str, float]],
    specs: Sequence[BenchmarkSpec],
    primaries: dict[str, str],
) -> float:
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
