"""Dev/test splits: deterministic by item id, minimum size, two files without overlap,
``limit`` after the split, ``EvalSpec.split`` choosing what ``evaluate`` scores; and the
integer-index answer convention of multiple-choice items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.bench.load import is_test_item, split_fraction
from autosel.errors import ConfigError, InputError
from autosel.evaluation import (
    MIN_SPLIT_ITEMS,
    BenchmarkSpec,
    EvalSpec,
    load_benchmark,
    load_benchmark_split,
)
from autosel.evaluation.evaluator import load_benchmarks


def _bench(path: Path, ids: list[str], *, choices: bool = True) -> Path:
    lines = []
    for i in ids:
        rec: dict = {"id": i, "question": f"Question {i}?", "answer": "yes"}
        if choices:
            rec["choices"] = ["yes", "no"]
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    return path


def _ids(n: int, prefix: str = "item") -> list[str]:
    return [f"{prefix}-{i}" for i in range(n)]


def test_split_is_the_contract_formula_and_partitions_the_file(tmp_path: Path) -> None:
    import hashlib

    ids = _ids(400)
    p = _bench(tmp_path / "b.jsonl", ids)
    spec = BenchmarkSpec(name="b", path=p, test_fraction=0.3)
    dev, test = load_benchmark_split(spec, "dev"), load_benchmark_split(spec, "test")
    dev_ids, test_ids = [it.id for it in dev.items], [it.id for it in test.items]
    # A partition, each split in file order.
    assert sorted(dev_ids + test_ids) == sorted(ids) and not set(dev_ids) & set(test_ids)
    assert dev_ids == [i for i in ids if i in set(dev_ids)]
    # The formula, written out independently of the module.
    for i in ids:
        h = hashlib.blake2b(f"autosel-split/{i}".encode(), digest_size=8).digest()
        assert (int.from_bytes(h, "little") / 2**64 < 0.3) == (i in set(test_ids))
        assert is_test_item(i, 0.3) == (i in set(test_ids))
    # Ratio roughly respected (binomial sd at n=400, p=0.3 is 0.023).
    assert 0.22 < len(test_ids) / len(ids) < 0.38
    assert (dev.split, test.split) == ("dev", "test")


def test_split_depends_on_the_id_only(tmp_path: Path) -> None:
    ids = _ids(60)
    a = _bench(tmp_path / "a.jsonl", ids)
    b = _bench(tmp_path / "b.jsonl", list(reversed(ids)) + _ids(30, "extra"))
    test_a = {it.id for it in load_benchmark_split(BenchmarkSpec(name="a", path=a), "test").items}
    test_b = {it.id for it in load_benchmark_split(BenchmarkSpec(name="b", path=b), "test").items}
    assert test_a == {i for i in test_b if i.startswith("item-")}
    assert test_a == {i for i in ids if split_fraction(i) < 0.5}


def test_too_small_to_split_names_the_minimum(tmp_path: Path) -> None:
    p = _bench(tmp_path / "small.jsonl", _ids(MIN_SPLIT_ITEMS - 1))
    with pytest.raises(InputError) as exc:
        load_benchmark_split(BenchmarkSpec(name="s", path=p), "dev")
    msg = str(exc.value)
    assert "19 items" in msg and f"at least {MIN_SPLIT_ITEMS}" in msg and "small.jsonl" in msg
    assert "test_path" in msg  # says what else would be accepted
    # Twenty items split fine.
    p20 = _bench(tmp_path / "ok.jsonl", _ids(MIN_SPLIT_ITEMS))
    assert load_benchmark_split(BenchmarkSpec(name="s", path=p20), "dev").items


def test_two_files_with_overlapping_ids_list_them(tmp_path: Path) -> None:
    dev = _bench(tmp_path / "dev.jsonl", _ids(15) + ["shared-a", "shared-b"])
    test = _bench(tmp_path / "test.jsonl", ["shared-b", "t-1", "shared-a"])
    spec = BenchmarkSpec(name="x", path=dev, test_path=test)
    for split in ("dev", "test"):  # either split refuses: the search fails as early as the report
        with pytest.raises(InputError) as exc:
            load_benchmark_split(spec, split)
        msg = str(exc.value)
        assert "2 item id(s)" in msg and "'shared-a'" in msg and "'shared-b'" in msg
        assert str(dev) in msg and str(test) in msg


def test_overlap_message_shows_ten_ids_and_the_count(tmp_path: Path) -> None:
    shared = _ids(14, "s")
    dev = _bench(tmp_path / "dev.jsonl", shared)
    test = _bench(tmp_path / "test.jsonl", shared)
    with pytest.raises(InputError, match=r"14 item id\(s\).*'s-9' and 4 more") as exc:
        load_benchmark_split(BenchmarkSpec(name="x", path=dev, test_path=test), "dev")
    assert "'s-10'" not in str(exc.value)


def test_two_files_are_the_splits_and_need_no_minimum(tmp_path: Path) -> None:
    dev = _bench(tmp_path / "dev.jsonl", ["d1", "d2", "d3"])
    test = _bench(tmp_path / "test.jsonl", ["t1", "t2"])
    spec = BenchmarkSpec(name="x", path=dev, test_path=test)
    assert [it.id for it in load_benchmark_split(spec, "dev").items] == ["d1", "d2", "d3"]
    got = load_benchmark_split(spec, "test")
    assert [it.id for it in got.items] == ["t1", "t2"] and got.path == test


def test_limit_applies_after_the_split(tmp_path: Path) -> None:
    ids = _ids(100)
    p = _bench(tmp_path / "b.jsonl", ids)
    full_test = [
        it.id for it in load_benchmark_split(BenchmarkSpec(name="b", path=p), "test").items
    ]
    limited = load_benchmark_split(BenchmarkSpec(name="b", path=p, limit=5), "test")
    assert [it.id for it in limited.items] == full_test[:5]
    # Not the first five of the file: those straddle both splits.
    assert [it.id for it in limited.items] != ids[:5]


def test_evalspec_split_selects_what_is_scored(tmp_path: Path) -> None:
    p = _bench(tmp_path / "b.jsonl", _ids(50))
    spec = EvalSpec(benchmarks=[BenchmarkSpec(name="b", path=p)])
    assert spec.split == "dev"
    dev = {it.id for it in load_benchmarks(spec)[0].items}
    test = {it.id for it in load_benchmarks(spec.model_copy(update={"split": "test"}))[0].items}
    assert dev and test and not dev & test and len(dev | test) == 50
    with pytest.raises(ConfigError, match="field 'split'"):
        EvalSpec.parse({"split": "train"})


def test_auto_primary_resolves_from_the_whole_benchmark(tmp_path: Path) -> None:
    from autosel.evaluation.harness import resolve_primary

    # One free-form item: no split is "all multiple choice", whichever split it lands in.
    p = tmp_path / "mixed.jsonl"
    recs = [
        {"id": i, "question": "q?", "answer": "yes", "choices": ["yes", "no"]} for i in _ids(30)
    ]
    recs.append({"id": "free", "question": "q?", "answer": "yes"})
    p.write_text("".join(json.dumps(r) + "\n" for r in recs))
    spec = BenchmarkSpec(name="m", path=p)
    for split in ("dev", "test"):
        assert resolve_primary(spec, load_benchmark_split(spec, split)) == "exact_match"


def test_fraction_bounds_and_relative_test_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        EvalSpec.parse({"benchmarks": [{"name": "a", "path": "x", "test_fraction": 0.95}]})
    (tmp_path / "spec.yaml").write_text(
        "benchmarks:\n  - {name: a, path: b/dev.jsonl, test_path: b/test.jsonl}\n"
    )
    b = EvalSpec.from_file(tmp_path / "spec.yaml").benchmarks[0]
    assert b.path == tmp_path / "b/dev.jsonl" and b.test_path == tmp_path / "b/test.jsonl"


def test_search_spec_resolves_test_path_next_to_the_spec(tmp_path: Path) -> None:
    from autosel.scheduler.spec import SearchSpec

    (tmp_path / "s.yaml").write_text(
        "pool: p\neval:\n  benchmarks:\n"
        "    - {name: a, path: dev.jsonl, test_path: sub/test.jsonl}\n"
    )
    b = SearchSpec.from_file(tmp_path / "s.yaml").eval.benchmarks[0]
    assert b.path == (tmp_path / "dev.jsonl").resolve()
    assert b.test_path == (tmp_path / "sub/test.jsonl").resolve()


@pytest.mark.parametrize(
    ("answer", "gold"),
    [(0, 0), (2, 2), ("C", 2), ("gamma", 2), ("b", 1)],
)
def test_answer_as_index_letter_or_text(tmp_path: Path, answer: object, gold: int) -> None:
    p = tmp_path / "b.jsonl"
    rec = {"id": "x", "question": "q?", "answer": answer, "choices": ["alpha", "beta", "gamma"]}
    p.write_text(json.dumps(rec) + "\n")
    item = load_benchmark(p).items[0]
    assert item.gold == gold and item.answer == ["alpha", "beta", "gamma"][gold]


def test_answer_index_errors(tmp_path: Path) -> None:
    p = tmp_path / "b.jsonl"
    p.write_text(json.dumps({"question": "q?", "answer": 3, "choices": ["a", "b", "c"]}) + "\n")
    with pytest.raises(InputError, match="index 3 is out of range for 3 choices"):
        load_benchmark(p)
    # Numeric choices: 2 as an index ('7') and 2 as a text (index 0) disagree -> refused.
    p.write_text(json.dumps({"question": "q?", "answer": 2, "choices": ["2", "5", "7"]}) + "\n")
    with pytest.raises(InputError, match="ambiguous") as exc:
        load_benchmark(p)
    assert exc.value.field == "answer" and exc.value.line == 1
    # A number that is only a choice's text (out of index range) still names that choice.
    p.write_text(json.dumps({"question": "q?", "answer": 10, "choices": ["10", "20"]}) + "\n")
    assert load_benchmark(p).items[0].gold == 0
