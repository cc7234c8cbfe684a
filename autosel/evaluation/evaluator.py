"""``evaluate(rows, spec, out_dir)``: fine-tune on a subset, score the benchmarks, report.

The result always says what happened: per-benchmark metrics and the utility when it
succeeded, or ``status="failed"`` with a ``failure_reason`` (``empty subset``,
``out of memory: ...``, ``diverged loss: ...``) — a failed evaluation never reads as a
score of 0 — or ``status="cancelled"`` when the caller's ``stop`` event ended it early.
Invalid *inputs* (a bad benchmark file, an unknown model) are not failures of the
subset: they raise at once, before any training.

Artifacts under ``out_dir``: ``adapter/`` (LoRA) or ``model/`` (full FT), ``metrics.json``
(this result plus the spec) and ``predictions/<benchmark>.jsonl`` (per item).

Which benchmark items are scored is ``spec.split``: ``dev`` for the search's trials,
``test`` for the final report (see :func:`autosel.bench.load.load_benchmark_split`).
The utility is on the normalised scale of :mod:`autosel.evaluation.harness`; the per-item
normalised values behind it come back in ``item_scores`` (with ``item_ids``).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from autosel.bench.load import Benchmark, load_benchmark_split
from autosel.evaluation.spec import EvalSpec

METRICS_NAME = "metrics.json"


@dataclass(frozen=True)
class EvalResult:
    """The outcome of one evaluation (JSON-ready through :meth:`to_dict`).

    Attributes:
        per_benchmark: every metric of each benchmark (raw means, and
            ``<primary>_normalized``).
        primary_metrics: the resolved primary metric of each benchmark.
        utility: weighted mean of the normalised primaries (None unless succeeded).
        item_scores: per benchmark, the normalised primary value of each scored item, in
            the split's item order; the utility is the weighted mean of their means.
        item_ids: per benchmark, the ids of those items (same order).
    """

    status: Literal["succeeded", "failed", "cancelled"]
    failure_reason: str | None
    per_benchmark: dict[str, dict[str, float]]
    primary_metrics: dict[str, str]
    utility: float | None
    loss_curve: list[tuple[int, float]]
    train_seconds: float
    eval_seconds: float
    device: str
    n_samples: int
    train_tokens: int
    artifacts: dict[str, str | None] = field(default_factory=dict)
    item_scores: dict[str, list[float]] = field(default_factory=dict)
    item_ids: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["loss_curve"] = [list(x) for x in self.loss_curve]
        return d


def baseline_subsets(pool_size: int, recipe_size: int, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the reproducible baselines: the full pool and a random subset.

    The random subset has the recipe's size, is drawn without replacement from a
    ``numpy.random.Generator`` seeded with ``seed``, and is returned sorted.
    """
    if not 0 <= recipe_size <= pool_size:
        raise ValueError(f"recipe_size must be in [0, {pool_size}], got {recipe_size}")
    rng = np.random.default_rng(seed)
    random = np.sort(rng.choice(pool_size, size=recipe_size, replace=False)).astype(np.int64)
    return {"full": np.arange(pool_size, dtype=np.int64), "random": random}


def load_benchmarks(spec: EvalSpec) -> list[Benchmark]:
    """The ``spec.split`` split of every benchmark of ``spec``, validated.

    Raises:
        InputError: naming file/line/field, a file too small to split, or dev/test overlap.
    """
    return [load_benchmark_split(b, spec.split) for b in spec.benchmarks]


