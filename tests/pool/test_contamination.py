"""Decontamination: pool samples that copy benchmark items (dev or test) are found, counted
when a search is created, and removed from every arm of the search.

A tiny pool of random-word prompts gets planted copies of benchmark questions: exact ones
(case and punctuation changed), near ones (the last word changed: Jaccard 0.95 on word
3-grams), a short question copied exactly, and a distractor sharing only half a question
(Jaccard ~0.4, must not match). Evaluation is a test double that records every subset it
is given (no model, no training).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autosel.bench.load import is_test_item
from autosel.bench.spec import BenchmarkSpec
from autosel.settings import Settings
from autosel.signals.contamination import check_pool, check_texts, find_near_copies

N_POOL = 200
N_BENCH = 40
WORDS = [f"w{i}" for i in range(5000)]


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(WORDS[i] for i in rng.integers(0, len(WORDS), n))


def _bench_records() -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    recs = [{"id": f"b{i}", "question": _sentence(rng, 40), "answer": "x"} for i in range(N_BENCH)]
    recs[-1]["question"] = "Name it?"  # a short question: one shingle
    return recs


def _planted(recs: list[dict[str, Any]]) -> dict[int, tuple[str, bool]]:
    """Pool row -> (benchmark item id it copies, exact?) for every planted copy."""
    dev = [r["id"] for r in recs[:-1] if not is_test_item(r["id"], 0.5)]
    test = [r["id"] for r in recs[:-1] if is_test_item(r["id"], 0.5)]
    return {
        10: (dev[0], True),
        20: (dev[1], False),
        30: (test[0], True),
        40: (test[1], False),
        50: (recs[-1]["id"], True),
    }


def _pool_prompts(recs: list[dict[str, Any]]) -> list[str]:
    rng = np.random.default_rng(2)
    prompts = [_sentence(rng, 30) for _ in range(N_POOL)]
    by_id = {r["id"]: r["question"] for r in recs}
    for row, (item, exact) in _planted(recs).items():
        q = by_id[item]
        prompts[row] = q.upper() + " !!" if exact else q.rsplit(" ", 1)[0] + " changed"
    half = by_id[_planted(recs)[10][0]].split()
    prompts[60] = " ".join(half[:20]) + " " + _sentence(rng, 20)  # shares half: no match
    return prompts


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Any]:
    recs = _bench_records()
    bench = tmp_path / "qa.jsonl"
    bench.write_text("".join(json.dumps(r) + "\n" for r in recs))
    pool_file = tmp_path / "pool.jsonl"
    rows = [
        {"id": f"s{i:03d}", "prompt": p, "response": f"answer {i}", "source": "web"}
        for i, p in enumerate(_pool_prompts(recs))
    ]
    pool_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"recs": recs, "bench": bench, "pool_file": pool_file, "planted": _planted(recs)}


@pytest.fixture()
def env(files: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    from autosel.pool.ingest import add_pool

    settings = Settings(home=tmp_path / "home")
    pool = add_pool(files["pool_file"], settings=settings).pool
    return {**files, "settings": settings, "pool": pool}


def test_find_near_copies_exact_near_short_and_never_empty() -> None:
    rng = np.random.default_rng(0)
    bench = [_sentence(rng, 40), _sentence(rng, 40), "Short one", "", "   ...  "]
    pool = [
        _sentence(rng, 30),
        bench[0].upper() + ".",  # exact after normalisation
        bench[1].rsplit(" ", 1)[0] + " other",  # near: last word differs
        "short ONE!",  # a short question, exact
        "",  # empty texts never match (their signatures are all-max)
        " ".join(bench[1].split()[:20]),  # half a question: Jaccard ~0.45
        "??",
    ]
    p, b, sim, exact = find_near_copies(pool, bench, 0.8)
    assert list(zip(p.tolist(), b.tolist(), exact.tolist(), strict=True)) == [
        (1, 0, True),
        (2, 1, False),
        (3, 2, True),
    ]
    assert sim[0] == sim[2] == 1.0 and 0.85 < sim[1] < 1.0
    # The threshold is what decides near copies: at 0.4 the half question matches too.
    assert 5 in find_near_copies(pool, bench, 0.4)[0].tolist()
    with pytest.raises(Exception, match=r"accepted values are in \(0, 1\]"):
        find_near_copies(pool, bench, 0.0)


def test_check_pool_finds_exactly_the_planted_copies_per_split(env: dict[str, Any]) -> None:
    spec = BenchmarkSpec(name="qa", path=env["bench"], limit=3)  # limit is ignored here
    rep = check_pool(env["pool"], [spec], settings=env["settings"])
    planted = env["planted"]
    assert rep.rows.tolist() == sorted(planted)
    assert {(m.row, m.item_id, m.exact) for m in rep.matches} == {
        (row, item, exact) for row, (item, exact) in planted.items()
    }
    assert {m.sample_id for m in rep.matches} == {f"s{r:03d}" for r in planted}
    n_test = sum(is_test_item(item, 0.5) for item, _ in planted.values())
    counts = rep.benchmarks["qa"]
    assert (counts["dev"], counts["test"]) == (len(planted) - n_test, n_test)
    assert counts["items"]["dev"] + counts["items"]["test"] == N_BENCH
    assert rep.line().startswith(f"contamination: {len(planted)} pool samples near-copy")
    # Cached per pool and benchmark file: the second check reads the cache (0 s) and agrees.
    again = check_pool(env["pool"], [spec], settings=env["settings"])
    assert again.seconds == 0.0 and again.rows.tolist() == rep.rows.tolist()
    assert again.benchmarks == rep.benchmarks
    # A changed benchmark file is a new key: the copy of a removed item is no longer found.
    first = planted[10][0]
    env["bench"].write_text("".join(json.dumps(r) + "\n" for r in env["recs"] if r["id"] != first))
    changed = check_pool(env["pool"], [spec], settings=env["settings"])
    assert 10 not in changed.rows.tolist() and len(changed.rows) == len(planted) - 1


class Recorder:
    """TEST DOUBLE for SFT: records the sample ids of every subset it is asked to train on."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, rows: list[dict[str, Any]], spec: Any, out: Path, *, stop: Any = None):  # type: ignore[no-untyped-def]
        from tests.scheduler.conftest import FakeEvalResult

        ids = sorted(r["sample_id"] for r in rows)
        with self.lock:
            self.calls.append({"split": spec.split, "ids": set(ids)})
        scores = [0.5 + 0.01 * (len(ids) % 7) + 0.001 * k for k in range(20)]
        util = float(np.mean(scores))
        return FakeEvalResult(
            "succeeded",
            None,
            {"qa": {"score": util}},
            {"qa": "score"},
            util,
            n_samples=len(ids),
            item_scores={"qa": scores},
            item_ids={"qa": [f"q{k}" for k in range(20)]},
        )


