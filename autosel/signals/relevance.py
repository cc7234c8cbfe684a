"""Target-benchmark centroids for task relevance (one column per benchmark).

**What is read.** Only the *questions* of each benchmark's *dev* split, loaded with the
evaluation loader (:func:`autosel.bench.load.load_benchmark_split` with ``"dev"``, the
spec's field map and container included), so relevance and evaluation cannot disagree
about what an item, its question or a split is. Answers (a text, a letter or an index:
the gold choice), choices, few-shot examples and every test item are never embedded:
the test split is what the final report scores, and a centroid built from gold answers
would steer the search towards the answers it is then scored on. ``limit`` is ignored here (every dev question
counts); it only trims what an evaluation scores.

**How a question is embedded.** A pool sample's embedding is the mean final hidden state
over its *response* tokens (:mod:`autosel.signals.model_pass`). A question is embedded
the same way with the question text in the response position and no user turn (the
prompt-free rendering of the IFD pass: the chat template's assistant header, then the
text). Same model, same pooling over the same template position, so the two live in the
same space; the centroid is the mean of the questions' embeddings, and relevance is the
cosine of a sample's embedding to it (computed on read by ``SignalSet``). A sample
relevant to a benchmark is one whose answer text reads like that benchmark's questions
(same topic, vocabulary, format), which is what task relevance can honestly use without
the answers.

**Cache key.** :func:`centroid_key` hashes the embedded texts themselves (plus the
embedding recipe), so a different split, file or ``test_fraction`` is a different entry
and a centroid built by an older recipe (version 1 embedded questions *and answers* of
the whole file) is never reused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autosel.bench.load import load_benchmark_split
from autosel.bench.spec import BenchmarkSpec

# How a question becomes an embedding; part of the cache key.
EMBEDDING = "question-as-response/prompt-free/mean-hidden"


def as_benchmark_specs(
    benchmarks: Mapping[str, str | Path | BenchmarkSpec] | None,
) -> dict[str, BenchmarkSpec]:
    """Name -> :class:`BenchmarkSpec`, sorted by name.

    A path stands for ``BenchmarkSpec(name=name, path=path)``: a single file split by item
    id with the default ``test_fraction``, exactly as an evaluation spec with only ``name``
    and ``path`` splits it. Pass the spec itself to use another split (two files,
    another fraction).
    """
    out: dict[str, BenchmarkSpec] = {}
    for name, b in sorted((benchmarks or {}).items()):
        out[name] = b if isinstance(b, BenchmarkSpec) else BenchmarkSpec(name=name, path=Path(b))
    return out


def dev_questions(bspec: BenchmarkSpec) -> list[str]:
    """The question texts of ``bspec``'s dev split, all of them, in file order.

    Raises:
        InputError: a file is invalid, too small to split, or dev and test files overlap.
    """
    bench = load_benchmark_split(bspec.model_copy(update={"limit": None}), "dev")
    return [it.question for it in bench.items]


def centroid_key(questions: list[str]) -> str:
    """Content hash of what the centroid is built from (the texts and the recipe)."""
    payload = json.dumps({"embedding": EMBEDDING, "texts": questions}, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def benchmark_centroid(
    questions: list[str], loaded: tuple[Any, Any], max_tokens: int, batch_tokens: int
) -> np.ndarray:
    """Mean of the questions' embeddings (see the module docstring), `d` float32.

    Args:
        questions: dev-split question texts (:func:`dev_questions`).
        loaded: ``(model, tokenizer)``.
    """
    from autosel.signals.model_pass import encode, run_samples

    model, tok = loaded
    enc = encode(tok, [[] for _ in questions], questions, max_tokens, prompt_free=True)
    stats = run_samples(model, enc, tok.pad_token_id, batch_tokens)
    embs = [s.embedding for s in stats if len(s.entropy)]
    if not embs:  # every question tokenised to nothing: no direction to compare with
        return np.zeros(int(model.config.hidden_size), dtype=np.float32)
    return np.stack(embs).mean(axis=0).astype(np.float32)
