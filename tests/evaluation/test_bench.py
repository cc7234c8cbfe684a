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


# ---------------------------------------------------------------- benchmarks as people have them

# MMLU as Hugging Face ships it: the gold choice is an integer index, the choices a list.
MMLU = [
    {
        "id": f"mmlu-{k}",
        "question": f"Which number is {k}?",
        "subject": "arith",
        "choices": [f"minus {k - 1}", f"plus {k + 100}", f"is {k}", f"plus {k + 7}"],
        "answer": 2,
    }
    for k in range(30)
]


def _save_to_disk(path: Path, records: list[dict]) -> Path:  # type: ignore[type-arg]
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_list(records).save_to_disk(str(path))
    return path


def test_index_answer_mc_is_one_benchmark_for_signals_and_evaluation(tmp_path: Path) -> None:
    """Relevance and evaluation read the same items through one loader; relevance embeds
    the dev questions only: no gold text, letter or index ever reaches the centroid."""
    from autosel.bench.load import load_benchmark_split
    from autosel.bench.spec import BenchmarkSpec
    from autosel.signals.relevance import dev_questions

    # MMLU fields renamed as another export might have them; mapped back by the spec.
    renamed = [
        {"id": r["id"], "stem": r["question"], "options": r["choices"], "label": r["answer"]}
        for r in MMLU
    ]
    bspec = BenchmarkSpec(
        name="mmlu",
        path=_save_to_disk(tmp_path / "mmlu_hf", renamed),
        fields={"question": "stem", "choices": "options", "answer": "label"},
    )
    dev = load_benchmark_split(bspec, "dev")
    assert dev.is_multiple_choice and 0 < len(dev.items) < len(MMLU)
    assert all(it.gold == 2 and it.answer == it.choices[2] for it in dev.items)
    embedded = dev_questions(bspec)
    assert embedded == [it.question for it in dev.items]
    golds = {it.answer for it in dev.items} | {"A", "B", "C", "D", "2"}
    assert not golds & set(embedded), "relevance embeds questions, never answers"
    # The same items as JSONL with a letter answer load identically.
    jsonl = tmp_path / "mmlu.jsonl"
    _write(jsonl, *({**r, "answer": "C"} for r in MMLU))
    same = load_benchmark_split(BenchmarkSpec(name="mmlu", path=jsonl), "dev")
    assert [(i.question, i.choices, i.gold) for i in same.items] == [
        (i.question, i.choices, i.gold) for i in dev.items
    ]


def test_parquet_benchmark_gsm8k_answers_and_arc_choices(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    gsm = [{"question": "2+3?", "answer": "2+3=5\n#### 5"}, {"question": "1+1?", "answer": "2"}]
    pq.write_table(pa.Table.from_pylist(gsm), tmp_path / "gsm.parquet")
    b = load_benchmark(tmp_path / "gsm.parquet")
    assert [it.answer for it in b.items] == ["5", "2"], "GSM8K's '#### x' is the reference"
    arc = {
        "id": "Mercury_1",
        "question": "Which is a gas?",
        "choices": {"text": ["iron", "oxygen", "salt"], "label": ["1", "2", "3"]},
        "answerKey": "2",
    }
    b = load_benchmark(_write(tmp_path / "arc.jsonl", arc), fields={"answer": "answerKey"})
    assert (b.items[0].gold, b.items[0].answer) == (1, "oxygen")


def test_mapped_or_missing_field_names_field_line_and_found(tmp_path: Path) -> None:
    p = _write(
        tmp_path / "m.jsonl", {"problem": "q", "solution": "a"}, {"problem": "q2", "sol": "b"}
    )
    with pytest.raises(InputError) as exc:
        load_benchmark(p, fields={"question": "problem", "answer": "solution"})
    e = exc.value
    assert (e.line, e.field) == (2, "solution")
    assert "fields found: problem, sol" in e.message
    with pytest.raises(InputError) as exc:  # unmapped: says what was found and how to map it
        load_benchmark(p)
    e = exc.value
    assert (e.line, e.field) == (1, "question")
    assert "fields found: problem, solution" in e.message and "fields: {question:" in e.message


def test_benchmark_spec_refuses_unknown_canonical_field() -> None:
    from pydantic import ValidationError

    from autosel.bench.spec import BenchmarkSpec

    with pytest.raises(ValidationError, match="unknown canonical field 'qestion'.*accepted: id"):
        BenchmarkSpec(name="b", path=Path("b.jsonl"), fields={"qestion": "problem"})
