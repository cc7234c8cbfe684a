"""Signals benchmark: model-pass throughput vs a naive baseline, and MinHash vs datasketch.

Usage: ``python benchmarks/signals.py [--quick]``. Every ratio compares variants measured in
this run on this machine. Each model variant runs in its own subprocess so its peak RSS is
its own (``ru_maxrss``); the timed part is the pass over already tokenised samples.

Variants (same samples of the demo pool, same response tokens):

- ``naive``: batches of 8 in pool order padded to the longest, fp32, full logits for every
  position, full-vocabulary ``log_softmax`` materialised, statistics at response positions.
- ``fast``: :func:`autosel.signals.model_pass.run_samples` (bf16 forward, length buckets,
  head on response positions only, chunked fp32 statistics).
- ``ceiling``: the same batches and dtype as ``fast``, forward + head on response positions,
  no statistics: what a pass costs with entropy for free.

Ends with ``TARGET <name> measured=<v> target=<op><v> PASS|FAIL`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _demo_texts(size: str, workdir: Path) -> tuple[list[list[dict[str, str]]], list[str]]:
    from autosel.pool.demo import generate_demo_pool

    out = workdir / f"demo-{size}"
    if not (out / "pool.jsonl").is_file():
        generate_demo_pool(out, size=size, seed=0)
    prompts, responses = [], []
    with open(out / "pool.jsonl") as f:
        for line in f:
            msgs = json.loads(line)["messages"]
            prompts.append([m for m in msgs[:-1]])
            responses.append(msgs[-1]["content"])
    return prompts, responses


def _naive(model, enc, pad_id: int, batch: int = 8) -> int:
    import torch

    tokens = 0
    for s in range(0, len(enc), batch):
        group = [e for e in enc[s : s + batch] if e.n_resp > 0]
        if not group:
            continue
        width = max(len(e.ids) for e in group)
        ids = torch.full((len(group), width), pad_id)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for b, e in enumerate(group):
            ids[b, : len(e.ids)] = torch.tensor(e.ids)
            mask[b, : len(e.ids)] = 1
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits, dim=-1)
            p = logp.exp()
            ent = -(p * logp).sum(-1)
            var = (p * logp * logp).sum(-1) - ent**2
        for b, e in enumerate(group):
            sl = slice(e.resp_start - 1, len(e.ids) - 1)
            _ = (
                ent[b, sl].numpy(),
                var[b, sl].numpy(),
                logp[b, sl].gather(1, ids[b, e.resp_start : len(e.ids)][:, None]).numpy(),
            )
            tokens += e.n_resp
    return tokens


def _ceiling(model, enc, pad_id: int, batch_tokens: int) -> int:
    import numpy as np
    import torch

    from autosel.signals.model_pass import make_batches

    live = [e for e in enc if e.n_resp > 0]
    tokens = 0
    for batch in make_batches([len(e.ids) for e in live], batch_tokens):
        group = [live[i] for i in batch]
        width = max(len(e.ids) for e in group)
        ids = torch.full((len(group), width), pad_id)
        rows, pos = [], []
        for b, e in enumerate(group):
            ids[b, : len(e.ids)] = torch.tensor(e.ids)
            rows.append(np.full(e.n_resp, b))
            pos.append(np.arange(e.resp_start - 1, len(e.ids) - 1))
        with torch.inference_mode():
            h = model.model(input_ids=ids).last_hidden_state
            sel = h[torch.from_numpy(np.concatenate(rows)), torch.from_numpy(np.concatenate(pos))]
            for s in range(0, sel.shape[0], 256):
                model.lm_head(sel[s : s + 256]).float()
        tokens += sum(e.n_resp for e in group)
    return tokens


def run_variant(variant: str, n: int, workdir: Path) -> dict[str, float]:
    """Run one model variant (called in a subprocess)."""
    import torch

    from autosel.models import load_model
    from autosel.signals.model_pass import encode, run_samples

    prompts, responses = _demo_texts("small", workdir)
    model, tok = load_model("smollm2", device="cpu", dtype="fp32" if variant == "naive" else "bf16")
    enc = encode(tok, prompts[:n], responses[:n], 2048)
    torch.manual_seed(0)
    warm = enc[:4]  # first-call overheads (kernels, allocator) out of the timing
    (
        _naive(model, warm, tok.pad_token_id)
        if variant == "naive"
        else run_samples(model, warm, tok.pad_token_id, 8192)
    )
    t = time.perf_counter()
    if variant == "naive":
        tokens = _naive(model, enc, tok.pad_token_id)
    elif variant == "fast":
        tokens = sum(len(s.entropy) for s in run_samples(model, enc, tok.pad_token_id, 8192))
    else:
        tokens = _ceiling(model, enc, tok.pad_token_id, 8192)
    seconds = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds, "peak_rss_mb": rss_mb}


def _subprocess(variant: str, n: int, workdir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--variant", variant, "--n", str(n), "--workdir", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_minhash(size: str, workdir: Path) -> dict[str, float]:
    import numpy as np

    from autosel.signals import minhash
    from autosel.signals.params import MinHashParams

    prompts, responses = _demo_texts(size, workdir)
    texts = [
        "\n".join(m["content"] for m in p) + "\n" + r
        for p, r in zip(prompts, responses, strict=True)
    ]
    params = MinHashParams()
    minhash.lsh_clusters_all(minhash.signatures(texts[:50], params), params.thresholds)  # warm
    t = time.perf_counter()
    ours = minhash.lsh_clusters_all(minhash.signatures(texts, params), params.thresholds)
    t_ours = time.perf_counter() - t
    res = {"n": len(texts), "ours_s": t_ours}
    for mode in ("bulk", "loop"):
        t = time.perf_counter()
        ref = minhash.datasketch_clusters(texts, params, params.thresholds, mode=mode)
        res[f"{mode}_s"] = time.perf_counter() - t
        res[f"{mode}_identical"] = all(np.array_equal(ours[x], ref[x]) for x in params.thresholds)
    return res


def _target(name: str, value: float, op: str, goal: float) -> str:
    ok = value >= goal if op == ">=" else value <= goal
    return f"TARGET {name} measured={value:.3g} target={op}{goal:g} {'PASS' if ok else 'FAIL'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (< 3 minutes)")
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.n, args.workdir)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="autosel-bench-signals-"))
    n = 32 if args.quick else 400
    size = "medium" if args.quick else "large"
    from autosel.models import resolve_model

    resolve_model("smollm2")  # convert once, outside every timing
    model = {v: _subprocess(v, n, workdir) for v in ("naive", "fast", "ceiling")}
    for v, r in model.items():
        print(
            f"model {v:8s} {r['tokens']:7d} resp tokens {r['tok_s']:8.1f} tok/s "
            f"peak RSS {r['peak_rss_mb']:7.0f} MiB"
        )
    mh = bench_minhash(size, workdir)
    print(
        f"minhash n={mh['n']}: ours {mh['ours_s']:.2f} s, datasketch bulk {mh['bulk_s']:.2f} s, "
        f"loop {mh['loop_s']:.2f} s"
    )
    lines = [
        _target(
            "model_speedup_vs_naive", model["fast"]["tok_s"] / model["naive"]["tok_s"], ">=", 2.5
        ),
        _target(
            "forward_ceiling_fraction",
            model["fast"]["tok_s"] / model["ceiling"]["tok_s"],
            ">=",
            0.8,
        ),
        _target(
            "peak_rss_vs_naive",
            model["fast"]["peak_rss_mb"] / model["naive"]["peak_rss_mb"],
            "<=",
            1.0,
        ),
        _target("minhash_speedup_vs_loop", mh["loop_s"] / mh["ours_s"], ">=", 15),
        _target("minhash_vs_bulk", mh["bulk_s"] / mh["ours_s"], ">=", 1.0),
        _target(
            "minhash_clusters_identical",
            float(mh["loop_identical"] and mh["bulk_identical"]),
            ">=",
            1.0,
        ),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
