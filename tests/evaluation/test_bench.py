"""Benchmark files: validation errors name file, line and field; prompts use few-shot turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.bench.load import item_messages
from autosel.errors import InputError
from autosel.evaluation import load_benchmark

GOOD = {"id": "q1", "question": "2+3?", "answer": "5", "choices": ["4", "5", "6", "7"]}


def _write(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_loads_items_choices_letters_fewshot(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "b.jsonl",
        GOOD,
        "",
        {
            "question": "Pick",
            "answer": "c",
            "choices": ["x", "y", "z"],
            "fewshot": [{"question": "1+1?", "answer": 2}],
        },
        {"id": "free", "question": "3*3?", "answer": 9, "metadata": {"d": 1}},
    )
    b = load_benchmark(p)
    assert b.name == "b" and len(b.items) == 3 and not b.is_multiple_choice
    assert (b.items[0].gold, b.items[0].answer) == (1, "5")
    assert (b.items[1].gold, b.items[1].answer, b.items[1].id) == (2, "z", "b-3")
    assert b.items[2].answer == "9" and b.items[2].choices is None
    msgs = item_messages(b.items[1], n_fewshot=1, with_choices=True)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == "2" and msgs[2]["content"].endswith("A. x\nB. y\nC. z")
    assert len(load_benchmark(p, limit=2).items) == 2


@pytest.mark.parametrize(
    ("record", "line", "field", "fragment"),
    [
        ({"answer": "5"}, 2, "question", "non-empty string, got missing"),
        (
            {"question": "q", "answer": "9", "choices": ["4", "5"]},
            2,
            "answer",
            "neither one of the choices",
        ),
        ({"question": "q", "answer": "D", "choices": ["4", "5", "6"]}, 2, "answer", "letter A-C"),
        ({"question": "q", "answer": "4", "choices": ["4"]}, 2, "choices", "at least 2"),
        ({"question": "q", "answer": "4", "choices": ["4", "4"]}, 2, "choices", "distinct"),
        ({"question": "q", "answer": "4", "fewshot": [{"q": 1}]}, 2, "fewshot[0]", "question"),
        ({"id": "q1", "question": "q", "answer": "4"}, 2, "id", "duplicate id 'q1'"),
        ("{not json", 2, None, "invalid JSON"),
        ([1, 2], 2, None, "expected a JSON object"),
    ],
)
def test_errors_name_file_line_field(
    tmp_path: Path, record: object, line: int, field: str | None, fragment: str
) -> None:
    p = _write(tmp_path / "bad.jsonl", GOOD, record)
    with pytest.raises(InputError) as exc:
        load_benchmark(p)
    err = exc.value
    assert (err.path, err.line, err.field) == (str(p), line, field)
    assert fragment in str(err) and str(p) in str(err)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_benchmark(tmp_path / "nope.jsonl")
    with pytest.raises(InputError, match="no items"):
        load_benchmark(_write(tmp_path / "empty.jsonl", ""))


def test_demo_benchmarks_plug_in(demo_dir: Path) -> None:
    for path in sorted((demo_dir / "bench").glob("*.jsonl")):
        b = load_benchmark(path)
        assert b.is_multiple_choice and len(b.items) >= 10
        assert all(it.choices[it.gold] == it.answer for it in b.items)
