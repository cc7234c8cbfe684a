"""Temp dirs of killed ingests are removed; a live ingest's temp dir never is."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autosel.pool.ingest import (
    LOCK_NAME,
    STALE_UNLOCKED_S,
    STALE_UNMARKED_S,
    add_pool,
    clean_stale_tmp,
)
from autosel.settings import Settings

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")

# A child process that claims an ingest temp dir the way add_pool does, prints it, then
# either dies by SIGKILL (a killed ingest) or waits to be killed (a live one).
_CHILD = """
import os, signal, sys, time
from pathlib import Path
from autosel.pool.ingest import _TmpDir
tmp = _TmpDir.claim(Path(sys.argv[1]))
print(tmp.path, flush=True)
if sys.argv[2] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(120)
"""


def _claim_in_child(pools: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(pools), mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, "the child printed no temp dir"
    return proc, Path(line)


def _later() -> float:
    return time.time() + STALE_UNLOCKED_S + 5


def test_killed_ingest_is_cleaned_live_one_is_kept(settings: Settings) -> None:
    pools = settings.pools_dir
    pools.mkdir(parents=True)
    dead, dead_dir = _claim_in_child(pools, "die")
    assert dead.wait(timeout=60) == -signal.SIGKILL
    live, live_dir = _claim_in_child(pools, "wait")
    try:
        assert (live_dir / LOCK_NAME).is_file() and (dead_dir / LOCK_NAME).is_file()
        assert clean_stale_tmp(pools) == []  # both too young to judge
        assert clean_stale_tmp(pools, now=_later()) == [dead_dir]
        assert live_dir.is_dir() and not dead_dir.exists()
    finally:
        live.kill()
        live.wait(timeout=60)
    assert clean_stale_tmp(pools, now=_later()) == [live_dir]


def test_unmarked_temp_dir_is_removed_only_when_old(settings: Settings) -> None:
    pools = settings.pools_dir
    old = pools / ".tmp-old"
    old.mkdir(parents=True)
    (old / "pool.parquet").write_bytes(b"half written")
    now = time.time()
    os.utime(old, (now, now))
    assert clean_stale_tmp(pools, now=now + STALE_UNLOCKED_S + 5) == []  # no lock: wait longer
    assert clean_stale_tmp(pools, now=now + STALE_UNMARKED_S + 5) == [old]
    assert not old.exists()


def test_ingest_starts_by_cleaning(tmp_path: Path, settings: Settings) -> None:
    pools = settings.pools_dir
    pools.mkdir(parents=True)
    dead, dead_dir = _claim_in_child(pools, "die")
    dead.wait(timeout=60)
    past = time.time() - STALE_UNLOCKED_S - 5
    os.utime(dead_dir, (past, past))
    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"prompt": "q", "response": "a"}) + "\n")
    pool = add_pool(src, settings=settings).pool
    assert sorted(p.name for p in pools.iterdir()) == [pool.pool_id]
    assert not (pool.path / LOCK_NAME).exists()  # the lock never reaches a published pool


def test_concurrent_ingest_of_the_same_file_keeps_one_pool(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loser of the rename race gets the winner's pool, not a file-system error."""
    from autosel.pool import ingest

    src = tmp_path / "p.jsonl"
    src.write_text(json.dumps({"prompt": "q", "response": "a"}) + "\n")
    real_replace = os.replace

    def racing_replace(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        Path(b).mkdir()  # another process published the same pool a moment earlier
        (Path(b) / "manifest.json").write_text("{}")
        real_replace(a, b)

    monkeypatch.setattr(ingest.os, "replace", racing_replace)
    res = add_pool(src, settings=settings)
    assert not res.created
    assert sorted(p.name for p in settings.pools_dir.iterdir()) == [res.pool.path.name]
