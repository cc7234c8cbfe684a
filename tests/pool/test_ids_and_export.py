"""Sample-id stability across re-ingest, and export → ingest round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.errors import ConfigError, InputError
from autosel.pool import get_pool, list_pools
from autosel.pool.export import EXPORT_FORMATS, export_subset
from autosel.pool.ingest import add_pool
from autosel.settings import Settings


def _chat(q: str, a: str, **extra: object) -> dict:
    return {
        "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
        **extra,
    }


RECORDS = [
    _chat(
        "q1",
        "a1",
        source="s1",
        difficulty=0.5,
        answer="1",
        group="g",
        correct=True,
        metadata={"k": 1},
    ),
    _chat("q2", "a2"),
    _chat("q2", "a2"),  # exact duplicate: stays a distinct row with a distinct id
    _chat("q3", "a3", id="given-3", source="s2"),
    {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "u1"},
            {"role": "assistant", "content": "r1"},
            {"role": "user", "content": "u2"},
            {"role": "assistant", "content": "r2"},
        ],
        "source": "s2",
        "correct": False,
    },
    _chat("q2", "a2"),  # third copy
]


@pytest.fixture()
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return path


def test_ids_are_stable_and_duplicates_distinct(
    source_file: Path, settings: Settings, tmp_path: Path
) -> None:
    first = add_pool(source_file, settings=settings)
    ids = list(first.pool.sample_ids)
    assert len(set(ids)) == len(ids) == 6
    assert ids[3] == "given-3"
    assert ids[1].startswith("h:") and ids[2] == ids[1] + "-1" and ids[5] == ids[1] + "-2"
    assert first.pool.manifest["exact_duplicate_rows"] == 2
    # Same file again: same pool, not re-created; a fresh store gives the same ids too.
    again = add_pool(source_file, settings=settings)
    assert not again.created and again.pool.pool_id == first.pool.pool_id
    other = add_pool(source_file, settings=Settings(home=tmp_path / "other"))
    assert list(other.pool.sample_ids) == ids and other.pool.pool_id == first.pool.pool_id
    assert [p.pool_id for p in list_pools(settings)] == [first.pool.pool_id]


def test_changed_content_is_a_different_pool(
    source_file: Path, settings: Settings, tmp_path: Path
) -> None:
    a = add_pool(source_file, settings=settings)
    changed = tmp_path / "changed.jsonl"
    changed.write_text(source_file.read_text().replace('"a1"', '"a1!"'))
    b = add_pool(changed, settings=settings)
    assert b.created and b.pool.pool_id != a.pool.pool_id
    # Ids of untouched records do not move.
    assert list(b.pool.sample_ids)[1:] == list(a.pool.sample_ids)[1:]


@pytest.mark.parametrize("fmt", ["chat", "alpaca", "sharegpt"])
@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_export_round_trip(
    source_file: Path, settings: Settings, tmp_path: Path, fmt: str, suffix: str
) -> None:
    pool = add_pool(source_file, settings=settings).pool
    out = tmp_path / f"export-{fmt}{suffix}"
    assert export_subset(pool, out, fmt) == len(pool)
    back = add_pool(out, settings=Settings(home=tmp_path / "back")).pool
    assert back.manifest["format"] == fmt
    assert list(back.rows()) == list(pool.rows())
    assert back.pool_id == pool.pool_id


def test_export_subset_by_ids_keeps_ids(
    source_file: Path, settings: Settings, tmp_path: Path
) -> None:
    pool = add_pool(source_file, settings=settings).pool
    ids = [pool.sample_ids[4], pool.sample_ids[0]]
    out = tmp_path / "subset.jsonl"
    export_subset(pool, out, "chat", ids=ids)
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == ids
    back = add_pool(out, settings=Settings(home=tmp_path / "b")).pool
    assert list(back.rows()) == list(pool.rows([4, 0]))
    with pytest.raises(InputError, match="1 sample id\\(s\\) not in pool .*'nope'"):
        export_subset(pool, tmp_path / "x.jsonl", ids=["nope"])


def test_export_hf_save_to_disk(source_file: Path, settings: Settings, tmp_path: Path) -> None:
    from datasets import load_from_disk

    pool = add_pool(source_file, settings=settings).pool
    out = tmp_path / "hf"
    assert export_subset(pool, out, "hf") == len(pool)
    ds = load_from_disk(str(out))
    assert ds["id"] == list(pool.sample_ids)
    rows = list(pool.rows())
    assert ds[0]["messages"][-1] == {"role": "assistant", "content": rows[0]["response"]}
    assert json.loads(ds[0]["metadata"]) == {"k": 1} and ds[1]["metadata"] is None


def test_export_errors(source_file: Path, settings: Settings, tmp_path: Path) -> None:
    pool = add_pool(source_file, settings=settings).pool
    with pytest.raises(ConfigError, match="accepted: " + ", ".join(EXPORT_FORMATS)):
        export_subset(pool, tmp_path / "x", "csv")
    tool = tmp_path / "tool.jsonl"
    tool.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "u"},
                    {"role": "tool", "content": "t"},
                    {"role": "assistant", "content": "a"},
                ]
            }
        )
        + "\n"
    )
    tp = add_pool(tool, settings=settings).pool
    with pytest.raises(ConfigError, match="export as chat instead"):
        export_subset(tp, tmp_path / "t.jsonl", "alpaca")
    assert not (tmp_path / "t.jsonl").exists(), "a failed export leaves no partial file"


def test_get_pool_by_prefix_name_and_errors(source_file: Path, settings: Settings) -> None:
    pool = add_pool(source_file, name="mine", settings=settings).pool
    assert get_pool(pool.pool_id[:6], settings).pool_id == pool.pool_id
    assert get_pool("mine", settings).pool_id == pool.pool_id
    assert get_pool(str(pool.path), settings).pool_id == pool.pool_id
    from autosel.errors import NotFoundError

    with pytest.raises(NotFoundError, match="known pools: .*mine"):
        get_pool("zzz", settings)
