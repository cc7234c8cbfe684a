"""Ingestion throughput and memory against the json.loads + pandas floor, in one run.

Usage: ``.venv/bin/python benchmarks/ingest.py [--quick]``

1. Generates the large demo pool (``--quick``: medium) and times, each in a fresh
   subprocess so peak RSS is its own: (a) the floor — ``json.loads`` per line plus
   ``pandas.DataFrame`` of the records; (b) ``autosel pool add`` (parse, validate, id
   hashing, Parquet write, manifest). Target: ours takes at most 2x the floor.
2. Memory: a ~1 GB JSONL (``--quick``: ~250 MB) made of copies of the pool with fresh
   ids; peak RSS of ingesting it must stay below the file's size (the floor, which
   holds everything in memory, needs several times the file size).
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


def _child(mode: str, path: str) -> None:
    t0 = time.perf_counter()
    if mode == "floor":
        import pandas as pd

        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f]
        df = pd.DataFrame(records)
        n = len(df)
    else:
        from autosel.pool.ingest import add_pool
        from autosel.settings import Settings

        res = add_pool(path, settings=Settings(home=Path(tempfile.mkdtemp(prefix="bench-ingest-"))))
        n = len(res.pool)
    secs = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": n, "seconds": secs, "peak_rss_mb": rss_mb}))


def _run(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _base_rss_mb(mode: str) -> float:
    """Peak RSS of the child's imports alone, so only the data's memory is compared."""
    code = "import resource, pandas" if mode == "floor" else "import resource, autosel.pool.ingest"
    code += "; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    return float(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
    )


def _big_file(src: Path, target_bytes: int, out: Path) -> int:
    lines = src.read_bytes().splitlines()
    written, copy = 0, 0
    with open(out, "wb") as f:
        while written < target_bytes:
            for line in lines:
                rec = json.loads(line)
                rec["id"] = f"{rec.get('id', 'r')}-copy{copy}"
                b = json.dumps(rec).encode() + b"\n"
                f.write(b)
                written += len(b)
            copy += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="medium pool, ~250 MB memory file")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(*args.child)
        return
    from autosel.pool.demo import generate_demo_pool

    size = "medium" if args.quick else "large"
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    t0 = time.perf_counter()
    demo = generate_demo_pool(work / "demo", size=size, seed=0)
    src = Path(demo.pool_path)
    print(
        f"demo pool ({size}): {src.stat().st_size / 1e6:.1f} MB, generated in {time.perf_counter() - t0:.1f} s"
    )

    floor = _run("floor", src)
    ours = _run("ours", src)
    ratio = ours["seconds"] / floor["seconds"]
    print(
        f"floor  json.loads+DataFrame: {floor['rows']:>8,} rows {floor['seconds']:7.2f} s "
        f"{floor['rows'] / floor['seconds']:>10,.0f} rec/s  peak RSS {floor['peak_rss_mb']:7.0f} MB"
    )
    print(
        f"autosel pool add:            {ours['rows']:>8,} rows {ours['seconds']:7.2f} s "
        f"{ours['rows'] / ours['seconds']:>10,.0f} rec/s  peak RSS {ours['peak_rss_mb']:7.0f} MB"
    )

    target_bytes = (250 if args.quick else 1000) * 1024 * 1024
    big = work / "big.jsonl"
    size_b = _big_file(src, target_bytes, big)
    big_ours = _run("ours", big)
    data_mb = big_ours["peak_rss_mb"] - _base_rss_mb("ours")
    mem_ratio = data_mb / (size_b / 1024 / 1024)
    print(
        f"memory: {size_b / 1e6:.0f} MB JSONL, {big_ours['rows']:,} rows in {big_ours['seconds']:.1f} s; "
        f"peak RSS {big_ours['peak_rss_mb']:.0f} MB ({data_mb:.0f} MB above the imports)"
    )
    big.unlink()

    print(
        f"TARGET ingest_time_vs_floor measured={ratio:.2f} target=<=2.0 {'PASS' if ratio <= 2.0 else 'FAIL'}"
    )
    print(
        f"TARGET ingest_rss_vs_file_size measured={mem_ratio:.2f} target=<1.0 "
        f"{'PASS' if mem_ratio < 1.0 else 'FAIL'}"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
