"""Bad input: a clear error naming file, line/record and field; nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.errors import InputError
from autosel.pool.ingest import add_pool
from autosel.settings import Settings

GOOD = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


def _write(path: Path, lines: list[str | bytes]) -> Path:
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    path.write_bytes(data)
    return path


def _pools(settings: Settings) -> list[str]:
    root = settings.pools_dir
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


CASES = {
    "malformed_json": (
        [json.dumps(GOOD), '{"messages": [', json.dumps(GOOD)],
        2,
        None,
        "malformed JSON",
    ),
    "missing_response_chat": (
        [json.dumps(GOOD), json.dumps({"messages": [{"role": "user", "content": "q"}]})],
        2,
        "messages[0]",
        "missing the response",
    ),
    "missing_response_alpaca": ([json.dumps({"instruction": "i"})], 1, "output", "missing"),
    "unknown_role": (
        [
            json.dumps(
                {
                    "messages": [
                        {"role": "wizard", "content": "q"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            )
        ],
        1,
        "messages[0].role",
        "unknown role 'wizard'; accepted: system, user, assistant, tool",
    ),
    "unknown_sharegpt_role": (
        [
            json.dumps(
                {"conversations": [{"from": "robot", "value": "q"}, {"from": "gpt", "value": "a"}]}
            )
        ],
        1,
        "conversations[0].from",
        "unknown role 'robot'",
    ),
    "non_utf8": (
        [json.dumps(GOOD), b'{"prompt": "caf\xe9", "response": "x"}'],
        2,
        None,
        "not valid UTF-8",
    ),
    "mixed_formats": (
        [json.dumps(GOOD), json.dumps({"prompt": "p", "response": "r"})],
        2,
        None,
        "mixed formats",
    ),
    "no_format": ([json.dumps({"text": "hello"})], 1, None, "matches no known format"),
    "not_an_object": (["42"], 1, None, "expected a JSON object, got int"),
    "bad_correct": (
        [json.dumps({**GOOD, "correct": "yes"})],
        1,
        "correct",
        "expected true or false",
    ),
    "bad_difficulty": (
        [json.dumps({**GOOD, "difficulty": "impossible"})],
        1,
        "difficulty",
        "expected a number",
    ),
    "duplicate_id": (
        [json.dumps({**GOOD, "id": "x"}), json.dumps({**GOOD, "id": "x"})],
        2,
        "id",
        "duplicate id 'x' (first used at line 1)",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_record_is_reported_precisely(tmp_path: Path, settings: Settings, case: str) -> None:
    lines, line, field, text = CASES[case]
    path = _write(tmp_path / f"{case}.jsonl", lines)
    with pytest.raises(InputError) as exc:
        add_pool(path, settings=settings)
    err = exc.value
    assert err.path == str(path) and err.line == line and err.field == field
    assert text in err.message
    msg = str(err)
    assert str(path) in msg and f"line {line}" in msg
    assert _pools(settings) == [], "a failed ingest must leave nothing behind"


def test_empty_file(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="file is empty"):
        add_pool(path, settings=settings)
    blank = _write(tmp_path / "blank.jsonl", ["", "   "])
    with pytest.raises(InputError, match="no valid records"):
        add_pool(blank, settings=settings)
    assert _pools(settings) == []


def test_huge_single_line_is_rejected_without_reading_it_whole(
    tmp_path: Path, settings: Settings
) -> None:
    big = {"prompt": "p", "response": "x" * (50 * 1024 * 1024)}
    path = _write(tmp_path / "big.jsonl", [json.dumps(GOOD), json.dumps(big), json.dumps(GOOD)])
    with pytest.raises(InputError) as exc:
        add_pool(path, settings=settings)
    assert exc.value.line == 2 and "larger than the limit" in exc.value.message
    assert "AUTOSEL_MAX_RECORD_BYTES" in exc.value.message
    # With --skip-invalid the oversized line is skipped and the rest ingests.
    res = add_pool(path, skip_invalid=True, settings=settings)
    assert len(res.pool) == 2 and res.skipped == 1


def test_skip_invalid_writes_report(tmp_path: Path, settings: Settings) -> None:
    lines = [
        json.dumps(GOOD),
        "{oops",
        json.dumps({"messages": [{"role": "user", "content": "q"}]}),
        json.dumps({**GOOD, "source": "b"}),
    ]
    res = add_pool(_write(tmp_path / "mixed.jsonl", lines), skip_invalid=True, settings=settings)
    assert len(res.pool) == 2 and res.skipped == 2
    report = [json.loads(x) for x in res.report_path.read_text().splitlines()]
    assert [r["line"] for r in report] == [2, 3]
    assert report[1]["field"] == "messages[0]" and "missing the response" in report[1]["error"]
    assert res.pool.manifest["skipped"] == 2


def test_re_adding_stored_content_keeps_its_report_and_says_the_name_is_not_applied(
    tmp_path: Path, settings: Settings
) -> None:
    """The same kept records under another name, with invalid lines the first ingest did
    not have: the stored pool is returned (content-addressed, old name kept, and the
    result says the new name was not applied), and this ingest's skipped report exists."""
    clean = add_pool(
        _write(tmp_path / "clean.jsonl", [json.dumps(GOOD)]), name="first", settings=settings
    )
    assert clean.created and clean.report_path is None and clean.name_not_applied is None
    res = add_pool(
        _write(tmp_path / "dirty.jsonl", [json.dumps(GOOD), "{oops"]),
        name="second",
        skip_invalid=True,
        settings=settings,
    )
    assert not res.created and res.pool.pool_id == clean.pool.pool_id
    assert res.pool.name == "first" and res.name_not_applied == "second"
    assert res.skipped == 1 and res.report_path is not None and res.report_path.is_file()
    assert [json.loads(x)["line"] for x in res.report_path.read_text().splitlines()] == [2]
    same = add_pool(tmp_path / "clean.jsonl", name="first", settings=settings)
    assert same.name_not_applied is None and same.report_path is None


