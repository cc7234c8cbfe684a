"""Streaming ingestion of a pool file into a content-addressed Parquet pool.

Containers: JSONL (optionally gzip), JSON array (streamed with ijson), Parquet.
Formats: see :mod:`autosel.pool.formats`. Memory stays bounded by one batch of rows plus
one small digest per row (for sample ids and duplicate counting), so a 1 GB JSONL file
is ingested in well under 1 GB of RAM.

Atomicity: everything is written into ``pools/.tmp-*`` and renamed to
``pools/<pool_id>`` at the very end; a failed or interrupted ingest leaves no pool.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from autosel.errors import InputError
from autosel.pool.formats import FORMATS, RecordError, detect_format, normalize
from autosel.pool.pool import MANIFEST_NAME, PARQUET_NAME, SKIPPED_NAME, Pool
from autosel.pool.schema import POOL_SCHEMA, SCHEMA_VERSION
from autosel.settings import Settings, get_settings

BATCH_ROWS = 8192
CONTAINERS = ("auto", "jsonl", "json", "parquet")


@dataclass(frozen=True)
class IngestResult:
    """What ``add_pool`` did: the pool, whether it is new, and what was skipped."""

    pool: Pool
    created: bool
    skipped: int
    report_path: Path | None
    seconds: float


# ---------------------------------------------------------------------------- readers


def _open_bytes(path: Path) -> IO[bytes]:
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def sniff_container(path: Path) -> str:
    """``parquet``, ``json`` (array) or ``jsonl`` from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        return "parquet"
    with _open_bytes(path) as f:
        chunk = f.read(4096)
    stripped = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped.startswith(b"[") else "jsonl"