def _search(env: dict[str, Any], tmp_path: Path, **fields: Any) -> tuple[Any, str, Recorder]:
    from autosel.service import create_search, run_embedded
    from autosel.signals import compute_signals
    from autosel.store import open_store
    from tests.scheduler.conftest import fast_spec

    settings = env["settings"]
    compute_signals(env["pool"], model=None, progress=False, settings=settings)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = fast_spec(
        env["pool"].pool_id,
        3,
        strategy="random",
        eval={"benchmarks": [{"name": "qa", "path": str(env["bench"])}]},
        report={"replicates": 1, "random_draws": 2, **fields.pop("report", {})},
        **fields,
    )
    search = create_search(store, spec, settings=settings)
    rec = Recorder()
    run_embedded(store, search.id, settings=settings, evaluate_fn=rec, poll_seconds=0.02)
    return store, search.id, rec


def test_search_counts_contamination_and_removes_it_from_every_arm(
    env: dict[str, Any], tmp_path: Path
) -> None:
    from autosel.scheduler.views import search_summary
    from autosel.service.searches import contamination_line, contamination_of

    bad = {f"s{r:03d}" for r in env["planted"]}
    ref = tmp_path / "ref.txt"
    ref.write_text("\n".join(sorted(bad | {"s000", "s001"})) + "\n")
    store, sid, rec = _search(env, tmp_path, report={"references": {"mine": str(ref)}})
    found = contamination_of(store, sid)
    assert found is not None
    assert (found["count"], found["removed"], found["enabled"]) == (len(bad), len(bad), True)
    assert {m["sample_id"] for m in found["matches"]} == bad
    n_test = sum(is_test_item(item, 0.5) for item, _ in env["planted"].values())
    assert contamination_line(found) == (
        f"contamination: {len(bad)} pool samples near-copy benchmark items "
        f"(qa: dev {len(bad) - n_test}, test {n_test}); removed from every arm "
        "(decontaminate: true)"
    )
    # Every subset trained on, search trials and every report arm alike, is clean.
    assert len(rec.calls) >= 3 + 4
    assert all(not (c["ids"] & bad) for c in rec.calls)
    # The full-pool arm is the decontaminated pool, and the reference lost its copies.
    sizes = {len(c["ids"]) for c in rec.calls if c["split"] == "test"}
    assert N_POOL - len(bad) in sizes and 2 in sizes
    warnings = search_summary(store, store.get_search(sid))["warnings"]
    assert any(
        w["kind"] == "contamination"
        and w["message"].startswith(f"contamination: {len(bad)} pool samples")
        and "removed from every arm" in w["message"]
        for w in warnings
    )


