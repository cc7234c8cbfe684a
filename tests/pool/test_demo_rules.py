"""The rules demo pool: determinism, planted defects vs labels, answers re-derived, benchmarks.

Answers are re-derived from each question's text by this file's own solvers, so a bug
in the generator's rules cannot hide behind the same code path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autosel.bench.load import load_benchmark
from autosel.cli import app
from autosel.errors import ConfigError
from autosel.pool.demo.rules import RULES_SIZES, generate_rules_pool
from autosel.pool.ingest import add_pool
from autosel.settings import Settings


def _solve(question: str) -> tuple[str, str]:
    """(right answer, wrong-rule answer) from the question text alone."""
    listed = question.rsplit(":", 1)[-1].strip()
    if "ascending" in question:
        nums = [int(x) for x in listed.split()]
        return " ".join(map(str, sorted(nums))), " ".join(map(str, sorted(nums, reverse=True)))
    if "Reverse" in question or "reverse" in question:
        words = listed.split()
        return " ".join(reversed(words)), " ".join(words[1:] + words[:1])
    y, m, d = re.search(r"(\d{4})-(\d{2})-(\d{2})", question).groups()  # type: ignore[union-attr]
    return f"{d}/{m}/{y}", f"{m}/{d}/{y}"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = generate_rules_pool(tmp_path / "a", seed=3)
    b = generate_rules_pool(tmp_path / "b", seed=3)
    c = generate_rules_pool(tmp_path / "c", seed=4)
    for name in ("pool.jsonl", "labels.jsonl", "clean_ids.txt", "bench/sort.jsonl"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes()
    assert a.pool_path.read_bytes() != c.pool_path.read_bytes()


def test_labels_match_the_responses(tmp_path: Path) -> None:
    res = generate_rules_pool(tmp_path, seed=0)
    rows, labels = _jsonl(res.pool_path), _jsonl(res.labels_path)
    assert len(rows) == len(labels) == RULES_SIZES["small"]
    by_id = {r["id"]: r for r in rows}
    for row, lab in zip(rows, labels, strict=True):
        right, wrong = _solve(row["prompt"])
        resp = row["response"].removeprefix("Answer: ")
        if lab["defect"] in ("clean", "duplicate"):
            assert resp == right, row
        elif lab["defect"] == "wrong_rule":
            assert resp == wrong, row
        elif lab["defect"] == "truncated":
            assert row["response"].startswith("Answer: ") and resp != right and resp in right
        else:
            assert "Answer:" not in row["response"]
        if lab["duplicate_of"] is not None:
            orig = by_id[lab["duplicate_of"]]
            assert orig["response"] == row["response"]
    counts = res.defect_counts
    # The mirrored batch: every wrong-rule original has three copies.
    assert counts["wrong_rule"] == 4 * sum(
        1 for lab in labels if lab["defect"] == "wrong_rule" and lab["duplicate_of"] is None
    )
    assert 0.35 <= counts["wrong_rule"] / len(rows) <= 0.45
    clean = res.clean_ids_path.read_text().split()
    assert clean == [lab["id"] for lab in labels if lab["defect"] == "clean"]


def test_benchmarks_are_new_questions_with_right_gold(tmp_path: Path) -> None:
    res = generate_rules_pool(tmp_path, seed=1)
    prompts = {r["prompt"] for r in _jsonl(res.pool_path)}
    for path in res.bench_paths:
        bench = load_benchmark(path)
        assert len(bench.items) == 60 and bench.is_multiple_choice
        for it in bench.items:
            assert it.question not in prompts
            right, wrong = _solve(it.question)
            assert it.answer == "Answer: " + right
            assert "Answer: " + wrong in it.choices and len(set(it.choices)) == 3
        # the gold choice is not always in the same position
        assert len({it.gold for it in bench.items}) == 3


def test_pool_ingests_and_cli_writes_it(tmp_path: Path) -> None:
    res = generate_rules_pool(tmp_path / "d", seed=0)
    pool = add_pool(res.pool_path, name="rules", settings=Settings(home=tmp_path / "home")).pool
    assert len(pool) == res.n_samples
    assert sorted(pool.stats()["sources"]) == ["date", "reverse", "sort"]
    out = CliRunner().invoke(app, ["demo-pool", str(tmp_path / "cli"), "--seed", "0"])
    assert out.exit_code == 0, out.output
    assert "wrong_rule" in out.output
    assert (tmp_path / "cli" / "pool.jsonl").read_bytes() == res.pool_path.read_bytes()


@pytest.mark.parametrize(
    "kwargs",
    [{"size": "huge"}, {"wrong_rule": 0.7}, {"wrong_copies": 11},
     {"wrong_rule": 0.5, "off_topic": 0.3}],
)
def test_bad_options_are_clear_errors(tmp_path: Path, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        generate_rules_pool(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x" / "pool.jsonl").exists()
