"""The main job, end to end, on a tiny configuration: `autosel run` as a user types it.

Real parts all the way: the embedded SmolLM2 computes the signals, the GP search proposes
recipes, real LoRA SFT runs evaluate them (then the final report re-trains the best, the
full pool and random subsets with fresh seeds and scores them on the test split), the
SQLite store records everything, and the dashboard server answers while it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_autosel_run_tiny(tmp_path: Path) -> None:
    from autosel.pool.demo import generate_demo_pool

    demo = generate_demo_pool(tmp_path / "demo", size="small", seed=1)
    # A 160-sample slice keeps the model pass short; benchmarks as generated.
    lines = Path(demo.pool_path).read_text().splitlines()[:160]
    pool_file = tmp_path / "pool.jsonl"
    pool_file.write_text("\n".join(lines) + "\n")
    benches = [f"--bench={p}" for p in demo.bench_paths[:2]]
    env = {**os.environ, "AUTOSEL_HOME": str(tmp_path / "home")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            str(BIN / "autosel"),
            "run",
            str(pool_file),
            *benches,
            "--budget",
            "2",
            "--profile",
            "tiny",
            "--no-serve",
            "--out",
            str(out),
            "--port",
            "0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for stage in (
        "ingest the pool",
        "compute signals",
        "search: 2 real SFT evaluations",
        "stage times",
    ):
        assert stage in text
    assert "final report: test split" in text and "best recipe (dev)" in text
    assert "best − full pool:" in text and "95% CI" in text
    assert "dashboard: http://127.0.0.1:" in text
    recipe = yaml.safe_load((out / "best_recipe.yaml").read_text())
    assert "steps" in recipe
    subset = [json.loads(x) for x in (out / "best_subset.jsonl").read_text().splitlines()]
    pool_ids = {json.loads(x)["id"] for x in lines}
    assert subset and {r["id"] for r in subset} <= pool_ids
    # The store holds the whole search: 2 trials + 6 report runs, each with real training costs.
    from autosel.scheduler.views import search_summary, trial_rows
    from autosel.settings import Settings
    from autosel.store import open_store

    store = open_store(settings=Settings(home=tmp_path / "home"))
    (search,) = store.searches()
    rows = trial_rows(store, search.id)
    summary = search_summary(store, search, rows)
    assert summary["state"] == "completed" and summary["completed"] == 2
    assert summary["report_runs"] == summary["report_runs_done"] == 6
    assert all(r["cost"]["train_tokens"] > 0 and r["cost"]["train_seconds"] > 0 for r in rows)
    assert all(Path(r["artifacts"]["adapter_dir"]).is_dir() for r in rows), "LoRA adapters saved"
