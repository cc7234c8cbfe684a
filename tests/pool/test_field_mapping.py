"""Pools as people have them: field maps, {question, answer} JSONL, save_to_disk, Parquet.

Each test ingests the same four GSM8K- or MATH-shaped records by one route and checks
the canonical rows; the error tests check that a bad map names the field, the first
offending line and the fields that were found, and that nothing is left in the store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from autosel.api import create_app
from autosel.errors import InputError
from autosel.pool.ingest import add_pool
from autosel.settings import Settings

GSM8K = [
    {
        "question": f"Tom has {i} apples and buys 3. How many?",
        "answer": f"{i}+3={i + 3}\n#### {i + 3}",
    }
    for i in range(4)
]
# The same items under MATH-style names, with an extra column that is carried nowhere.
MATH = [
    {"problem": r["question"], "solution": r["answer"], "level": f"Level {i}"}
    for i, r in enumerate(GSM8K)
]
MAP = "question=problem,answer=solution"


def _jsonl(path: Path, records: list[dict]) -> Path:  # type: ignore[type-arg]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _expected() -> list[tuple[str, str, str]]:
    return [(r["question"], r["answer"], r["answer"].rsplit("#### ", 1)[1]) for r in GSM8K]


def _canonical(pool) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    rows = list(pool.rows())
    assert all(len(r["prompt"]) == 1 and r["prompt"][0]["role"] == "user" for r in rows)
    return [(r["prompt"][0]["content"], r["response"], r["answer"]) for r in rows]


def _store_is_empty(settings: Settings) -> bool:
    d = settings.pools_dir
    return not d.exists() or not [p for p in d.iterdir() if not p.name.startswith(".upload")]


def test_plain_question_answer_jsonl_is_accepted(tmp_path: Path, settings: Settings) -> None:
    res = add_pool(_jsonl(tmp_path / "gsm8k.jsonl", GSM8K), settings=settings)
    assert res.pool.manifest["format"] == "question_answer"
    # The chain of thought is the SFT target; GSM8K's "#### x" is the reference answer.
    assert _canonical(res.pool) == _expected()


def test_map_via_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from autosel.cli import app, main
    from autosel.pool import list_pools

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    src = _jsonl(tmp_path / "math.jsonl", MATH)
    monkeypatch.setattr(sys, "argv", ["autosel", "pool", "add", str(src)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == InputError.exit_code
    text = " ".join(capsys.readouterr().err.split())
    assert "math.jsonl, line 1" in text and "fields found: level, problem, solution" in text
    assert "--map question=<field>,answer=<field>" in text
    runner = CliRunner()
    added = runner.invoke(app, ["pool", "add", str(src), "--map", MAP, "--name", "math"])
    assert added.exit_code == 0, added.output
    (pool,) = list_pools(Settings(home=tmp_path / "home"))
    assert _canonical(pool) == _expected()
    assert pool.manifest["field_map"] == {"question": "problem", "answer": "solution"}
    # Mapped or plain, the same content is the same pool.
    plain = add_pool(_jsonl(tmp_path / "g.jsonl", GSM8K), settings=Settings(home=tmp_path / "home"))
    assert plain.pool.pool_id == pool.pool_id and not plain.created


def test_map_via_api_upload_and_register(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    src = _jsonl(root / "math.jsonl", MATH)
    settings = Settings(home=tmp_path / "h", data_root=root)
    client = TestClient(create_app(settings), base_url="http://localhost")
    up = client.post(
        f"/v1/pools/upload?name=math&map={MAP}",
        content=src.read_bytes(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert up.status_code == 201, up.text
    reg = client.post(
        "/v1/pools/register",
        json={"path": "math.jsonl", "map": {"question": "problem", "answer": "solution"}},
    )
    assert reg.status_code == 201, reg.text
    assert (
        reg.json()["pool_id"] == up.json()["pool_id"] and up.json()["format"] == "question_answer"
    )
    bad = client.post(
        "/v1/pools/register", json={"path": "math.jsonl", "map": {"question": "nope"}}
    )
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert (err["line"], err["field"]) == (1, "nope")
    assert "fields found: level, problem, solution" in err["message"]


def test_save_to_disk_directory(tmp_path: Path, settings: Settings) -> None:
    datasets = pytest.importorskip("datasets")
    d = datasets.Dataset.from_list(MATH)
    d.save_to_disk(str(tmp_path / "math_hf"))
    res = add_pool(tmp_path / "math_hf", field_map=MAP, settings=settings)
    assert res.pool.manifest["container"] == "hf"
    assert _canonical(res.pool) == _expected()
    # A DatasetDict with several splits must be given one split's directory.
    datasets.DatasetDict(train=d, test=d).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(InputError, match=r"splits train, test: give one split's directory"):
        add_pool(tmp_path / "dd", field_map=MAP, settings=settings)
    split = add_pool(
        tmp_path / "dd" / "train", field_map=MAP, settings=Settings(home=tmp_path / "h2")
    )
    assert split.pool.pool_id == res.pool.pool_id and split.pool.name == "dd-train"


def test_save_to_disk_layout_written_by_pyarrow(tmp_path: Path, settings: Settings) -> None:
    """The layout datasets writes (Arrow stream shards listed in state.json), built by hand,
    so the reader is tested where datasets is not installed; two shards, rows in order."""
    out = tmp_path / "hf"
    out.mkdir()
    names = []
    for k, part in enumerate((MATH[:3], MATH[3:])):
        table = pa.Table.from_pylist(part)
        name = f"data-0000{k}-of-00002.arrow"
        with pa.ipc.new_stream(out / name, table.schema) as w:
            w.write_table(table)
        names.append({"filename": name})
    (out / "state.json").write_text(json.dumps({"_data_files": names, "_split": "train"}))
    (out / "dataset_info.json").write_text("{}")
    res = add_pool(out, field_map=MAP, settings=settings)
    assert _canonical(res.pool) == _expected()
    (out / names[1]["filename"]).unlink()
    with pytest.raises(InputError, match="listed in state.json but missing"):
        add_pool(out, field_map=MAP, settings=settings)


def test_parquet_with_mapping_and_nulls(tmp_path: Path, settings: Settings) -> None:
    rows = [
        {"uid": f"m{i}", "input": r["problem"], "output": r["solution"], "lvl": i or None}
        for i, r in enumerate(MATH)
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    res = add_pool(
        tmp_path / "m.parquet",
        field_map={"prompt": "input", "response": "output", "id": "uid", "difficulty": "lvl"},
        settings=settings,
    )
    got = list(res.pool.rows())
    assert [r["sample_id"] for r in got] == ["m0", "m1", "m2", "m3"]
    assert [r["difficulty"] for r in got] == [None, 1.0, 2.0, 3.0], "a null is an absent field"
    assert [r["response"] for r in got] == [r["solution"] for r in MATH]
    assert res.pool.manifest["format"] == "prompt_response"


def test_missing_mapped_field_names_field_line_and_found(
    tmp_path: Path, settings: Settings
) -> None:
    records = [*MATH[:2], {"problem": "p", "sol": "s"}, *MATH[2:]]
    src = _jsonl(tmp_path / "m.jsonl", records)
    with pytest.raises(InputError) as exc:
        add_pool(src, field_map=MAP, settings=settings)
    e = exc.value
    assert (e.line, e.field) == (3, "solution")
    assert "fields found: problem, sol" in e.message and "(for answer)" in e.message
    assert _store_is_empty(settings), "nothing half-written"


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("questio=problem", "unknown canonical field 'questio'"),
        ("question", "is not CANONICAL=SOURCE"),
        ("question=", "names no source field"),
        ("question=problem,question=solution", "mapped twice"),
    ],
)
def test_malformed_map_is_refused_before_reading(
    tmp_path: Path, settings: Settings, bad: str, says: str
) -> None:
    with pytest.raises(InputError, match=says) as exc:
        add_pool(_jsonl(tmp_path / "m.jsonl", MATH), field_map=bad, settings=settings)
    assert exc.value.field == "map" and "--map question=<field>" in exc.value.message
    assert _store_is_empty(settings)


def test_api_registers_a_save_to_disk_directory_inside_the_root_only(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    root = tmp_path / "data"
    datasets.Dataset.from_list(MATH).save_to_disk(str(root / "math_hf"))
    datasets.Dataset.from_list(MATH).save_to_disk(str(tmp_path / "outside_hf"))
    client = TestClient(
        create_app(Settings(home=tmp_path / "h", data_root=root)), base_url="http://localhost"
    )
    ok = client.post(
        "/v1/pools/register",
        json={"path": "math_hf", "map": {"question": "problem", "answer": "solution"}},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["rows"] == len(MATH) and ok.json()["format"] == "question_answer"
    out = client.post("/v1/pools/register", json={"path": str(tmp_path / "outside_hf")})
    assert out.status_code == 403 and out.json()["error"]["code"] == "path_not_allowed"
