"""Surrogate diagnostics of a search (``GET /v1/searches/{id}/diagnostics``, the dashboard's
"What the GP believes" panel): leave-one-out predicted vs actual dev scores, the
importance of each GP input, and the dev utility curve against the full pool.

The GP is refitted here exactly as the strategy fits it on the current history (same
encoding, noise model, seed and iteration cap; :mod:`autosel.search.bo`), so what is shown
is what ranked the last candidates. Only ``strategy: gp`` searches have a surrogate; the
utility curve is shown for every strategy.
"""

from __future__ import annotations

from typing import Any

from autosel.settings import Settings, get_settings
from autosel.store import Store

MIN_POINTS = 3  # fewer scored trials: leave-one-out says nothing


def search_diagnostics(
    store: Store, search_id: str, *, settings: Settings | None = None
) -> dict[str, Any]:
    """The diagnostics of one search (see the module docstring).

    Returns:
        ``{"status": "ok" | "too_few_points" | "no_surrogate", "points", "features",
        "loo": [{number, actual, predicted, std}], "importance": [{name, share}],
        "utility_curve": [{evaluation, number, score, best}], "full_pool": {number, score}
        | None, "note"}``.

    Raises:
        NotFoundError: no such search. ConfigError: its signals are not cached any more.
    """
    import numpy as np

    from autosel.scheduler.scheduler import Scheduler
    from autosel.search import gp
    from autosel.search.bo import _known_noise
    from autosel.search.diagnostics import feature_importance, loo_predictions
    from autosel.search.strategy import derive_seed

    settings = settings or get_settings()
    sched = Scheduler(store, search_id, settings=settings)
    trials = sched._trials()
    history, _ = sched._history(trials)
    numbers = {t.recipe_hash: t.number for t in trials if not t.origin.startswith("report:")}
    finished = sorted(
        (t for t in trials if not t.origin.startswith("report:") and t.finished_at),
        key=lambda t: t.finished_at.isoformat() if t.finished_at else "",
    )
    curve, best = [], None
    for i, t in enumerate(finished, start=1):
        if t.score is not None and (best is None or t.score > best):
            best = t.score
        curve.append({"evaluation": i, "number": t.number, "score": t.score, "best": best})
    full = next(
        (
            {"number": t.number, "score": t.score}
            for t in trials
            if not t.origin.startswith("report:")
            and not (t.recipe or {}).get("steps")
            and t.score is not None
        ),
        None,
    )
    knobs = sched.spec.search_knobs
    out: dict[str, Any] = {
        "status": "ok",
        "strategy": sched.spec.strategy,
        "features": knobs.features,
        "points": 0,
        "loo": [],
        "importance": [],
        "utility_curve": curve,
        "full_pool": full,
        "note": None,
    }
    if sched.spec.strategy != "gp":
        out["status"] = "no_surrogate"
        out["note"] = f"strategy {sched.spec.strategy!r} uses no surrogate model"
        return out
    ok = [t for t in history if t.ok]
    out["points"] = len(ok)
    if len(ok) < MIN_POINTS:
        out["status"] = "too_few_points"
        out["note"] = f"{len(ok)} scored trial(s): leave-one-out needs at least {MIN_POINTS}"
        return out
    space = sched.space
    space.register([t.recipe for t in history])
    X = np.stack([space.encode(space.realize(t.recipe), knobs.features) for t in ok])
    Y = np.array([t.score for t in ok], dtype=np.float64)
    model = gp.fit_surrogate(
        X,
        Y,
        Yvar=_known_noise(ok, knobs),
        extra_noise=knobs.gp_noise == "known+learned",
        seed=derive_seed(knobs.seed, len(history), "fit"),
        maxiter=knobs.fit_maxiter,
    )
    mean, std = loo_predictions(model)
    out["loo"] = [
        {
            "number": numbers.get(t.recipe.recipe_hash),
            "actual": float(y),
            "predicted": float(m),
            "std": float(s),
        }
        for t, y, m, s in zip(ok, Y, mean, std, strict=True)
    ]
    names = space.encoded_names(knobs.features)
    out["importance"] = [
        {"name": n, "share": round(v, 6)} for n, v in feature_importance(model, names)
    ]
    failure = gp.fit_failure(model)
    if failure:
        out["note"] = f"the GP fit failed ({failure}): these are its prior's predictions"
    return out
