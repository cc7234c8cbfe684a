"""The benchmark harness: multiple-choice log-likelihood, answer NLL, generation + exact match.

Prompts are the benchmark questions rendered with the model's chat template (few-shot
examples as earlier turns), ending where the assistant's answer starts: the same place
the fine-tuned model learned to answer from. Log-likelihood scoring lives in
:mod:`autosel.evaluation.loglik`.

**One utility scale.** Raw metrics have different scales (accuracies in [0, 1], margins
and NLLs in nats), so a weighted mean of raw values would let the metric's unit, not the
weight, decide how much a benchmark counts. Each benchmark's primary metric is therefore
normalised *per item* (:func:`normalise`) so that 0 = chance and 1 = ceiling, and the
utility is ``sum_b w_b * mean_i norm_{b,i} / sum_b w_b``:

==================  ============================  ==========  ===========================
primary metric      per-item normalised value     0 means     1 means
==================  ============================  ==========  ===========================
mc_accuracy         ``(x - 1/k) / (1 - 1/k)``     chance      gold ranked first
mc_accuracy_norm    ``(x - 1/k) / (1 - 1/k)``     chance      gold ranked first (per byte)
mc_prob             ``(p - 1/k) / (1 - 1/k)``     uniform     all mass on the gold choice
mc_margin           ``2 * sigmoid(m) - 1``        indifferent certain (m in nats)
exact_match, k      ``(x - 1/k) / (1 - 1/k)``     chance      correct
exact_match, free   ``x``                         wrong       correct
neg_nll             ``exp(-nll)``                 --          reference has probability 1
==================  ============================  ==========  ===========================

``k`` is the item's number of choices; ``x`` is 1 for a hit and 0 for a miss (a tie for
the best log-likelihood that includes the gold choice earns ``1 / size of the tie``, so
a model that cannot tell the choices apart scores chance exactly); ``p`` is the softmax
over the choices' summed log-likelihoods at the gold choice; ``m`` is the gold choice's
log-likelihood minus the best other choice's; ``nll`` is the reference answer's mean
per-token NLL, so ``exp(-nll)`` is its per-token (geometric mean) probability. Values
below 0 mean worse than chance. The per-item values are kept (``item_scores``) so
that differences between evaluations can be bootstrapped over items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autosel.bench.load import Benchmark, item_messages, load_benchmark_split
from autosel.errors import ConfigError
from autosel.evaluation.extract import exact_match, extract_answer
from autosel.evaluation.loglik import score_loglik
from autosel.evaluation.spec import BenchmarkSpec, EvalSpec

MC_METRICS = ("mc_accuracy", "mc_accuracy_norm", "mc_margin", "mc_prob")
PRIMARIES = (*MC_METRICS, "exact_match", "neg_nll")
_CHANCE_RESCALED = ("mc_accuracy", "mc_accuracy_norm", "mc_prob", "exact_match")


def normalise(metric: str, value: Any, n_choices: int | None) -> Any:
    """One item's primary-metric ``value`` on the common scale (0 = chance, 1 = ceiling).

    Args:
        metric: the primary metric (see the module docstring's table).
        value: the item's raw value of ``metric`` (a float, or an array of items' values;
            for ``neg_nll`` that is ``-nll``).
        n_choices: the item's number of choices ``k``; ``None`` for a free-form item.

    Raises:
        ValueError: an unknown metric, or a chance-rescaled ``mc_*`` metric without
            ``n_choices >= 2``.
    """
    if metric == "mc_margin":
        return np.tanh(np.asarray(value, dtype=np.float64) / 2.0) * 1.0  # = 2 sigmoid(m) - 1
    if metric == "neg_nll":  # value = -nll, so this is exp(-nll)
        return np.exp(np.asarray(value, dtype=np.float64)) * 1.0
    if metric in _CHANCE_RESCALED and n_choices is not None:
        if n_choices < 2:
            raise ValueError(f"{metric}: n_choices must be >= 2, got {n_choices}")
        chance = 1.0 / n_choices
        return (value - chance) / (1.0 - chance)
    if metric == "exact_match":
        return value * 1.0
    if metric in MC_METRICS:
        raise ValueError(f"{metric} needs the item's number of choices")
    raise ValueError(f"unknown metric {metric!r}: accepted {', '.join(PRIMARIES)}")



def mc_item_metrics(
    logprobs: Sequence[float], gold: int, n_bytes: Sequence[int]
) -> dict[str, float]:
    """The raw multiple-choice metrics of one item from its choices' log-likelihoods.

    Args:
        logprobs: summed log-likelihood of each choice, `k` floats.
        gold: index of the correct choice.
        n_bytes: UTF-8 length of each choice (for the per-byte ``mc_accuracy_norm``), `k`.

    Returns:
        ``mc_accuracy`` and ``mc_accuracy_norm`` (1 / size of the tie for the best score
        when gold is in it, else 0), ``mc_margin`` (gold minus best other, nats) and
        ``mc_prob`` (softmax probability of gold).
    """
    raw = np.asarray(logprobs, dtype=np.float64)
    norm = raw / np.maximum(1, np.asarray(n_bytes, dtype=np.float64))

    def tie_credit(x: np.ndarray) -> float:
        best = np.flatnonzero(x == x.max())
        return 1.0 / len(best) if gold in best else 0.0

    others = np.delete(raw, gold)
    shifted = raw - raw.max()
    prob = float(np.exp(shifted[gold]) / np.exp(shifted).sum())
    return {
        "mc_accuracy": tie_credit(raw),
        "mc_accuracy_norm": tie_credit(norm),
        "mc_margin": float(raw[gold] - others.max()) if others.size else 0.0,
        "mc_prob": prob,
    }


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
    """The spec's primary metric, with ``auto`` resolved from the items.

    ``auto`` is ``mc_accuracy`` when every item of the benchmark (both splits) has choices,
    else ``exact_match``.
    """
    if spec.primary_metric != "auto":
        return spec.primary_metric
    return "mc_accuracy" if bench.is_multiple_choice else "exact_match"


def _primary_problem(spec: BenchmarkSpec, bench: Benchmark, primary: str) -> str | None:
    """Why ``primary`` cannot be computed for ``bench`` under ``spec`` (None when it can)."""
    how = "auto resolves to" if spec.primary_metric == "auto" else "primary_metric is"
    if primary == "exact_match" and not spec.generate:
        why = (
            "the items have no choices" if spec.primary_metric == "auto" else "it was chosen"
        )
        return (
            f"benchmark '{spec.name}': {how} exact_match ({why}) but generate is false, so "
            "it would never be computed; set generate: true, or choose primary_metric "
            "mc_accuracy, mc_accuracy_norm, mc_margin or mc_prob (items with choices) "
            "or neg_nll"
        )
    if primary in MC_METRICS and not any(it.choices for it in bench.items):
        return (
            f"benchmark '{spec.name}': primary_metric {primary} needs items with choices and "
            f"{bench.path} has none; choose exact_match (with generate: true) or neg_nll"
        )
    return None


def check_primary_metrics(spec: EvalSpec, benches: Sequence[Benchmark] | None = None) -> None:
    """Fail early when a benchmark's primary metric could never be computed.

    Call it where a search or an evaluation is created, before any training is spent.

    Args:
        spec: the evaluation spec.
        benches: its benchmarks, already loaded (one per ``spec.benchmarks``, either split:
            ``auto`` resolves the same way on both); default: the dev splits are read.

    Raises:
        ConfigError: naming each benchmark whose primary cannot be computed and the fixes
            (``generate: true``, or an ``mc_*`` / ``neg_nll`` primary).
        InputError: a benchmark file is invalid or cannot be split.
    """
    if benches is None:
        benches = [load_benchmark_split(b, "dev") for b in spec.benchmarks]
    problems = [
        p
        for bspec, bench in zip(spec.benchmarks, benches, strict=True)
        if (p := _primary_problem(bspec, bench, resolve_primary(bspec, bench)))
    ]
    if problems:
        raise ConfigError("; ".join(problems))


@dataclass(frozen=True)
class BenchmarkScore:
    """Everything one benchmark's scoring produced.

    Attributes:
        metrics: every computed metric (means over items; see :func:`score_benchmark`),
            with ``<primary>_normalized``, the mean of ``item_scores``.
        records: one JSON-ready record per item (``predictions/<benchmark>.jsonl``).
        primary: the resolved primary metric.
        item_ids: ids of the items the primary metric scored, in the split's order.
        item_scores: each of those items' normalised primary value (:func:`normalise`).
    """

    metrics: dict[str, float]
    records: list[dict[str, Any]]
    primary: str
    item_ids: list[str]
    item_scores: list[float]


def score_benchmark(
    model: Any,
    tokenizer: Any,
    bench: Benchmark,
    spec: BenchmarkSpec,
    *,
    batch_size: int = 16,
    max_length: int = 2048,
) -> BenchmarkScore:
    """All metrics of one benchmark, one record per item, and the per-item normalised primary.

    Metrics: ``n``; ``nll`` (mean per-token NLL of the reference answer, teacher-forced) and
    ``neg_nll``; for multiple-choice items ``mc_accuracy`` and ``mc_accuracy_norm``
    (log-likelihood per byte, like lm-eval's ``acc_norm``), ``mc_margin`` (mean of the
    gold choice's log-likelihood minus the best other choice's, in nats: a continuous
    accuracy that moves before any argmax flips) and ``mc_prob`` (mean softmax probability
    of the gold choice over the choices); with ``spec.generate``, ``exact_match`` of the
    greedy answer. ``mc_*`` metrics are means over the items that have choices.

    Raises:
        ConfigError: the primary metric cannot be computed (see
            :func:`check_primary_metrics`, which catches this before training).
    """
    primary = resolve_primary(spec, bench)
    problem = _primary_problem(spec, bench, primary)
    if problem:
        raise ConfigError(problem)
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
    per_item: list[dict[str, float]] = []  # raw mc_* metrics of each item with choices
    for i, (it, (start, end)) in enumerate(zip(items, spans, strict=True)):
        lps = res[start:end]
        gold = lps[it.gold] if it.gold is not None else lps[0]  # gold is set iff choices are
        per_tok[i] = -gold.logprob / gold.n_tokens
        rec: dict[str, Any] = {"id": it.id, "answer": it.answer, "nll": float(per_tok[i])}
        if it.choices and it.gold is not None:
            raw = [r.logprob for r in lps]
            m = mc_item_metrics(raw, it.gold, [len(c.encode()) for c in it.choices])
            per_item.append(m)
            rec.update(
                choice_logprobs=np.round(raw, 4).tolist(),
                pred=int(np.argmax(raw)),
                mc_prob=round(m["mc_prob"], 6),
            )
        records.append(rec)
    metrics: dict[str, float] = {"n": float(len(items)), "nll": float(per_tok.mean())}
    metrics["neg_nll"] = -metrics["nll"]
    for name in MC_METRICS if per_item else ():
        metrics[name] = float(np.mean([m[name] for m in per_item]))
    em: list[bool] = []
    if spec.generate:
        prompts = [
            render_prompt(tokenizer, item_messages(it, spec.n_fewshot, with_choices=True))
            for it in items
        ]
        texts = generate(
            model, tokenizer, prompts, max_new_tokens=spec.max_new_tokens, batch_size=batch_size
        )
        for rec, it, text in zip(records, items, texts, strict=True):
            ok = exact_match(text, it.answer, it.choices)
            em.append(ok)
            rec.update(
                generation=text, extracted=extract_answer(text, it.answer, it.choices), em=ok
            )
        metrics["exact_match"] = float(np.mean(em))
    ids, scores = _normalised_items(primary, items, per_tok, per_item, em)
    by_id = dict(zip(ids, scores, strict=True))
    for rec in records:
        if rec["id"] in by_id:
            rec["normalized"] = round(by_id[rec["id"]], 6)
    metrics[f"{primary}_normalized"] = float(np.mean(scores))
    return BenchmarkScore(metrics, records, primary, ids, scores)


def _normalised_items(
    primary: str,
    items: Sequence[Any],
    per_tok: np.ndarray,
    per_item: list[dict[str, float]],
    em: list[bool],
) -> tuple[list[str], list[float]]:
    """``(ids, normalised primary values)`` of the items the primary metric scores."""
    if primary in MC_METRICS:
        mc_items = [it for it in items if it.choices]
        values = [
            float(normalise(primary, m[primary], len(it.choices)))
            for it, m in zip(mc_items, per_item, strict=True)
        ]
        return [it.id for it in mc_items], values
    if primary == "exact_match":
        values = [
            float(normalise(primary, float(ok), len(it.choices) if it.choices else None))
            for it, ok in zip(items, em, strict=True)
        ]
    else:  # neg_nll
        values = [float(normalise("neg_nll", -x, None)) for x in per_tok]
    return [it.id for it in items], values


def utility(
    per_benchmark: dict[str, dict[str, float]],
    specs: Sequence[BenchmarkSpec],
    primaries: dict[str, str],
) -> float:
    """Weighted mean of each benchmark's *normalised* primary metric (weights from the spec).

    Reads ``<primary>_normalized`` of each benchmark (what :func:`score_benchmark` puts in
    its metrics: the mean over items of :func:`normalise`), so 0 is chance and 1 the
    ceiling on every benchmark and the weights mean what they say.

    Raises:
        KeyError: a benchmark's primary metric was not computed (e.g. exact_match with
            ``generate: false``) — a missing score is never read as 0.
        ValueError: the weights sum to 0.
    """
    total = sum(s.weight for s in specs)
    if total <= 0:
        raise ValueError("benchmark weights sum to 0")
    acc = 0.0
    for s in specs:
        metric = primaries[s.name]
        key = f"{metric}_normalized"
        if key not in per_benchmark[s.name]:
            raise KeyError(f"benchmark '{s.name}': primary metric '{metric}' was not computed")
        acc += s.weight * per_benchmark[s.name][key]
    return acc / total
