"""Benchmark files: the spec of one benchmark (:mod:`~autosel.bench.spec`) and the loader
with its dev/test split (:mod:`~autosel.bench.load`).

A layer below signals and evaluation, which both read benchmarks: relevance embeds the
dev questions, the harness scores dev (search) or test (final report). One loader, one
split rule, so the two can never disagree.
"""

from autosel.bench.load import (
    MIN_SPLIT_ITEMS,
    SPLITS,
    load_benchmark,
    load_benchmark_split,
)
from autosel.bench.spec import BenchmarkSpec, PrimaryMetric

__all__ = [
    "MIN_SPLIT_ITEMS",
    "SPLITS",
    "BenchmarkSpec",
    "PrimaryMetric",
    "load_benchmark",
    "load_benchmark_split",
]
