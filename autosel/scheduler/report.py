"""The final report of a search: what it found, re-trained and scored on the test split.

The search only ever sees dev scores, and the best of many noisy dev scores is biased
upwards (winner's curse), so a search's own best score says little. After the budget is
spent the scheduler queues *report runs*, each a normal job on the same evaluation spec
with ``split="test"`` and a training seed the search never used:

* ``best``: the recipe with the best dev score, ``replicates`` training seeds;
* ``full``: the whole pool, ``replicates`` training seeds;
* ``random``: ``random_draws`` random subsets of the best's size, each drawn with its own
  seed and trained once (each draw is a replicate: its spread is draw plus seed noise);
* one arm per reference subset of the spec (a file of sample ids), ``replicates`` seeds.

When every run has finished (or failed), :func:`build_report` gathers their per-item test
scores into :class:`autosel.evaluation.stats.Arm` values and compares best − full,
best − random and reference − full, each with a 95% CI that carries item noise (paired
bootstrap over the test items) and training-seed noise (pooled over the replicates). A
failed run leaves its arm short or missing, and the report says which.

Seeds: every report seed is a hash of (search seed, what it is for), so a restarted
scheduler queues exactly the runs it queued before and the report can be recomputed.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autosel.errors import InputError

REPORT_PREFIX = "report:"
BEST, FULL, RANDOM = "best", "full", "random"
# How each arm is named in tables and differences ("best − full pool: ..."), and after
# "than" / "from" in a verdict ("... better than the full pool").
ARM_NAMES = {BEST: "best", FULL: "full pool", RANDOM: "random subset"}
ARM_LABELS = {
    BEST: "the best recipe",
    FULL: "the full pool",
    RANDOM: "random subsets of the same size",
}
REPORT_VERSION = 1
_SEED_SPACE = 2**32  # EvalSpec.seed's range


def arm_name(key: str) -> str:
    """Display name of an arm (a reference is shown by its own name)."""
    return ARM_NAMES.get(key, key)


def arm_label(key: str) -> str:
    return ARM_LABELS.get(key, f"the {key} reference")


def derive_seed(*parts: Any) -> int:
    """A seed in ``[0, 2**32)`` from a hash of ``parts`` (never Python's ``hash``)."""
    text = "autosel-report/" + "/".join(str(p) for p in parts)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % _SEED_SPACE


def training_seed(search_seed: int, origin: str, replicate: int, *, avoid: int) -> int:
    """The training seed of one report run; never ``avoid`` (the search's training seed)."""
    seed = derive_seed("train", search_seed, origin, replicate)
    return seed if seed != avoid else (seed + 1) % _SEED_SPACE


def draw_seed(search_seed: int, draw: int) -> int:
    """The seed that draws random subset number ``draw``."""
    return derive_seed("draw", search_seed, draw)


@dataclass(frozen=True)
class ReportRun:
    """One planned report run: an arm and its replicate number (a draw for ``random``)."""

    arm: str
    replicate: int

    @property
    def origin(self) -> str:
        return REPORT_PREFIX + self.arm


def is_report_origin(origin: str) -> bool:
    return origin.startswith(REPORT_PREFIX)


def run_of(origin: str, trajectory: dict[str, Any] | None) -> ReportRun:
    """The run a stored report trial is (its replicate is kept in the trial's trajectory)."""
    return ReportRun(origin[len(REPORT_PREFIX) :], int((trajectory or {}).get("replicate", 0)))


def read_reference_ids(path: Path, pool: Any) -> np.ndarray:
    """Pool rows of a reference file: one sample id per line (blank and ``#`` lines skipped).

    Args:
        path: the ids file.
        pool: the stored pool the ids must belong to.

    Returns:
        Sorted pool rows (`k`, int64).

    Raises:
        InputError: the file cannot be read, holds no id, repeats an id, or names an id
            that is not in the pool (file and line named).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the reference ids file: {exc}", path=path) from None
    index = {sid: i for i, sid in enumerate(pool.sample_ids.tolist())}
    rows: list[int] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        sid = raw.strip()
        if not sid or sid.startswith("#"):
            continue
        if sid in seen:
            raise InputError(
                f"sample id {sid!r} is listed twice (first on line {seen[sid]}); "
                "a reference is a set of ids, one per line",
                path=path,
                line=lineno,
            )
        if sid not in index:
            raise InputError(
                f"sample id {sid!r} is not in pool {pool.pool_id} "
                "(accepted: the pool's sample ids, one per line)",
                path=path,
                line=lineno,
            )
        seen[sid] = lineno
        rows.append(index[sid])
    if not rows:
        raise InputError(
            "no sample id in the file (accepted: one sample id of the pool per line)", path=path
        )
    return np.sort(np.asarray(rows, dtype=np.int64))


# ---------------------------------------------------------------------------- the report
@dataclass(frozen=True)
class RunOutcome:
    """A finished report run as the report reads it (from its trial, job and result)."""

    run: ReportRun
    trial: int
    state: str
    size: int | None
    seed: int | None
    item_scores: dict[str, list[float]]
    error: str | None = None


def benchmark_weights(spec: Any, item_scores: dict[str, Any]) -> dict[str, float]:
    """Weights of the benchmarks a run scored: the spec's; 1 for a benchmark the spec does
    not name (only an ``evaluate_fn`` override, e.g. a test double, reports those)."""
    named = {b.name: float(b.weight) for b in spec.eval.benchmarks}
    return {b: named.get(b, 1.0) for b in sorted(item_scores)}


def item_variance(spec: Any, item_scores: dict[str, Any]) -> float | None:
    """Item-noise variance of one evaluation's utility; None when it cannot be computed
    (no per-item scores, or fewer than 2 items on a weighted benchmark)."""
    from autosel.evaluation.stats import item_noise_variance

    if not item_scores:
        return None
    try:
        return float(item_noise_variance(item_scores, benchmark_weights(spec, item_scores)))
    except ValueError:
        return None


def _item_arrays(
    outcomes: list[RunOutcome], shape: dict[str, int] | None
) -> tuple[dict[str, np.ndarray], list[RunOutcome], list[str]]:
    """Stack the runs' item scores (`R x n_b` per benchmark), dropping misfits with a note."""
    rows: list[dict[str, list[float]]] = []
    used: list[RunOutcome] = []
    notes: list[str] = []
    for o in outcomes:
        if not o.item_scores:
            notes.append(f"trial {o.trial}: no per-item scores were reported")
            continue
        lengths = {b: len(v) for b, v in o.item_scores.items()}
        if shape is None:  # the first usable run sets the test items every other run must have
            shape = lengths
        if lengths != shape:
            notes.append(
                f"trial {o.trial}: test items {lengths} differ from the other runs' {shape}"
            )
            continue
        rows.append(o.item_scores)
        used.append(o)
    if not rows:
        return {}, [], notes
    items = {b: np.asarray([r[b] for r in rows], dtype=np.float64) for b in sorted(rows[0])}
    return items, used, notes


def build_report(
    spec: Any,
    *,
    best: dict[str, Any] | None,
    dev_runs: list[dict[str, Any]],
    planned: list[ReportRun],
    skipped: dict[str, str],
    outcomes: list[RunOutcome],
) -> dict[str, Any]:
    """The final report as JSON-ready data.

    Args:
        spec: the search's ``SearchSpec``.
        best: the best search trial by dev score: ``{trial, recipe, recipe_hash, size,
            dev_score}`` (None when no search trial succeeded).
        dev_runs: every completed search trial: ``{trial, score, item_scores}`` (dev split).
        planned: the report runs that were queued.
        skipped: arms that were not run, with the reason (e.g. no best recipe).
        outcomes: the finished report runs (complete or failed).

    Returns:
        ``{version, split, complete, best, arms, missing, seed_variance, random_variance,
        comparisons, flat_warning, dev}`` (see ``autosel.api.schemas.FinalReport``).
    """
    from autosel.evaluation import stats

    by_arm: dict[str, list[RunOutcome]] = {}
    for o in sorted(outcomes, key=lambda o: (o.run.arm, o.run.replicate)):
        by_arm.setdefault(o.run.arm, []).append(o)
    order = [r.arm for r in planned]
    arm_keys = list(dict.fromkeys(order))
    missing: list[dict[str, Any]] = [
        {"arm": k, "name": arm_name(k), "reason": why} for k, why in sorted(skipped.items())
    ]
    arms: dict[str, stats.Arm] = {}
    arm_rows: list[dict[str, Any]] = []
    shape: dict[str, int] | None = None
    for key in arm_keys:
        runs = by_arm.get(key, [])
        ok = [o for o in runs if o.state == "complete"]
        failed = [o for o in runs if o.state != "complete"]
        items, used, notes = _item_arrays(ok, shape)
        notes = [
            f"trial {o.trial} {o.state}: {o.error or 'no reason given'}" for o in failed
        ] + notes
        n_planned = sum(r.arm == key for r in planned)
        if used:
            try:
                arms[key] = stats.Arm(
                    name=arm_name(key),
                    items=items,
                    weights=benchmark_weights(spec, items),
                    label=arm_label(key),
                )
                shape = shape or {b: a.shape[1] for b, a in items.items()}
            except ValueError as exc:  # e.g. a non-finite item score from a worker
                notes.append(f"its item scores cannot be used: {exc}")
                used = []
        if not used:
            missing.append(
                {"arm": key, "name": arm_name(key), "reason": "; ".join(notes) or "not run"}
            )
        arm_rows.append(
            {
                "key": key,
                "name": arm_name(key),
                "origin": REPORT_PREFIX + key,
                "size": next((o.size for o in runs if o.size is not None), None),
                "planned": n_planned,
                "replicates": len(used),
                "trials": [o.trial for o in used],
                "seeds": [o.seed for o in used],
                "notes": notes,
            }
        )
    seed_var = _seed_variance(spec, arms)
    random_var = _random_variance(arms, seed_var)
    for row in arm_rows:
        arm = arms.get(row["key"])
        sv = random_var if row["key"] == RANDOM else seed_var
        row.update(_arm_numbers(spec, arm, sv["value"]))
    comparisons = [
        _comparison(arms, a, b, seed_var, random_var, spec.knobs.seed, missing)
        for a, b in _pairs(spec)
    ]
    dev = _dev_summary(spec, dev_runs, seed_var)
    flat = (
        stats.flat_objective([d["score"] for d in dev_runs], dev["noise_se"])
        if dev["noise_se"] is not None and len(dev_runs) >= 2
        else None
    )
    return {
        "version": REPORT_VERSION,
        "split": "test",
        "complete": not missing and all(r["replicates"] == r["planned"] for r in arm_rows),
        "best": best,
        "arms": arm_rows,
        "missing": missing,
        "seed_variance": seed_var,
        "random_variance": random_var,
        "comparisons": comparisons,
        "flat_warning": flat,
        "dev": dev,
    }


def _pairs(spec: Any) -> list[tuple[str, str]]:
    """best − full, best − random, and each reference − full."""
    return [(BEST, FULL), (BEST, RANDOM)] + [(name, FULL) for name in spec.report.references]


def _seed_variance(spec: Any, arms: dict[str, Any]) -> dict[str, Any]:
    """Training-seed variance of one evaluation's utility: measured when replicates allow.

    Pooled over the arms whose replicates differ only in the training seed (all but
    ``random``, whose draws also differ in the subset). Without two replicates of any such
    arm it cannot be measured; it is then *assumed* equal to the median item variance of
    one run (we measured seed noise of the same order as item noise), and marked so.
    """
    from autosel.evaluation import stats

    seeded = [a for k, a in arms.items() if k != RANDOM]
    value, df = stats.pooled_seed_variance(seeded) if seeded else (0.0, 0)
    if df > 0:
        return {"value": float(value), "df": int(df), "measured": True, "source": "replicates"}
    per_run = [
        v
        for a in arms.values()
        for r in range(a.replicates)
        if (v := item_variance(spec, {b: x[r] for b, x in a.items.items()})) is not None
    ]
    assumed = float(statistics.median(per_run)) if per_run else 0.0
    return {"value": assumed, "df": 0, "measured": False, "source": "assumed = item variance"}


def _random_variance(arms: dict[str, Any], seed_var: dict[str, Any]) -> dict[str, Any]:
    """Variance of one random draw's utility (draw plus seed noise), measured over the
    draws; never below the seed variance (the conservative choice with few draws)."""
    arm = arms.get(RANDOM)
    if arm is None or arm.replicates < 2:
        return seed_var
    utils = arm.replicate_utilities()
    measured = float(np.var(utils, ddof=1))
    if measured <= seed_var["value"]:
        return seed_var
    return {"value": measured, "df": len(utils) - 1, "measured": True, "source": "random draws"}


def _arm_numbers(spec: Any, arm: Any, seed_var: float) -> dict[str, Any]:
    """Test utility of an arm with its SE (items of the replicate mean, plus seed noise)."""
    if arm is None:
        return {"test_utility": None, "test_se": None, "replicate_utilities": []}
    reps = [float(u) for u in arm.replicate_utilities()]
    item_var = item_variance(spec, arm.item_means())
    var = (item_var or 0.0) + seed_var / len(reps)
    return {
        "test_utility": float(arm.utility()),
        "test_se": float(np.sqrt(max(var, 0.0))) if item_var is not None else None,
        "replicate_utilities": reps,
    }


def _comparison(
    arms: dict[str, Any],
    a: str,
    b: str,
    seed_var: dict[str, Any],
    random_var: dict[str, Any],
    search_seed: int,
    missing: list[dict[str, Any]],
) -> dict[str, Any]:
    from autosel.evaluation import stats

    absent = [k for k in (a, b) if k not in arms]
    if absent:
        why = {m["arm"]: m["reason"] for m in missing}
        reason = "; ".join(f"{arm_name(k)}: {why.get(k, 'not run')}" for k in absent)
        return {
            "key": f"{a}-{b}",
            "a": arm_name(a),
            "b": arm_name(b),
            "verdict": "unavailable",
            "sentence": f"{arm_name(a)} − {arm_name(b)}: no test comparison ({reason})",
            **dict.fromkeys(("diff", "se", "se_items", "se_seeds", "lo", "hi", "z")),
        }
    # A random draw varies by subset as well as by seed: compare with that larger variance.
    sv = random_var if RANDOM in (a, b) else seed_var
    c = stats.compare(
        arms[a],
        arms[b],
        seed_var=sv["value"],
        seed=derive_seed("bootstrap", search_seed, a, b),
        # Measured from few replicates: a t quantile widens the CI. Assumed: the normal.
        seed_dof=sv["df"] if sv["measured"] else None,
    )
    return {"key": f"{a}-{b}", **c.to_dict()}


def _dev_summary(
    spec: Any, dev_runs: list[dict[str, Any]], seed_var: dict[str, Any]
) -> dict[str, Any]:
    """The search's dev scores and the noise of one of them.

    ``noise_se`` is the SE of one dev evaluation: the median per-trial item SE, combined
    with the training-seed variance when the report measured it (a dev score moves with
    the seed too; item SEs alone understate the noise).
    """
    scores = [float(d["score"]) for d in dev_runs]
    variances = [v for d in dev_runs if (v := item_variance(spec, d["item_scores"])) is not None]
    item_var = float(statistics.median(variances)) if variances else None
    seed = seed_var["value"] if seed_var["measured"] else 0.0
    return {
        "split": "dev",
        "n": len(scores),
        "min": min(scores) if scores else None,
        "max": max(scores) if scores else None,
        "item_se": float(np.sqrt(item_var)) if item_var is not None else None,
        "noise_se": float(np.sqrt(item_var + seed)) if item_var is not None else None,
    }
