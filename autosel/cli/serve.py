"""``autosel serve``, ``autosel worker`` and ``autosel token``."""

from __future__ import annotations

import typer

from autosel.cli import app
from autosel.cli._common import console


@app.command("serve")
def serve(
    host: str = typer.Option(
        "127.0.0.1", help="Bind address (auth turns on off loopback unless AUTOSEL_AUTH says)."
    ),
    port: int = typer.Option(8000, min=1, max=65535),
    workers: int = typer.Option(1, min=0, help="In-process workers (0: only remote workers)."),
    auth: bool = typer.Option(
        None,
        "--auth/--no-auth",
        help="Require API tokens. Precedence: this flag, then AUTOSEL_AUTH, then on unless "
        "bound to a loopback address.",
    ),
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="Drive active searches."
    ),
) -> None:
    """Run the REST API, the dashboard, the scheduler and in-process workers."""
    import uvicorn

    from autosel.api import create_app
    from autosel.api.perimeter import allowed_hosts, decide_auth, is_loopback
    from autosel.settings import get_settings

    settings = get_settings()
    use_auth, why = decide_auth(auth, settings.auth, host)
    if not use_auth and not is_loopback(host):
        console.print("[yellow]warning: serving without auth on a non-loopback address[/]")
        if host not in ("0.0.0.0", "::") and settings.allowed_hosts is None:
            # the address it was told to serve on is a name clients will use
            settings = settings.model_copy(update={"allowed_hosts": [host]})
    from autosel.pool.ingest import clean_stale_tmp

    stale = clean_stale_tmp(settings.pools_dir) if settings.pools_dir.is_dir() else []
    if stale:
        console.print(f"removed {len(stale)} temp dir(s) of killed ingests under pools/")
    application = create_app(settings, auth=use_auth, run_scheduler=scheduler, workers=workers)
    hosts = allowed_hosts(settings.allowed_hosts, auth=use_auth)
    console.print(
        f"autosel on http://{host}:{port} (dashboard at /, API docs at /docs; "
        f"auth {'on' if use_auth else 'off'} ({why}); "
        f"hosts served: {', '.join(sorted(hosts)) if hosts is not None else 'any'} "
        f"(AUTOSEL_ALLOWED_HOSTS); {workers} in-process worker(s))"
    )
    uvicorn.run(application, host=host, port=port, log_level="warning")


@app.command("worker")
def worker(
    server: str = typer.Option(
        None, envvar="AUTOSEL_SERVER", help="Server URL; default: the local store."
    ),
    token: str = typer.Option(
        None, envvar="AUTOSEL_TOKEN", help="Worker-scoped token for --server."
    ),
    gpus: str = typer.Option(
        None, help="Comma-separated CUDA devices, one worker each (e.g. 0,1)."
    ),
    max_jobs: int = typer.Option(None, min=1, help="Exit after this many jobs."),
    idle_exit: float = typer.Option(None, min=0, help="Exit after this many idle seconds."),
    lease_seconds: float = typer.Option(600.0, min=5, help="Lease length, renewed by heartbeats."),
    cpu_threads: int = typer.Option(
        None,
        min=1,
        envvar="AUTOSEL_WORKER_THREADS",
        help="CPU threads for torch in this worker (several CPU workers on one machine: "
        "cores / workers; an evaluation spec's torch_threads still wins).",
    ),
) -> None:
    """Lease evaluation jobs and run them (one worker per GPU with --gpus)."""
    import threading

    if cpu_threads is not None:
        # Oversubscribed OpenMP threads spin against each other: 3 workers x 2 threads on
        # 2 cores ran 2.4x slower than one worker (benchmarks/scaleout.py).
        import torch

        torch.set_num_threads(cpu_threads)

    from autosel.settings import get_settings
    from autosel.worker import LocalJobSource, Worker

    settings = get_settings()
    if server:
        from autosel.worker.remote import RemoteJobSource

        def make_source():
            return RemoteJobSource(server, token)
    else:
        from autosel.store import open_store

        store = open_store(settings=settings)

        def make_source():
            return LocalJobSource(store, settings)

    devices = [f"cuda:{g.strip()}" for g in gpus.split(",")] if gpus else ["cpu"]
    pool = [
        Worker(make_source(), device=d, lease_seconds=lease_seconds, settings=settings)
        for d in devices
    ]
    threads = [
        threading.Thread(
            target=w.run, kwargs={"max_jobs": max_jobs, "idle_timeout": idle_exit}, daemon=True
        )
        for w in pool
    ]
    for w, t in zip(pool, threads, strict=True):
        console.print(f"worker {w.worker_id} on {w.device} → {server or 'local store'}")
        t.start()
    for t in threads:
        t.join()
    for w in pool:
        console.print(
            f"{w.worker_id}: {len(w.stats.succeeded)} succeeded, {len(w.stats.failed)} failed, "
            f"{len(w.stats.lost)} lost leases"
        )


token_app = typer.Typer(help="API tokens (stored hashed).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="Who or what the token is for."),
    scope: list[str] = typer.Option(
        ["user"], "--scope", help="user, worker or admin (repeatable)."
    ),
) -> None:
    """Create a token; it is printed once and only its hash is stored."""
    from autosel.errors import ConfigError
    from autosel.store import open_store

    bad = [s for s in scope if s not in ("user", "worker", "admin")]
    if bad:
        raise ConfigError(f"--scope {bad[0]!r}: accepted user, worker, admin")
    secret, record = open_store().create_token(name, sorted(set(scope)))
    console.print(f"token for {record.name} (scopes {', '.join(record.scopes)}), shown once:")
    print(secret)
