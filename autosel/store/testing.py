"""Test and benchmark helpers: a throwaway PostgreSQL server, and a job-store worker loop.

:class:`TempPostgres` runs a private cluster from Debian's ``postgresql`` package binaries
(``/usr/lib/postgresql/<version>/bin``) in a temporary directory, listening on 127.0.0.1
only, with trust authentication (it is reachable from this machine alone and deleted
afterwards). PostgreSQL refuses to run as root, so under root it runs as the ``postgres``
user the Debian package creates (or a system user ``autosel-pg``, created if needed).

:func:`worker_main` is a minimal worker (claim → start → "evaluate" by sleeping →
complete) used by the reliability tests and ``benchmarks/jobstore.py`` in separate
processes; each claim is logged as a JSON line so a test can count double claims.
"""

from __future__ import annotations

import glob
import json
import multiprocessing as mp
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from autosel.store.base import LeaseLostError
from autosel.store.records import JobResult
from autosel.store.retry import Backoff, retrying

_PG_GLOB = "/usr/lib/postgresql/*/bin/initdb"


def find_pg_bin() -> Path | None:
    """Directory of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob(_PG_GLOB), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> str | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "autosel-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "autosel-pg"],
        check=True, capture_output=True,
    )
    return "autosel-pg"


class TempPostgres:
    """A private PostgreSQL cluster on 127.0.0.1 for one test session or benchmark run.

    Args:
        durable: keep fsync on (benchmarks). Tests turn it off: they need speed, not
            crash safety of a cluster deleted afterwards.
    """

    def __init__(self, *, durable: bool = False) -> None:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise FileNotFoundError(
                f"no PostgreSQL server binaries match {_PG_GLOB}; install Debian's "
                "postgresql package (apt-get install postgresql)"
            )
        self.bin_dir = bin_dir
        self.durable = durable
        self.user = _service_user()
        self.root = Path(tempfile.mkdtemp(prefix="autosel-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.running = False
        if self.user is not None:
            shutil.chown(self.root, user=self.user)

    def _run(self, *cmd: str, timeout: float = 60) -> None:
        argv = [str(self.bin_dir / cmd[0]), *cmd[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user, "--", *argv]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}\n{log}"
            )

    def start(self) -> TempPostgres:
        """initdb (first time) and start the server; returns self."""
        if not self.data.exists():
            self._run(
                "initdb", "-D", str(self.data), "-U", "autosel", "--auth=trust", "-E", "UTF8",
                "--no-instructions", *([] if self.durable else ["--no-sync"]),
            )
        opts = [
            f"-c listen_addresses=127.0.0.1 -p {self.port}",
            f"-c unix_socket_directories={self.root}",
            "-c max_connections=200",
        ]
        if not self.durable:
            opts.append("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", " ".join(opts), "start",
        )
        self.running = True
        return self

    def stop(self) -> None:
        """Fast shutdown: open sessions are disconnected (what an outage looks like)."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
            self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://autosel@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="autosel", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def cleanup(self) -> None:
        """Stop the server and delete its files."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def worker_main(
    url: str,
    worker_id: str,
    log_path: str,
    *,
    lease_seconds: float = 30.0,
    work_seconds: float = 0.0,
    start: bool = True,
    poll_seconds: float = 0.05,
    deadline_seconds: float = 120.0,
    busy_timeout_ms: int = 10_000,
    go_file: str | None = None,
) -> None:
    """Claim and finish jobs until none are queued or in flight, logging every step.

    Each line of ``log_path`` is JSON: ``{"event": "claim" | "done" | "lost" | "retry"
    | "exit", "job": id, "token": lease token, "t": monotonic time, ...}``.

    Args:
        url: store URL; the schema must exist (the parent process created it).
        worker_id: registered on start.
        log_path: JSON-lines log, appended to and flushed per line (survives kill -9).
        lease_seconds: lease length per claim.
        work_seconds: simulated evaluation time per job (sleep).
        start: call ``start_job`` between claim and completion (the full life cycle).
        poll_seconds: wait between claims when the queue is empty.
        deadline_seconds: give up after this long (a bound, not an expected duration).
        busy_timeout_ms: SQLite lock wait before a call fails and is retried.
        go_file: if given, log ``ready`` and wait for this file before the first claim,
            so that all workers start racing at the same moment.
    """
    from autosel.store.sql import SqlStore

    log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the whole loop

    def note(event: str, **kw: Any) -> None:
        line = json.dumps({"event": event, "worker": worker_id, "t": time.monotonic(), **kw})
        log.write(line + "\n")

    def on_retry(failures: int, delay: float, err: BaseException) -> None:
        note("retry", failures=failures, delay=round(delay, 3), error=type(err).__name__)

    policy = Backoff(base=0.05, cap=1.0, give_up_after=deadline_seconds)
    rng = random.Random(worker_id)

    def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return retrying(fn, policy=policy, rng=rng, on_retry=on_retry)(*args, **kwargs)

    store = SqlStore(url, migrate=False, busy_timeout_ms=busy_timeout_ms)
    call(store.register_worker, worker_id, hostname=socket.gethostname(), device="cpu")
    deadline = time.monotonic() + deadline_seconds
    if go_file is not None:
        note("ready")
        while not os.path.exists(go_file) and time.monotonic() < deadline:
            time.sleep(0.01)
    done = 0
    try:
        while time.monotonic() < deadline:
            job = call(store.claim_job, worker_id, lease_seconds)
            if job is None:
                call(store.requeue_expired)
                counts = call(store.job_counts)
                if counts["queued"] + counts["leased"] + counts["running"] == 0:
                    break
                time.sleep(poll_seconds)
                continue
            note("claim", job=job.id, token=job.lease_token, attempt=job.attempts)
            try:
                if start:
                    call(store.start_job, job.id, job.lease_token)
                _work(store, call, job, worker_id, work_seconds, lease_seconds)
                result = JobResult(scores={"synthetic": float(job.id)}, utility=float(job.id))
                call(store.complete_job, job.id, job.lease_token, result)
            except LeaseLostError as err:
                note("lost", job=job.id, token=job.lease_token, error=str(err))
                continue
            done += 1
            note("done", job=job.id, token=job.lease_token)
    finally:
        note("exit", completed=done)
        log.close()
        store.close()


def _work(
    store: Any, call: Any, job: Any, worker_id: str, seconds: float, lease_seconds: float
) -> None:
    """Simulated evaluation: sleep, heartbeating every third of a lease."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(left, lease_seconds / 3))
        if end - time.monotonic() > 0:
            call(store.heartbeat, job.id, worker_id, job.lease_token)


