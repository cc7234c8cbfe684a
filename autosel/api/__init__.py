"""The REST API (FastAPI) and the dashboard: ``create_app(settings)``.

Routes are thin; one router per resource under ``/v1``; errors are JSON with stable
codes (see :mod:`autosel.api.errors`). The app owns a store (``AUTOSEL_DATABASE_URL``,
default SQLite under ``$AUTOSEL_HOME``) and, with ``run_scheduler``, a background thread
that drives every active search; ``workers=N`` adds N in-process workers (embedded mode).
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from autosel import __version__
from autosel.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None,
    *,
    store: Any = None,
    auth: bool | None = None,
    run_scheduler: bool = False,
    workers: int = 0,
    evaluate_fn: Any = None,
) -> FastAPI:
    """Build the application.

    Args:
        settings: service settings (tests pass their own).
        store: an open store (default: ``open_store`` from the settings).
        auth: require tokens (default: ``settings.auth``, else off; ``autosel serve``
            decides with :func:`autosel.api.perimeter.decide_auth`). With auth off, only
            loopback Host names (and ``settings.allowed_hosts``) are served.
        run_scheduler: drive active searches from a background thread.
        workers: in-process workers to start (embedded mode).
        evaluate_fn: evaluation override for in-process workers (tests only).
    """
    from autosel.api.errors import install_error_handlers
    from autosel.api.openapi import install_openapi
    from autosel.api.perimeter import PerimeterMiddleware, allowed_hosts
    from autosel.api.readcache import SearchReadCache
    from autosel.api.routes import dashboard, health, jobs, meta, operators, pools, searches
    from autosel.store import open_store

    settings = settings or get_settings()
    store = store if store is not None else open_store(settings=settings)
    stop = threading.Event()
    background: list[Any] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if run_scheduler:
            from autosel.scheduler.manager import SearchManager

            manager = SearchManager(store, settings)
            manager.start()
            background.append(manager)
        for i in range(workers):
            from autosel.worker import LocalJobSource, Worker

            w = Worker(
                LocalJobSource(store, settings),
                evaluate_fn=evaluate_fn,
                settings=settings,
                worker_id=f"inproc-{i}",
            )
            t = threading.Thread(
                target=w.run, kwargs={"stop": stop}, name=f"worker-{i}", daemon=True
            )
            t.start()
            background.append(t)
        yield
        stop.set()
        for b in background:
            b.stop() if hasattr(b, "stop") and not isinstance(b, threading.Thread) else b.join(
                timeout=5
            )

    app = FastAPI(
        title="autosel",
        version=__version__,
        description="Data-recipe search for supervised fine-tuning: pools, operators, searches, "
        "trials, jobs and workers. Errors are JSON `{error: {code, message, field?}}`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.auth = bool(settings.auth if auth is None else auth)
    app.state.read_cache = SearchReadCache(store)
    install_error_handlers(app)  # the catch-all middleware, inside the perimeter
    app.add_middleware(
        PerimeterMiddleware, hosts=allowed_hosts(settings.allowed_hosts, auth=app.state.auth)
    )
    install_openapi(app)
    for module in (health, meta, pools, operators, searches, jobs, dashboard):
        app.include_router(module.router)
    return app
