"""Search quality on the demo, measured on the test split with real LoRA SFT (CPU).

Usage: ``.venv/bin/python benchmarks/search_quality.py [--quick] [--seeds 0,1,2]``

Full mode runs the default demo (``autosel demo --no-serve``: the rules pool, SmolLM2
signals, a GP search on dev, then the final report that re-trains the best recipe, the
full pool, random subsets of the best's size and the oracle-clean subset with fresh seeds
and scores them on the test split) once per seed, each in a fresh ``AUTOSEL_HOME`` (the
converted model cache is shared, so the one-time GGUF conversion is paid once), and reads
each search's final report from its store. Per seed it prints the test utility of
best / full / random / oracle with SEs and every difference with its 95% CI.

Targets (issue 14):

- ``oracle_minus_full_se``: the median over seeds of (oracle − full) / SE of the
  difference (SE from items, bootstrapped, and training-seed replicates) ≥ 3 — the demo is
  a regime where the data choice matters;
- ``best_beats_full_and_random_seeds``: in how many seeds the searched recipe's CI is
  above 0 against both the full pool and random subsets (≥ 2 of 3);
- ``demo_minutes``: the slowest seed's wall time of ``autosel demo`` (≤ 25).

``--quick`` (≤ 10 minutes, for CI): one seed, no search: trains the full pool and the
oracle-clean subset once each (one epoch, the demo profile), scores both on the test
split and checks only the direction (oracle > full on test), with the item-only z shown
for information (one replicate measures no seed noise).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def _target(name: str, measured: float, op: str, target: float) -> str:
    ok = measured >= target if op == ">=" else measured <= target if op == "<=" else measured > target
    return f"TARGET {name} measured={measured:.3g} target={op}{target:g} {'PASS' if ok else 'FAIL'}"


def _report(home: Path) -> dict[str, Any]:
    from autosel.service import search_report
    from autosel.settings import Settings
    from autosel.store import open_store

    store = open_store(settings=Settings(home=home))
    (search,) = store.searches()
    return search_report(store, search.id)


def _comparison(report: dict[str, Any], key: str) -> dict[str, Any] | None:
    return next((c for c in report["comparisons"] if c["key"] == key), None)


def run_seed(seed: int, models_cache: Path, keep: Path | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix=f"sq-{seed}-", dir=keep))
    env = {**os.environ, "AUTOSEL_HOME": str(home), "AUTOSEL_MODELS_CACHE": str(models_cache)}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(BIN / "autosel"), "demo", "--no-serve", "--seed", str(seed), "--port", "0"],
        env=env, capture_output=True, text=True, cwd=ROOT,
    )
    minutes = (time.perf_counter() - t0) / 60
    (home / "demo.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed}: autosel demo failed (exit {proc.returncode}); log: "
                         f"{home / 'demo.log'}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    out = _report(home)
    if out["status"] != "complete":
        raise SystemExit(f"seed {seed}: no final report ({out['status']}: {out['message']})")
    res = {"seed": seed, "minutes": minutes, "report": out["report"], "home": str(home)}
    (home / "result.json").write_text(json.dumps(res))
    return res


def reused(keep: Path | None, seed: int) -> dict[str, Any] | None:
    """A finished seed's result from an earlier run kept under ``keep`` (``--reuse``)."""
    for path in sorted(keep.glob(f"sq-{seed}-*/result.json")) if keep else []:
        res = json.loads(path.read_text())
        if res.get("seed") == seed:
            print(f"seed {seed}: reusing {path.parent} (autosel demo {res['minutes']:.1f} min)")
            return res
    return None


