"""Evaluation: fine-tune on a subset (TRL + PEFT), score held-out benchmarks, report a utility.

Importing this package stays light: torch, transformers, TRL and PEFT load only when a
function that needs them runs.
"""

from autosel.bench.load import (
    MIN_SPLIT_ITEMS,
    BenchItem,
    Benchmark,
    load_benchmark,
    load_benchmark_split,
)
from autosel.evaluation.evaluator import (
    EvalResult,
    baseline_subsets,
    evaluate,
    evaluate_adapter,
    evaluate_baselines,
)
from autosel.evaluation.extract import exact_match, extract_answer, normalize_answer
from autosel.evaluation.harness import check_primary_metrics, normalise, utility
from autosel.evaluation.spec import BenchmarkSpec, EvalSpec, LoraSpec

__all__ = [
    "MIN_SPLIT_ITEMS",
    "BenchItem",
    "Benchmark",
    "BenchmarkSpec",
    "EvalResult",
    "EvalSpec",
    "LoraSpec",
    "baseline_subsets",
    "check_primary_metrics",
    "evaluate",
    "evaluate_adapter",
    "evaluate_baselines",
    "exact_match",
    "extract_answer",
    "load_benchmark",
    "load_benchmark_split",
    "normalise",
    "normalize_answer",
    "utility",
]
