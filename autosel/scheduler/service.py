"""Creating searches and reading their final report: the one path the CLI, the API and
`autosel run` share."""

from __future__ import annotations

from typing import Any

from autosel.errors import ConfigError
from autosel.scheduler.spec import SearchSpec
from autosel.settings import Settings, get_settings
from autosel.store import PoolRecord, SearchRecord, Store


def register_pool(store: Store, pool: Any) -> PoolRecord:
    """Record a stored pool in the store's catalog (idempotent: pools are content-addressed)."""
    return store.put_pool(
        PoolRecord(
            id=pool.pool_id,
            name=pool.name,
            content_hash=pool.content_hash,
            rows=len(pool),
            path=str(pool.path),
            manifest=pool.manifest,
        )
    )


def create_search(
    store: Store,
    spec: SearchSpec | dict[str, Any],
    *,
    settings: Settings | None = None,
    name: str | None = None,
    confine_paths: bool = False,
) -> SearchRecord:
    """Validate ``spec`` against what exists and store a new search.

    Checks before anything is stored: the spec's fields, that the pool exists, that each
    benchmark file exists and its primary metric can be computed, that each seed recipe
    parses, and that every id of each report reference file is in the pool. The stored
    spec names the pool by its full id, so later renames or prefixes cannot change what it
    means; each reference subset is pinned by its fingerprint at creation (event
    ``report_references``), so editing the ids file later cannot change the report.

    ``confine_paths`` (requests that cross the API): every path the spec names must lie
    inside the server's data or model roots, and is stored resolved (:mod:`autosel.paths`).
    The pool is named by id, unique id prefix or name, never by a path.

    Raises:
        ConfigError / NotFoundError: naming the field that is wrong.
        PathNotAllowedError: with ``confine_paths``, a path is missing or outside the roots.
        InputError: a reference ids file is unreadable or names an id not in the pool
            (file and line named).
    """
    from autosel.evaluation.harness import check_primary_metrics
    from autosel.paths import confine_spec
    from autosel.pool.pool import find_pool
    from autosel.recipes.model import recipe_from_data
    from autosel.recipes.realize import pool_columns, subset_fingerprint
    from autosel.recipes.subsets import save_subset
    from autosel.scheduler.report import read_reference_ids
    from autosel.scheduler.scheduler import REFERENCES_EVENT

    settings = settings or get_settings()
    spec = spec if isinstance(spec, SearchSpec) else SearchSpec.parse(spec)
    if confine_paths:
        spec = confine_spec(spec, settings)
    pool = find_pool(spec.pool, settings)
    for i, bench in enumerate(spec.eval.benchmarks):
        if not bench.path.is_file():
            raise ConfigError(
                f"search spec: field 'eval.benchmarks[{i}].path': no file at {bench.path}"
            )
    for i, rec in enumerate(spec.seed_recipes):
        try:
            recipe_from_data(rec)
        except Exception as exc:  # noqa: BLE001 - re-raised with the field named
            raise ConfigError(f"search spec: field 'seed_recipes[{i}]': {exc}") from None
    check_primary_metrics(spec.eval)
    # (``ref``, not ``name``: that is the search's name, used below.)
    references = {
        ref: read_reference_ids(path, pool) for ref, path in spec.report.references.items()
    }
    # Everything is valid: from here on, write.
    cols = pool_columns(pool)
    pinned = {}
    for ref, rows in references.items():
        fingerprint = subset_fingerprint(cols, rows)
        save_subset(settings, fingerprint, rows)
        pinned[ref] = {
            "path": str(spec.report.references[ref]),
            "fingerprint": fingerprint,
            "size": len(rows),
        }
    spec = spec.model_copy(update={"pool": pool.pool_id})
    register_pool(store, pool)
    record = store.create_search(
        name or spec.name or f"search on {pool.name}", spec.to_json(), pool_id=pool.pool_id
    )
    store.append_event(
        "search_created", {"budget": spec.budget, "pool_id": pool.pool_id}, search_id=record.id
    )
    if pinned:
        store.append_event(REFERENCES_EVENT, {"references": pinned}, search_id=record.id)
    return record


def search_report(store: Store, search_id: str) -> dict[str, Any]:
    """The final report of a search, or where it stands on the way to one.

    Returns:
        ``{search_id, search_state, status, message, pending, report}``. ``status``:
        ``complete`` (``report`` holds the latest ``search_report``, see
        :func:`autosel.scheduler.report.build_report`), ``running`` (report runs are
        queued or training; ``pending`` lists them), ``not_reached`` (the search is still
        spending its budget), ``disabled`` (the spec turned the report off) or
        ``unavailable`` (the search ended without one: cancelled or failed first).

    Raises:
        NotFoundError: no such search.
    """
    from autosel.scheduler import report as rep
    from autosel.scheduler.scheduler import search_events

    search = store.get_search(search_id)
    spec = SearchSpec.parse(search.spec, where=f"search {search_id}", stored=True)
    out: dict[str, Any] = {
        "search_id": search_id,
        "search_state": search.state,
        "pending": [],
        "report": None,
    }
    latest = next(
        (e for e in reversed(search_events(store, search_id)) if e.kind == "search_report"), None
    )
    if latest is not None:
        return {
            **out,
            "status": "complete",
            "message": "final report on the test split",
            "created_at": latest.created_at.isoformat(),
            "report": latest.data,
        }
    if not spec.report.enabled:
        return {**out, "status": "disabled", "message": "the search spec turned the report off"}
    runs = [t for t in store.trials(search_id) if rep.is_report_origin(t.origin)]
    pending = [
        {
            "arm": rep.run_of(t.origin, t.trajectory).arm,
            "replicate": rep.run_of(t.origin, t.trajectory).replicate,
            "trial": t.number,
            "state": t.state,
        }
        for t in runs
        if t.state in ("pending", "running")
    ]
    if search.state in ("cancelled", "failed", "completed"):
        return {
            **out,
            "status": "unavailable",
            "message": f"the search {search.state} without a final report",
            "pending": pending,
        }
    if not runs:
        return {
            **out,
            "status": "not_reached",
            "message": "the search has not reached its final report yet (budget not spent)",
        }
    done = len(runs) - len(pending)
    return {
        **out,
        "status": "running",
        "message": f"final report: {done} of {len(runs)} test runs finished",
        "pending": pending,
    }


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
