"""The teacher-forced model pass: per-token entropy, log-prob, varentropy; per-sample embedding.

How it is fast and still exact (each point is tested against a naive computation):

- **Width buckets: a sample's values do not depend on its batch-mates.** Every sample is
  right-padded to a width that is a function of its *own* length only
  (:func:`padded_width`: the next multiple of ``WIDTH_STEP``), and a batch holds only
  samples of one width, under a token budget (``batch_tokens`` >= width x count). So a
  sample sees the same kernels, shapes and padding alone as in any batch; only the batch
  dimension changes, and every matrix product has one row count whatever the batch (next
  point). Tested: alone vs a mixed batch is bit-identical in bf16 and fp32 on CPU,
  ``tests/signals/test_batch_invariance.py``.

  Why not "pad to the longest of the batch": the real tokens never see the pads (causal),
  but the kernels do see the padded *shape*. PyTorch's CPU flash-attention kernel picks
  its code path and block sizes from the padded sequence length (a packed-GEMM path from
  64 tokens on, larger query blocks for long sequences), and in bf16 those paths round
  differently: a 5e-4 difference in the first layer's attention output grew, through 30
  bf16 layers of SmolLM2-135M, into per-token entropy differences of 0.01-0.12 nats on
  the test samples (0.29 nats measured on a larger pool) between a sample alone and the
  same sample padded to a batch-mate's length. It is rounding, not a masking bug (eager
  attention alone already differs from SDPA alone by 0.11 nats on the same sample), but
  it made signals depend on the batching; fixed widths remove the dependence at the cost
  of at most ``WIDTH_STEP - 1`` pad tokens a sample.
- **Fixed-shape matrix products: a row's values do not depend on how many rows share
  the call.** Width buckets alone fix the sequence length, not the batch size, and the CPU
  GEMM kernels (oneDNN, on CPUs with AMX/AVX512-bf16; MKL in fp32) pick their blocking
  and reduction order from the row count ``M = batch x width``, in regimes that are not
  even monotone in ``M`` (measured on SmolLM2-135M's ``k_proj``/``down_proj``: rows differ
  at ``M`` 48-256 and agree at 16, 32 and >= 512). One ulp in a bf16 projection grew,
  through 30 layers, into 0.22 nats per token between a sample alone and the same sample
  in a batch of four. So inside the pass every ``nn.Linear`` (``lm_head`` included) runs
  on blocks of exactly :data:`GEMM_ROWS` rows, the last block zero-padded
  (:func:`fixed_row_gemms`): every product has one shape, and within one shape a row's
  result does not depend on its neighbours or its position (measured: bit-identical over
  random neighbours and positions, bf16 and fp32). The cost is at most ``GEMM_ROWS - 1``
  padded rows a call and smaller products: measured 12.55 s vs 10.31 s without it (96
  demo samples, 20,109 tokens, budget 2,048, bf16, best of 3, 2-core AMX CPU); 128-row
  blocks were slower (13.1 s) and 1,024 or 2,048 much slower (padding of small batches). This is the "batch-invariant kernels" idea (He and Thinking
  Machines Lab, *Defeating Nondeterminism in LLM Inference*, 2025), done by shaping the
  calls rather than by writing kernels. Attention needs nothing: its CPU kernel works per
  (batch row, head), and the width is already fixed.
- **Right padding, no attention mask.** With causal attention a real token only attends
  to tokens on its left; right padding puts every pad on the right, so real tokens see
  exactly the tokens they would see alone, with default position ids ``0..L-1``. Passing
  no mask lets SDPA take its ``is_causal`` fast path.
- **Response positions before the head.** The final hidden states are sliced to the
  positions that predict response tokens *before* ``lm_head``: most tokens are prompt, and
  the head (d x |V|) is the largest matrix of a small model.
- **Chunked fp32 statistics.** Logits of at most ``CHUNK`` positions exist at once; with
  ``d = z - max z``, ``e = exp d``, ``S = sum e``: entropy ``H = log S - E[d]``, varentropy
  ``Var[d]`` (surprisal is ``log S - d``), log-prob ``z_y - logsumexp z``; all in fp32
  whatever the forward dtype. No full-vocabulary log-softmax is ever materialised.

Entropies here are in nats (stored that way; converted on read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

CHUNK = 256  # positions per lm_head/statistics chunk: 256 x 49152 fp32 = 48 MiB per buffer
# Rows of every matrix product inside the pass (see the module docstring): part of what a
# sample's values depend on, so changing it changes stored values (bump MODEL_VERSION).
GEMM_ROWS = 256  # = CHUNK: each lm_head chunk is exactly one block
WIDTH_STEP = 16  # samples are right-padded to the next multiple (see the module docstring)


@dataclass(frozen=True)
class Encoded:
    """One tokenised sample: ``ids = prompt + response`` (maybe truncated)."""

    ids: list[int]
    resp_start: int
    resp_total: int  # response tokens before truncation
    truncated: bool

    @property
    def n_resp(self) -> int:
        return len(self.ids) - self.resp_start


@dataclass
class SampleStats:
    """Per-token arrays (nats, float32) and the response-mean hidden state of one sample."""

    entropy: np.ndarray
    logprob: np.ndarray
    varentropy: np.ndarray
    embedding: np.ndarray


def render_prompt(tok: Any, messages: Sequence[dict[str, str]]) -> str:
    """The prompt as the model's chat template renders it, ready for the assistant turn."""
    msgs = [{"role": m["role"], "content": m["content"] or ""} for m in messages]
    try:
        return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    except Exception:  # templates without a generation prompt or with role rules
        return "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant: "


