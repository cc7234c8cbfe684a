"""What a benchmark is in a spec: its files, its split and how it counts in the utility.

It lives below both readers of benchmark files: :mod:`autosel.signals` (relevance embeds
the dev questions) and :mod:`autosel.evaluation` (scores the dev or test split), so the
dev/test split is defined once (:func:`autosel.bench.load.load_benchmark_split`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# What a benchmark spec's `fields` may map onto (see autosel.bench.load).
BENCH_FIELDS = ("id", "question", "answer", "choices", "fewshot", "metadata")
PrimaryMetric = Literal[
    "auto", "mc_accuracy", "mc_accuracy_norm", "mc_margin", "mc_prob", "exact_match", "neg_nll"
]
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class BenchmarkSpec(_Frozen):
    """One held-out benchmark and how it counts in the utility.

    Every benchmark has a *dev* split (what the search optimises) and a *test* split
    (scored only by the final report): either two files (``path`` = dev, ``test_path`` =
    test) or one file split deterministically by item id with ``test_fraction`` (see
    :func:`autosel.bench.load.load_benchmark_split`).
    """

    name: str = Field(description="Short unique name (letters, digits, _ . -).")
    path: Path = Field(
        description="Benchmark file: JSONL, Parquet, or a Hugging Face save_to_disk "
        "directory (see autosel.bench.load); the dev file when test_path is set."
    )
    test_path: Path | None = Field(
        None, description="Test file, same kinds; None = split `path` by item id (test_fraction)."
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Field map {canonical: source}, e.g. {question: problem, answer: "
        "solution}; canonical names: " + ", ".join(BENCH_FIELDS) + ".",
    )
    test_fraction: float = Field(
        0.5,
        ge=0.1,
        le=0.9,
        description="Share of `path`'s items in the test split (ignored with test_path).",
    )
    weight: float = Field(1.0, ge=0.0, description="Weight of the primary metric in the utility.")
    primary_metric: PrimaryMetric = Field(
        "auto", description="auto = mc_accuracy when items have choices, else exact_match."
    )
    max_new_tokens: int = Field(64, ge=1, le=4096, description="Generation cap for exact match.")
    n_fewshot: int = Field(
        0, ge=0, le=32, description="Few-shot turns taken from each item's examples."
    )
    limit: int | None = Field(
        None, ge=1, description="Score only the first N items of the split (None = all)."
    )
    generate: bool = Field(True, description="Run generation + exact match (slowest metric).")
    answer_prefix: str = Field(
        "", description="Text placed before the answer when scoring log-likelihoods."
    )

    def __hash__(self) -> int:  # `fields` is a dict: hash the canonical JSON instead
        return hash(self.model_dump_json())

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError("accepted: letters, digits, '_', '.', '-' (non-empty)")
        return v

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        for canonical, source in v.items():
            if canonical not in BENCH_FIELDS:
                raise ValueError(
                    f"unknown canonical field {canonical!r}; accepted: {', '.join(BENCH_FIELDS)} "
                    "(the map is {canonical: field in your file})"
                )
            if not source.strip():
                raise ValueError(f"{canonical!r} maps to an empty field name")
        if len(set(v.values())) != len(v):
            raise ValueError("a source field is mapped twice")
        return dict(sorted(v.items()))

    @model_validator(mode="after")
    def _exact_match_needs_generation(self) -> BenchmarkSpec:
        # An explicit exact_match primary is known to be uncomputable from the spec alone;
        # `auto` needs the file (see autosel.evaluation.harness.check_primary_metrics).
        if self.primary_metric == "exact_match" and not self.generate:
            raise ValueError(
                f"benchmark '{self.name}': primary_metric exact_match needs generate: true "
                "(or choose mc_accuracy, mc_accuracy_norm, mc_margin, mc_prob or neg_nll)"
            )
        return self
