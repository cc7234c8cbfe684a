"""Job store throughput: claim + complete with 1 and 8 worker processes, on PostgreSQL
and SQLite, in one run.

Usage: ``.venv/bin/python benchmarks/jobstore.py [--quick]``

Each case runs real worker processes (:func:`autosel.store.testing.worker_main`, each
with its own store) against a fresh database, released together once all are connected,
and times from release to the last completion. A job is ``claim_job`` → simulated
evaluation → ``complete_job``.

1. Overhead: one worker, no evaluation: the store's cost per job (ms/job), i.e. two
   write transactions. Target on SQLite: < 50 ms/job, which is < 0.01% of even a short
   (10 minute) SFT run.
2. Scaling: 1 vs 8 workers with a simulated evaluation of ``--work-ms`` per job (a
   sleep, default 50 ms). Real evaluations are minutes of GPU time, during which the
   store is idle; the sleep stands for them, so the ratio shows whether the *store*
   lets workers proceed concurrently rather than how many CPU cores this machine has
   (the reference machine has 2, shared: 8 claim loops without a sleep would just
   measure the CPU). Target on PostgreSQL: >= 4x from 1 to 8 workers. SQLite's scaling
   is reported too; it serialises writers, which is fine at one machine's worker count.

PostgreSQL is a private server from Debian's package binaries on 127.0.0.1 with its
default durability settings (fsync on), started and stopped by this script.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from autosel.store import JobSpec, SqlStore
from autosel.store.testing import TempPostgres, join_all, read_logs, start_workers

RESULTS = Path(__file__).resolve().parent / "results" / "jobstore.json"


def run_case(url: str, workers: int, jobs: int, work_ms: float, log_dir: Path) -> dict:
    """Run ``jobs`` jobs through ``workers`` processes; returns timing figures."""
    store = SqlStore(url)
    store.create_jobs([JobSpec(payload={"n": i}) for i in range(jobs)])
    store.close()
    log_dir.mkdir(parents=True)
    procs, t_go = start_workers(
        url, workers, log_dir, lease_seconds=300, work_seconds=work_ms / 1000, start=False,
        poll_seconds=0.01,
    )
    join_all(procs, timeout=600)
    rows = read_logs(sorted(log_dir.glob("*.jsonl")))
    done = Counter(r["job"] for r in rows if r["event"] == "done")
    if len(done) != jobs or set(done.values()) != {1}:
        raise RuntimeError(f"{url}: {len(done)}/{jobs} jobs done, repeats: {done.most_common(3)}")
    elapsed = max(r["t"] for r in rows if r["event"] == "done") - t_go
    return {
        "workers": workers, "jobs": jobs, "work_ms": work_ms, "seconds": round(elapsed, 3),
        "jobs_per_s": round(jobs / elapsed, 2), "ms_per_job": round(1000 * elapsed / jobs, 3),
    }


def bench_backend(name: str, new_url, args: argparse.Namespace, tmp: Path) -> dict:
    sizes = (60, 100, 320) if args.quick else (200, 200, 1000)  # overhead, 1 worker, 8
    cases = {
        "overhead": (1, sizes[0], 0.0),
        "scale_1": (1, sizes[1], args.work_ms),
        "scale_8": (8, sizes[2], args.work_ms),
    }
    out = {}
    for case, (workers, jobs, work) in cases.items():
        res = run_case(new_url(f"{name}_{case}"), workers, jobs, work, tmp / f"{name}_{case}")
        out[case] = res
        print(f"  {name:8s} {case:9s} workers={workers} jobs={jobs:5d} work={work:4.0f}ms "
              f"{res['jobs_per_s']:8.1f} jobs/s  {res['ms_per_job']:7.2f} ms/job", flush=True)
    out["scaling_1_to_8"] = round(out["scale_8"]["jobs_per_s"] / out["scale_1"]["jobs_per_s"], 2)
    return out


def target(name: str, measured: float, op: str, bound: float) -> bool:
    ok = measured >= bound if op == ">=" else measured < bound
    print(f"TARGET {name} measured={measured} target={op}{bound:g} {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer jobs (about a minute)")
    ap.add_argument("--work-ms", type=float, default=50.0,
                    help="simulated evaluation per job in the scaling cases (sleep)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-jobstore-"))
    results: dict = {"work_ms": args.work_ms, "quick": args.quick}
    print(f"job store benchmark ({'quick' if args.quick else 'full'}), logs in {tmp}")

    results["sqlite"] = bench_backend("sqlite", lambda db: f"sqlite:///{tmp / db}.db", args, tmp)
    with TempPostgres(durable=True) as pg:
        results["postgres"] = bench_backend("postgres", pg.create_database, args, tmp)

    pg_res, lite = results["postgres"], results["sqlite"]
    print(f"scaling 1->8 workers: postgres {pg_res['scaling_1_to_8']}x, "
          f"sqlite {lite['scaling_1_to_8']}x")
    print(f"store overhead: postgres {pg_res['overhead']['ms_per_job']} ms/job, "
          f"sqlite {lite['overhead']['ms_per_job']} ms/job (one worker, no evaluation)")
    ok = target("pg_scaling_1_to_8", pg_res["scaling_1_to_8"], ">=", 4)
    ok &= target("sqlite_ms_per_job", lite["overhead"]["ms_per_job"], "<", 50)
    ok &= target("pg_ms_per_job", pg_res["overhead"]["ms_per_job"], "<", 50)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"results written to {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