def encode(
    tok: Any,
    prompts: Sequence[Sequence[dict[str, str]]],
    responses: Sequence[str],
    max_tokens: int,
    prompt_free: bool = False,
) -> list[Encoded]:
    """Tokenise samples; the response is tokenised on its own so its tokens are exactly its text.

    ``prompt_free=True`` renders no user turn (only the assistant header), which is the
    "response alone" pass of IFD: the same response tokens, no instruction.

    Truncation (flagged, never an error): when prompt + response exceed ``max_tokens`` the
    prompt keeps its last ``max(max_tokens - response, max_tokens // 2)`` tokens and the
    response is cut at the end.
    """
    texts = [render_prompt(tok, [] if prompt_free else p) for p in prompts]
    p_ids = tok(texts, add_special_tokens=False)["input_ids"]
    r_ids = tok(list(responses), add_special_tokens=False)["input_ids"] if responses else []
    fallback = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
    out = []
    for p, r in zip(p_ids, r_ids, strict=True):
        p = p or fallback  # the first response token needs a position to be predicted from
        total, cut = len(r), False
        if len(p) + len(r) > max_tokens:
            keep_p = min(len(p), max(max_tokens - len(r), max_tokens // 2))
            p, r, cut = p[len(p) - keep_p :], r[: max_tokens - keep_p], True
        out.append(
            Encoded(ids=list(p) + list(r), resp_start=len(p), resp_total=total, truncated=cut)
        )
    return out


def padded_width(length: int) -> int:
    """The width a sample of ``length`` tokens is padded to, alone or in any batch."""
    return -(-length // WIDTH_STEP) * WIDTH_STEP


def make_batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices in batches of one :func:`padded_width` each, widest first, each with
    ``width * count <= batch_tokens`` (a sample wider than the budget goes alone)."""
    widths = [padded_width(n) for n in lengths]
    order = sorted(range(len(lengths)), key=lambda i: (-widths[i], i))
    batches: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        w = widths[i]
        if cur and (widths[cur[0]] != w or w * (len(cur) + 1) > batch_tokens):
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


def _padded_rows(x: Any, rows: int) -> tuple[Any, int]:
    """``x`` flattened to 2-D and zero-padded to a multiple of ``rows`` rows, and its
    original row count."""
    import torch

    flat = x.reshape(-1, x.shape[-1])
    m = flat.shape[0]
    pad = -m % rows
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad, flat.shape[1])])
    return flat, m


def _row_blocks(forward: Callable[[Any], Any], x: Any, rows: int) -> Any:
    """``forward(x)`` computed on blocks of exactly ``rows`` rows of ``x`` flattened to 2-D
    (the last block zero-padded), so the matrix product always has one shape."""
    flat, m = _padded_rows(x, rows)
    import torch

    out = torch.cat([forward(flat[s : s + rows]) for s in range(0, flat.shape[0], rows)])
    return out[:m].reshape(*x.shape[:-1], out.shape[-1])


def _linear_row_blocks(mod: Any, x: Any, rows: int) -> Any:
    """A plain ``nn.Linear`` on blocks of exactly ``rows`` rows, each written straight into
    one output buffer (no concatenation: the blocks of ``lm_head`` are 256 x 49,152)."""
    flat, m = _padded_rows(x, rows)
    import torch

    w_t = mod.weight.t()
    out = flat.new_empty(flat.shape[0], w_t.shape[1])
    for s in range(0, flat.shape[0], rows):
        if mod.bias is None:
            torch.mm(flat[s : s + rows], w_t, out=out[s : s + rows])
        else:
            torch.addmm(mod.bias, flat[s : s + rows], w_t, out=out[s : s + rows])
    return out[:m].reshape(*x.shape[:-1], w_t.shape[1])


@contextmanager
def fixed_row_gemms(model: Any, rows: int = GEMM_ROWS) -> Iterator[None]:
    """Within the block, every ``torch.nn.Linear`` of ``model`` multiplies blocks of
    exactly ``rows`` rows (see the module docstring). A plain ``nn.Linear`` multiplies its
    weight directly; a subclass or a module with its own forward wrapper (hooks, adapters)
    runs that forward on each block. The originals are restored on exit, even on error."""
    import torch

    patched: list[tuple[Any, Any]] = []
    try:
        for mod in model.modules():
            if not isinstance(mod, torch.nn.Linear):
                continue
            own = mod.__dict__.get("forward")  # an instance-level wrapper, if any
            blocked: Callable[[Any], Any]
            if own is None and type(mod) is torch.nn.Linear:
                blocked = partial(_linear_row_blocks, mod, rows=rows)
            else:
                blocked = partial(_row_blocks, mod.forward, rows=rows)
            setattr(mod, "forward", blocked)  # noqa: B010  (an instance attribute, restored below)
            patched.append((mod, own))
        yield
    finally:
        for mod, own in patched:
            if own is None:
                del mod.forward
            else:
                mod.forward = own


def chunk_stats(head: Any, h: Any, targets: Any) -> tuple[Any, Any, Any]:
    """Entropy, log-prob of ``targets`` and varentropy (fp32, nats) for hidden rows ``h``."""
    import torch

    ent, lp, var = [], [], []
    for s in range(0, h.shape[0], CHUNK):
        z = head(h[s : s + CHUNK]).float()
        m = z.max(dim=-1, keepdim=True).values
        d = z.sub_(m)  # in place: z is not needed any more, d = z - max
        e = torch.exp(d)
        big_s = e.sum(-1)
        m1 = torch.linalg.vecdot(e, d) / big_s
        e.mul_(d)
        m2 = torch.linalg.vecdot(e, d) / big_s
        log_s = torch.log(big_s)
        ent.append(log_s - m1)
        var.append((m2 - m1 * m1).clamp_min_(0.0))
        lp.append(d.gather(1, targets[s : s + CHUNK, None]).squeeze(1) - log_s)
    return torch.cat(ent), torch.cat(lp), torch.cat(var)


def run_batch(
    model: Any, batch: Sequence[Encoded], pad_id: int, want_embedding: bool = True
) -> list[SampleStats]:
    """Per-sample statistics for one batch of non-empty samples (see module docstring).

    Raises:
        ValueError: the samples do not share one :func:`padded_width` (batch them with
            :func:`make_batches`: a wider batch-mate would change a sample's values).
    """
    import torch

    dev = next(model.parameters()).device
    widths = {padded_width(len(e.ids)) for e in batch}
    if len(widths) != 1:
        raise ValueError(
            f"run_batch: samples of padded widths {sorted(widths)} in one batch; a batch "
            "holds one width (make_batches), else a sample's values depend on its batch-mates"
        )
    width = widths.pop()
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    rows, pos = [], []
    for b, e in enumerate(batch):
        ids[b, : len(e.ids)] = torch.tensor(e.ids)
        rows.append(np.full(e.n_resp, b))
        pos.append(np.arange(e.resp_start, len(e.ids)))
    row_t = torch.from_numpy(np.concatenate(rows)).to(dev)
    pos_t = torch.from_numpy(np.concatenate(pos)).to(dev)
    ids = ids.to(dev)
    with torch.inference_mode(), fixed_row_gemms(model):
        hidden = model.model(input_ids=ids).last_hidden_state  # B x L x d
        # Position t-1 predicts token t: the response's predicting positions.
        h_pred = hidden[row_t, pos_t - 1]
        ent, lp, var = chunk_stats(model.lm_head, h_pred, ids[row_t, pos_t])
        if want_embedding:
            emb = torch.zeros(len(batch), hidden.shape[-1], dtype=torch.float32, device=dev)
            emb.index_add_(0, row_t, hidden[row_t, pos_t].float())
            counts = torch.tensor([e.n_resp for e in batch], dtype=torch.float32, device=dev)
            emb_rows = (emb / counts[:, None]).cpu().numpy()
    ent, lp, var = (x.cpu().numpy() for x in (ent, lp, var))
    out, start = [], 0
    for b, e in enumerate(batch):
        sl = slice(start, start + e.n_resp)
        start += e.n_resp
        vec = emb_rows[b] if want_embedding else np.zeros(0, dtype=np.float32)
        out.append(SampleStats(ent[sl], lp[sl], var[sl], vec))
    return out


def run_samples(
    model: Any,
    encoded: Sequence[Encoded],
    pad_id: int,
    batch_tokens: int,
    want_embedding: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[SampleStats]:
    """Statistics for every sample, in input order; empty responses get empty arrays.

    ``on_batch(samples, response_tokens)`` is called after each batch (progress bars).
    """
    dim = int(model.config.hidden_size)
    empty = SampleStats(*(np.zeros(0, dtype=np.float32),) * 3, np.zeros(dim, dtype=np.float32))
    results: list[SampleStats] = [empty] * len(encoded)
    live = [i for i, e in enumerate(encoded) if e.n_resp > 0]
    for batch in make_batches([len(encoded[i].ids) for i in live], batch_tokens):
        idx = [live[j] for j in batch]
        stats = run_batch(model, [encoded[i] for i in idx], pad_id, want_embedding)
        for i, st in zip(idx, stats, strict=True):
            results[i] = st
        if on_batch is not None:
            on_batch(len(idx), sum(encoded[i].n_resp for i in idx))
    if on_batch is not None and len(live) < len(encoded):
        on_batch(len(encoded) - len(live), 0)
    return results
