"""Log-likelihood of continuations given contexts, batched (lm-evaluation-harness semantics).

A request ``(context, continuation)`` scores the continuation's summed token
log-probabilities; context and continuation are tokenised separately so the
continuation's tokens are exactly its own. Two batched paths give the same numbers:

- *flat*: each request is one left-padded row; explicit position ids make a row score
  the same alone or in a batch, and ``logits_to_keep`` runs the LM head only on the last
  ``max continuation`` positions instead of the whole ``batch x seq x vocab`` block.
- *shared context* (default): requests are grouped by context (the choices of one
  multiple-choice item), each context runs once, its KV cache is repeated for its
  continuations, and only the few continuation tokens run again. With 4 choices this
  does ~4x less work than scoring each choice from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LoglikResult:
    """Summed log-probability of a continuation, its token count, and whether it is greedy."""

    logprob: float
    n_tokens: int
    is_greedy: bool


def _encode(tokenizer: Any, text: str) -> list[int]:
    # The chat template already carries the special tokens; adding BOS again would shift it.
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _left_pad(seqs: Sequence[list[int]], pad_id: int) -> tuple[Any, Any, Any]:
    """``ids, mask, position_ids``, each `B x W`, rows right-aligned."""
    import torch

    width = max(map(len, seqs))
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for r, s in enumerate(seqs):
        ids[r, width - len(s) :] = torch.tensor(s)
        mask[r, width - len(s) :] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def score_loglik(
    model: Any,
    tokenizer: Any,
    requests: Sequence[tuple[str, str]],
    *,
    batch_size: int = 16,
    max_length: int = 2048,
    share_context: bool = True,
) -> list[LoglikResult]:
    """Score ``(context, continuation)`` pairs.

    Args:
        requests: the continuation is scored given the context (neither gets special tokens).
        batch_size: contexts (shared path) or requests (flat path) per forward pass.
        max_length: contexts are cut from the left to fit.
        share_context: run each distinct context once (``False``: every request from
            scratch; with ``batch_size=1`` that is the one-at-a-time baseline).

    Returns:
        One ``LoglikResult`` per request, in request order.
    """
    import torch

    pad_id = (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )
    ctx_cache: dict[str, list[int]] = {}
    groups: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
    for i, (ctx, cont) in enumerate(requests):
        x_ids = _encode(tokenizer, cont)
        if not x_ids:
            raise ValueError(f"empty continuation for context {ctx[-60:]!r}")
        c_ids = ctx_cache.setdefault(ctx, _encode(tokenizer, ctx))
        c_ids = c_ids[-max(1, max_length - len(x_ids)) :] or c_ids[-1:]
        key = tuple(c_ids) if share_context else (i, *c_ids)
        groups.setdefault(key, []).append((i, x_ids))
    # Longest first (as lm-eval does): similar lengths share a batch, less padding.
    order = sorted(groups, key=lambda k: -len(k))
    out: list[LoglikResult | None] = [None] * len(requests)
    with torch.inference_mode():
        for keys in _length_batches(order, batch_size):
            batch = [(list(k[1:]) if not share_context else list(k), groups[k]) for k in keys]
            score = _score_shared if share_context else _score_flat
            for i, res in score(model, batch, pad_id):
                out[i] = res
    return [r for r in out if r is not None]


MAX_PAD_SHARE = 0.1


def _length_batches(order: list[tuple[int, ...]], batch_size: int) -> list[list[tuple[int, ...]]]:
    """Cut the longest-first keys into batches of at most ``batch_size``, also starting a
    new batch when a key is more than ``MAX_PAD_SHARE`` (10 %) shorter than the batch's first.

    On CPU a forward pass costs what its padded tokens cost, so a batch of 32 demo
    questions padded to the longest spent ~45 % more than batches of similar lengths.
    """
    batches: list[list[tuple[int, ...]]] = []
    for k in order:
        if (
            batches
            and len(batches[-1]) < batch_size
            and len(k) >= (1 - MAX_PAD_SHARE) * len(batches[-1][0])
        ):
            batches[-1].append(k)
        else:
            batches.append([k])
    return batches


def _token_logprobs(logits: Any, targets: Any) -> tuple[Any, Any]:
    """Log-probability of each target token and whether it is the argmax, from logits
    (``... x V``): the picked logit minus the logsumexp, with no log-softmax tensor of
    the logits' size."""
    import torch

    logits = logits.float()
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1), logits.argmax(-1) == targets


