"""Kill -9 the server mid-search and start it again: the search finishes with exactly
`budget` evaluations and no subset evaluated twice.

The server is a real `autosel serve` process (SQLite store, scheduler on, no in-process
workers); two workers lease jobs over HTTP from this test process (label-objective test
double instead of SFT) and ride out the outage with their backoff.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from autosel.store import open_store
from autosel.worker import Worker
from autosel.worker.remote import RemoteJobSource
from tests.api.conftest import free_port
from tests.scheduler.conftest import fast_spec

BIN = Path(sys.executable).parent


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AUTOSEL_HOME": str(home)}
    proc = subprocess.Popen(
        [str(BIN / "autosel"), "serve", "--port", str(port), "--workers", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


def test_kill_and_restart_server_mid_search(demo_env: dict[str, Any], label_objective: Any) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    home, port = settings.home, free_port()
    base = f"http://127.0.0.1:{port}"
    server = _serve(home, port)
    budget = 6
    stop = threading.Event()
    objective = label_objective(demo_env["labels"])

    def slow_objective(rows, spec, out, *, stop):  # type: ignore[no-untyped-def]
        time.sleep(0.4)  # long enough for the kill to land mid-search
        return objective(rows, spec, out)

    workers = [
        Worker(
            RemoteJobSource(base, None, give_up_after=120),
            worker_id=f"r{i}",
            evaluate_fn=slow_objective,
            lease_seconds=10,
            settings=settings,
        )
        for i in range(2)
    ]
    threads = [
        threading.Thread(target=w.run, kwargs={"stop": stop, "poll_seconds": 0.1}, daemon=True)
        for w in workers
    ]
    try:
        body = fast_spec(pool.pool_id, budget, seed=2, report={"enabled": False})
        sid = httpx.post(f"{base}/v1/searches", json=body, timeout=60).json()["id"]
        for t in threads:
            t.start()
        store = open_store(settings=settings)
        while sum(t.state == "complete" for t in store.trials(sid)) < 2:
            time.sleep(0.1)
        server.send_signal(signal.SIGKILL)  # no shutdown hooks, no flush: a crash
        server.wait(timeout=30)
        time.sleep(1.0)
        server = _serve(home, port)
        deadline = time.monotonic() + 180
        while store.get_search(sid).state != "completed":
            assert time.monotonic() < deadline, "search did not finish after the restart"
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        server.kill()
        server.wait(timeout=30)
    trials = store.trials(sid)
    assert len(trials) == budget and all(t.state == "complete" for t in trials)
    assert len({t.fingerprint for t in trials}) == budget, "no duplicate fingerprints"
    assert len(objective.calls) == len(set(objective.calls)) == budget, "every evaluation ran once"