def test_json_array_errors_name_the_record(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "arr.json"
    bad = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": 3}]}
    path.write_text(json.dumps([GOOD, bad]))
    with pytest.raises(InputError) as exc:
        add_pool(path, settings=settings)
    assert exc.value.unit == "record" and exc.value.line == 2
    assert (
        exc.value.field == "messages[1].content"
        and "expected a string, got int" in exc.value.message
    )
    assert "record 2" in str(exc.value)
    broken = tmp_path / "broken.json"
    broken.write_text('[\n {"prompt": "p", "response": "r"},\n {"prompt": \n')
    with pytest.raises(InputError, match=r"malformed JSON after record 1.*line \d+, column \d+"):
        add_pool(broken, settings=settings)


def test_missing_file_and_bad_options(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(InputError, match="no such file"):
        add_pool(tmp_path / "nope.jsonl", settings=settings)
    path = _write(tmp_path / "ok.jsonl", [json.dumps(GOOD)])
    with pytest.raises(InputError, match="accepted: auto, chat, alpaca, sharegpt, prompt_response"):
        add_pool(path, fmt="csv", settings=settings)


def test_existing_pool_survives_a_failed_ingest(tmp_path: Path, settings: Settings) -> None:
    path = _write(tmp_path / "ok.jsonl", [json.dumps(GOOD)])
    res = add_pool(path, settings=settings)
    before = sorted(p.name for p in res.pool.path.iterdir())
    bad = _write(tmp_path / "bad.jsonl", [json.dumps(GOOD), "{"])
    with pytest.raises(InputError):
        add_pool(bad, settings=settings)
    assert _pools(settings) == [res.pool.pool_id]
    assert sorted(p.name for p in res.pool.path.iterdir()) == before
    assert list(res.pool.rows())[0]["response"] == "a"
