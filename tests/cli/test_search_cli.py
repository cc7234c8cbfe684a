"""The CLI client on the embedded store: list/show/export/cancel with --json and exit codes.

The search itself is run in-process with the label-objective test double (real SFT
through the CLI is covered by tests/test_e2e.py); the CLI commands run as a user types
them, in subprocesses against the same AUTOSEL_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autosel.service import create_search, run_embedded
from autosel.settings import Settings
from autosel.store import open_store
from tests.scheduler.conftest import LabelObjective, fast_spec

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool
    from autosel.signals import compute_signals

    root = tmp_path_factory.mktemp("cli")
    settings = Settings(home=root / "home")
    demo = generate_demo_pool(root / "demo", size="small", seed=0)
    pool = add_pool(demo.pool_path, name="demo", settings=settings).pool
    compute_signals(pool, model=None, progress=False, settings=settings)
    labels = {
        json.loads(x)["id"]: json.loads(x)["defect"]
        for x in demo.labels_path.read_text().splitlines()
    }
    store = open_store(settings=settings)
    spec = fast_spec("demo", 3)
    search = create_search(store, spec, settings=settings)
    run_embedded(
        store, search.id, settings=settings, evaluate_fn=LabelObjective(labels), poll_seconds=0.05
    )
    return {"home": root / "home", "id": search.id, "root": root, "pool": pool}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AUTOSEL_HOME": str(home), "COLUMNS": "250"}
    env.pop("AUTOSEL_SERVER", None)
    return subprocess.run(
        [str(BIN / "autosel"), *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_list_and_show_json(finished: dict[str, Any]) -> None:
    out = _cli(finished["home"], "search", "list", "--json")
    assert out.returncode == 0, out.stderr
    (s,) = json.loads(out.stdout)
    assert s["id"] == finished["id"] and s["state"] == "completed" and s["completed"] == 3
    show = json.loads(_cli(finished["home"], "search", "show", finished["id"], "--json").stdout)
    assert len(show["trials"]) == 3 + 6 and show["best"]["number"] in {
        t["number"] for t in show["trials"]
    }
    table = _cli(finished["home"], "search", "show", finished["id"]).stdout
    assert "trials" in table and "report:full" in table and "predicted" in table


def test_report_json_and_table(finished: dict[str, Any]) -> None:
    out = _cli(finished["home"], "search", "report", finished["id"], "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["status"] == "complete" and r["report"]["split"] == "test"
    keys = [c["key"] for c in r["report"]["comparisons"]]
    assert keys == ["best-full", "best-random"]
    text = _cli(finished["home"], "search", "report", finished["id"]).stdout
    assert "best recipe (dev)" in text and "final report: test split" in text
    for c in r["report"]["comparisons"]:
        assert c["sentence"] in text, "every comparison is printed with its CI"
    missing = _cli(finished["home"], "search", "report", "no-such-search")
    assert missing.returncode == 3 and "no-such-search" in (missing.stdout + missing.stderr)


def test_export_subset_and_recipe(finished: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "best.jsonl"
    recipe = tmp_path / "best.yaml"
    r = _cli(
        finished["home"],
        "search",
        "export",
        finished["id"],
        "--out",
        str(out),
        "--format",
        "sharegpt",
        "--recipe-out",
        str(recipe),
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    best = json.loads(_cli(finished["home"], "search", "show", finished["id"], "--json").stdout)[
        "best"
    ]
    assert len(rows) == best["size"] and "conversations" in rows[0]
    assert "steps" in recipe.read_text()
    # The exported file is a valid pool again, with the same ids.
    back = _cli(finished["home"], "pool", "add", str(out), "--json")
    assert back.returncode == 0 and json.loads(back.stdout)["rows"] == len(rows)


def test_errors_have_documented_exit_codes(finished: dict[str, Any], tmp_path: Path) -> None:
    missing = _cli(finished["home"], "search", "show", "no-such-search")
    assert (
        missing.returncode == 3
        and "no-such-search" in missing.stderr
        and "not in the store" in missing.stderr
    )
    bad = _cli(
        finished["home"],
        "search",
        "export",
        finished["id"],
        "--out",
        str(tmp_path / "x"),
        "--format",
        "csv",
    )
    assert bad.returncode == 2 and "accepted chat, alpaca, sharegpt, hf" in bad.stderr
    spec = tmp_path / "spec.yaml"
    spec.write_text("budget: 0\n")
    badspec = _cli(finished["home"], "search", "start", "demo", "--spec", str(spec), "--detach")
    assert badspec.returncode == 2 and "budget" in badspec.stderr
    usage = _cli(finished["home"], "search", "start")
    assert usage.returncode == 2


def test_detach_then_cancel(finished: dict[str, Any]) -> None:
    r = _cli(finished["home"], "search", "start", "demo", "--budget", "2", "--detach", "--json")
    assert r.returncode == 0, r.stderr
    sid = json.loads(r.stdout)["id"]
    c = _cli(finished["home"], "search", "cancel", sid)
    assert c.returncode == 0 and "cancelled" in c.stdout


def test_search_ids_accept_prefix_truncation_mark_and_name(finished: dict[str, Any]) -> None:
    """Wherever a search id is taken, a unique prefix (as a narrow `search list` prints
    it, with its ellipsis) or the search's name works; a too short prefix does not."""
    sid, home = finished["id"], finished["home"]
    for ref in (sid[:8], sid[:10] + "…"):
        out = _cli(home, "search", "show", ref, "--json")
        assert out.returncode == 0, (ref, out.stderr)
        assert json.loads(out.stdout)["id"] == sid
    # By name: unique names resolve; a name other searches in this home share (another
    # test here may have created one) is refused as ambiguous, listing them.
    listing = json.loads(_cli(home, "search", "list", "--json").stdout)
    name = next(s["name"] for s in listing if s["id"] == sid)
    same = [s["id"] for s in listing if s["name"] == name]
    out = _cli(home, "search", "show", name, "--json")
    if len(same) == 1:
        assert out.returncode == 0 and json.loads(out.stdout)["id"] == sid, out.stderr
    else:
        assert out.returncode != 0 and "ambiguous" in out.stderr
        assert all(i in out.stderr for i in same)
    rep = _cli(home, "search", "report", sid[:8], "--json")
    assert rep.returncode == 0 and json.loads(rep.stdout)["search_id"] == sid, rep.stderr
    short = _cli(home, "search", "show", sid[:3])
    assert short.returncode != 0
    assert "6 characters" in short.stderr and "search list" in short.stderr


