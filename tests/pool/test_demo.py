"""The offline demo pool: determinism, sizes, planted defects vs hidden labels, benchmarks.

Answers are re-derived from each question's text by the domains' independent solvers,
and similarity is measured with this file's own shingling, so the checks do not reuse
the code paths that produced the data.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from autosel.cli import app
from autosel.errors import ConfigError
from autosel.pool.demo import DEFECTS, DOMAINS, SIZES, generate_demo_pool, load_labels
from autosel.pool.ingest import add_pool
from autosel.settings import Settings

FINAL = "Final answer: "
POOL_KEYS = {"id", "messages", "source", "difficulty", "answer", "group", "correct", "metadata"}


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as f:
        return [orjson.loads(line) for line in f]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _n_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _user(rec: dict[str, Any]) -> str:
    return [m["content"] for m in rec["messages"] if m["role"] == "user"][-1]


def _response(rec: dict[str, Any]) -> str:
    return rec["messages"][-1]["content"]


def _last_line(text: str) -> str:
    return text.rsplit("\n", 1)[-1]


def _shingles(rec: dict[str, Any]) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", "\n".join(m["content"] for m in rec["messages"]).lower())
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    res = generate_demo_pool(tmp_path_factory.mktemp("demo") / "out", size="small", seed=0)
    pool = _jsonl(res.pool_path)
    labels = load_labels(res.out_dir)
    return {
        "res": res,
        "pool": pool,
        "labels": labels,
        "by_id": {r["id"]: r for r in pool},
        "label_of": {row.id: row for row in labels.itertuples()},
        "manifest": json.loads(res.manifest_path.read_text()),
    }


# ------------------------------------------------------------------ determinism, sizes

def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    a = generate_demo_pool(tmp_path / "a", seed=7)
    b = generate_demo_pool(tmp_path / "b", seed=7)
    c = generate_demo_pool(tmp_path / "c", seed=8)
    files_a, files_b, files_c = _files(a.out_dir), _files(b.out_dir), _files(c.out_dir)
    assert sorted(files_a) == [
        "bench/arithmetic.jsonl", "bench/boolean.jsonl", "bench/dates.jsonl", "bench/graphs.jsonl",
        "bench_reasoning/arithmetic.jsonl", "bench_reasoning/boolean.jsonl",
        "bench_reasoning/dates.jsonl", "bench_reasoning/graphs.jsonl",
        "demo_manifest.json", "labels.jsonl", "pool.jsonl",
    ]
    assert files_a == files_b
    for name in ("pool.jsonl", "labels.jsonl", "bench/dates.jsonl"):
        assert files_a[name] != files_c[name], name


def test_small_and_medium_sizes(demo: dict[str, Any], tmp_path: Path) -> None:
    assert len(demo["pool"]) == len(demo["labels"]) == SIZES["small"] == 800
    assert demo["manifest"]["bench_sizes"] == {d: 60 for d in DOMAINS}
    medium = generate_demo_pool(tmp_path / "m", size="medium", seed=1, bench_size=5)
    assert medium.n_samples == _n_lines(medium.pool_path) == 10_000
    assert all(_n_lines(p) == 5 for p in medium.bench_paths)
    assert set(medium.source_counts) == set(DOMAINS)
    assert min(medium.source_counts.values()) > 2000  # every domain holds a fair share


def test_ids_are_sequential_and_every_domain_is_a_source(demo: dict[str, Any]) -> None:
    assert [r["id"] for r in demo["pool"]] == [f"demo-{i:06d}" for i in range(800)]
    assert demo["labels"]["id"].tolist() == [r["id"] for r in demo["pool"]]
    assert {r["source"] for r in demo["pool"]} == set(DOMAINS)
    assert all(r["metadata"]["domain"] == r["source"] for r in demo["pool"])


def test_invalid_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown demo size 'huge'"):
        generate_demo_pool(tmp_path, size="huge")
    with pytest.raises(ConfigError, match="wrong_answers.*accepted: wrong_answer"):
        generate_demo_pool(tmp_path, wrong_answers=0.1)
    with pytest.raises(ConfigError, match="defect rates sum to 1.11; at most 0.6"):
        generate_demo_pool(tmp_path, wrong_answer=0.5, truncated=0.4)
    with pytest.raises(ConfigError, match="truncated"):
        generate_demo_pool(tmp_path, truncated=-0.1)


# ------------------------------------------------------------------- defect rates

def _realised(labels: Any) -> dict[str, float]:
    shares = labels["defect"].value_counts(normalize=True)
    return {d: float(shares.get(d, 0.0)) for d in DEFECTS}


def test_default_rates_are_realised_and_clean_is_the_majority(demo: dict[str, Any]) -> None:
    realised = _realised(demo["labels"])
    assert set(demo["labels"]["defect"]) <= set(DEFECTS)
    for defect, rate in demo["manifest"]["configured_rates"].items():
        assert realised[defect] == pytest.approx(rate, abs=0.01), defect
        assert demo["manifest"]["defect_rates"][defect] == pytest.approx(realised[defect])
    assert 0.55 <= realised["clean"] <= 0.65


def test_configured_rates_are_realised(tmp_path: Path) -> None:
    rates = {"wrong_answer": 0.2, "truncated": 0.1, "near_duplicate": 0.1, "too_long": 0.0,
             "off_topic": 0.07}
    res = generate_demo_pool(tmp_path, seed=3, **rates)
    realised = _realised(load_labels(res.labels_path))
    for defect, rate in rates.items():
        assert realised[defect] == pytest.approx(rate, abs=0.01), defect
    assert realised["too_long"] == 0.0


# ------------------------------------------------------------ pool file and ingestion

def test_pool_file_holds_no_defect_labels(demo: dict[str, Any]) -> None:
    raw = demo["res"].pool_path.read_text()
    for word in ("defect", "duplicate_of", "near_duplicate", "off_topic", "truncated"):
        assert word not in raw
    for rec in demo["pool"]:
        assert set(rec) <= POOL_KEYS
        assert set(rec["metadata"]) == {"domain", "task"}


def test_every_record_ingests(demo: dict[str, Any], tmp_path: Path) -> None:
    res = add_pool(demo["res"].pool_path, settings=Settings(home=tmp_path / "home"))
    manifest = res.pool.manifest
    assert res.skipped == 0 and len(res.pool) == 800
    assert manifest["format"] == "chat"
    assert manifest["source_counts"] == demo["res"].source_counts
    # Ingestion counts repeated prompt+response pairs: exactly the planted exact duplicates.
    assert manifest["exact_duplicate_rows"] == demo["res"].defect_counts["exact_duplicate"]
    stats = res.pool.stats()
    assert stats["groups"] == demo["manifest"]["groups"]["prompts"]
    assert stats["correct_labelled"] == demo["manifest"]["groups"]["samples"]
    assert stats["difficulty"]["min"] >= 0.0 and stats["difficulty"]["max"] <= 1.0


# ------------------------------------------------- hidden labels vs independent solvers

def test_clean_answers_are_right_and_wrong_answers_are_wrong(demo: dict[str, Any]) -> None:
    for rec in demo["pool"]:
        label = demo["label_of"][rec["id"]]
        if label.defect == "near_duplicate":
            continue  # reworded prompts are not in the solvers' templates
        truth = DOMAINS[rec["source"]].solve(_user(rec))
        assert rec["answer"] == truth, rec["id"]
        last = _last_line(_response(rec))
        stated = last[len(FINAL):] if last.startswith(FINAL) else None
        assert label.correct == (stated == truth), rec["id"]
        if label.defect in ("clean", "exact_duplicate"):
            assert stated == truth, rec["id"]
        if label.defect == "wrong_answer":
            assert stated is not None and stated != truth, rec["id"]


def test_final_answer_line_on_clean_and_missing_on_truncated(demo: dict[str, Any]) -> None:
    seen = defaultdict(int)
    for rec in demo["pool"]:
        defect, response = demo["label_of"][rec["id"]].defect, _response(rec)
        seen[defect] += 1
        if defect == "clean":
            assert _last_line(response) == FINAL + rec["answer"]
            assert response.count(FINAL) == 1
            assert 10 <= len(response.split()) <= 160
        elif defect in ("truncated", "off_topic"):
            assert FINAL not in response, rec["id"]
            assert len(response.split()) >= 3
        elif defect == "too_short":
            assert len(response.split()) <= 6
        elif defect == "too_long":
            assert len(response.split()) >= 300
            assert response.count("\n") > 20  # padded by repetition, not one long line
    assert all(seen[d] > 0 for d in DEFECTS)


def test_clean_responses_are_short_enough_to_learn(demo: dict[str, Any]) -> None:
    words = sorted(len(_response(r).split()) for r in demo["pool"]
                   if demo["label_of"][r["id"]].defect == "clean")
    assert 25 <= words[len(words) // 2] <= 80


def test_difficulty_follows_real_complexity(demo: dict[str, Any]) -> None:
    by_source = defaultdict(list)
    for rec in demo["pool"]:
        if demo["label_of"][rec["id"]].defect == "clean":
            by_source[rec["source"]].append((rec["difficulty"], _response(rec).count("\n")))
    for source, pairs in by_source.items():
        assert all(0.0 <= d <= 1.0 for d, _ in pairs)
        easy = [n for d, n in pairs if d < 0.3]
        hard = [n for d, n in pairs if d > 0.6]
        assert easy and hard, source
        # Harder problems take more reasoning lines on average.
        assert sum(hard) / len(hard) > sum(easy) / len(easy), source


# ------------------------------------------------------------ groups and duplicates

def test_groups_mix_correct_and_wrong_responses(demo: dict[str, Any]) -> None:
    groups = defaultdict(list)
    for rec in demo["pool"]:
        assert ("group" in rec) == ("correct" in rec)
        if "group" in rec:
            groups[rec["group"]].append(rec)
    assert len(groups) == demo["manifest"]["groups"]["prompts"]
    share = len(groups) / demo["manifest"]["n_prompts"]
    assert 0.12 <= share <= 0.18
    n_wrong = 0
    for members in groups.values():
        assert 2 <= len(members) <= 4
        assert len({json.dumps(m["messages"][:-1]) for m in members}) == 1
        assert len({_response(m) for m in members}) == len(members)
        assert any(m["correct"] for m in members)
        for m in members:
            label = demo["label_of"][m["id"]]
            assert m["correct"] == label.correct
            assert (not m["correct"]) == (label.defect == "wrong_answer")
            n_wrong += not m["correct"]
    assert n_wrong == demo["manifest"]["groups"]["wrong_answers"] > 0


def test_duplicates_point_to_earlier_clean_originals(demo: dict[str, Any]) -> None:
    labels = demo["labels"]
    dups = labels[labels["defect"].isin(["exact_duplicate", "near_duplicate"])]
    assert labels.loc[~labels.index.isin(dups.index), "duplicate_of"].isna().all()
    for row in dups.itertuples():
        orig, dup = demo["by_id"][row.duplicate_of], demo["by_id"][row.id]
        assert row.duplicate_of < row.id
        assert demo["label_of"][row.duplicate_of].defect == "clean"
        assert dup["answer"] == orig["answer"] and dup["source"] == orig["source"]
        if row.defect == "exact_duplicate":
            assert dup["messages"] == orig["messages"]
        else:
            assert dup["messages"] != orig["messages"]
            assert _last_line(_response(dup)) == _last_line(_response(orig))


def test_near_duplicates_fall_in_the_jaccard_band(demo: dict[str, Any]) -> None:
    sims = []
    for row in demo["labels"][demo["labels"]["defect"] == "near_duplicate"].itertuples():
        a, b = _shingles(demo["by_id"][row.id]), _shingles(demo["by_id"][row.duplicate_of])
        sims.append(len(a & b) / len(a | b))
    assert len(sims) == 48
    assert all(0.6 <= s <= 0.9 for s in sims), sorted(sims)
    assert max(sims) - min(sims) > 0.1  # spread over the band, not one fixed edit


def test_distinct_prompts_outside_duplicates_and_groups(demo: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for rec in demo["pool"]:
        label = demo["label_of"][rec["id"]]
        key = _user(rec)
        if key in seen and label.defect not in ("exact_duplicate", "near_duplicate"):
            # A repeated question is only legitimate inside one multi-response group.
            assert rec.get("group") is not None, rec["id"]
            assert rec["group"] == demo["by_id"][seen[key]].get("group"), rec["id"]
        seen.setdefault(key, rec["id"])


# -------------------------------------------------------------------------- benchmarks

def test_benchmarks_are_well_formed_and_disjoint_from_the_pool(demo: dict[str, Any]) -> None:
    pool_prompts = {_user(r) for r in demo["pool"]}
    assert [p.stem for p in demo["res"].bench_paths] == list(DOMAINS)
    for path in demo["res"].bench_paths:
        items = _jsonl(path)
        domain = DOMAINS[path.stem]
        assert len(items) == 60
        assert len({i["id"] for i in items}) == len({i["question"] for i in items}) == 60
        for item in items:
            assert set(item) == {"id", "question", "answer", "choices", "metadata"}
            assert item["question"] not in pool_prompts
            assert domain.solve(item["question"]) == item["answer"]
            assert item["answer"] in item["choices"]
            assert len(set(item["choices"])) == len(item["choices"])
            yes_no = item["answer"] in ("yes", "no", "true", "false")
            assert len(item["choices"]) == (2 if yes_no else 4), item
            assert item["metadata"]["domain"] == path.stem
            assert 0.0 <= item["metadata"]["difficulty"] <= 1.0


def test_reasoning_check_sets_pair_a_correct_and_a_flawed_solution(demo: dict[str, Any]) -> None:
    pool_prompts = {_user(r) for r in demo["pool"]}
    paths = demo["res"].reasoning_bench_paths
    assert [p.stem for p in paths] == list(DOMAINS)
    assert all(p.parent.name == "bench_reasoning" for p in paths)
    manifest = json.loads(demo["res"].manifest_path.read_text())
    assert manifest["files"]["bench_reasoning"] == {
        d: f"bench_reasoning/{d}.jsonl" for d in DOMAINS
    }
    first_slots = []
    for path in paths:
        domain, items = DOMAINS[path.stem], _jsonl(path)
        assert len(items) == 60 and len({i["question"] for i in items}) == 60
        for item in items:
            assert item["question"] not in pool_prompts
            good = item["answer"]
            assert len(item["choices"]) == 2 and good in item["choices"]
            flawed = next(c for c in item["choices"] if c != good)
            # Checked with the domain's independent solver, not the generator's answer.
            truth = domain.solve(item["question"])
            assert _last_line(good) == FINAL + truth
            assert _last_line(flawed).startswith(FINAL) and _last_line(flawed) != FINAL + truth
            assert item["metadata"]["kind"] == "reasoning_check"
            assert item["metadata"]["flawed_answer"] == _last_line(flawed)[len(FINAL):]
            first_slots.append(item["choices"].index(good))
    assert 0.3 < sum(first_slots) / len(first_slots) < 0.7  # the correct one moves around


def test_numeric_distractors_are_neighbouring_values(demo: dict[str, Any]) -> None:
    items = _jsonl(demo["res"].out_dir / "bench" / "arithmetic.jsonl")
    for item in items:
        answer = int(item["answer"])
        # One distractor may come from a wrong reasoning (anywhere); the others are neighbours.
        near = [c for c in item["choices"] if abs(int(c) - answer) <= 10]
        assert len(near) >= 3, item


def test_answers_are_not_always_in_the_same_choice_slot(demo: dict[str, Any]) -> None:
    items = _jsonl(demo["res"].out_dir / "bench" / "dates.jsonl")
    slots = {item["choices"].index(item["answer"]) for item in items}
    assert len(slots) >= 3


def test_fewshot_examples_are_disjoint_too(tmp_path: Path) -> None:
    res = generate_demo_pool(tmp_path, seed=2, bench_fewshot=2, bench_size=10)
    pool_prompts = {_user(r) for r in _jsonl(res.pool_path)}
    for path in res.bench_paths:
        items = _jsonl(path)
        shots = items[0]["fewshot"]
        assert len(shots) == 2 and all(i["fewshot"] == shots for i in items)
        questions = {s["question"] for s in shots}
        assert not questions & pool_prompts
        assert not questions & {i["question"] for i in items}
        assert all(DOMAINS[path.stem].solve(s["question"]) == s["answer"] for s in shots)


# ------------------------------------------------------------------------------ CLI

def test_cli_demo_pool_prints_counts(tmp_path: Path) -> None:
    args = ["demo-pool", str(tmp_path / "d"), "--size", "small", "--seed", "4", "--kind",
            "reasoning"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrong_answer" in result.output and "800" in result.output
    assert (tmp_path / "d" / "pool.jsonl").is_file()
    bad = CliRunner().invoke(app, ["demo-pool", str(tmp_path / "e"), "--size", "huge"])
    assert isinstance(bad.exception, ConfigError)


# ---------------------------------------------------------------------------- large

LARGE_BUDGET_S = 15.0


@pytest.mark.slow
def test_large_size_generates(tmp_path: Path) -> None:
    # Not a timing test (timings live in benchmarks/): the large pool (about 10 s of CPU) is
    # generated only when a medium pool, 10x smaller, predicts it fits the budget on this
    # machine now (the CPU may be shared).
    probe = generate_demo_pool(tmp_path / "probe", size="medium", seed=0, bench_size=1)
    estimate = probe.seconds * SIZES["large"] / SIZES["medium"]
    if estimate > LARGE_BUDGET_S:
        pytest.skip(f"large pool estimated at {estimate:.0f} s here (budget {LARGE_BUDGET_S} s)")
    res = generate_demo_pool(tmp_path / "large", size="large", seed=0, bench_size=20)
    assert res.n_samples == _n_lines(res.pool_path) == 100_000
    labels = load_labels(res.labels_path)
    assert labels["id"].is_unique and len(labels) == 100_000
    realised = _realised(labels)
    for defect, rate in json.loads(res.manifest_path.read_text())["configured_rates"].items():
        assert realised[defect] == pytest.approx(rate, abs=0.001), defect
