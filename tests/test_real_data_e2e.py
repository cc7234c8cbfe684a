"""Data as people have it, from files to a finished search with no hand conversion.

A raw ``{question, answer}`` JSONL (GSM8K's layout, ``#### x`` final answers) is the
pool; the benchmarks are a multiple-choice set saved with Hugging Face ``save_to_disk``
whose answers are choice *indices* (MMLU's convention) and an open-answer JSONL. ``autosel
run --profile demo --budget 2`` must take them as they are: the demo profile does not
generate, so the open-answer benchmark is scored by answer likelihood (``neg_nll``), said
in the stored spec, and never fails after training. The demo profile screens (fidelity
ladder 0.25, 1.0): the budget is 2 compute units, spent on quarter-cost screens and at
least one full evaluation. Real parts: the embedded SmolLM2
signals, real LoRA SFT, the SQLite store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _files(root: Path) -> tuple[Path, Path, Path]:
    import datasets

    root.mkdir(parents=True, exist_ok=True)
    pool = root / "gsm_like.jsonl"
    with open(pool, "w") as fh:
        for i in range(48):
            a, b = 3 + i % 7, 2 + i % 5
            fh.write(json.dumps({
                "question": f"Tom has {a} apples and buys {b} more. How many apples now?",
                "answer": f"He has {a} + {b} = {a + b} apples.\n#### {a + b}",
            }) + "\n")
    mc = [
        {
            "question": f"What is {a} + {b}?",
            "choices": [str(a + b - 1), str(a + b), str(a + b + 1), str(a + b + 2)],
            "answer": 1,  # an index into choices, as MMLU on the Hub
            "subject": "arithmetic",
        }
        for a, b in [(2 + i % 9, 1 + i % 6) for i in range(40)]
    ]
    mc_dir = root / "mc_hf"
    datasets.Dataset.from_list(mc).save_to_disk(str(mc_dir))
    open_bench = root / "open.jsonl"
    with open(open_bench, "w") as fh:
        for i in range(40):
            a, b = 4 + i % 8, 3 + i % 4
            fh.write(json.dumps({
                "id": f"o{i}",
                "question": f"Sara has {a} pens and gets {b} more. How many pens now?",
                "answer": f"#### {a + b}",
            }) + "\n")
    return pool, mc_dir, open_bench


@pytest.mark.slow
def test_raw_jsonl_and_saved_dataset_to_a_finished_demo_search(tmp_path: Path) -> None:
    pool, mc_dir, open_bench = _files(tmp_path / "data")
    env = {**os.environ, "AUTOSEL_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [
            str(BIN / "autosel"), "run", str(pool),
            "--bench", f"mc={mc_dir}", "--bench", f"open={open_bench}",
            "--profile", "demo", "--budget", "2", "--no-serve", "--port", "0",
            "--out", str(tmp_path / "out"),
        ],
        env=env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from autosel.settings import Settings
    from autosel.store import open_store

    store = open_store(settings=Settings(home=tmp_path / "home"))
    (search,) = store.searches()
    assert search.state == "completed"
    benches = {b["name"]: b for b in search.spec["eval"]["benchmarks"]}
    assert benches["mc"]["primary_metric"] == "mc_prob"
    assert benches["open"]["primary_metric"] == "neg_nll"  # no generation: said in the spec
    assert search.spec["report"]["random_draws"] == 4  # the demo profile's report settings
    trials = [t for t in store.trials(search.id) if not t.origin.startswith("report:")]
    assert all(t.state == "complete" for t in trials), [(t.number, t.state) for t in trials]
    fids = [float((t.trajectory or {}).get("fidelity", 1.0)) for t in trials]
    assert sum(fids) <= 2 + 1e-9 and 1.0 in fids and 0.25 in fids, fids
    assert (tmp_path / "out" / "best_subset.jsonl").exists()
    assert "final report" in proc.stdout.lower()