def test_search_start_takes_benchmarks_on_the_command_line(tmp_path: Path) -> None:
    """`search start POOL --bench NAME=PATH` needs no hand-written spec: the evaluation is
    the profile's (here `tiny`), over the given benchmarks; with `--spec`, `--bench`
    replaces the file's benchmarks. Both only create (--detach): nothing is trained."""
    from autosel.pool.demo.rules import generate_rules_pool

    demo = generate_rules_pool(tmp_path / "data", size="small", seed=0)
    home = tmp_path / "home"
    assert _cli(home, "pool", "add", str(demo.pool_path), "--name", "rules").returncode == 0
    b0, b1 = demo.bench_paths[:2]
    out = _cli(
        home, "search", "start", "rules", "--bench", f"first={b0}", "--bench", str(b1),
        "--profile", "tiny", "--detach", "--json",
    )
    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)["spec"]
    assert [b["name"] for b in spec["eval"]["benchmarks"]] == sorted(["first", b1.stem])
    assert spec["eval"]["max_steps"] == 3  # the tiny profile's
    assert spec["strategy"] == "gp"
    yaml_spec = tmp_path / "spec.yaml"
    yaml_spec.write_text(json.dumps({"budget": 3, "eval": {"learning_rate": 0.01}}))
    out = _cli(
        home, "search", "start", "rules", "--spec", str(yaml_spec), "--bench", f"only={b0}",
        "--strategy", "tpe", "--detach", "--json",
    )
    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)["spec"]
    assert [b["name"] for b in spec["eval"]["benchmarks"]] == ["only"]
    assert spec["eval"]["learning_rate"] == 0.01 and spec["budget"] == 3
    assert spec["strategy"] == "tpe"
    bad = _cli(home, "search", "start", "rules", "--strategy", "bohb", "--detach")
    assert bad.returncode != 0 and "'gp', 'random', 'grid' or 'tpe'" in bad.stderr, bad.stderr
    missing = _cli(home, "search", "start", "rules", "--bench", f"x={tmp_path / 'nope.jsonl'}")
    assert missing.returncode != 0 and "no file at" in missing.stderr
