"""Every supported format and container ingests to the same canonical records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autosel.pool.ingest import add_pool
from autosel.settings import Settings

CHAT = [
    {
        "id": "a1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
        ],
        "source": "math",
        "difficulty": 0.2,
        "answer": "4",
        "group": "g1",
        "correct": True,
        "metadata": {"origin": "unit", "tags": ["x"]},
    },
    {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "hi"}]},
]


def _write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _rows(res) -> list[dict]:  # type: ignore[no-untyped-def]
    return list(res.pool.rows())


def test_chat_jsonl_carries_optional_fields(tmp_path: Path, settings: Settings) -> None:
    res = add_pool(_write_jsonl(tmp_path / "p.jsonl", CHAT), settings=settings)
    rows = _rows(res)
    assert res.created and len(rows) == 2
    first, second = rows
    assert first["sample_id"] == "a1"
    assert first["prompt"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert first["response"] == "4"
    assert (first["source"], first["difficulty"], first["answer"]) == ("math", 0.2, "4")
    assert (first["group"], first["correct"]) == ("g1", True)
    assert json.loads(first["metadata"]) == {"origin": "unit", "tags": ["x"]}
    assert second["sample_id"].startswith("h:") and second["source"] == "default"
    assert res.pool.manifest["format"] == "chat"
    assert res.pool.manifest["source_counts"] == {"default": 1, "math": 1}


def test_alpaca_with_input_system_and_history(tmp_path: Path, settings: Settings) -> None:
    rec = {
        "instruction": "Add the numbers.",
        "input": "3 and 4",
        "output": "7",
        "system": "You are a calculator.",
        "history": [["hello", "hi there"]],
        "target": 7,
    }
    rows = _rows(add_pool(_write_jsonl(tmp_path / "a.jsonl", [rec]), settings=settings))
    assert rows[0]["prompt"] == [
        {"role": "system", "content": "You are a calculator."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi there"},
        {"role": "user", "content": "Add the numbers.\n\n3 and 4"},
    ]
    assert rows[0]["response"] == "7" and rows[0]["answer"] == "7"


def test_sharegpt_roles_are_mapped(tmp_path: Path, settings: Settings) -> None:
    rec = {
        "conversations": [
            {"from": "system", "value": "S"},
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "A"},
        ]
    }
    rows = _rows(add_pool(_write_jsonl(tmp_path / "s.jsonl", [rec]), settings=settings))
    assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]
    assert rows[0]["response"] == "A"


@pytest.mark.parametrize("key", ["response", "completion"])
def test_prompt_response(tmp_path: Path, settings: Settings, key: str) -> None:
    rows = _rows(
        add_pool(
            _write_jsonl(tmp_path / "pr.jsonl", [{"prompt": "P", key: "R"}]), settings=settings
        )
    )
    assert rows[0]["prompt"] == [{"role": "user", "content": "P"}] and rows[0]["response"] == "R"


def test_containers_give_identical_pools(tmp_path: Path, settings: Settings) -> None:
    jsonl = _write_jsonl(tmp_path / "c.jsonl", CHAT)
    arr = tmp_path / "c.json"
    arr.write_text(json.dumps(CHAT, indent=1), encoding="utf-8")
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    pq_path = tmp_path / "c.parquet"
    flat = [dict(r, metadata=r.get("metadata")) for r in CHAT]
    pq.write_table(pa.Table.from_pylist(flat), pq_path)
    paths = (jsonl, arr, gz, pq_path)
    # Each container into its own store: every reader runs for real.
    pools = [add_pool(p, settings=Settings(home=tmp_path / f"h{i}")) for i, p in enumerate(paths)]
    assert [p.pool.manifest["container"] for p in pools] == ["jsonl", "json", "jsonl", "parquet"]
    assert pools[2].pool.manifest["compression"] == "gzip"
    assert len({p.pool.pool_id for p in pools}) == 1, "same records must give the same pool"
    assert len({json.dumps(list(p.pool.rows())) for p in pools}) == 1
    # Into one store: the first creates the pool, the others find it.
    again = [add_pool(p, settings=settings) for p in paths]
    assert [p.created for p in again] == [True, False, False, False]


def test_explicit_format_is_used(tmp_path: Path, settings: Settings) -> None:
    # A record with both 'prompt' and 'instruction' keys: auto picks alpaca; forcing works.
    rec = {"instruction": "I", "output": "O", "prompt": "P", "response": "R"}
    path = _write_jsonl(tmp_path / "x.jsonl", [rec])
    assert _rows(add_pool(path, settings=settings))[0]["response"] == "O"
    forced = add_pool(path, fmt="prompt_response", settings=settings)
    assert _rows(forced)[0]["response"] == "R"


def test_openai_text_content_parts(tmp_path: Path, settings: Settings) -> None:
    rec = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            },
            {"role": "assistant", "content": "c"},
        ]
    }
    rows = _rows(add_pool(_write_jsonl(tmp_path / "parts.jsonl", [rec]), settings=settings))
    assert rows[0]["prompt"][0]["content"] == "ab"


def test_difficulty_words_and_numbers(tmp_path: Path, settings: Settings) -> None:
    recs = [
        {"prompt": "p1", "response": "r", "difficulty": "hard"},
        {"prompt": "p2", "response": "r", "difficulty": 3},
    ]
    rows = _rows(add_pool(_write_jsonl(tmp_path / "d.jsonl", recs), settings=settings))
    assert [r["difficulty"] for r in rows] == [0.75, 3.0]
