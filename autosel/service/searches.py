"""Search actions: create, cancel, resume, report, and export a trial's subset or recipe.

Each function is the whole action: it validates, changes the store and writes the action's
event. Front ends render the returned records with :mod:`autosel.scheduler.views`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autosel.errors import ConfigError, InvalidStateError
from autosel.service.pools import record_pool
from autosel.settings import Settings, get_settings
from autosel.store import CancelReport, SearchRecord, Store
from autosel.store.records import FINAL_SEARCH_STATES, OPEN_TRIAL_STATES

if TYPE_CHECKING:
    import numpy as np

    from autosel.pool.pool import Pool
    from autosel.scheduler.spec import SearchSpec
    from autosel.signals.contamination import ContaminationReport


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
    parses, and that every id of each report reference file is in the pool. Then the pool
    is checked for copies of benchmark items (dev and test; event ``contamination`` with
    the counts and the first matched pairs); with ``decontaminate.enabled`` (the default)
    those samples are stored as a subset and the scheduler removes them from the pool
    every arm is realized on, references included. The stored
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
    import numpy as np

    from autosel.evaluation.harness import check_primary_metrics
    from autosel.paths import confine_spec
    from autosel.pool.pool import find_pool
    from autosel.recipes.model import recipe_from_data
    from autosel.recipes.realize import pool_columns, subset_fingerprint
    from autosel.recipes.subsets import save_subset
    from autosel.scheduler.report import read_reference_ids
    from autosel.scheduler.scheduler import CONTAMINATION_EVENT, REFERENCES_EVENT
    from autosel.scheduler.spec import SearchSpec
    from autosel.search.strategy import resolve_min_size

    settings = settings or get_settings()
    spec = spec if isinstance(spec, SearchSpec) else SearchSpec.parse(spec)
    if confine_paths:
        spec = confine_spec(spec, settings)
    pool = find_pool(spec.pool, settings)
    for i, bench in enumerate(spec.eval.benchmarks):
        if not (bench.path.is_file() or bench.path.is_dir()):  # a save_to_disk directory
            raise ConfigError(
                f"search spec: field 'eval.benchmarks[{i}].path': no file at {bench.path}"
            )
    for i, rec in enumerate(spec.seed_recipes):
        try:
            recipe_from_data(rec)
        except Exception as exc:  # noqa: BLE001 - re-raised with the field named
            raise ConfigError(f"search spec: field 'seed_recipes[{i}]': {exc}") from None
    check_primary_metrics(spec.eval)
    resolve_min_size(spec.search_knobs, len(pool))  # a min_size above the pool: refused
    # (``ref``, not ``name``: that is the search's name, used below.)
    references = {
        ref: read_reference_ids(path, pool) for ref, path in spec.report.references.items()
    }
    contamination = check_contamination(pool, spec, settings)
    if spec.decontaminate.enabled and contamination.count:
        left, floor = (
            len(pool) - contamination.count,
            resolve_min_size(spec.search_knobs, len(pool)),
        )
        if left < floor:
            raise ConfigError(
                f"search spec: field 'decontaminate': {contamination.count} of {len(pool)} "
                f"pool samples copy benchmark items; removing them leaves {left}, below "
                f"the smallest subset a recipe may select ({floor}, knobs.min_size). "
                "Use a pool without these copies, or decontaminate: false (scores would be "
                "inflated by the copies)"
            )
    # Everything is valid: from here on, write.
    cols = pool_columns(pool)
    removed = contamination.rows if spec.decontaminate.enabled else contamination.rows[:0]
    removed_fp = None
    if len(removed):
        removed_fp = subset_fingerprint(cols, removed)
        save_subset(settings, removed_fp, removed)
    pinned = {}
    for ref, rows in references.items():
        # A reference is an arm like any other: it loses the pool's contaminated samples.
        kept = np.setdiff1d(rows, removed, assume_unique=False) if len(removed) else rows
        fingerprint = subset_fingerprint(cols, kept)
        save_subset(settings, fingerprint, kept)
        pinned[ref] = {
            "path": str(spec.report.references[ref]),
            "fingerprint": fingerprint,
            "size": len(kept),
            "decontaminated": int(len(rows) - len(kept)),
        }
    spec = spec.model_copy(update={"pool": pool.pool_id})
    record_pool(store, pool)
    record = store.create_search(
        name or spec.name or f"search on {pool.name}", spec.to_json(), pool_id=pool.pool_id
    )
    store.append_event(
        "search_created", {"budget": spec.budget, "pool_id": pool.pool_id}, search_id=record.id
    )
    store.append_event(
        CONTAMINATION_EVENT,
        {
            **contamination.to_event(),
            "enabled": spec.decontaminate.enabled,
            "removed": int(len(removed)),
            "removed_fingerprint": removed_fp,
        },
        search_id=record.id,
    )
    if pinned:
        store.append_event(REFERENCES_EVENT, {"references": pinned}, search_id=record.id)
    return record


def check_contamination(pool: Pool, spec: SearchSpec, settings: Settings) -> ContaminationReport:
    """Which samples of ``pool`` copy an item of the spec's benchmarks (every item, dev and
    test; cached per pool and benchmark files), at the spec's ``decontaminate.threshold``.

    Raises:
        InputError: a benchmark file is invalid (file, line and field named).
    """
    from autosel.signals.contamination import check_pool

    return check_pool(
        pool,
        list(spec.eval.benchmarks),
        threshold=spec.decontaminate.threshold,
        settings=settings,
    )


def contamination_line(data: dict[str, Any]) -> str:
    """One line for a ``contamination`` event: ``contamination: N pool samples near-copy
    benchmark items (bench: dev a, test b); removed from every arm`` (or kept)."""
    per = "; ".join(
        f"{name}: dev {c.get('dev')}, test {c.get('test')}"
        for name, c in (data.get("benchmarks") or {}).items()
    )
    n = int(data.get("count") or 0)
    if not n:
        what = "nothing to remove"
    elif data.get("removed"):
        what = "removed from every arm (decontaminate: true)"
    else:
        what = "kept (decontaminate: false)"
    noun = "sample" if n == 1 else "samples"
    return (
        f"contamination: {n} pool {noun} near-copy benchmark items "
        f"({per or 'no benchmark'}); {what}"
    )


def contamination_of(store: Store, search_id: str) -> dict[str, Any] | None:
    """The contamination found when the search was created (the ``contamination`` event's
    data: ``count``, per-benchmark ``dev``/``test`` counts, ``removed``, first matched
    ``matches``), or None for a search created before the check existed."""
    from autosel.scheduler.scheduler import CONTAMINATION_EVENT

    events = store.events(0, search_id=search_id, limit=1000, kinds=(CONTAMINATION_EVENT,))
    return events[-1].data if events else None


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
    from autosel.scheduler.spec import SearchSpec

    search = store.get_search(search_id)
    spec = SearchSpec.parse(search.spec, where=f"search {search_id}", stored=True)
    out: dict[str, Any] = {
        "search_id": search_id,
        "search_state": search.state,
        "pending": [],
        "created_at": None,
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
        if t.state in OPEN_TRIAL_STATES
    ]
    if search.state in FINAL_SEARCH_STATES:
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


def cancel_search(store: Store, search_id: str) -> CancelReport:
    """Stop a search: its queued jobs are cancelled, its leased and running ones signalled
    (their workers stop at the next heartbeat).

    Logs ``search_cancelled`` with the ids of the jobs cancelled and signalled.

    Raises:
        NotFoundError: no such search.
    """
    store.get_search(search_id)
    report = store.cancel_search(search_id)
    store.append_event(
        "search_cancelled",
        {"cancelled": list(report.cancelled), "signalled": list(report.signalled)},
        search_id=search_id,
    )
    return report


def resume_search(store: Store, search_id: str) -> SearchRecord:
    """Continue a failed search from its trial history (logs ``search_resumed``).

    A scheduler (the server's, or :func:`autosel.service.run_embedded`) then proposes
    the rest of its budget. Cancelled and completed searches stay as they are.

    Raises:
        NotFoundError: no such search.
        InvalidStateError: the search is not failed.
    """
    search = store.get_search(search_id)
    if search.state != "failed":
        raise InvalidStateError(
            f"search {search_id} is {search.state}; only a failed search can be resumed"
        )
    record = store.set_search_state(search_id, "running")
    store.append_event("search_resumed", {}, search_id=search_id)
    return record


def find_trial(
    store: Store,
    search_id: str,
    number: int | None = None,
    *,
    rows: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Trial ``number`` of a search as its public row, or its best trial when None.

    ``rows``: the search's trial rows when the caller has them already (the API's cache).

    Raises:
        NotFoundError: no such search, no such trial, or no completed trial yet.
    """
    from autosel.scheduler.views import trial_or_best, trial_rows

    if rows is None:
        store.get_search(search_id)
        rows = trial_rows(store, search_id)
    return trial_or_best(rows, search_id, number)


def recipe_yaml(trial: dict[str, Any]) -> str:
    """A trial's recipe as the YAML document ``autosel recipe run`` reads."""
    import yaml

    return yaml.safe_dump(trial["recipe"], sort_keys=False)


@dataclass(frozen=True)
class SubsetExport:
    """A trial's subset, ready to write: the trial row, its pool and its row indices."""

    trial: dict[str, Any]
    pool: Pool
    indices: np.ndarray

    def records(self) -> Iterator[dict[str, Any]]:
        """The subset's samples in pool order, sample ids kept."""
        return self.pool.rows(self.indices)


def export_subset(
    store: Store,
    search_id: str,
    number: int | None = None,
    *,
    settings: Settings | None = None,
    rows: list[dict[str, Any]] | None = None,
) -> SubsetExport:
    """The subset of trial ``number`` (default: the best trial) of a search.

    Raises:
        NotFoundError: no such search or trial, or its pool or subset file is gone.
    """
    from autosel.pool.pool import find_pool
    from autosel.recipes.subsets import load_subset

    settings = settings or get_settings()
    trial = find_trial(store, search_id, number, rows=rows)
    pool = find_pool(store.get_search(search_id).pool_id or "", settings)
    return SubsetExport(trial, pool, load_subset(settings, trial["fingerprint"]))
