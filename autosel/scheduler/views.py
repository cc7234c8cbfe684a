"""Read models of a search for the API, the CLI and the dashboard (one behaviour, three ways in).

Pure functions of store records: a search summary (state, budget, progress, best trial
by dev score) and one row per trial (recipe, origin, split, prediction vs actual,
per-benchmark scores, cost, failure reason). The final report, with test scores and CIs,
is :func:`autosel.service.search_report`.
"""

from __future__ import annotations

from typing import Any

from autosel.errors import NotFoundError
from autosel.scheduler.report import is_report_origin
from autosel.search.fidelity import best_at_top_fidelity, fidelity_of
from autosel.store import SearchRecord, Store
from autosel.store.records import ACTIVE_JOB_STATES, FINAL_TRIAL_STATES
from autosel.worker.loop import SIGNALS_KIND

ACTIVE_OR_QUEUED = ("queued", *ACTIVE_JOB_STATES)


def trial_rows(store: Store, search_id: str) -> list[dict[str, Any]]:
    """Every trial of a search with its job outcome, in trial-number order."""
    jobs = {j.trial_id: j for j in store.jobs(search_id=search_id)}
    results = {r.trial_id: r for r in store.results(search_id=search_id)}
    rows = []
    for t in store.trials(search_id):
        job, res = jobs.get(t.id), results.get(t.id)
        scores = dict(res.scores) if res else {}
        rows.append(
            {
                "id": t.id,
                "number": t.number,
                "state": t.state,
                "origin": t.origin,
                "report": is_report_origin(t.origin),
                "split": (job.payload.get("eval") or {}).get("split", "dev") if job else "dev",
                "trajectory": (t.trajectory or {}).get("index"),
                "fidelity": fidelity_of(t.trajectory),
                "promoted_from": (t.trajectory or {}).get("promoted_from"),
                "recipe": t.recipe,
                "recipe_hash": t.recipe_hash,
                "fingerprint": t.fingerprint,
                "size": int(job.payload.get("n_samples", 0)) if job else None,
                "state_vector": list(t.state_vector),
                "predicted_mean": (t.prediction or {}).get("mean"),
                "predicted_std": (t.prediction or {}).get("std"),
                "predicted_fidelity": (t.prediction or {}).get("fidelity"),
                "acquisition": (t.prediction or {}).get("acquisition"),
                "score": t.score,
                "scores": {k: v for k, v in scores.items() if "/" not in k},
                "metrics": {k: v for k, v in scores.items() if "/" in k},
                "cost": dict(res.costs) if res else {},
                "artifacts": dict(res.artifacts) if res else {},
                "job_state": job.state if job else None,
                "attempts": job.attempts if job else 0,
                "error": job.error if job else None,
                "created_at": t.created_at.isoformat(),
                "finished_at": t.finished_at.isoformat() if t.finished_at else None,
            }
        )
    return rows


