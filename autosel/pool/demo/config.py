"""Knobs of the demo pool: sizes, defect rates, grouping, and seeded random streams."""

from __future__ import annotations

import hashlib
import random

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from autosel.errors import ConfigError

SIZES = {"small": 800, "medium": 10_000, "large": 100_000}
BENCH_SIZES = {"small": 60, "medium": 200, "large": 500}

DEFECTS = ("clean", "wrong_answer", "truncated", "exact_duplicate", "near_duplicate",
           "off_topic", "too_short", "too_long")
RATE_FIELDS = DEFECTS[1:]
MAX_DEFECT_RATE = 0.6  # clean samples must stay a large share (the demo must be learnable)


class DemoConfig(BaseModel):
    """Defect rates (shares of all samples) and the structure of the demo pool."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wrong_answer: float = Field(0.12, ge=0.0, le=0.5, description="reasoning goes wrong")
    truncated: float = Field(0.05, ge=0.0, le=0.5, description="cut mid-way, no final answer")
    exact_duplicate: float = Field(0.05, ge=0.0, le=0.5, description="copy of another sample")
    near_duplicate: float = Field(0.06, ge=0.0, le=0.5, description="light rewording of another")
    off_topic: float = Field(0.04, ge=0.0, le=0.5, description="chit-chat unrelated to the prompt")
    too_short: float = Field(0.03, ge=0.0, le=0.5, description="a few tokens")
    too_long: float = Field(0.03, ge=0.0, le=0.5, description="repetitive padding")
    group_share: float = Field(0.15, ge=0.0, le=0.5, description="prompts with 2-4 responses")
    group_wrong_fraction: float = Field(
        0.5, ge=0.0, le=1.0, description="share of wrong answers placed in groups"
    )
    near_band: tuple[float, float] = Field((0.6, 0.9), description="Jaccard of near duplicates")
    system_share: float = Field(0.3, ge=0.0, le=1.0, description="prompts with a system message")
    bench_size: int | None = Field(None, ge=1, le=100_000, description="items per domain")
    bench_fewshot: int = Field(0, ge=0, le=8, description="few-shot examples per benchmark item")

    @model_validator(mode="after")
    def _check(self) -> DemoConfig:
        total = sum(getattr(self, f) for f in RATE_FIELDS)
        if total > MAX_DEFECT_RATE:
            raise ValueError(f"defect rates sum to {total:.2f}; at most {MAX_DEFECT_RATE} is "
                             "accepted so that clean samples stay the largest share")
        lo, hi = self.near_band
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(f"near_band must satisfy 0 < low < high < 1, got {self.near_band}")
        return self

    def rates(self) -> dict[str, float]:
        """Configured rate per defect (``clean`` is the remainder)."""
        out = {f: float(getattr(self, f)) for f in RATE_FIELDS}
        return {"clean": 1.0 - sum(out.values()), **out}


def make_config(size: str, options: dict[str, object]) -> DemoConfig:
    """Validate a size name and keyword options into a config.

    Raises:
        ConfigError: an unknown size or option, or an out-of-range value (named).
    """
    if size not in SIZES:
        raise ConfigError(f"unknown demo size '{size}'; accepted: {', '.join(SIZES)}")
    unknown = sorted(set(options) - set(DemoConfig.model_fields))
    if unknown:
        raise ConfigError(f"unknown demo option(s) {', '.join(unknown)}; accepted: "
                          f"{', '.join(DemoConfig.model_fields)}")
    try:
        return DemoConfig(**options)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "rates"
        raise ConfigError(f"invalid demo option {where}: {first['msg']}") from None


def stream(seed: int, *names: str) -> random.Random:
    """An independent random stream for (seed, names): the pool and benchmarks never share one."""
    key = "/".join(["autosel-demo", str(seed), *names]).encode()
    return random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))
