"""Streaming ingestion of a pool file into a content-addressed Parquet pool.

Containers: JSONL (optionally gzip), JSON array (streamed with ijson), Parquet, and a
Hugging Face ``datasets`` directory written by ``save_to_disk`` (``hf``: Arrow stream
files listed in ``state.json``, read with pyarrow; ``datasets`` itself is not needed).
Formats: see :mod:`autosel.pool.formats`; a field map renames each record's fields
before the format is detected (:func:`autosel.pool.formats.apply_field_map`). Memory stays bounded by one batch of rows plus
one small digest per row (for sample ids and duplicate counting), so a 1 GB JSONL file
is ingested in well under 1 GB of RAM.

Atomicity: everything is written into ``pools/.tmp-*`` and renamed to
``pools/<pool_id>`` at the very end; a failed or interrupted ingest leaves no pool, and
the temp dir of a killed one is removed by the next ingest (:func:`clean_stale_tmp`).
A damaged input (truncated or corrupt gzip, unreadable file) is an :class:`InputError`
naming the file and line/record; a failing pool store (disk full, read-only, permission
denied) is a :class:`StorageError`.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from autosel.errors import InputError, StorageError, describe_os_error
from autosel.pool.formats import (
    FORMATS,
    RecordError,
    apply_field_map,
    detect_format,
    normalize,
    parse_field_map,
)
from autosel.pool.pool import MANIFEST_NAME, PARQUET_NAME, SKIPPED_NAME, Pool
from autosel.pool.schema import POOL_SCHEMA, SCHEMA_VERSION
from autosel.settings import Settings, get_settings

try:  # POSIX: advisory locks that die with their process
    import fcntl
except ImportError:  # pragma: no cover - Windows: stale temp dirs are left alone
    fcntl = None  # type: ignore[assignment]  # no fcntl on Windows; callers check for None

log = logging.getLogger(__name__)

BATCH_ROWS = 8192
CONTAINERS = ("auto", "jsonl", "json", "parquet", "hf")
COLUMNAR = ("parquet", "hf")  # containers whose nulls mean "field absent"


@dataclass(frozen=True)
class IngestResult:
    """What ``add_pool`` did: the pool, whether it is new, and what was skipped."""

    pool: Pool
    created: bool
    skipped: int
    report_path: Path | None
    seconds: float
    # The name asked for when the content was already stored under another name: pools
    # are content-addressed, so the stored pool (and its name) is returned unchanged.
    name_not_applied: str | None = None


# ---------------------------------------------------------------------------- readers


GZIP_MAGIC = b"\x1f\x8b"


class _DamagedFile(InputError):
    """A read of the input file failed (truncated or corrupt gzip, I/O error); the readers
    re-raise it with the line or record they were reading."""


class _Source:
    """Binary reader of a pool file, gzip decompressed transparently.

    A failed read becomes a :class:`_DamagedFile` naming the file and how far it got,
    instead of the ``EOFError`` / ``zlib.error`` / ``BadGzipFile`` that gzip raises (an
    ``EOFError`` escaping a command is reported by Click as "aborted").
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.consumed = 0  # decompressed bytes returned so far
        try:
            self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise _DamagedFile(f"cannot read: {describe_os_error(e, path)}", path=path) from None
        self.is_gzip = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self._f: gzip.GzipFile | io.BufferedReader = (
            gzip.GzipFile(fileobj=self._raw, mode="rb") if self.is_gzip else self._raw
        )

    def read(self, size: int = -1) -> bytes:
        return self._guarded(self._f.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._guarded(self._f.readline, size)

    def close(self) -> None:
        self._f.close()
        self._raw.close()

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _guarded(self, fn: Any, size: int) -> bytes:
        try:
            data: bytes = fn(size)
        except EOFError:
            raise self._damaged(
                "truncated gzip stream: the file ends inside the compressed data"
            ) from None
        except gzip.BadGzipFile as e:
            what = "not a gzip file" if self.consumed == 0 else "corrupt gzip data"
            raise self._damaged(f"{what} ({e})") from None
        except zlib.error as e:
            raise self._damaged(f"corrupt gzip data ({e})") from None
        except OSError as e:
            raise _DamagedFile(f"cannot read: {describe_os_error(e)}", path=self.path) from None
        self.consumed += len(data)
        return data

    def _damaged(self, what: str) -> _DamagedFile:
        try:
            at = f", near compressed byte {self._raw.tell():,} of {os.fstat(self._raw.fileno()).st_size:,}"
        except (OSError, ValueError):
            at = ""
        after = f" after {self.consumed:,} decompressed bytes" if self.consumed else ""
        return _DamagedFile(
            f"{what}{after}{at}; the file is incomplete "
            "or damaged: download or compress it again (gzip -t FILE checks it)",
            path=self.path,
        )


def _open_bytes(path: Path) -> _Source:
    return _Source(path)


def sniff_container(path: Path) -> str:
    """``parquet``, ``json`` (array) or ``jsonl`` from the file's first bytes."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PAR1":
        return "parquet"
    with _open_bytes(path) as f:
        try:
            chunk = f.read(4096)
        except _DamagedFile:
            return "jsonl"  # the reader then reports the damage at the line it meets it
    stripped = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped.startswith(b"[") else "jsonl"


def _iter_jsonl(path: Path, max_bytes: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed)``; parsed is a RecordError for bad lines."""
    with _open_bytes(path) as f:
        lineno = 0
        while True:
            try:
                raw = f.readline(max_bytes + 1)
            except _DamagedFile as e:
                raise InputError(e.message, path=path, line=lineno + 1) from None
            if not raw:
                return
            lineno += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # skip the rest of the oversized line without holding it
                    try:
                        more = f.readline(1 << 20)
                    except _DamagedFile as e:
                        raise InputError(e.message, path=path, line=lineno) from None
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
    except _DamagedFile as e:
        raise InputError(e.message, path=path, line=n + 1, unit="record") from None
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
    batches = pf.iter_batches(batch_size=BATCH_ROWS)
    while True:
        try:
            batch = next(batches, None)
        except (OSError, pa.ArrowException) as e:
            raise InputError(
                f"not a readable Parquet file: {e}", path=path, line=n + 1, unit="record"
            ) from None
        if batch is None:
            return
        for rec in batch.to_pylist():
            n += 1
            yield n, rec  # nulls are dropped after field mapping (see _ingest_into)


def hf_arrow_files(path: Path) -> list[Path]:
    """The Arrow files of a ``datasets`` ``save_to_disk`` directory, in row order.

    A ``DatasetDict`` directory (``dataset_dict.json``) with a single split is read as
    that split; with several, the split must be named by giving its directory (a pool
    silently built from ``train`` + ``test`` would hold the test items).

    Raises:
        InputError: not such a directory, several splits, or a listed file is missing.
    """
    dict_json = path / "dataset_dict.json"
    if dict_json.is_file():
        try:
            splits = [str(x) for x in json.loads(dict_json.read_text())["splits"]]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"unreadable dataset_dict.json: {e}", path=dict_json) from None
        if len(splits) != 1:
            raise InputError(
                f"a Hugging Face DatasetDict with splits {', '.join(splits)}: give one "
                f"split's directory, e.g. {path / (splits[0] if splits else 'train')}",
                path=path,
            )
        path = path / splits[0]
    state = path / "state.json"
    if not state.is_file():
        raise InputError(
            "is a directory but not a Hugging Face save_to_disk directory (no state.json "
            "or dataset_dict.json); give a JSONL, JSON or Parquet file, or a directory "
            "written by datasets' save_to_disk",
            path=path,
        )
    try:
        names = [str(f["filename"]) for f in json.loads(state.read_text())["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(
            f"unreadable state.json (expected '_data_files': [{{'filename': ...}}]): {e}",
            path=state,
        ) from None
    files = [path / n for n in names]
    for f in files:
        if not f.is_file():
            raise InputError("listed in state.json but missing", path=f)
    if not files:
        raise InputError("state.json lists no data files: no records to ingest", path=state)
    return files


def iter_arrow_files(files: list[Path]) -> Iterator[tuple[int, Any]]:
    """Records of Arrow IPC files (stream format, as ``datasets`` writes; file format too),
    numbered across the files; nulls kept."""
    n = 0
    for f in files:
        try:
            source = pa.memory_map(str(f))
            try:
                reader: Any = pa.ipc.open_stream(source)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                batches = iter(reader)
            for batch in batches:
                for rec in batch.to_pylist():
                    n += 1
                    yield n, rec
        except (OSError, pa.ArrowException) as e:
            raise InputError(
                f"not a readable Arrow file: {e}", path=f, line=n + 1, unit="record"
            ) from None


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

    def abandon(self) -> None:
        """Close after a failure, without letting a second error hide the first."""
        with suppress(Exception):  # the temp dir is removed anyway
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
    field_map: str | dict[str, str] | None = None,
    settings: Settings | None = None,
) -> IngestResult:
    """Ingest ``path`` into the pool store and return the (possibly pre-existing) pool.

    Args:
        path: the input file, or a ``save_to_disk`` directory.
        fmt: ``auto`` or one of :data:`~autosel.pool.formats.FORMATS`.
        container: ``auto``, ``jsonl``, ``json``, ``parquet`` or ``hf`` (gzip is detected;
            a directory is ``hf``).
        field_map: ``{canonical: source}`` or ``"canonical=source,..."``: the record
            fields to read as the canonical ones (see
            :func:`~autosel.pool.formats.parse_field_map`); every mapped source field
            must be present in every record.
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
    try:
        fields = parse_field_map(field_map)
    except RecordError as e:
        raise InputError(e.message, field=e.field) from None
    if src.is_dir() and container in ("auto", "hf"):
        return _add(src, "hf", fmt, fields, name, skip_invalid, settings, t0)
    if src.is_dir():
        raise InputError(f"is a directory; container {container} needs a file", path=src)
    if not src.is_file():
        raise InputError("no such file", path=src)
    if src.name.endswith(".gz") and src.stat().st_size and not _is_gzip(src):
        raise InputError(
            "not a gzip file: the name ends in .gz but the file does not start with the "
            "gzip signature (1f 8b); compress it with gzip, or rename it without .gz",
            path=src,
        )
    if src.stat().st_size == 0:
        raise InputError("file is empty: no records to ingest", path=src)
    kind = sniff_container(src) if container == "auto" else container
    if kind == "hf":
        raise InputError("container hf needs a save_to_disk directory, not a file", path=src)
    return _add(src, kind, fmt, fields, name, skip_invalid, settings, t0)


def _add(
    src: Path,
    kind: str,
    fmt: str,
    fields: dict[str, str],
    name: str | None,
    skip_invalid: bool,
    settings: Settings,
    t0: float,
) -> IngestResult:
    """Ingest the checked input ``src`` of container ``kind`` (the body of :func:`add_pool`)."""
    unit = "line" if kind == "jsonl" else "record"
    records: Iterator[tuple[int, Any]]
    size, compression = 0, None
    if kind == "hf":
        files = hf_arrow_files(src)
        records = iter_arrow_files(files)
        size = sum(f.stat().st_size for f in files)
    else:
        size, compression = src.stat().st_size, "gzip" if _is_gzip(src) else None
        if kind == "jsonl":
            records = _iter_jsonl(src, settings.max_record_bytes)
        elif kind == "json":
            records = _iter_json_array(src)
        else:
            records = _iter_parquet(src)

    pools_dir = settings.pools_dir
    with _storage_errors(pools_dir, settings.home):
        pools_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_tmp(pools_dir)
        tmp = _TmpDir.claim(pools_dir)
    try:
        with _storage_errors(pools_dir, settings.home):
            result = _ingest_into(
                tmp.path, records, src, fmt, unit, skip_invalid, fields, kind in COLUMNAR
            )
            manifest = {
                "schema_version": SCHEMA_VERSION,
                "name": name or _default_name(src),
                "source_file": str(src.resolve()),
                "source_bytes": size,
                "container": kind,
                "compression": compression,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **result,
            }
            if fields:  # how the records were read, for whoever rebuilds the pool
                manifest["field_map"] = fields
            pool_id = manifest["content_hash"][:16]
            manifest["pool_id"] = pool_id
            (tmp.path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
            final = pools_dir / pool_id
            report = final / SKIPPED_NAME
            if final.exists() and (tmp.path / SKIPPED_NAME).exists():
                # The content is stored already, but this file's skipped records are news:
                # keep their report next to the pool (publish drops the temporary copy).
                report = final / f"skipped-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.jsonl"
                shutil.copyfile(tmp.path / SKIPPED_NAME, report)
            created = tmp.publish(final)
    except BaseException:
        shutil.rmtree(tmp.path, ignore_errors=True)
        raise
    finally:
        tmp.release()
    pool = Pool.open(final)
    return IngestResult(
        pool=pool,
        created=created,
        skipped=int(manifest["skipped"]),
        report_path=report if report.exists() else None,
        seconds=time.perf_counter() - t0,
        name_not_applied=name if (not created and name and name != pool.name) else None,
    )


@contextmanager
def _storage_errors(pools_dir: Path, home: Path) -> Iterator[None]:
    """OSErrors of the pool store (disk full, read-only, permission) as one StorageError;
    errors of the input file were already turned into located InputErrors by the readers."""
    try:
        yield
    except OSError as e:
        if e.filename is not None and TMP_PREFIX in str(e.filename):
            e.filename = None  # name the store, not a temp dir that no longer exists
        raise StorageError(
            f"cannot write to the pool store: {describe_os_error(e, pools_dir, home=home)}"
        ) from e


# ---------------------------------------------------------------------------- temp dirs
#
# An ingest writes into ``pools/.tmp-*`` and holds an exclusive ``flock`` on the
# ``.ingest.lock`` file inside it until the pool is published or the ingest fails. The
# kernel drops the lock when its process dies, even by ``kill -9``, so a temp dir whose
# lock nobody holds belongs to a dead ingest. ``clean_stale_tmp`` removes a temp dir when
# it is at least STALE_UNLOCKED_S old and its lock can be taken, or, with no lock file
# (written by an older autosel, or never created), when it is at least STALE_UNMARKED_S
# old. The age margin covers the instant between creating a temp dir and locking it.

TMP_PREFIX = ".tmp-"
LOCK_NAME = ".ingest.lock"
STALE_UNLOCKED_S = 60.0
STALE_UNMARKED_S = 3600.0


@dataclass
class _TmpDir:
    """An ingest's private temp directory, locked while the ingest lives."""

    path: Path
    fd: int | None

    @classmethod
    def claim(cls, pools_dir: Path) -> _TmpDir:
        path = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=pools_dir))
        fd = None
        try:
            fd = os.open(path / LOCK_NAME, os.O_CREAT | os.O_RDWR, 0o644)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new file: nobody holds it
            os.write(fd, f"pid {os.getpid()}\n".encode())  # for a human looking at it
        except BaseException:  # e.g. disk full: leave nothing behind
            if fd is not None:
                os.close(fd)
            shutil.rmtree(path, ignore_errors=True)
            raise
        return cls(path, fd)

    def publish(self, final: Path) -> bool:
        """Rename into ``final``; False if that pool already exists (same content)."""
        (self.path / LOCK_NAME).unlink()  # the fd keeps the lock until release()
        if final.exists():
            shutil.rmtree(self.path)  # same content already stored: keep it as it is
            return False
        try:
            os.replace(self.path, final)
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            shutil.rmtree(self.path)  # a concurrent ingest of the same file won the race
            return False
        return True

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lock_is_free(fd: int) -> bool:
    if fcntl is None:
        return False  # cannot tell: leave the directory alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def clean_stale_tmp(pools_dir: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temp dirs of killed ingests under ``pools_dir`` (rule above).

    Called when an ingest starts; safe to call from any process at any time: a temp
    dir whose ingest is alive is never touched.

    Returns:
        The directories removed.
    """
    now = time.time() if now is None else now
    removed: list[Path] = []
    if not pools_dir.is_dir():
        return removed
    for d in sorted(pools_dir.glob(f"{TMP_PREFIX}*")):
        age = 0.0
        try:
            if d.is_symlink() or not d.is_dir():
                continue
            age = now - d.stat().st_mtime
            fd = os.open(d / LOCK_NAME, os.O_RDONLY)
        except FileNotFoundError:
            if d.is_dir() and age >= STALE_UNMARKED_S:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
            continue
        except OSError:
            continue
        try:
            if age >= STALE_UNLOCKED_S and _lock_is_free(fd):
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d stale ingest temp dir(s) under %s", len(removed), pools_dir)
    return removed


def _default_name(src: Path) -> str:
    """The file name without extensions; a DatasetDict split's directory is ``dict-split``."""
    if src.is_dir() and (src.parent / "dataset_dict.json").is_file():
        return f"{src.parent.name}-{src.name}"
    return src.name.split(".")[0]


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def _ingest_into(
    tmp: Path,
    records: Iterator[tuple[int, Any]],
    src: Path,
    fmt: str,
    unit: str,
    skip_invalid: bool,
    field_map: dict[str, str],
    drop_nulls: bool,
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
                if field_map:
                    rec = apply_field_map(rec, field_map)
                if drop_nulls and isinstance(rec, dict):
                    rec = {k: v for k, v in rec.items() if v is not None}
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
                row = normalize(rec, file_fmt)  # type: ignore[arg-type]  # str: given, or detected above
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
        writer.close()
    except BaseException:
        writer.abandon()
        raise
    finally:
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