def best_trial(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The completed search trial with the best dev score (report trials excluded); ties go
    to the earlier trial."""
    done = [
        r for r in rows if r["state"] == "complete" and not r["report"] and r["score"] is not None
    ]
    # A screening score (fidelity < 1) never beats a full one: the highest fidelity scored.
    return best_at_top_fidelity(
        done, lambda r: r["score"], lambda r: r.get("fidelity", 1.0), lambda r: r["number"]
    )


def trial_or_best(rows: list[dict[str, Any]], search_id: str, number: int | None) -> dict[str, Any]:
    """Trial ``number`` of a search, or its best trial when ``number`` is None.

    Raises:
        NotFoundError: no such trial number, or no completed trial yet.
    """
    row = (
        best_trial(rows)
        if number is None
        else next((r for r in rows if r["number"] == number), None)
    )
    if row is None:
        what = "no completed trial yet" if number is None else f"no trial number {number}"
        raise NotFoundError(f"search {search_id}: {what}")
    return row


def failure_reason(store: Store, search: SearchRecord) -> str | None:
    """Why a failed search failed: the reason of its latest ``search_failed`` event."""
    from autosel.scheduler.scheduler import search_events

    failed = [e for e in search_events(store, search.id) if e.kind == "search_failed"]
    return str(failed[-1].data.get("reason")) if failed else None


def signals_job(store: Store, search_id: str) -> dict[str, Any] | None:
    """The search's signals job (the latest), with its progress while it runs; ``None``
    when the search needed none (its signals were cached)."""
    jobs = [j for j in store.jobs(search_id=search_id) if j.kind == SIGNALS_KIND]
    if not jobs:
        return None
    job = jobs[-1]
    out: dict[str, Any] = {
        "job_id": job.id,
        "state": job.state,
        "done": None,
        "total": job.payload.get("n_samples"),
        "error": job.error,
    }
    if job.state == "succeeded":
        out["done"] = out["total"]
    elif job.state in ACTIVE_JOB_STATES:
        # Only while it runs, when the search has logged little else: cheap to scan.
        events = store.events(0, search_id=search_id, limit=10_000)
        beats = [e for e in events if e.kind == "job.progress" and e.job_id == job.id]
        if beats:
            out["done"], out["total"] = beats[-1].data.get("done"), beats[-1].data.get("total")
    return out


# Events that a user must see on the search itself (not only in the event stream).
WARNING_EVENTS = ("gp_fit_failed", "contamination")


def search_warnings(store: Store, search_id: str) -> list[dict[str, Any]]:
    """What went wrong without failing the search, oldest first, each in words: a GP fit
    that failed and the fallback the strategy took instead; pool samples that copy
    benchmark items (found when the search was created)."""
    out = []
    for e in store.events(0, search_id=search_id, limit=1000, kinds=WARNING_EVENTS):
        d = e.data
        if e.kind == "contamination":
            if not d.get("count"):
                continue  # checked, nothing found: not a warning
            per = "; ".join(
                f"{name}: dev {c.get('dev')}, test {c.get('test')}"
                for name, c in (d.get("benchmarks") or {}).items()
            )
            what = (
                "removed from every arm (decontaminate: true)"
                if d.get("removed")
                else "kept (decontaminate: false): scores may be inflated"
            )
            message = (
                f"contamination: {d['count']} pool samples near-copy benchmark items "
                f"({per}); {what}"
            )
        elif e.kind == "gp_fit_failed":
            message = (
                f"the GP fit on {d.get('points')} scored trials failed ({d.get('reason')}); "
                f"{d.get('proposed')} candidate(s) were picked by {d.get('fallback')} "
                "(space-filling over realized states) instead of by the GP"
            )
        else:  # pragma: no cover - every kind in WARNING_EVENTS has its words above
            message = str(d)
        out.append({"kind": e.kind, "message": message, "at": e.created_at.isoformat()})
    return out


def search_summary(
    store: Store, search: SearchRecord, rows: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """State, budget, progress and best trial (by dev score) of one search."""
    rows = trial_rows(store, search.id) if rows is None else rows
    search_rows = [r for r in rows if not r["report"]]
    report_rows = [r for r in rows if r["report"]]
    finished = [r for r in search_rows if r["state"] in FINAL_TRIAL_STATES]
    best = best_trial(rows)
    best_so_far, running = [], None
    for r in sorted(finished, key=lambda r: r["finished_at"] or ""):
        if r["score"] is not None and (running is None or r["score"] > running):
            running = r["score"]
        best_so_far.append(running)
    return {
        "id": search.id,
        "name": search.name,
        "pool_id": search.pool_id,
        "state": search.state,
        "budget": int(search.spec.get("budget", 0)),
        "completed": len(finished),
        "failed": sum(r["state"] == "failed" for r in search_rows),
        # From the jobs, not the trials: a job queued or held by a worker is in flight,
        # whatever a trial says (correct after a restart and after a cancel).
        "in_flight": sum(r["job_state"] in ACTIVE_OR_QUEUED for r in rows),
        "failure_reason": failure_reason(store, search) if search.state == "failed" else None,
        "best": best,
        "best_score": best["score"] if best else None,
        "report_runs": len(report_rows),
        "report_runs_done": sum(
            r["state"] in FINAL_TRIAL_STATES for r in report_rows
        ),
        "signals": signals_job(store, search.id),
        "warnings": search_warnings(store, search.id),
        "best_so_far": best_so_far,
        "device_seconds": sum(r["cost"].get("device_seconds", 0.0) for r in rows),
        # The budget's unit: full-evaluation equivalents (a screening trial costs its
        # fidelity; finished, failed and in flight alike).
        "units_spent": round(sum(r.get("fidelity", 1.0) for r in search_rows), 6),
        "fidelity_ladder": list(
            (search.spec.get("fidelity") or {}).get("ladder") or [1.0]
        ),
        "created_at": search.created_at.isoformat(),
        "updated_at": search.updated_at.isoformat(),
    }
