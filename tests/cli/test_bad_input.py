"""A corpus of bad input and failing storage, through the real CLI entry point.

Each case runs ``autosel`` (its console-script ``main``: in-process for speed, and as a
subprocess for the end-to-end cases) against a home holding one good pool, and asserts:
a non-zero documented exit code, one line on stderr naming the file (and line or record
where there is one), no traceback, and the store exactly as it was (same entries under
``pools/``, no ``.tmp-*`` left behind).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from autosel.cli import main

BIN = Path(sys.executable).parent
EXIT_INPUT, EXIT_STORAGE, EXIT_DATABASE, EXIT_CONFIG, EXIT_UNEXPECTED = 4, 7, 8, 2, 1


def _row(i: int) -> dict[str, str]:
    return {"prompt": f"question {i}", "response": f"answer {i} " + "words " * 20}


def _jsonl(n: int) -> bytes:
    return b"".join(json.dumps(_row(i)).encode() + b"\n" for i in range(n))


@dataclass
class Result:
    rc: int
    out: str
    err: str


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An AUTOSEL_HOME holding one good pool (so "unchanged" has something to keep)."""
    h = tmp_path / "home"
    monkeypatch.setenv("AUTOSEL_HOME", str(h))
    monkeypatch.delenv("AUTOSEL_DEBUG", raising=False)
    monkeypatch.delenv("AUTOSEL_DATABASE_URL", raising=False)
    good = tmp_path / "good.jsonl"
    good.write_bytes(_jsonl(5))
    from autosel.pool.ingest import add_pool

    add_pool(good)
    return h