def _iter_jsonl(path: Path, max_bytes: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed)``; parsed is a RecordError for bad lines."""
    with _open_bytes(path) as f:
        lineno = 0
        while True:
            raw = f.readline(max_bytes + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # skip the rest of the oversized line without holding it
                    more = f.readline(1 << 20)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                yield (
                    lineno,
                    RecordError(
                        f"line is {size / 1e6:.1f} MB, larger than the limit of {max_bytes / 1e6:.1f} MB "
                        "per record (set AUTOSEL_MAX_RECORD_BYTES to accept larger records)"
                    ),
                )
                continue
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                # orjson validates UTF-8 itself; decode only to explain a failure.
                yield lineno, orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                if not raw.strip():
                    continue
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as u:
                    yield (
                        lineno,
                        RecordError(
                            f"not valid UTF-8 (byte 0x{raw[u.start]:02x} at column {u.start + 1}); "
                            "re-encode the file as UTF-8"
                        ),
                    )
                    continue
                yield lineno, RecordError(f"malformed JSON: {e.msg} at column {e.colno}")


def _iter_json_array(path: Path) -> Iterator[tuple[int, Any]]:
    import ijson

    n = 0
    try:
        with _open_bytes(path) as f:
            for n, item in enumerate(ijson.items(f, "item", use_float=True), start=1):  # noqa: B007
                yield n, item
    except UnicodeDecodeError as e:
        raise InputError(
            f"not valid UTF-8 near byte {e.start}; re-encode the file as UTF-8", path=path
        ) from e
    except ijson.JSONError as e:
        raise InputError(
            f"malformed JSON after record {n}: {_json_position(path) or e}",
            path=path,
            line=n + 1,
            unit="record",
        ) from e


def _json_position(path: Path) -> str | None:
    """Exact line/column of a JSON syntax error (re-parsed with json, small files only)."""
    if path.stat().st_size > 256 * 1024 * 1024:
        return None
    try:
        with _open_bytes(path) as f:
            json.loads(f.read().decode("utf-8"))
    except json.JSONDecodeError as e:
        return f"{e.msg} at line {e.lineno}, column {e.colno}"
    except Exception:  # noqa: BLE001 - only a better message is at stake
        return None
    return None


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"not a readable Parquet file: {e}", path=path) from e
    n = 0
    for batch in pf.iter_batches(batch_size=BATCH_ROWS):
        for rec in batch.to_pylist():
            n += 1
            yield n, {k: v for k, v in rec.items() if v is not None}


# ---------------------------------------------------------------------------- ingest


class _Writer:
    """Batches canonical rows into a Parquet file and hashes them in order."""

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(path, POOL_SCHEMA, compression="zstd")
        self.rows: list[dict[str, Any]] = []
        self.hasher = hashlib.sha256()
        self.count = 0

    def add(self, row: dict[str, Any]) -> None:
        self.hasher.update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))
        self.rows.append(row)
        self.count += 1
        if len(self.rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_batch(pa.RecordBatch.from_pylist(self.rows, schema=POOL_SCHEMA))
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()


def _content_digest(row: dict[str, Any]) -> bytes:
    return hashlib.blake2b(orjson.dumps([row["prompt"], row["response"]]), digest_size=8).digest()


def add_pool(
    path: str | os.PathLike[str],
    *,
    fmt: str = "auto",
    container: str = "auto",
    name: str | None = None,
    skip_invalid: bool = False,
    settings: Settings | None = None,
) -> IngestResult:
    """Ingest ``path`` into the pool store and return the (possibly pre-existing) pool.

    Args:
        path: the input file.
        fmt: ``auto`` or one of :data:`~autosel.pool.formats.FORMATS`.
        container: ``auto``, ``jsonl``, ``json`` or ``parquet`` (gzip is detected).
        name: a display name (default: the file name without extensions).
        skip_invalid: ingest the valid records and write a report of the others
            (``skipped.jsonl`` in the pool directory) instead of failing.
        settings: service settings (default: from the environment).

    Raises:
        InputError: naming the file, line/record and field of the first bad record.
    """
    t0 = time.perf_counter()
    settings = settings or get_settings()
    src = Path(path).expanduser()
    if fmt not in ("auto", *FORMATS):
        raise InputError(f"unknown format '{fmt}'; accepted: auto, {', '.join(FORMATS)}", path=src)
    if container not in CONTAINERS:
        raise InputError(
            f"unknown container '{container}'; accepted: {', '.join(CONTAINERS)}", path=src
        )
    if not src.is_file():
        raise InputError("no such file", path=src)
    if src.stat().st_size == 0:
        raise InputError("file is empty: no records to ingest", path=src)
    kind = sniff_container(src) if container == "auto" else container
    unit = "line" if kind == "jsonl" else "record"
    records: Iterator[tuple[int, Any]]
    if kind == "jsonl":
        records = _iter_jsonl(src, settings.max_record_bytes)
    elif kind == "json":
        records = _iter_json_array(src)
    else:
        records = _iter_parquet(src)

    pools_dir = settings.pools_dir
    pools_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=pools_dir))
    try:
        result = _ingest_into(tmp, records, src, fmt, unit, skip_invalid)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": name or src.name.split(".")[0],
            "source_file": str(src.resolve()),
            "source_bytes": src.stat().st_size,
            "container": kind,
            "compression": "gzip" if _is_gzip(src) else None,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **result,
        }
        pool_id = manifest["content_hash"][:16]
        manifest["pool_id"] = pool_id
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        final = pools_dir / pool_id
        created = not final.exists()
        if created:
            os.replace(tmp, final)
        else:
            shutil.rmtree(tmp)  # same content already stored: keep the existing pool as is
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report = final / SKIPPED_NAME
    return IngestResult(
        pool=Pool.open(final),
        created=created,
        skipped=manifest["skipped"] if created else int(manifest["skipped"]),
        report_path=report if report.exists() else None,
        seconds=time.perf_counter() - t0,
    )


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _ingest_into(
    tmp: Path,
    records: Iterator[tuple[int, Any]],
    src: Path,
    fmt: str,
    unit: str,
    skip_invalid: bool,
) -> dict[str, Any]:
    writer = _Writer(tmp / PARQUET_NAME)
    report: io.TextIOWrapper | None = None
    skipped = 0
    file_fmt = None if fmt == "auto" else fmt
    fmt_from = 0
    seen_digest: Counter[bytes] = Counter()
    given_ids: dict[str, int] = {}
    sources: Counter[str] = Counter()
    duplicates = 0
    present = Counter[str]()
    try:
        for lineno, rec in records:
            try:
                if isinstance(rec, RecordError):
                    raise rec
                if fmt == "auto":
                    rec_fmt = detect_format(rec)
                    if file_fmt is None:
                        file_fmt, fmt_from = rec_fmt, lineno
                    elif rec_fmt != file_fmt:
                        raise RecordError(
                            f"record is in {rec_fmt} format but the file is {file_fmt} (detected from "
                            f"{unit} {fmt_from}); mixed formats in one file are not accepted — split the "
                            "file, or pass --format to force one"
                        )
                row = normalize(rec, file_fmt)  # type: ignore[arg-type]
                digest = _content_digest(row)
                n_before = seen_digest[digest]
                if row["sample_id"] is None:
                    row["sample_id"] = f"h:{digest.hex()}" + (f"-{n_before}" if n_before else "")
                sid = row["sample_id"]
                if sid in given_ids:
                    raise RecordError(
                        f"duplicate id '{sid}' (first used at {unit} {given_ids[sid]}); ids must be unique",
                        "id",
                    )
            except RecordError as err:
                if not skip_invalid:
                    raise InputError(
                        err.message, path=src, line=lineno, field=err.field, unit=unit
                    ) from None
                skipped += 1
                if report is None:
                    # Opened lazily (most ingests skip nothing); closed in the finally below.
                    report = open(tmp / SKIPPED_NAME, "w", encoding="utf-8")  # noqa: SIM115
                report.write(
                    json.dumps({unit: lineno, "field": err.field, "error": err.message}) + "\n"
                )
                continue
            seen_digest[digest] = n_before + 1
            duplicates += n_before > 0
            given_ids[sid] = lineno
            sources[row["source"]] += 1
            for key in ("difficulty", "answer", "group", "correct", "metadata"):
                if row[key] is not None:
                    present[key] += 1
            writer.add(row)
    finally:
        writer.close()
        if report is not None:
            report.close()
    if writer.count == 0:
        detail = f" ({skipped} invalid records skipped, see the report)" if skipped else ""
        raise InputError(f"no valid records: the file holds no samples{detail}", path=src)
    return {
        "format": file_fmt,
        "rows": writer.count,
        "skipped": skipped,
        "source_counts": dict(sorted(sources.items())),
        "fields_present": dict(sorted(present.items())),
        "exact_duplicate_rows": duplicates,
        "content_hash": writer.hasher.hexdigest(),
    }
