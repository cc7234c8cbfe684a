"""Replay table of real SFT evaluations on the demo pool (issue 15, item 2) — the logger
and the analysis; searching against the table comes once it is large enough.

``log`` evaluates subsets of the demo's rules pool with real LoRA SFT (the ``demo``
profile, dev split: the search's objective) and appends one JSON line per evaluation to
``benchmarks/data/replay_demo.jsonl`` (committed, so anyone can re-analyse or extend it;
the command that made it is this script). Subsets, in order: the full pool, the
oracle-clean subset (from the hidden labels), every operator alone at its defaults, then
random short recipes. Order: the first ``--full`` subsets at every fidelity of
``--fidelities`` (a fidelity is a share of the training compute, here of the profile's
fixed steps, :func:`autosel.evaluation.evaluator.at_fidelity`), then the other subsets at
the lower fidelities only, then ``--replicates`` training seeds at full fidelity for the
first ``--replicated`` subsets (the noise the search faces). Each entry records the
training *regime* (steps, epochs, learning rate and schedule, batch, sequence length); a
change of the ``demo`` profile starts a new table in the same file, and ``analyze`` reads
the current regime's entries only. It is resumable: an entry already in the file (same
regime, subset fingerprint, fidelity and seed) is skipped, so it can run for hours in
pieces (``--minutes`` bounds one piece), here or on a GPU machine.

``analyze`` (also run at the end of ``log``) prints, per subset, the mean dev utility at
each fidelity, the seed noise from replicates, and the Spearman rank correlation of the
lowest fidelity against full fidelity over the subsets that have both — whether cheap
screening ranks like full evaluation on this pool. ``TARGET`` lines follow the benchmark
convention; the targets are the logging floor the issue asks for (60 subsets, 15 at full
fidelity) so a short log says FAIL, honestly, until it is long enough.

Usage::

    .venv/bin/python benchmarks/replay.py log [--minutes 30] [--fidelities 0.25,1.0]
    .venv/bin/python benchmarks/replay.py analyze
    .venv/bin/python benchmarks/replay.py log --quick   # 2 subsets x 2 fidelities (~5 min)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "replay_demo.jsonl"
POOL_SEED = 0


def _target(name: str, measured: float, op: str, target: float) -> str:
    ok = measured >= target if op == ">=" else measured <= target
    return f"TARGET {name} measured={measured:.3g} target={op}{target:g} {'PASS' if ok else 'FAIL'}"


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _subsets(pool: Any, signals: Any, demo: Any, n_random: int) -> list[tuple[str, dict, Any]]:
    """``(name, recipe or reference, indices)`` in logging order (deterministic)."""
    import numpy as np

    import operators  # noqa: F401 - registers the built-in operators
    from autosel.search import RecipeSpace
    from autosel.search.strategy import rng_for

    space = RecipeSpace(pool, signals, min_size=max(1, len(pool) // 20))
    out: list[tuple[str, dict, Any]] = []
    seen: set[str] = set()

    def add(name: str, recipe: Any) -> None:
        r = space.realize(recipe)
        if r.feasible and r.fingerprint not in seen:
            seen.add(r.fingerprint)
            out.append((name, recipe.to_dict(), r.indices))

    add("full pool", space.make([]))
    clean = set(demo.clean_ids_path.read_text().split())
    idx = np.array([i for i, s in enumerate(pool.sample_ids) if s in clean], dtype=np.int64)
    out.append(("oracle-clean", {"reference": "oracle-clean", "steps": []}, idx))
    for op in space.operators:
        add(op, space.make([(op, {})]))
    rng = rng_for(POOL_SEED, "replay")
    for _ in range(50 * n_random):
        if len(out) >= 2 + len(space.operators) + n_random:
            break
        rec = space.short_recipe(rng)
        add(" → ".join(s.operator for s in rec.steps), rec)
    return out


REGIME_KEYS = ("epochs", "max_steps", "learning_rate", "lr_scheduler", "batch_size", "max_seq_len")


def current_regime() -> dict[str, Any]:
    """The ``demo`` profile's training regime (what makes two logged scores comparable)."""
    from autosel.cli.run import PROFILES

    return {k: PROFILES["demo"].get(k) for k in REGIME_KEYS}


def _plan(
    subsets: list[tuple[str, dict, Any]], fidelities: list[float], args: argparse.Namespace
) -> list[tuple[int, float, int]]:
    """``(subset index, fidelity, seed)`` in logging order (see the module docstring): the
    first ``--full`` subsets at every fidelity (so the low-vs-full rank correlation exists
    early), then the other subsets at the lower fidelities, then the replicates."""
    low = [f for f in fidelities if f < 1.0]
    n_full = min(len(subsets), args.full) if 1.0 in fidelities else 0
    out = [(i, f, 0) for i in range(n_full) for f in low]
    out += [(i, 1.0, 0) for i in range(n_full)]
    out += [(i, f, 0) for i in range(n_full, len(subsets)) for f in low]
    out += [
        (i, 1.0, seed)
        for seed in range(1, args.replicates)
        for i in range(min(n_full, args.replicated))
    ]
    return out