def test_decontaminate_false_reports_and_keeps_them(env: dict[str, Any], tmp_path: Path) -> None:
    from autosel.scheduler.views import search_summary
    from autosel.service.searches import contamination_of

    bad = {f"s{r:03d}" for r in env["planted"]}
    store, sid, rec = _search(env, tmp_path, decontaminate=False)
    found = contamination_of(store, sid)
    assert found is not None and (found["count"], found["removed"]) == (len(bad), 0)
    full = [c for c in rec.calls if c["split"] == "test" and len(c["ids"]) == N_POOL]
    assert full and bad <= full[0]["ids"]
    warnings = search_summary(store, store.get_search(sid))["warnings"]
    assert any("scores may be inflated" in w["message"] for w in warnings)


def test_rules_demo_pool_has_no_copies_of_its_benchmarks(tmp_path: Path) -> None:
    """The demo's benchmark items are generated disjoint from the pool: 0 near copies."""
    from autosel.pool.demo.rules import generate_rules_pool

    res = generate_rules_pool(tmp_path / "demo", size="small", seed=0)
    recs = [json.loads(x) for x in Path(res.pool_path).read_text().splitlines()]
    benches = [
        BenchmarkSpec(name=p.stem, path=p) for p in sorted((res.out_dir / "bench").glob("*.jsonl"))
    ]
    rep = check_texts([r["prompt"] for r in recs], [r["id"] for r in recs], benches)
    assert benches and rep.count == 0
    # ...and the check can fail: a pool copy of one of its benchmark questions is found.
    question = json.loads(benches[0].path.read_text().splitlines()[0])["question"]
    rep = check_texts(
        [*(r["prompt"] for r in recs), question], [*(r["id"] for r in recs), "x"], benches
    )
    assert rep.count == 1 and rep.matches[0].sample_id == "x"


def test_the_signal_pass_never_imports_contamination() -> None:
    """Contamination flags stay out of the model pass and relevance (they read test items)."""
    root = Path(__file__).resolve().parents[2] / "autosel" / "signals"
    for name in ("compute.py", "shard.py", "model_pass.py", "relevance.py", "signalset.py"):
        assert "contamination" not in (root / name).read_text(encoding="utf-8"), name


def test_pool_check_cli_prints_counts_and_pairs(
    files: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from autosel.cli import app

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "clihome"))
    runner = CliRunner()
    added = runner.invoke(app, ["pool", "add", str(files["pool_file"]), "--name", "tiny"])
    assert added.exit_code == 0, added.output
    res = runner.invoke(app, ["pool", "check", "tiny", "--bench", f"qa={files['bench']}"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    n_test = sum(is_test_item(item, 0.5) for item, _ in files["planted"].values())
    n = len(files["planted"])
    assert f"contamination: {n} pool samples near-copy benchmark items" in out
    assert f"qa: dev {n - n_test}, test {n_test}" in out
    assert "s010" in out and "exact" in out
    res = runner.invoke(app, ["pool", "check", "tiny", "--bench", "missing.jsonl"])
    assert res.exit_code != 0 and "no file at missing.jsonl" in str(res.exception)


def test_demo_pool_command_reports_zero_contamination(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autosel.cli import app

    out = CliRunner().invoke(app, ["demo-pool", str(tmp_path / "d"), "--seed", "0"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "contamination: 0 pool samples near-copy benchmark items" in text
    assert "sort: dev 0, test 0" in text


def test_a_pool_left_below_min_size_is_refused_and_nothing_stored(
    env: dict[str, Any], tmp_path: Path
) -> None:
    from autosel.errors import ConfigError
    from autosel.service import create_search
    from autosel.store import open_store
    from tests.scheduler.conftest import fast_spec

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    spec = fast_spec(
        env["pool"].pool_id,
        3,
        knobs={"min_size": N_POOL - 2},  # 5 copies removed: 195 rows left
        eval={"benchmarks": [{"name": "qa", "path": str(env["bench"])}]},
    )
    with pytest.raises(ConfigError, match=r"field 'decontaminate': 5 of 200 .* leaves 195"):
        create_search(store, spec, settings=env["settings"])
    assert store.searches() == []
    # Keeping them is allowed (and reported).
    create_search(store, {**spec, "decontaminate": False}, settings=env["settings"])
