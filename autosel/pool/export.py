"""Export a subset of a pool back to training-file formats.

``chat`` (OpenAI messages), ``alpaca`` (LLaMA-Factory variant with ``system`` and
``history`` so multi-turn prompts survive), ``sharegpt`` (``conversations``), all JSONL
(gzip when the file name ends in ``.gz``), and ``hf`` (a Hugging Face ``datasets``
directory written with ``save_to_disk``, chat ``messages`` column). Every format keeps
``id`` and the optional fields, so exporting and ingesting again gives the same records
and the same sample ids.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from autosel.errors import ConfigError
from autosel.pool.pool import Pool

EXPORT_FORMATS = ("chat", "alpaca", "sharegpt", "hf")
_SHAREGPT_FROM = {"system": "system", "user": "human", "assistant": "gpt", "tool": "observation"}


def _optional(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row["sample_id"], "source": row["source"]}
    for key in ("difficulty", "answer", "group", "correct"):
        if row.get(key) is not None:
            out[key] = row[key]
    if row.get("metadata"):
        out["metadata"] = orjson.loads(row["metadata"])
    return out


def to_chat(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical row → OpenAI-style chat record."""
    msgs = [dict(m) for m in row["prompt"]] + [{"role": "assistant", "content": row["response"]}]
    return {"messages": msgs, **_optional(row)}


def to_sharegpt(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical row → ShareGPT record (``conversations: [{from, value}]``)."""
    msgs = list(row["prompt"]) + [{"role": "assistant", "content": row["response"]}]
    conv = [{"from": _SHAREGPT_FROM[m["role"]], "value": m["content"]} for m in msgs]
    return {"conversations": conv, **_optional(row)}


def to_alpaca(row: dict[str, Any]) -> dict[str, Any]:
    """Canonical row → Alpaca record; system prompt and earlier turns go to system/history.

    Raises:
        ConfigError: the prompt cannot be expressed in Alpaca form (e.g. tool messages).
    """
    prompt = list(row["prompt"])
    rec: dict[str, Any] = {}
    if prompt and prompt[0]["role"] == "system":
        rec["system"] = prompt.pop(0)["content"]
    if not prompt or prompt[-1]["role"] != "user":
        raise ConfigError(
            f"sample {row['sample_id']}: Alpaca needs a final user turn; export as chat instead"
        )
    last = prompt.pop()
    history = []
    if len(prompt) % 2 or any(
        m["role"] != want
        for m, want in zip(prompt, ["user", "assistant"] * len(prompt), strict=False)
    ):
        raise ConfigError(
            f"sample {row['sample_id']}: prompt turns do not alternate user/assistant; export as chat instead"
        )
    for i in range(0, len(prompt), 2):
        history.append([prompt[i]["content"], prompt[i + 1]["content"]])
    rec.update({"instruction": last["content"], "input": "", "output": row["response"]})
    if history:
        rec["history"] = history
    return {**rec, **_optional(row)}


CONVERTERS = {"chat": to_chat, "alpaca": to_alpaca, "sharegpt": to_sharegpt}


def jsonl_lines(records: Iterable[dict[str, Any]], fmt: str | None = None) -> Iterator[bytes]:
    """One JSON line (``\\n``-terminated bytes) per canonical row, lazily.

    Args:
        records: canonical pool rows.
        fmt: ``chat``, ``alpaca`` or ``sharegpt``; None writes the canonical row as is.
    """
    convert = CONVERTERS[fmt] if fmt is not None else None
    for row in records:
        yield orjson.dumps(convert(row) if convert else row) + b"\n"


def _open_out(path: Path, gz: bool) -> Any:
    return gzip.open(path, "wb") if gz else open(path, "wb")


def export_records(
    records: Iterable[dict[str, Any]], out: str | os.PathLike[str], fmt: str = "chat"
) -> int:
    """Write canonical rows to ``out`` in ``fmt``; atomic (temp file + rename). Returns the count."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format '{fmt}'; accepted: {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        return _export_hf(records, out)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    n = 0
    try:
        with _open_out(tmp, gz=out.name.endswith(".gz")) as f:
            for line in jsonl_lines(records, fmt):
                f.write(line)
                n += 1
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def _export_hf(records: Iterable[dict[str, Any]], out: Path) -> int:
    from datasets import Dataset

    rows = [to_chat(r) for r in records]
    # Keep one schema for every row: absent optional fields become null, metadata a JSON string.
    keys = ["id", "messages", "source", "difficulty", "answer", "group", "correct", "metadata"]
    cols: dict[str, list[Any]] = {k: [] for k in keys}
    for r in rows:
        for k in keys:
            v = r.get(k)
            cols[k].append(orjson.dumps(v).decode() if k == "metadata" and v is not None else v)
    ds = Dataset.from_dict(cols)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        ds.save_to_disk(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return len(rows)


def iter_subset(
    pool: Pool,
    *,
    ids: Sequence[str] | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
) -> Iterator[dict[str, Any]]:
    """Canonical rows of a subset given by sample ids or row indices (all rows if neither)."""
    if ids is not None and indices is not None:
        raise ConfigError("give either ids or indices, not both")
    if ids is not None:
        indices = pool.indices_of(list(ids))
    return pool.rows(indices)


def export_subset(
    pool: Pool,
    out: str | os.PathLike[str],
    fmt: str = "chat",
    *,
    ids: Sequence[str] | None = None,
    indices: Sequence[int] | np.ndarray | None = None,
) -> int:
    """Export a subset of ``pool`` (by sample ids or row indices; default all) to ``out``."""
    return export_records(iter_subset(pool, ids=ids, indices=indices), out, fmt)
