"""The evaluation spec: how one subset is fine-tuned and scored.

Part of the (immutable) search spec: every evaluation of a search uses the same
``EvalSpec``, so scores are comparable across recipes. Defaults are sized for the CPU
demo (the embedded SmolLM2-135M, LoRA r=16, one epoch).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from autosel.bench.spec import BenchmarkSpec, _Frozen
from autosel.errors import ConfigError
from autosel.ops.base import error_message


class LoraSpec(_Frozen):
    """LoRA adapter shape (ignored for full fine-tuning)."""

    r: int = Field(16, ge=1, le=1024, description="Rank of the update matrices.")
    alpha: float = Field(32.0, gt=0, le=4096, description="Scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.0, ge=0.0, le=0.9, description="Dropout on the LoRA input.")
    target_modules: str | tuple[str, ...] = Field(
        "all-linear",
        description="'all-linear' or module names, e.g. ['q_proj', 'v_proj'].",
    )

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v: str | tuple[str, ...]) -> str | tuple[str, ...]:
        if isinstance(v, str) and v != "all-linear":
            raise ValueError("accepted: 'all-linear' or a non-empty list of module names")
        if isinstance(v, tuple) and not v:
            raise ValueError("accepted: 'all-linear' or a non-empty list of module names")
        return v


class EvalSpec(_Frozen):
    """Everything that decides the score of a subset: model, training, benchmarks."""

    model: str = Field("smollm2", description="Local HF model directory, or 'smollm2' (embedded).")
    method: Literal["lora", "full"] = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    epochs: float = Field(1.0, gt=0, le=100)
    max_steps: int | None = Field(None, ge=1, description="Overrides epochs when set.")
    learning_rate: float = Field(2e-4, gt=0, le=1.0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_seq_len: int = Field(512, ge=16, le=131072)
    batch_size: int = Field(8, ge=1, le=4096)
    grad_accum: int = Field(1, ge=1, le=4096)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto", description="auto = bf16 on CUDA with bf16 support, fp32 on CPU."
    )
    device: str | None = Field(None, description="cpu, cuda or cuda:N; None = cuda when available.")
    benchmarks: tuple[BenchmarkSpec, ...] = ()
    split: Literal["dev", "test"] = Field(
        "dev", description="Benchmark split scored: dev (the search) or test (final report)."
    )
    fidelity: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Share of the training compute: of max_steps when set (the whole "
        "subset, fewer steps), else of the subset trained on for the epochs (a seeded "
        "subsample; 1 = all of it). Lower fidelities are the search's cheap screening "
        "rungs (autosel.search.fidelity).",
    )
    eval_batch_size: int = Field(16, ge=1, le=4096)
    divergence_factor: float = Field(
        4.0, gt=1.0, description="Failed as diverged when a logged loss exceeds factor x the first."
    )
    torch_threads: int | None = Field(None, ge=1, description="CPU threads (None = torch default).")

    @field_validator("device")
    @classmethod
    def _device(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(cpu|cuda(:\d+)?|mps)$", v):
            raise ValueError("accepted: cpu, cuda, cuda:N, mps or null (auto)")
        return v

    @model_validator(mode="after")
    def _benchmarks(self) -> EvalSpec:
        names = [b.name for b in self.benchmarks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"benchmark names must be unique; repeated: {', '.join(dup)}")
        if self.benchmarks and sum(b.weight for b in self.benchmarks) <= 0:
            raise ValueError("benchmark weights must not all be 0")
        return self

    @classmethod
    def parse(cls, data: dict[str, Any], *, where: str = "evaluation spec") -> EvalSpec:
        """Validate a plain dict (from YAML/JSON), raising ``ConfigError`` naming each bad field.

        Raises:
            ConfigError: ``"<where>: field 'lora.r': Input should be greater than or equal to 1"``.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{where}: {format_validation_error(exc)}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> EvalSpec:
        """Load a spec from a YAML/JSON file (relative benchmark paths resolve from its folder)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read evaluation spec: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: expected a mapping of spec fields, got {type(data).__name__}")
        resolve_benchmark_paths(data.get("benchmarks"), p.parent)
        return cls.parse(data, where=str(p))


def resolve_benchmark_paths(benchmarks: Any, folder: Path) -> None:
    """Make the relative ``path``/``test_path`` of raw benchmark dicts absolute, in place.

    Relative paths in a spec file mean "next to the spec file", not "next to wherever the
    command runs". Entries that are not dicts, or values that are not strings, are left
    for validation to report.
    """
    if not isinstance(benchmarks, list):
        return
    for b in benchmarks:
        if not isinstance(b, dict):
            continue
        for key in ("path", "test_path"):
            v = b.get(key)
            if isinstance(v, str) and not Path(v).is_absolute():
                b[key] = str((folder / v).resolve())


def field_path(loc: Any) -> str:
    """A pydantic error location as a field path: ``eval.benchmarks[0].path``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_validation_error(exc: ValidationError) -> str:
    """One line per error: the dotted field path and what is accepted (pydantic's message,
    NaN/Infinity named as such). Errors of the whole spec name their fields themselves."""
    parts = []
    for err in exc.errors():
        loc = field_path(err["loc"])
        msg = error_message(err)
        parts.append(f"field '{loc}': {msg}" if loc else msg)
    return "; ".join(parts)