@pytest.fixture()
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Result]:
    """Run ``autosel ARGS`` through ``autosel.cli:main`` and capture its exit and output."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["autosel", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        captured = capsys.readouterr()
        code = exited.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run


def _snapshot(home: Path) -> dict[str, list[str]]:
    pools = home / "pools"
    return {
        d.name: sorted(f.name for f in d.iterdir()) if d.is_dir() else []
        for d in sorted(pools.iterdir())
    }


def _one_line_error(res: Result) -> str:
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    assert len(lines) == 1, res.err
    assert "Traceback" not in res.err + res.out
    assert lines[0].startswith("error: "), lines[0]
    assert "aborted" not in lines[0]
    return lines[0]


# ---------------------------------------------------------------------------- corpus


def _truncated_gzip(d: Path) -> Path:
    data = gzip.compress(_jsonl(3000))
    (p := d / "truncated.jsonl.gz").write_bytes(data[: len(data) // 2])
    return p


def _corrupt_gzip(d: Path) -> Path:
    data = bytearray(gzip.compress(_jsonl(3000)))
    for i in range(300, 360):
        data[i] ^= 0xFF
    (p := d / "corrupt.jsonl.gz").write_bytes(bytes(data))
    return p


def _bad_gzip_header(d: Path) -> Path:
    (p := d / "header.jsonl.gz").write_bytes(b"\x1f\x8b" + b"\x00junk" * 40)
    return p


def _junk_named_gz(d: Path) -> Path:
    (p := d / "junk.jsonl.gz").write_bytes(bytes(range(256)) * 8)
    return p


def _trailing_garbage_gzip(d: Path) -> Path:
    (p := d / "trailing.jsonl.gz").write_bytes(gzip.compress(_jsonl(50)) + b"garbage!" * 10)
    return p


def _truncated_gzip_json_array(d: Path) -> Path:
    body = json.dumps([_row(i) for i in range(3000)]).encode()
    data = gzip.compress(body)
    (p := d / "truncated.json.gz").write_bytes(data[: len(data) // 3])
    return p


def _empty(d: Path) -> Path:
    (p := d / "empty.jsonl").write_bytes(b"")
    return p


def _binary_junk(d: Path) -> Path:
    (p := d / "junk.jsonl").write_bytes(bytes(range(128, 256)) * 16)
    return p


def _wrong_fields(d: Path) -> Path:
    lines = [json.dumps(_row(0)), json.dumps({"prompt": "q", "answer_text": 3})]
    (p := d / "fields.jsonl").write_text("\n".join(lines) + "\n")
    return p


def _truncated_parquet(d: Path) -> Path:
    table = pa.Table.from_pylist([_row(i) for i in range(2000)])
    full = d / "full.parquet"
    pq.write_table(table, full, row_group_size=500)
    data = full.read_bytes()
    full.unlink()
    (p := d / "truncated.parquet").write_bytes(data[: len(data) // 2])
    return p


def _a_directory(d: Path) -> Path:
    (p := d / "adir.jsonl").mkdir()
    return p


# (builder, words the message must hold, location the message must hold)
CORPUS: dict[str, tuple[Callable[[Path], Path], str, str | None]] = {
    "truncated_gzip": (_truncated_gzip, "truncated gzip stream", "line "),
    "corrupt_gzip": (_corrupt_gzip, "corrupt gzip data", "line "),
    "bad_gzip_header": (_bad_gzip_header, "not a gzip file", "line 1"),
    "junk_named_gz": (_junk_named_gz, "not a gzip file", None),
    "trailing_garbage_gzip": (_trailing_garbage_gzip, "corrupt gzip data", "line "),
    "truncated_gzip_json_array": (_truncated_gzip_json_array, "truncated gzip stream", "record "),
    "empty_file": (_empty, "file is empty", None),
    "binary_junk": (_binary_junk, "not valid UTF-8", "line 1"),
    "wrong_fields": (_wrong_fields, "missing", "line 2"),
    "truncated_parquet": (_truncated_parquet, "Parquet", None),
    "directory": (_a_directory, "is a directory", None),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_bad_pool_file_is_a_located_one_line_error(
    case: str, tmp_path: Path, home: Path, cli: Callable[..., Result]
) -> None:
    build, words, where = CORPUS[case]
    path = build(tmp_path)
    before = _snapshot(home)
    res = cli("pool", "add", str(path))
    line = _one_line_error(res)
    assert res.rc == EXIT_INPUT, line
    assert str(path) in line and words in line, line
    if where is not None:
        assert f"{path}, {where}" in line, line
    assert _snapshot(home) == before


def test_cli_runs_as_a_process_without_traceback(tmp_path: Path, home: Path) -> None:
    """The console script itself: a truncated gzip was "aborted" (130), a corrupt one a
    traceback."""
    before = _snapshot(home)
    for build, code in ((_truncated_gzip, EXIT_INPUT), (_corrupt_gzip, EXIT_INPUT)):
        path = build(tmp_path)
        proc = subprocess.run(
            [str(BIN / "autosel"), "pool", "add", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        res = Result(proc.returncode, proc.stdout, proc.stderr)
        assert str(path) in _one_line_error(res)
        assert res.rc == code
    assert _snapshot(home) == before


# ---------------------------------------------------------------------------- storage


def test_disk_full_while_writing_the_pool(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autosel.pool import ingest

    def full(self: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest._Writer, "flush", full)
    (src := tmp_path / "new.jsonl").write_bytes(_jsonl(20))
    before = _snapshot(home)
    res = cli("pool", "add", str(src))
    line = _one_line_error(res)
    assert res.rc == EXIT_STORAGE
    assert "no space left on device" in line and str(home / "pools") in line
    assert _snapshot(home) == before


def test_permission_denied_in_the_home(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autosel.pool import ingest

    def denied(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(home / "pools"))

    monkeypatch.setattr(ingest.tempfile, "mkdtemp", denied)
    (src := tmp_path / "new.jsonl").write_bytes(_jsonl(20))
    before = _snapshot(home)
    res = cli("pool", "add", str(src))
    line = _one_line_error(res)
    assert res.rc == EXIT_STORAGE
    assert f"{home / 'pools'}: permission denied" in line
    assert _snapshot(home) == before


def test_home_that_is_a_file(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    (not_dir := tmp_path / "home").write_text("a file, not a directory")
    monkeypatch.setenv("AUTOSEL_HOME", str(not_dir))
    (src := tmp_path / "new.jsonl").write_bytes(_jsonl(5))
    res = cli("pool", "add", str(src))
    line = _one_line_error(res)
    assert res.rc == EXIT_STORAGE
    assert "not a directory" in line and str(not_dir) in line
    assert not_dir.read_text() == "a file, not a directory"


def _unshare_works() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || exit 1"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


needs_mount_ns = pytest.mark.skipif(
    not _unshare_works(), reason="needs `unshare -rm` to mount a tmpfs (user namespaces)"
)


def _in_tmpfs_home(options: str, script: str, home: Path) -> str:
    """Run ``script`` with a fresh tmpfs (``options``) mounted on ``home``, in a private
    mount namespace: a real full or read-only disk without touching the machine's own."""
    home.mkdir(parents=True, exist_ok=True)
    full = f'mount -t tmpfs -o {options} tmpfs "$AUTOSEL_HOME" && {script}'
    env = {**os.environ, "AUTOSEL_HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", full],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # interleaved in order
        text=True,
        env=env,
        timeout=240,
    )
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc.stdout


