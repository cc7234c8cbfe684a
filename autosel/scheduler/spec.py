"""The immutable per-search spec (second configuration tier).

YAML in the CLI (``--spec spec.yaml``), JSON in the API, stored verbatim with the search
(its hash identifies it). Example::

    pool: 8918e6fb77e5df78          # pool id, prefix or name
    budget: 8                       # full SFT evaluations the search may spend
    report:                         # final report on the test split (see ReportSpec)
      replicates: 2
      references: {oracle-clean: clean_ids.txt}
    knobs: {patience: 3, max_steps: 3, seed: 0}
    signals: {model: smollm2}
    eval:                           # autosel.evaluation.EvalSpec
      model: smollm2
      max_steps: 20
      benchmarks:
        - {name: arithmetic, path: bench/arithmetic.jsonl, limit: 40}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autosel.errors import ConfigError
from autosel.evaluation.spec import (
    _NAME_RE,
    EvalSpec,
    format_validation_error,
    resolve_benchmark_paths,
)
from autosel.search.strategy import SearchKnobs


class SignalsSpec(BaseModel):
    """Which cached signals the search reads (computed on demand when missing)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model: str | None = Field(
        "smollm2", description="Signal model; null = model-free signals only."
    )
    ifd: bool = Field(
        False, description="Also compute instruction-following difficulty (2nd pass)."
    )
    device: str | None = None
    precision: str = "auto"
    relevance: bool = Field(True, description="Relevance to each evaluation benchmark.")


# Arm names the report uses itself; a reference may not take one of them.
RESERVED_ARMS = ("best", "full", "random")


class ReportSpec(BaseModel):
    """The final report: what is re-trained with fresh seeds and scored on the test split.

    After the budget is spent, the best recipe (by dev score), the full pool, random
    subsets of the best's size and each reference subset are trained again with training
    seeds the search never used and scored on the benchmarks' *test* split; each
    difference is reported with a 95% CI (see ``autosel.scheduler.report``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Run the final report after the budget is spent.")
    replicates: int = Field(
        2, ge=1, le=20, description="Training seeds for the best, the full pool and each reference."
    )
    random_draws: int = Field(
        2, ge=2, le=50, description="Random subsets of the best's size (one training seed each)."
    )
    references: dict[str, Path] = Field(
        default_factory=dict,
        description="Reference subsets: name -> file of sample ids, one per line.",
    )

    @field_validator("references")
    @classmethod
    def _names(cls, v: dict[str, Path]) -> dict[str, Path]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(
                    f"reference name {name!r}: accepted letters, digits, '_', '.', '-' (non-empty)"
                )
            if name in RESERVED_ARMS:
                raise ValueError(
                    f"reference name {name!r} is taken by the report itself "
                    f"({', '.join(RESERVED_ARMS)}); choose another"
                )
        return dict(sorted(v.items()))


class SearchSpec(BaseModel):
    """Everything that defines one search; immutable once stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pool: str = Field(description="Pool id, unique id prefix or name.")
    name: str | None = Field(None, max_length=200)
    budget: int = Field(8, ge=1, le=10_000, description="Full evaluations to spend.")
    knobs: SearchKnobs = Field(default_factory=SearchKnobs)
    signals: SignalsSpec = Field(default_factory=SignalsSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    seed_recipes: tuple[dict[str, Any], ...] = Field(
        (), description="Recipes evaluated first (canonical recipe objects: {steps: [...]})."
    )
    report: ReportSpec = Field(default_factory=ReportSpec)
    target_mix: dict[str, float] | None = Field(None, description="Target source proportions.")
    max_attempts: int = Field(2, ge=1, le=20, description="Tries per job when a worker is lost.")
    lease_seconds: float = Field(600.0, ge=5.0, le=86_400.0, description="Job lease length.")

    @model_validator(mode="before")
    @classmethod
    def _legacy_baselines(cls, data: Any) -> Any:
        # Specs stored before the final report existed say ``baselines: bool``; it meant what
        # ``report.enabled`` means now, so it is read as that (and not kept: one definition).
        if isinstance(data, dict) and "baselines" in data:
            data = dict(data)
            enabled = data.pop("baselines")
            report = data.get("report")
            if report is None:
                data["report"] = {"enabled": enabled}
            elif isinstance(report, dict) and "enabled" not in report:
                data["report"] = {**report, "enabled": enabled}
        return data

    @property
    def search_knobs(self) -> SearchKnobs:
        """The knobs with this spec's budget (one source of truth for the budget)."""
        return self.knobs.model_copy(update={"budget": self.budget})

    @classmethod
    def parse(cls, data: Any, *, where: str = "search spec") -> SearchSpec:
        """Validate a dict, raising ``ConfigError`` that names each bad field."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"{where}: expected a mapping of spec fields, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {format_validation_error(exc)}") from None

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> SearchSpec:
        """Read YAML/JSON; relative benchmark paths (dev and test) and reference id files
        resolve from its folder."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read search spec: {exc}") from None
        if isinstance(data, dict):
            ev = data.get("eval")
            if isinstance(ev, dict):
                resolve_benchmark_paths(ev.get("benchmarks"), p.parent)
            report = data.get("report")
            refs = report.get("references") if isinstance(report, dict) else None
            if isinstance(refs, dict):  # reference id files, like benchmarks, sit by the spec
                for k, v in refs.items():
                    if isinstance(v, str) and not Path(v).is_absolute():
                        refs[k] = str((p.parent / v).resolve())
            data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.parse(data, where=str(p))

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
