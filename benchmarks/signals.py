"""Signals benchmark: model-pass throughput vs a naive baseline, and MinHash vs datasketch.

Usage: ``python benchmarks/signals.py [--quick] [--minhash-only] [--baseline-n N]``. Every
ratio compares variants measured in this run on this machine. Each model variant runs in
its own subprocess so its peak RSS is its own (``ru_maxrss``); the timed part is the pass
over already tokenised samples. ``--quick``: 12 samples for the model, the medium demo pool
(10k samples) for MinHash; otherwise 400 and the large demo pool (100k samples).

Variants (same samples of the demo pool, same response tokens):

- ``naive``: batches of 8 in pool order padded to the longest, fp32, full logits for every
  position, full-vocabulary ``log_softmax`` materialised, statistics at response positions.
- ``fast``: :func:`autosel.signals.model_pass.run_samples` (bf16 forward, length buckets,
  head on response positions only, chunked fp32 statistics).
- ``ceiling``: the same batches and dtype as ``fast``, forward + head on response positions,
  no statistics: what a pass costs with entropy for free.
- ``peer`` (:func:`_peer`): one sample at a time in bf16, the way OpenDataArena's
  ``HESScorer`` scores (a plain per-sample loop written here, not their code): the whole
  sequence through the model with its head, logits of the response-predicting positions
  to fp32, ``log_softmax``, entropy. Timed against ``fast`` (default CPU batch budget) in
  one process, alternating, best of 2 rounds each, on *short* samples (the demo pool) and
  on *long* ones (demo responses joined to ~1,500 tokens). ``fast`` also computes log-prob,
  varentropy and the embedding, which the peer does not.

MinHash (:func:`bench_minhash`): our signatures + LSH clusters at every threshold against
datasketch's per-shingle ``MinHash.update`` loop and ``MinHash.bulk`` (same shingles, then
``MinHashLSH``), in CPU seconds (wall seconds printed beside them: on a shared machine wall
time also counts the time other processes held the core). The baselines run on at most
``--baseline-n`` samples (default 10,000, 5,000 with ``--quick``: the loop takes ~1 ms a
sample); on a larger pool they run on a seeded random subset, ours on the whole pool, and
the ratios compare CPU seconds per sample (stated in the output). Clusters are checked identical on the samples
both ran on.

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

    from autosel.signals.model_pass import make_batches, padded_width

    live = [e for e in enc if e.n_resp > 0]
    tokens = 0
    for batch in make_batches([len(e.ids) for e in live], batch_tokens):
        group = [live[i] for i in batch]
        width = padded_width(len(group[0].ids))  # the widths run_samples pads to
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


def _peer(model, enc) -> int:
    """One sample at a time, full head over every position, fp32 ``log_softmax`` of the
    response-predicting positions, entropy (the per-sample loop HES scorers use)."""
    import torch

    tokens = 0
    for e in enc:
        if e.n_resp == 0:
            continue
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([e.ids])).logits[0]
            logp = torch.log_softmax(logits[e.resp_start - 1 : len(e.ids) - 1].float(), dim=-1)
            _ = (-(logp.exp() * logp).sum(-1)).numpy()
        tokens += e.n_resp
    return tokens


def _long_texts(
    prompts: list[list[dict[str, str]]], responses: list[str], n: int, tokens: int, tok
) -> tuple[list[list[dict[str, str]]], list[str]]:
    """``n`` long samples: each joins consecutive demo responses until ~``tokens`` tokens."""
    out_p, out_r, i = [], [], 0
    for _ in range(n):
        parts: list[str] = []
        while len(tok(" ".join(parts))["input_ids"]) < tokens:
            parts.append(responses[i % len(responses)])
            i += 1
        out_p.append(prompts[i % len(prompts)])
        out_r.append(" ".join(parts))
    return out_p, out_r


def run_peer(n: int, kind: str, workdir: Path) -> dict[str, float]:
    """``fast`` vs the per-sample ``peer`` loop on short or long samples (one process,
    alternating, best of 2 rounds each; wall seconds)."""
    import torch

    from autosel.base_model import load_model
    from autosel.signals.compute import default_batch_tokens
    from autosel.signals.model_pass import encode, run_samples

    prompts, responses = _demo_texts("small", workdir)
    model, tok = load_model("smollm2", device="cpu", dtype="bf16")
    if kind == "long":
        prompts, responses = _long_texts(prompts, responses, n, LONG_TOKENS, tok)
    enc = encode(tok, prompts[:n], responses[:n], 2048)
    budget = default_batch_tokens("cpu")
    torch.manual_seed(0)
    run_samples(model, enc[:2], tok.pad_token_id, budget)  # first-call overheads
    _peer(model, enc[:2])
    best = {"fast": float("inf"), "peer": float("inf")}
    tokens = 0
    for _ in range(2):
        for v in ("fast", "peer"):
            t = time.perf_counter()
            if v == "fast":
                got = run_samples(model, enc, tok.pad_token_id, budget)
                tokens = sum(len(x.entropy) for x in got)
            else:
                _peer(model, enc)
            best[v] = min(best[v], time.perf_counter() - t)
    return {
        "tokens": tokens,
        "mean_len": sum(len(e.ids) for e in enc) / len(enc),
        "fast_s": best["fast"],
        "peer_s": best["peer"],
        "budget": budget,
    }


def run_budgets(n: int, workdir: Path) -> dict[str, float]:
    """``fast`` at several batch budgets on the short samples (best of 2, wall seconds):
    what the CPU default in ``autosel.signals.compute.DEFAULT_BATCH_TOKENS`` rests on."""
    from autosel.base_model import load_model
    from autosel.signals.model_pass import encode, run_samples

    prompts, responses = _demo_texts("small", workdir)
    model, tok = load_model("smollm2", device="cpu", dtype="bf16")
    enc = encode(tok, prompts[:n], responses[:n], 2048)
    run_samples(model, enc[:2], tok.pad_token_id, 2048)
    out: dict[str, float] = {}
    for _ in range(2):
        for b in BUDGETS:
            t = time.perf_counter()
            run_samples(model, enc, tok.pad_token_id, b)
            out[str(b)] = min(out.get(str(b), float("inf")), time.perf_counter() - t)
    return out


LONG_TOKENS = 1500
BUDGETS = (1, 512, 2048, 8192)


def run_variant(variant: str, n: int, workdir: Path) -> dict[str, float]:
    """Run one model variant (called in a subprocess)."""
    import torch

    from autosel.base_model import load_model
    from autosel.signals.compute import default_batch_tokens
    from autosel.signals.model_pass import encode, run_samples

    if variant in ("peer_short", "peer_long"):
        return run_peer(n, variant.removeprefix("peer_"), workdir)
    if variant == "budgets":
        return run_budgets(n, workdir)
    budget = default_batch_tokens("cpu")
    prompts, responses = _demo_texts("small", workdir)
    model, tok = load_model("smollm2", device="cpu", dtype="fp32" if variant == "naive" else "bf16")
    enc = encode(tok, prompts[:n], responses[:n], 2048)
    torch.manual_seed(0)
    warm = enc[:4]  # first-call overheads (kernels, allocator) out of the timing
    (
        _naive(model, warm, tok.pad_token_id)
        if variant == "naive"
        else run_samples(model, warm, tok.pad_token_id, budget)
    )
    t = time.perf_counter()
    if variant == "naive":
        tokens = _naive(model, enc, tok.pad_token_id)
    elif variant == "fast":
        tokens = sum(len(s.entropy) for s in run_samples(model, enc, tok.pad_token_id, budget))
    else:
        tokens = _ceiling(model, enc, tok.pad_token_id, budget)
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


def bench_minhash(size: str, workdir: Path, baseline_n: int | None = None) -> dict[str, float]:
    """MinHash signatures + LSH clusters at every threshold: ours vs datasketch.

    Ours runs on the whole pool. The datasketch baselines (per-shingle ``update`` loop and
    ``MinHash.bulk``) run on all of it, or, when ``baseline_n`` is smaller than the pool, on
    a random subset of ``baseline_n`` samples (seeded): the loop takes ~1 ms a sample, so
    100k samples would take minutes. Ratios are then of per-sample CPU rates, ours on the
    whole pool against the baseline on the subset (conservative for ours: LSH cost grows
    faster than linearly with the pool, and the baselines are spared that growth); ours
    is also timed on the subset, where the clusters are checked identical. Times are CPU
    seconds (``process_time``); wall seconds are reported beside them.
    """
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

    def ours(sample: list[str]) -> tuple[dict[float, np.ndarray], float, float]:
        t, c = time.perf_counter(), time.process_time()
        out = minhash.lsh_clusters_all(minhash.signatures(sample, params), params.thresholds)
        return out, time.process_time() - c, time.perf_counter() - t

    res: dict[str, float] = {"n": len(texts)}
    full, res["ours_s"], res["ours_wall_s"] = ours(texts)
    sub = texts
    if baseline_n is not None and baseline_n < len(texts):
        pick = np.sort(np.random.default_rng(0).choice(len(texts), baseline_n, replace=False))
        sub = [texts[i] for i in pick.tolist()]
        ref_ours, res["ours_sub_s"], res["ours_sub_wall_s"] = ours(sub)
    else:
        ref_ours, res["ours_sub_s"], res["ours_sub_wall_s"] = (
            full,
            res["ours_s"],
            res["ours_wall_s"],
        )
    res["n_baseline"] = len(sub)
    for mode in ("bulk", "loop"):
        t, c = time.perf_counter(), time.process_time()
        ref = minhash.datasketch_clusters(sub, params, params.thresholds, mode=mode)
        res[f"{mode}_s"] = time.process_time() - c
        res[f"{mode}_wall_s"] = time.perf_counter() - t
        res[f"{mode}_identical"] = all(
            np.array_equal(ref_ours[x], ref[x]) for x in params.thresholds
        )
        # CPU seconds per sample, baseline over ours (ours on the whole pool)
        res[f"{mode}_ratio"] = (res[f"{mode}_s"] / len(sub)) / (res["ours_s"] / len(texts))
        res[f"{mode}_wall_ratio"] = (res[f"{mode}_wall_s"] / len(sub)) / (
            res["ours_wall_s"] / len(texts)
        )
    return res


BASELINE_N = 10_000  # the datasketch loop costs ~1 ms a sample: 100k would take minutes
BASELINE_N_QUICK = 5_000  # keeps --quick (model pass included) under 3 minutes


def _target(name: str, value: float, op: str, goal: float) -> str:
    ok = value >= goal if op == ">=" else value <= goal
    return f"TARGET {name} measured={value:.3g} target={op}{goal:g} {'PASS' if ok else 'FAIL'}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (< 3 minutes)")
    ap.add_argument(
        "--minhash-only", action="store_true", help="skip the model variants (no model pass)"
    )
    ap.add_argument(
        "--baseline-n",
        type=int,
        default=None,
        help=f"samples the datasketch baselines run on (default {BASELINE_N:,}; "
        f"{BASELINE_N_QUICK:,} with --quick)",
    )
    ap.add_argument(
        "--budgets", action="store_true", help="also time the pass at several batch budgets"
    )
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.n, args.workdir)))
        return
    workdir = Path(tempfile.mkdtemp(prefix="autosel-bench-signals-"))
    n = 12 if args.quick else 400  # quick: the fp32 naive pass takes ~5 s a sample here
    size = "medium" if args.quick else "large"
    lines = []
    if not args.minhash_only:
        from autosel.base_model import resolve_model

        resolve_model("smollm2")  # convert once, outside every timing
        model = {v: _subprocess(v, n, workdir) for v in ("naive", "fast", "ceiling")}
        for v, r in model.items():
            print(
                f"model {v:8s} {r['tokens']:7d} resp tokens {r['tok_s']:8.1f} tok/s "
                f"peak RSS {r['peak_rss_mb']:7.0f} MiB"
            )
        fast, naive = model["fast"], model["naive"]
        n_short, n_long = (16, 2) if args.quick else (96, 8)
        for kind, k in (("short", n_short), ("long", n_long)):
            r = _subprocess(f"peer_{kind}", k, workdir)
            ratio = r["peer_s"] / r["fast_s"]
            print(
                f"peer {kind:5s}: {k} samples, mean {r['mean_len']:.0f} tokens, "
                f"{r['tokens']} resp tokens; autosel {r['fast_s']:.2f} s (batch budget "
                f"{r['budget']:.0f}), one-at-a-time bf16 loop {r['peer_s']:.2f} s: {ratio:.2f}x"
            )
            lines.append(_target(f"model_speedup_vs_per_sample_{kind}", ratio, ">=", 1.2))
        if args.budgets:
            b = _subprocess("budgets", 48, workdir)
            print(
                "batch budget sweep (48 short samples, best of 2 s): "
                + ", ".join(f"{k} tokens {v:.2f} s" for k, v in b.items())
            )
        lines += [
            _target("model_speedup_vs_naive", fast["tok_s"] / naive["tok_s"], ">=", 2.5),
            _target(
                "forward_ceiling_fraction", fast["tok_s"] / model["ceiling"]["tok_s"], ">=", 0.8
            ),
            _target("peak_rss_vs_naive", fast["peak_rss_mb"] / naive["peak_rss_mb"], "<=", 1.0),
        ]
    baseline_n = args.baseline_n or (BASELINE_N_QUICK if args.quick else BASELINE_N)
    mh = bench_minhash(size, workdir, baseline_n)
    print(
        f"minhash ours: {mh['n']:,} samples in {mh['ours_s']:.2f} s CPU ({mh['ours_wall_s']:.2f} s"
        f" wall), {mh['ours_s'] / mh['n'] * 1e3:.3f} ms a sample"
    )
    if mh["n_baseline"] < mh["n"]:
        print(
            f"datasketch baselines on a random {mh['n_baseline']:,}-sample subset (seed 0); "
            f"ours on that subset: {mh['ours_sub_s']:.2f} s CPU; ratios below are of CPU "
            "seconds per sample, ours on the whole pool"
        )
    for mode, what in (("loop", "per-shingle update loop"), ("bulk", "MinHash.bulk")):
        print(
            f"datasketch {what}: {mh[f'{mode}_s']:.2f} s CPU ({mh[f'{mode}_wall_s']:.2f} s wall),"
            f" {mh[f'{mode}_s'] / mh['n_baseline'] * 1e3:.3f} ms a sample; ours "
            f"{mh[f'{mode}_ratio']:.1f}x faster (wall-time ratio {mh[f'{mode}_wall_ratio']:.1f}x)"
        )
    lines += [
        _target("minhash_speedup_vs_loop", mh["loop_ratio"], ">=", 15),
        _target("minhash_vs_bulk", mh["bulk_ratio"], ">=", 1.0),
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