@needs_mount_ns
def test_real_disk_full_leaves_nothing(tmp_path: Path) -> None:
    rows = (
        json.dumps({"prompt": hashlib.sha256(b"p%d" % i).hexdigest() * 3, "response": str(i)})
        for i in range(20000)
    )
    (src := tmp_path / "big.jsonl").write_text("\n".join(rows) + "\n")
    out = _in_tmpfs_home(
        "size=256k",
        f'autosel pool add {src}; echo "rc=$?"; echo "left: $(ls -A "$AUTOSEL_HOME/pools")."',
        tmp_path / "full",
    )
    assert "rc=7" in out, out
    assert "no space left on device" in out
    assert "left: ." in out, out  # no .tmp-* directory stays on the full disk


@needs_mount_ns
def test_real_read_only_home(tmp_path: Path) -> None:
    (src := tmp_path / "new.jsonl").write_bytes(_jsonl(5))
    out = _in_tmpfs_home(
        "ro",
        f'autosel pool add {src}; echo "rc=$?"; autosel search list; echo "rc=$?"',
        tmp_path / "ro",
    )
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines[1] == "rc=7" and "read-only file system" in lines[0], out
    assert lines[3] == "rc=8" and "is not writable" in lines[2], out


# ---------------------------------------------------------------------------- database


def test_corrupt_database(home: Path, cli: Callable[..., Result]) -> None:
    db = home / "autosel.db"
    db.write_bytes(b"this is not an SQLite database " * 64)
    res = cli("search", "list")
    line = _one_line_error(res)
    assert res.rc == EXIT_DATABASE
    assert "corrupt or not an SQLite database" in line and str(db) in line
    assert db.read_bytes() == b"this is not an SQLite database " * 64


