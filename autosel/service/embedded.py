"""Run a search to its end in this process: the embedded mode of the CLI and ``autosel run``."""

from __future__ import annotations

from typing import Any

from autosel.settings import Settings, get_settings
from autosel.store import Store


def run_embedded(
    store: Store,
    search_id: str,
    *,
    settings: Settings | None = None,
    workers: int = 1,
    evaluate_fn: Any = None,
    on_event: Any = None,
    poll_seconds: float = 0.5,
    signals: Any = None,
) -> dict[str, Any]:
    """Run a search to completion in this process: the scheduler here, ``workers`` worker threads.

    Args:
        on_event: called with each new event record (progress display).
        evaluate_fn: evaluation override (tests); default real SFT.

    Returns:
        The search summary (see :func:`autosel.scheduler.views.search_summary`).
    """
    import threading

    from autosel.scheduler.scheduler import Scheduler
    from autosel.scheduler.views import search_summary
    from autosel.worker import LocalJobSource, Worker

    settings = settings or get_settings()
    stop = threading.Event()
    pool_workers = [
        Worker(
            LocalJobSource(store, settings, search_id=search_id),  # this run's jobs only
            evaluate_fn=evaluate_fn,
            settings=settings,
        )
        for _ in range(workers)
    ]
    for w in pool_workers:
        w.register()
    threads = [
        threading.Thread(
            target=w.run,
            kwargs={"stop": stop, "poll_seconds": poll_seconds},
            name=f"worker-{i}",
            daemon=True,
        )
        for i, w in enumerate(pool_workers)
    ]
    cursor = [max((e.id for e in store.events(0, search_id=search_id, limit=100_000)), default=0)]

    def pump(_report: Any = None) -> None:
        if on_event is None:
            return
        for ev in store.events(cursor[0], search_id=search_id, limit=1000):
            cursor[0] = ev.id
            on_event(ev)

    try:
        sched = Scheduler(store, search_id, settings=settings, signals=signals)
        for t in threads:
            t.start()
        sched.run(poll_seconds=poll_seconds, on_step=pump)
        pump()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    return search_summary(store, store.get_search(search_id))
