"""Parameters of the signal groups, and entropy units.

Every parameter that changes stored values is part of a signal group's cache key; knobs
that only change speed (batch size, progress bar, device for the model-free groups) are
not. Entropies are *stored* in nats (natural log, what ``logsumexp`` gives) and
converted on read: bits = nats / ln 2 (the OpenDataArena ``HESScorer`` reports bits).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator

from autosel.errors import ConfigError

LN2 = math.log(2.0)
UNITS = ("bits", "nats")

# Bump when a group's stored values would change for the same inputs.
TEXT_VERSION = 1
MINHASH_VERSION = 1
# 2: per-token arrays stored as float32 (were float16); samples padded to a width of
# their own (model_pass.padded_width), so values no longer depend on batch-mates.
# 3: every matrix product in the pass runs on blocks of model_pass.GEMM_ROWS rows: on CPUs
# whose GEMM blocking depends on the row count (AMX/AVX512-bf16) values moved with the
# batch size.
MODEL_VERSION = 3
# 3: fixed-row matrix products (see MODEL_VERSION 3).
IFD_VERSION = 3
# 2: centroids embed dev-split questions only (1 embedded questions + answers of the file).
# 3: the model pass pads each question to a width of its own (see MODEL_VERSION 2).
# 4: fixed-row matrix products in the pass (see MODEL_VERSION 3).
BENCH_VERSION = 4


def unit_factor(unit: str) -> float:
    """Multiplier from stored nats to ``unit``.

    Raises:
        ConfigError: ``unit`` is not ``bits`` or ``nats``.
    """
    if unit == "bits":
        return 1.0 / LN2
    if unit == "nats":
        return 1.0
    raise ConfigError(f"entropy unit '{unit}': accepted values are {', '.join(UNITS)}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MinHashParams(_Frozen):
    """MinHash signatures and LSH near-duplicate clusters (datasketch ``affine32`` scheme).

    Shingles are ``shingle``-grams of lower-cased words (``unit="word"``) or characters
    (``unit="char"``) of the sample text (prompt messages then response). A text shorter
    than one shingle is a single shingle; an empty text has none (all-max signature).
    """

    num_perm: int = Field(default=128, ge=16, le=1024)
    shingle: int = Field(default=3, ge=1, le=32)
    unit: str = Field(default="word", pattern="^(word|char)$")
    seed: int = Field(default=1, ge=0)
    thresholds: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)

    @field_validator("thresholds")
    @classmethod
    def _check_thresholds(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not 0.0 < t <= 1.0 for t in v):
            raise ValueError("thresholds must be a non-empty list of values in (0, 1]")
        return tuple(sorted({round(float(t), 6) for t in v}))


class TextParams(_Frozen):
    """Model-free text statistics."""

    lexical_ngram: int = Field(default=2, ge=1, le=8, description="n of the word n-gram entropy")


class ModelParams(_Frozen):
    """The teacher-forced model pass (per-token entropy, log-prob, varentropy, embedding).

    ``max_tokens`` caps prompt + response tokens (also capped by the model context).
    ``dtype`` is part of the key because bf16 and fp32 forwards differ slightly. The
    batch budget (``batch_tokens``) is *not* a parameter: a sample's values do not depend
    on its batch-mates (``model_pass`` pads every sample to a width of its own; tested in
    ``tests/signals/test_batch_invariance.py``), so it only changes speed; it is recorded
    in the group manifest.
    """

    max_tokens: int = Field(default=2048, ge=8)
    dtype: str = "bf16"