@dataclass(frozen=True)
class ModelScores:
    """What :func:`score_model` measured (see :class:`EvalResult` for the fields)."""

    per_benchmark: dict[str, dict[str, float]]
    primary_metrics: dict[str, str]
    utility: float | None
    seconds: float
    item_scores: dict[str, list[float]]
    item_ids: dict[str, list[str]]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def score_model(
    model: Any,
    tok: Any,
    spec: EvalSpec,
    benches: Sequence[Benchmark],
    device: str,
    out_dir: Path | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> ModelScores:
    """Score a ready model on the benchmarks (metrics, primaries, utility, per-item scores).

    ``on_progress("benchmarks scored", done, total)`` hears of each finished benchmark."""
    from autosel.evaluation.harness import score_benchmark, utility

    model.eval()
    model.config.use_cache = True  # training turned the KV cache off; generation needs it
    t0 = time.perf_counter()
    per_bench: dict[str, dict[str, float]] = {}
    primaries: dict[str, str] = {}
    item_scores: dict[str, list[float]] = {}
    item_ids: dict[str, list[str]] = {}
    n_benches = len(spec.benchmarks)
    if on_progress is not None:
        on_progress("benchmarks scored", 0, n_benches)
    for i, (bspec, bench) in enumerate(zip(spec.benchmarks, benches, strict=True)):
        scored = score_benchmark(
            model,
            tok,
            bench,
            bspec,
            batch_size=spec.eval_batch_size,
            max_length=max(spec.max_seq_len, 2048),
        )
        per_bench[bspec.name] = scored.metrics
        primaries[bspec.name] = scored.primary
        item_scores[bspec.name] = scored.item_scores
        item_ids[bspec.name] = scored.item_ids
        if out_dir is not None:
            pred_dir = out_dir / "predictions"
            pred_dir.mkdir(parents=True, exist_ok=True)
            with open(pred_dir / f"{bspec.name}.jsonl", "w") as f:
                for rec in scored.records:
                    f.write(json.dumps(rec) + "\n")
        if on_progress is not None:
            on_progress("benchmarks scored", i + 1, n_benches)
    _sync(device)
    seconds = time.perf_counter() - t0
    util = utility(per_bench, spec.benchmarks, primaries) if spec.benchmarks else None
    return ModelScores(per_bench, primaries, util, seconds, item_scores, item_ids)


def _write(result: EvalResult, spec: EvalSpec, out_dir: Path) -> EvalResult:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / METRICS_NAME
    result = EvalResult(
        **{**result.__dict__, "artifacts": {**result.artifacts, "metrics_json": str(path)}}
    )
    payload = {**result.to_dict(), "spec": spec.model_dump(mode="json")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)  # a reader never sees a half-written metrics file
    return result


def at_fidelity(
    rows: list[dict[str, Any]], spec: EvalSpec
) -> tuple[list[dict[str, Any]], EvalSpec]:
    """What an evaluation at ``spec.fidelity`` trains on, and with which spec.

    A fidelity is a share of the training compute. With ``max_steps`` set (a fixed step
    budget, as the ``demo`` profile has) it scales the steps, ``ceil(f x max_steps)``, on
    the whole subset: subsampling the rows would leave the cost unchanged and only repeat
    fewer samples. With an epoch budget it subsamples the rows (:func:`fidelity_rows`), so
    one epoch over them costs ``f`` of one over the subset.
    """
    import math

    f = spec.fidelity
    if f >= 1.0:
        return rows, spec
    if spec.max_steps is not None:
        steps = max(1, math.ceil(f * spec.max_steps - 1e-9))
        return rows, spec.model_copy(update={"max_steps": steps})
    return fidelity_rows(rows, f, spec.seed), spec


def fidelity_rows(
    rows: list[dict[str, Any]], fidelity: float, seed: int
) -> list[dict[str, Any]]:
    """The rows an evaluation at ``fidelity`` trains on: all of them at 1.0, else a seeded
    subsample of ``ceil(fidelity x n)`` in their original order (the same subset and seed
    always give the same rows, so a cheap screening run is reproducible)."""
    import math

    if fidelity >= 1.0 or not rows:
        return rows
    k = max(1, math.ceil(fidelity * len(rows) - 1e-9))
    keep = np.sort(np.random.default_rng([seed, len(rows), 7]).permutation(len(rows))[:k])
    return [rows[i] for i in keep]


def _setup_threads(spec: EvalSpec) -> None:
    if spec.torch_threads is not None:
        import torch

        torch.set_num_threads(spec.torch_threads)


def evaluate(
    rows: Sequence[dict[str, Any]],
    spec: EvalSpec,
    out_dir: str | Path,
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    """Fine-tune ``spec.model`` on ``rows`` (canonical pool rows) and score ``spec.benchmarks``.

    Args:
        rows: the subset, as ``Pool.rows(indices)`` yields them (``prompt``, ``response``).
        spec: model, training and benchmark settings.
        out_dir: where the adapter/model, ``metrics.json`` and predictions are written.
        stop: set by the caller to abandon the evaluation (a cancelled job): training ends
            after its current step, nothing is scored and no weights are saved.
        on_progress: ``(unit, done, total)`` after each training step ("training steps")
            and each scored benchmark ("benchmarks scored"); the worker sends it out with
            its heartbeats, so a long trial is never silent.

    Returns:
        An ``EvalResult``; ``status="failed"`` with a reason for an empty subset, an
        out-of-memory error or a diverged loss; ``status="cancelled"`` once ``stop`` is set.

    Raises:
        InputError / ConfigError: a benchmark file or the model reference is invalid.
    """
    from autosel.base_model import pick_device
    from autosel.evaluation import sft

    out = Path(out_dir)
    rows = list(rows)
    _setup_threads(spec)
    device = pick_device(spec.device)
    from autosel.evaluation.harness import check_primary_metrics

    benches = load_benchmarks(spec)  # fail on bad files before spending any training time
    check_primary_metrics(spec, benches)  # ... and on a primary that could never be computed

    def unscored(
        reason: str, tr: Any = None, status: Literal["failed", "cancelled"] = "failed"
    ) -> EvalResult:
        res = EvalResult(
            status=status,
            failure_reason=reason,
            per_benchmark={},
            primary_metrics={},
            utility=None,
            loss_curve=tr.loss_curve if tr else [],
            train_seconds=tr.seconds if tr else 0.0,
            eval_seconds=0.0,
            device=device,
            n_samples=len(rows),
            train_tokens=tr.train_tokens if tr else 0,
        )
        return _write(res, spec, out)

    if not rows:
        return unscored("empty subset")
    rows, spec = at_fidelity(rows, spec)
    if stop is not None and stop.is_set():
        return unscored("cancelled", status="cancelled")
    model, tok = sft.load_for_training(spec, device)
    tr = sft.train(
        model, tok, rows, spec, out / "trainer", device, stop=stop, on_progress=on_progress
    )
    if tr.failure_reason is not None:
        return unscored(tr.failure_reason, tr)
    if tr.cancelled:
        return unscored(f"cancelled after {tr.steps} training steps", tr, status="cancelled")
    weights_dir = out / ("adapter" if spec.method == "lora" else "model")
    model.save_pretrained(weights_dir)
    tok.save_pretrained(weights_dir)
    try:
        sc = score_model(model, tok, spec, benches, device, out, on_progress=on_progress)
    except Exception as exc:
        if not sft.is_oom(exc):
            raise
        return unscored(f"out of memory during evaluation: {str(exc).splitlines()[0][:200]}", tr)
    result = EvalResult(
        status="succeeded",
        failure_reason=None,
        per_benchmark=sc.per_benchmark,
        primary_metrics=sc.primary_metrics,
        utility=sc.utility,
        loss_curve=tr.loss_curve,
        train_seconds=tr.seconds,
        eval_seconds=sc.seconds,
        device=device,
        n_samples=len(rows),
        train_tokens=tr.train_tokens,
        artifacts={"adapter_dir" if spec.method == "lora" else "model_dir": str(weights_dir)},
        item_scores=sc.item_scores,
        item_ids=sc.item_ids,
    )
    return _write(result, spec, out)


def load_trained(weights_dir: str | Path, spec: EvalSpec, device: str) -> tuple[Any, Any]:
    """Reload what ``evaluate`` saved: base model + LoRA adapter, or the full model directory."""
    from autosel.base_model import load_model
    from autosel.evaluation.sft import resolve_precision

    dtype = "bf16" if resolve_precision(spec, device) == "bf16" else "fp32"
    if spec.method == "full":
        return load_model(str(weights_dir), device=device, dtype=dtype)
    from peft import PeftModel

    model, tok = load_model(spec.model, device=device, dtype=dtype)
    model = PeftModel.from_pretrained(model, str(weights_dir))
    model.eval()
    return model, tok


def evaluate_adapter(
    weights_dir: str | Path, spec: EvalSpec, out_dir: str | Path | None = None
) -> EvalResult:
    """Reload a saved adapter (or full model) and re-score it: reproducibility check.

    ``train_seconds`` is 0 and ``loss_curve`` empty: nothing is trained here.
    """
    from autosel.base_model import pick_device

    _setup_threads(spec)
    device = pick_device(spec.device)
    benches = load_benchmarks(spec)
    model, tok = load_trained(weights_dir, spec, device)
    out = Path(out_dir) if out_dir is not None else None
    sc = score_model(model, tok, spec, benches, device, out)
    key = "adapter_dir" if spec.method == "lora" else "model_dir"
    result = EvalResult(
        status="succeeded",
        failure_reason=None,
        per_benchmark=sc.per_benchmark,
        primary_metrics=sc.primary_metrics,
        utility=sc.utility,
        loss_curve=[],
        train_seconds=0.0,
        eval_seconds=sc.seconds,
        device=device,
        n_samples=0,
        train_tokens=0,
        artifacts={key: str(weights_dir)},
        item_scores=sc.item_scores,
        item_ids=sc.item_ids,
    )
    return _write(result, spec, out) if out is not None else result


def evaluate_baselines(
    pool: Any,
    recipe_size: int,
    spec: EvalSpec,
    out_dir: str | Path,
    seed: int = 0,
    which: Sequence[str] = ("full", "random"),
) -> dict[str, EvalResult]:
    """Evaluate the full pool and/or a random subset of ``recipe_size`` with ``spec``.

    Args:
        pool: a :class:`autosel.pool.Pool` (anything with ``len`` and ``rows(indices)``).
        which: the baselines to run (``full``, ``random``).
    """
    subsets = baseline_subsets(len(pool), recipe_size, seed)
    return {
        name: evaluate(list(pool.rows(subsets[name])), spec, Path(out_dir) / name) for name in which
    }
