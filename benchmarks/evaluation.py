"""Evaluation speed against plain baselines measured in the same run.

Usage: ``.venv/bin/python benchmarks/evaluation.py [--quick] [--device cpu|cuda]``

1. SFT training tokens/s: our path (TRL ``SFTTrainer`` + PEFT LoRA, as ``evaluate`` runs
   it) against a plain PyTorch loop (AdamW, same LoRA model and seed, the very same
   tokenised batches from the trainer's own collator). Target: ours >= 0.9x the loop —
   the trainer's convenience must not cost speed.
2. Benchmark-harness log-likelihood scoring, items/s: batched ``score_loglik`` against
   one request at a time over the same multiple-choice items. Target: >= 3x.

Runs alternate (loop, trainer, loop, trainer; single, batched, ...) and the best of each
is kept, so a noisy neighbour on a shared machine hurts both sides alike.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def _rows(demo: Path, n: int) -> list[dict[str, Any]]:
    import json

    rows = []
    with open(demo / "pool.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            msgs = rec["messages"]
            rows.append({"prompt": msgs[:-1], "response": msgs[-1]["content"]})
            if len(rows) == n:
                break
    return rows


def _plain_loop(
    spec: Any, rows: list[dict[str, Any]], device: str, work: Path
) -> tuple[int, float]:
    """The same LoRA model trained by hand on the trainer's own batches: (tokens, seconds)."""
    import torch

    from autosel.evaluation import sft

    model, tok = sft.load_for_training(spec, device)
    trainer = sft.build_trainer(model, tok, rows, spec, work, device)  # only for data + collator
    loader = trainer.get_train_dataloader()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    tokens, t0 = 0, time.perf_counter()
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        loss = model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
            use_cache=False,
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, spec.max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return tokens, time.perf_counter() - t0


def _sft_path(spec: Any, rows: list[dict[str, Any]], device: str, work: Path) -> tuple[int, float]:
    from autosel.evaluation import sft

    model, tok = sft.load_for_training(spec, device)
    res = sft.train(model, tok, rows, spec, work, device)
    if res.failure_reason:
        raise SystemExit(f"training failed: {res.failure_reason}")
    return res.train_tokens, res.seconds


def bench_sft(demo: Path, n_rows: int, repeats: int, device: str) -> float:
    from autosel.evaluation import EvalSpec

    spec = EvalSpec(max_seq_len=256, device=device, precision="auto")
    rows = _rows(demo, n_rows)
    best = {"loop": 0.0, "sft": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            for name, fn in (("loop", _plain_loop), ("sft", _sft_path)):
                tokens, secs = fn(spec, rows, device, Path(tmp) / f"{name}{r}")
                print(
                    f"  sft  {name:5s} run {r}: {tokens} tokens in {secs:.1f}s "
                    f"= {tokens / secs:.1f} tok/s",
                    flush=True,
                )
                best[name] = max(best[name], tokens / secs)
    return best["sft"] / best["loop"]


def bench_loglik(demo: Path, n_items: int, repeats: int, device: str) -> float:
    from autosel.base_model import load_model
    from autosel.bench.load import item_messages
    from autosel.evaluation import load_benchmark
    from autosel.evaluation.harness import render_prompt
    from autosel.evaluation.loglik import score_loglik

    model, tok = load_model("smollm2", device=device, dtype="fp32" if device == "cpu" else None)
    items = []
    for path in sorted((demo / "bench").glob("*.jsonl")):
        items += load_benchmark(path, limit=max(1, n_items // 4)).items
    reqs = [(render_prompt(tok, item_messages(it)), c) for it in items for c in it.choices or ()]
    score_loglik(model, tok, reqs[:8], batch_size=8)  # warm-up: first-call allocations
    best = {1: 0.0, 32: 0.0}
    for r in range(repeats):
        for bs in (1, 32):
            t0 = time.perf_counter()
            # The baseline is lm-eval's naive loop: one request per forward, nothing shared.
            score_loglik(model, tok, reqs, batch_size=bs, share_context=bs > 1)
            secs = time.perf_counter() - t0
            print(
                f"  loglik batch={bs:<3d} run {r}: {len(items)} items ({len(reqs)} requests) in "
                f"{secs:.1f}s = {len(items) / secs:.1f} items/s",
                flush=True,
            )
            best[bs] = max(best[bs], len(items) / secs)
    return best[32] / best[1]


def _target(name: str, measured: float, target: float) -> None:
    verdict = "PASS" if measured >= target else "FAIL"
    print(f"TARGET {name} measured={measured:.2f} target=>={target:g} {verdict}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, within ~3 minutes on 2 CPU cores"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args()

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from autosel.base_model import pick_device, resolve_model
    from autosel.pool.demo import generate_demo_pool

    device = pick_device(args.device)
    resolve_model("smollm2")  # convert once, outside every timing
    demo = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    generate_demo_pool(demo, size="small", seed=0)
    n_rows, n_items, repeats = (16, 32, 2) if args.quick else (96, 120, 2)
    print(
        f"device={device} threads={torch.get_num_threads()} rows={n_rows} items={n_items}",
        flush=True,
    )
    loglik_ratio = bench_loglik(demo, n_items, repeats, device)
    sft_ratio = bench_sft(demo, n_rows, repeats, device)
    _target("sft_tokens_per_s_vs_plain_loop", sft_ratio, 0.9)
    _target("loglik_batched_vs_single", loglik_ratio, 3.0)


if __name__ == "__main__":
    main()