def show_seed(res: dict[str, Any]) -> tuple[float | None, bool]:
    rep = res["report"]
    from autosel.cli.search import recipe_summary

    best = rep["best"] or {}
    dev = best.get("dev_score")
    print(f"\nseed {res['seed']}: autosel demo {res['minutes']:.1f} min; best recipe "
          f"(dev {dev if dev is None else round(dev, 3)}): "
          f"{recipe_summary(best['recipe']) if best.get('recipe') else 'none'}")
    for arm in rep["arms"]:
        util, se = arm.get("test_utility"), arm.get("test_se")
        shown = f"{util:.3f} ± {se:.3f}" if util is not None and se is not None else "n/a"
        print(f"  test {arm['name']:<14} size {arm['size']!s:>4}  reps {arm['replicates']}  "
              f"utility {shown}")
    for c in rep["comparisons"]:
        print(f"  {c['sentence']}")
    if rep.get("flat_warning"):
        print(f"  warning: {rep['flat_warning']}")
    oracle = _comparison(rep, "oracle-clean-full")
    z = oracle["z"] if oracle and oracle.get("z") is not None else None
    vs_full, vs_random = _comparison(rep, "best-full"), _comparison(rep, "best-random")
    beats = all(c is not None and c.get("lo") is not None and c["lo"] > 0
                for c in (vs_full, vs_random))
    return z, beats


def quick(seed: int, models_cache: Path) -> None:
    """Full pool vs oracle-clean, one training seed each, scored on the test split."""
    os.environ.setdefault("AUTOSEL_MODELS_CACHE", str(models_cache))
    import numpy as np

    from autosel.cli.run import eval_spec_for
    from autosel.evaluation import EvalSpec, evaluate
    from autosel.evaluation.stats import Arm, compare
    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.pool.ingest import add_pool
    from autosel.settings import Settings

    with tempfile.TemporaryDirectory(prefix="sq-quick-") as tmp:
        root = Path(tmp)
        demo = generate_rules_pool(root / "data", seed=seed)
        pool = add_pool(demo.pool_path, name="demo", settings=Settings(home=root / "home")).pool
        clean = set(demo.clean_ids_path.read_text().split())
        ids = pool.sample_ids
        subsets = {"full": np.arange(len(pool)),
                   "oracle": np.array([i for i, s in enumerate(ids) if s in clean])}
        benches = {p.stem: p for p in demo.bench_paths}
        spec = EvalSpec.model_validate(
            {**eval_spec_for(benches, "demo", "smollm2", seed), "split": "test"}
        )
        arms: dict[str, Arm] = {}
        t0 = time.perf_counter()
        for name, idx in subsets.items():
            res = evaluate(list(pool.rows(idx)), spec, root / name)
            if res.status != "succeeded":
                raise SystemExit(f"{name}: evaluation {res.status}: {res.failure_reason}")
            w = {b.name: b.weight for b in spec.benchmarks}
            arms[name] = Arm(name, {b: np.asarray([v]) for b, v in res.item_scores.items()}, w)
            print(f"{name:<7} {len(idx):>4} samples  test utility {res.utility:.3f}  "
                  f"(train {res.train_seconds:.0f} s, eval {res.eval_seconds:.0f} s)", flush=True)
        c = compare(arms["oracle"], arms["full"], seed_var=0.0)
        print(f"oracle − full on test: {c.diff:+.3f}, item-only SE {c.se_items:.3f} "
              f"(z {c.z:.1f}; one replicate: no seed noise measured); "
              f"{(time.perf_counter() - t0) / 60:.1f} min")
        print(_target("oracle_minus_full_quick", c.diff, ">", 0.0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--keep", type=Path, default=None,
                    help="Keep each seed's AUTOSEL_HOME under this directory.")
    ap.add_argument("--reuse", action="store_true",
                    help="Reuse seeds already finished under --keep (their result.json).")
    args = ap.parse_args()
    cache = Path(os.environ.get("AUTOSEL_MODELS_CACHE")
                 or Path(os.environ.get("AUTOSEL_HOME", Path.home() / ".autosel")) / "models")
    if args.quick:
        quick(int(args.seeds.split(",")[0]), cache)
        return
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    results = []
    for s in (int(x) for x in args.seeds.split(",")):
        res = reused(args.keep, s) if args.reuse else None
        results.append(res or run_seed(s, cache, args.keep))
    zs, wins = [], 0
    for res in results:
        z, beats = show_seed(res)
        if z is not None:
            zs.append(z)
        wins += beats
    print()
    print(_target("oracle_minus_full_se", statistics.median(zs) if zs else float("nan"),
                  ">=", 3.0))
    print(_target("best_beats_full_and_random_seeds", float(wins), ">=", 2.0))
    print(_target("demo_minutes", max(r["minutes"] for r in results), "<=", 25.0))


if __name__ == "__main__":
    main()