def log(args: argparse.Namespace) -> None:
    from autosel.settings import get_settings

    # The converted model is cached once for every piece of a long log.
    os.environ.setdefault("AUTOSEL_MODELS_CACHE", str(get_settings().models_dir))
    from autosel.cli.run import eval_spec_for
    from autosel.evaluation import EvalSpec, evaluate
    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.pool.ingest import add_pool
    from autosel.recipes.realize import pool_columns, subset_fingerprint
    from autosel.settings import Settings
    from autosel.signals import compute_signals

    fidelities = [float(x) for x in args.fidelities.split(",")]
    deadline = time.monotonic() + 60 * args.minutes
    regime = current_regime()
    done = {
        (e["fingerprint"], e["fidelity"], e["seed"])
        for e in _read(args.out)
        if e.get("regime") == regime
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home")
        demo = generate_rules_pool(root / "data", seed=POOL_SEED)
        pool = add_pool(demo.pool_path, name="demo", settings=settings).pool
        benches = {p.stem: p for p in demo.bench_paths}
        signals = compute_signals(pool, benchmarks=benches, progress=False, settings=settings)
        spec0 = EvalSpec.model_validate(eval_spec_for(benches, "demo", "smollm2", 0))
        subsets = _subsets(pool, signals, demo, args.random)
        cols = pool_columns(pool)
        if args.quick:
            subsets = subsets[:2]
        plan = _plan(subsets, fidelities, args)
        print(f"{len(subsets)} subsets, {len(plan)} evaluations planned (fidelities "
              f"{fidelities}, regime {regime}); {len(done)} logged already")
        for i, f, seed in plan:
            name, recipe, idx = subsets[i]
            fp = subset_fingerprint(cols, idx)
            if (fp, f, seed) in done:
                continue
            if time.monotonic() > deadline:
                print("time is up; run again to continue (resumable)")
                analyze(args)
                return
            spec = spec0.model_copy(update={"fidelity": f, "seed": seed})
            t0 = time.perf_counter()
            res = evaluate(list(pool.rows(idx)), spec, root / "runs" / f"{fp[:12]}-{f}-{seed}")
            entry = {
                "name": name,
                "recipe": recipe,
                "fingerprint": fp,
                "size": int(len(idx)),
                "fidelity": f,
                "seed": seed,
                "status": res.status,
                "utility": res.utility,
                "item_scores": {
                    b: [round(float(x), 4) for x in v] for b, v in res.item_scores.items()
                },
                "train_seconds": round(res.train_seconds, 1),
                "eval_seconds": round(res.eval_seconds, 1),
                "wall_seconds": round(time.perf_counter() - t0, 1),
                "profile": "demo",
                "regime": regime,
                "pool_seed": POOL_SEED,
            }
            with open(args.out, "a") as fh:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
            done.add((fp, f, seed))
            print(
                f"{name[:40]:<40} n={len(idx):>4} f={f:<5} seed={seed} "
                f"utility {res.utility if res.utility is None else round(res.utility, 4)} "
                f"({entry['wall_seconds']:.0f} s)",
                flush=True,
            )
    analyze(args)


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic) if len(a) >= 3 else float("nan")


def analyze(args: argparse.Namespace) -> None:
    regime = current_regime()
    every = _read(args.out)
    entries = [e for e in every if e["status"] == "succeeded" and e.get("regime") == regime]
    if len(entries) < len(every):
        print(f"{len(every) - len(entries)} entries of {args.out.name} are failed runs or "
              f"another training regime (not the demo profile's {regime}): left out")
    by: dict[str, dict[float, list[float]]] = {}
    names: dict[str, str] = {}
    for e in entries:
        by.setdefault(e["fingerprint"], {}).setdefault(e["fidelity"], []).append(e["utility"])
        names[e["fingerprint"]] = e["name"]
    fids = sorted({f for d in by.values() for f in d})
    print(f"\n{len(entries)} evaluations, {len(by)} subsets, fidelities {fids}")
    print(f"{'subset':<40} " + " ".join(f"f={f:<8}" for f in fids))
    for fp, d in by.items():
        cells = [
            f"{statistics.mean(d[f]):<10.4f}" if f in d else f"{'-':<10}" for f in fids
        ]
        print(f"{names[fp][:40]:<40} " + " ".join(cells))
    reps = [d[1.0] for d in by.values() if len(d.get(1.0, [])) >= 2]
    if reps:
        pooled = statistics.mean(statistics.variance(r) for r in reps) ** 0.5
        print(f"training-seed SD at full fidelity (pooled over {len(reps)} subsets): {pooled:.4f}")
    low = fids[0] if fids else 1.0
    both = [(statistics.mean(d[low]), statistics.mean(d[1.0])) for d in by.values() if low in d and 1.0 in d]
    rho = _spearman([a for a, _ in both], [b for _, b in both]) if low < 1.0 else float("nan")
    print(f"Spearman rank correlation f={low} vs full over {len(both)} subsets: {rho:.3f}")
    full_n = sum(1 for d in by.values() if 1.0 in d)
    print(_target("replay_subsets_logged", len(by), ">=", 60))
    print(_target("replay_subsets_at_full_fidelity", full_n, ">=", 15))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["log", "analyze"])
    ap.add_argument("--out", type=Path, default=DATA)
    ap.add_argument("--fidelities", default="0.25,1.0")
    ap.add_argument("--replicates", type=int, default=2, help="Training seeds at full fidelity.")
    ap.add_argument("--full", type=int, default=20, help="Subsets also logged at full fidelity.")
    ap.add_argument("--replicated", type=int, default=8,
                    help="Of those, how many get --replicates training seeds.")
    ap.add_argument("--random", type=int, default=40, help="Random short recipes to add.")
    ap.add_argument("--minutes", type=float, default=600.0, help="Stop (resumably) after this.")
    ap.add_argument("--quick", action="store_true", help="The first 2 subsets only.")
    args = ap.parse_args()
    (log if args.mode == "log" else analyze)(args)


if __name__ == "__main__":
    sys.exit(main())