def _score_flat(
    model: Any, batch: list[tuple[list[int], list[tuple[int, list[int]]]]], pad_id: int
) -> list[tuple[int, LoglikResult]]:
    """One row per request: context + continuation, left-padded."""

    device = next(model.parameters()).device
    rows = [(i, ctx + x, len(x)) for ctx, conts in batch for i, x in conts]
    ids, mask, pos = _left_pad([r[1] for r in rows], pad_id)
    keep = max(r[2] for r in rows) + 1
    logits = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=pos.to(device),
        logits_to_keep=keep,
        use_cache=False,
    ).logits
    targets = ids[:, ids.shape[1] - keep + 1 :].to(device)
    tok_lp, greedy = _token_logprobs(logits[:, :-1], targets)  # the last keep-1 tokens
    return [
        (i, LoglikResult(float(tok_lp[r, -k:].sum()), k, bool(greedy[r, -k:].all())))
        for r, (i, _, k) in enumerate(rows)
    ]


def _score_shared(
    model: Any, batch: list[tuple[list[int], list[tuple[int, list[int]]]]], pad_id: int
) -> list[tuple[int, LoglikResult]]:
    """Contexts once (KV cache), then every continuation of each context in one pass."""
    import torch

    device = next(model.parameters()).device
    ids, mask, pos = _left_pad([ctx for ctx, _ in batch], pad_id)
    out = model(
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=pos.to(device),
        logits_to_keep=1,
        use_cache=True,
    )
    first_lp = torch.log_softmax(out.logits[:, -1].float(), dim=-1)  # `B x V`: first cont. token
    n_per = max(len(conts) for _, conts in batch)
    cache = out.past_key_values
    cache.batch_repeat_interleave(n_per)  # row b*n_per + j continues context b
    x_len = max(len(x) for _, conts in batch for _, x in conts)
    x_ids = torch.full((len(batch) * n_per, x_len), pad_id, dtype=torch.long)
    x_mask = torch.zeros_like(x_ids)
    for b, (_, conts) in enumerate(batch):
        for j, (_, x) in enumerate(conts):
            x_ids[b * n_per + j, : len(x)] = torch.tensor(x)
            x_mask[b * n_per + j, : len(x)] = 1
    ctx_len = mask.sum(-1).repeat_interleave(n_per)
    x_pos = ctx_len[:, None] + torch.arange(x_len)[None, :]
    full_mask = torch.cat([mask.repeat_interleave(n_per, dim=0), x_mask], dim=1)
    logits = model(
        input_ids=x_ids.to(device),
        attention_mask=full_mask.to(device),
        position_ids=x_pos.to(device),
        past_key_values=cache,
        use_cache=True,
    ).logits
    # Row by row over the positions that predict continuation tokens 1..: one tensor over
    # `rows x positions x vocab` took gigabytes for long continuations.
    results = []
    for b, (_, conts) in enumerate(batch):
        for j, (i, x) in enumerate(conts):
            row, tgt = b * n_per + j, torch.tensor(x, device=device)
            lps = [first_lp[b, tgt[0]]]
            greedy = bool(first_lp[b].argmax() == tgt[0])
            if len(x) > 1:
                tok_lp, hit = _token_logprobs(logits[row, : len(x) - 1], tgt[1:])
                lps.append(tok_lp.sum())
                greedy = greedy and bool(hit.all())
            results.append((i, LoglikResult(float(sum(lps)), len(x), greedy)))
    return results
