"""The retry helper: what it retries, how long it waits, when it gives up."""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from autosel.errors import NotFoundError
from autosel.store import JobSpec, SqlStore
from autosel.store.retry import Backoff, is_transient, retrying


def test_delays_grow_exponentially_with_full_jitter() -> None:
    policy = Backoff(base=0.1, cap=1.0)
    rng = random.Random(0)
    for failures, bound in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (5000, 1.0)]:
        delays = [policy.delay(failures, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= bound
        assert max(delays) > 0.8 * bound  # the whole range is used, not a fixed delay


def test_locked_sqlite_is_retried_until_the_lock_goes(tmp_path: Path) -> None:
    """A real 'database is locked' (busy timeout 50 ms, lock held 0.6 s) is waited out."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    SqlStore(url).close()
    store = SqlStore(url, migrate=False, busy_timeout_ms=50)
    holder = sqlite3.connect(
        tmp_path / "db.sqlite", isolation_level=None, check_same_thread=False
    )
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.6, holder.rollback).start()
    errors: list[BaseException] = []
    started = time.monotonic()
    job = retrying(
        store.create_job, policy=Backoff(base=0.02, cap=0.2),
        on_retry=lambda n, d, err: errors.append(err),
    )(JobSpec(payload={}))
    assert job.state == "queued" and time.monotonic() - started >= 0.5
    assert errors and all(isinstance(e, OperationalError) for e in errors)
    assert "locked" in str(errors[0])
    holder.close()
    store.close()


def test_errors_that_are_not_outages_are_raised_at_once(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    calls = []
    claim = retrying(store.claim_job, on_retry=lambda *a: calls.append(a))
    with pytest.raises(NotFoundError):
        claim("unregistered", 30)
    assert calls == []
    assert not is_transient(NotFoundError("x"))
    store.close()


def test_gives_up_after_the_deadline() -> None:
    clock = {"slept": 0.0}

    def down() -> None:
        time.sleep(0.01)  # give_up_after is measured on the real monotonic clock
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    wrapped = retrying(
        down, policy=Backoff(base=0.001, cap=0.001, give_up_after=0.1),
        sleep=lambda s: clock.__setitem__("slept", clock["slept"] + s),
    )
    with pytest.raises(OperationalError):
        wrapped()
    assert clock["slept"] > 0