def test_unreachable_database_hides_the_password(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    pytest.importorskip("psycopg")
    monkeypatch.setenv("AUTOSEL_DATABASE_URL", "postgresql+psycopg://me:s3cret@127.0.0.1:1/db")
    res = cli("search", "list")
    line = _one_line_error(res)
    assert res.rc == EXIT_DATABASE
    assert "unreachable" in line and "s3cret" not in line and "127.0.0.1:1" in line


def test_locked_database_message() -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from autosel.cli._errors import describe

    err = OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
    message, code = describe(err)
    assert code == EXIT_DATABASE
    assert "locked by another process" in message and "\n" not in message


# ---------------------------------------------------------------------------- the rest


def test_invalid_setting_is_a_config_error(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSEL_MAX_RECORD_BYTES", "lots")
    (src := tmp_path / "new.jsonl").write_bytes(_jsonl(5))
    res = cli("pool", "add", str(src))
    line = _one_line_error(res)
    assert res.rc == EXIT_CONFIG and "AUTOSEL_MAX_RECORD_BYTES" in line


def test_eof_error_is_not_reported_as_aborted(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autosel.pool import ingest

    def eof(*args: object, **kwargs: object) -> None:
        raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    monkeypatch.setattr(ingest, "add_pool", eof)
    res = cli("pool", "add", str(tmp_path / "x.jsonl"))
    _one_line_error(res)
    assert res.rc == EXIT_UNEXPECTED


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autosel.pool import ingest

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom\nand a second line")

    monkeypatch.setattr(ingest, "add_pool", boom)
    res = cli("pool", "add", str(tmp_path / "x.jsonl"))
    line = _one_line_error(res)
    assert res.rc == EXIT_UNEXPECTED
    assert "RuntimeError: boom" in line and "AUTOSEL_DEBUG=1" in line
    monkeypatch.setenv("AUTOSEL_DEBUG", "1")
    res = cli("pool", "add", str(tmp_path / "x.jsonl"))
    assert res.rc == EXIT_UNEXPECTED
    assert "Traceback" in res.err and res.err.rstrip().splitlines()[-1] == line


def test_ctrl_c_is_130(
    tmp_path: Path, home: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    from autosel.pool import ingest

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ingest, "add_pool", interrupted)
    res = cli("pool", "add", str(tmp_path / "x.jsonl"))
    assert res.rc == 130 and "Traceback" not in res.err


def test_server_errors_are_one_line_with_the_request_id() -> None:
    import httpx

    from autosel.cli.client import HttpClient, ServerError

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/searches":
            return httpx.Response(500, text="Traceback (most recent call last):\n  boom\n")
        body = {"error": {"code": "internal_error", "message": "internal", "request_id": "ab12"}}
        return httpx.Response(500, json=body)

    client = HttpClient("http://127.0.0.1:9", None)
    client.http = httpx.Client(base_url="http://127.0.0.1:9", transport=httpx.MockTransport(answer))
    with pytest.raises(ServerError) as plain:
        client.searches()
    assert "\n" not in str(plain.value) and "HTTP 500" in str(plain.value)
    with pytest.raises(ServerError) as enveloped:
        client.search("s1")
    assert str(enveloped.value) == "internal (request id ab12)"


# ---------------------------------------------------------------------------- other files

OTHER_FILES: dict[str, tuple[bytes, list[str], int, str]] = {
    # name: (file content, command with {f} for the file, exit code, text the line holds)
    "spec_bad_yaml": (
        b"budget: 3\neval: [\n",
        ["search", "start", "good", "--spec", "{f}", "--detach"],
        EXIT_CONFIG,
        "{f}, line 3: invalid YAML",
    ),
    "spec_not_utf8": (
        b"\x00\xff\xfe",
        ["search", "start", "good", "--spec", "{f}", "--detach"],
        EXIT_CONFIG,
        "{f}: cannot read search spec",
    ),
    "recipe_not_utf8": (
        b"\xff\xfe\x00",
        ["recipe", "validate", "{f}"],
        EXIT_INPUT,
        "{f}: not valid UTF-8",
    ),
    "recipe_two_bad_steps": (
        b"steps:\n  - operator: nope\n  - operator: alsonope\n",
        ["recipe", "validate", "{f}"],
        EXIT_CONFIG,
        "recipe is invalid: steps[0] (nope)",
    ),
    "ids_not_utf8": (
        b"good-id\n\xff\xfe\n",
        ["pool", "export", "good", "--out", "{f}.out.jsonl", "--ids", "{f}"],
        EXIT_INPUT,
        "{f}, line 2: not valid UTF-8",
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_FILES))
def test_bad_spec_recipe_and_id_files(
    case: str, tmp_path: Path, home: Path, cli: Callable[..., Result]
) -> None:
    content, args, code, expected = OTHER_FILES[case]
    (path := tmp_path / f"{case}.yaml").write_bytes(content)
    before = _snapshot(home)
    res = cli(*(a.format(f=path) for a in args))
    line = _one_line_error(res)
    assert res.rc == code, line
    assert expected.format(f=path) in line, line
    assert _snapshot(home) == before
    assert not Path(f"{path}.out.jsonl").exists()
