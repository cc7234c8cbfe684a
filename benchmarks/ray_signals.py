"""Model pass on Ray (2 actors) versus the local loop, same pool, same run.

Usage: ``.venv/bin/python benchmarks/ray_signals.py [--quick] [--rows 96] [--shard 16]``

The first ``--rows`` samples of the small demo pool, in shards of ``--shard`` rows, with
the embedded SmolLM2 (bf16 on CPU). Three runs, each into a fresh ``AUTOSEL_HOME`` with the
model-free groups computed beforehand, so only the model pass is timed:

- local, torch's default thread count (all cores);
- local, one torch thread (what one actor does);
- Ray: a local instance with 2 CPUs, 2 actors of 1 CPU each, including Ray's start and
  the actors' model load (every timing includes loading the model).

Reported: wall times and their ratios to the default local run. The one target: the Ray
values equal the one-thread local values bitwise (same shards, batches and thread count).
No speed target: on a 2-core machine Ray cannot beat the local loop, which already uses
both cores; the point is the executor, not the speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=96)
    ap.add_argument("--shard", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="32 rows in shards of 8")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.shard = 32, 8
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.pop("RAY_ADDRESS", None)

    import numpy as np
    import torch

    from autosel.base_model import resolve_model
    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool
    from autosel.settings import Settings
    from autosel.signals import compute as compute_mod
    from autosel.signals import compute_signals
    from autosel.signals.ray_exec import RayExecutor

    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    demo = generate_demo_pool(root / "demo", size="small", seed=0)
    pool_file = root / "pool.jsonl"
    pool_file.write_text("\n".join(demo.pool_path.read_text().splitlines()[: args.rows]) + "\n")
    resolve_model("smollm2")  # convert once, outside the timings
    compute_mod.ROWS_PER_SHARD = args.shard
    default_threads = torch.get_num_threads()

    def run(name: str, threads: int, executor: object) -> tuple[float, object]:
        settings = Settings(home=root / name)
        pool = add_pool(pool_file, settings=settings).pool
        compute_signals(pool, model=None, settings=settings, progress=False)
        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        sig = compute_signals(pool, settings=settings, progress=False, executor=executor)
        return time.perf_counter() - t0, sig

    local_s, _ = run("local", default_threads, "local")
    one_s, one = run("local-1-thread", 1, "local")
    ray_s, on_ray = run("ray", 1, RayExecutor(actors=2, cpus_per_actor=1, num_cpus=2))
    same = all(
        np.array_equal(one.ragged(n)[0], on_ray.ragged(n)[0])  # type: ignore[attr-defined]
        for n in ("token_entropy", "token_logprob", "token_varentropy")
    ) and np.array_equal(one.embeddings(), on_ray.embeddings())  # type: ignore[attr-defined]
    report = {
        "rows": args.rows,
        "shards": -(-args.rows // args.shard),
        "cpu_cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        f"local_{default_threads}_threads_s": round(local_s, 1),
        "local_1_thread_s": round(one_s, 1),
        "ray_2_actors_s": round(ray_s, 1),
        "ray_over_local": round(ray_s / local_s, 2),
        "local_1_thread_over_local": round(one_s / local_s, 2),
        "ray_equals_local_1_thread_bitwise": bool(same),
    }
    print(json.dumps(report, indent=2))
    print(
        f"TARGET ray_values_equal_local measured={same} target==True {'PASS' if same else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