def spawn_workers(
    url: str, n: int, log_dir: Path, *, prefix: str = "w", **kwargs: Any
) -> list[BaseProcess]:
    """Start ``n`` :func:`worker_main` processes (spawned: each opens its own store)."""
    ctx = mp.get_context("spawn")
    procs: list[BaseProcess] = []
    for i in range(n):
        wid = f"{prefix}{i}"
        proc = ctx.Process(
            target=worker_main, args=(url, wid, str(log_dir / f"{wid}.jsonl")), kwargs=kwargs,
            name=wid, daemon=True,
        )
        proc.start()
        procs.append(proc)
    return procs


def start_workers(
    url: str, n: int, log_dir: Path, *, prefix: str = "w", timeout: float = 120, **kwargs: Any
) -> tuple[list[BaseProcess], float]:
    """Spawn ``n`` workers, wait until all are ready, then release them at once.

    Returns the processes and the monotonic time they were released. Process start-up
    (imports, connecting) is thereby kept out of any measurement.
    """
    go = log_dir / f"{prefix}.go"
    procs = spawn_workers(url, n, log_dir, prefix=prefix, go_file=str(go), **kwargs)
    logs = [log_dir / f"{p.name}.jsonl" for p in procs]
    deadline = time.monotonic() + timeout
    while sum(r["event"] == "ready" for r in read_logs(logs)) < n:
        dead = [p.name for p in procs if p.exitcode is not None]
        if dead or time.monotonic() > deadline:
            join_all(procs, 0)
            raise RuntimeError(f"workers did not get ready (exited: {dead}); see {log_dir}")
        time.sleep(0.05)
    go.touch()
    return procs, time.monotonic()


def join_all(procs: list[BaseProcess], timeout: float) -> None:
    """Wait for the processes; kill and raise if any outlives ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
    alive = [p.name for p in procs if p.is_alive()]
    for proc in procs:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    if alive:
        raise TimeoutError(f"workers still running after {timeout}s: {alive}")


def read_logs(paths: list[Path]) -> list[dict[str, Any]]:
    """All lines of :func:`worker_main` logs, in time order."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        if path.exists():
            text = path.read_text()
            # A line still being written (no newline yet) is read next time.
            complete = text[: text.rfind("\n") + 1]
            rows.extend(json.loads(line) for line in complete.splitlines())
    return sorted(rows, key=lambda r: r["t"])
