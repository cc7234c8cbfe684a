"""Target-benchmark centroids for task relevance (one column per benchmark).

A benchmark file is JSONL, one item a line: ``{"id", "question", "answer", "choices"?,
"fewshot"?}``. Each item is embedded like a pool sample: ``question`` as the user message,
``answer`` as the assistant response, mean final hidden state over the answer tokens. The
centroid is the mean of those embeddings; relevance is the cosine of a sample's embedding
to it (computed on read by ``SignalSet``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from autosel.errors import InputError


def load_benchmark_items(path: str | Path) -> list[tuple[str, str]]:
    """``(question, answer)`` pairs of a benchmark JSONL file.

    Raises:
        InputError: unreadable line or missing ``question``/``answer`` (file and line named).
    """
    p = Path(path)
    items = []
    with open(p, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"not valid JSON ({err.msg})", path=p, line=lineno) from None
            for field in ("question", "answer"):
                if not isinstance(rec, dict) or rec.get(field) is None:
                    raise InputError(
                        "each benchmark item needs 'question' and 'answer'",
                        path=p,
                        line=lineno,
                        field=field,
                    )
            items.append((str(rec["question"]), str(rec["answer"])))
    if not items:
        raise InputError("benchmark file has no items", path=p)
    return items


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def benchmark_centroid(
    items: list[tuple[str, str]], loaded: tuple[Any, Any], max_tokens: int, batch_tokens: int
) -> np.ndarray:
    """Mean of the items' response-pooled embeddings (``d``, float32)."""
    from autosel.signals.model_pass import encode, run_samples

    model, tok = loaded
    prompts = [[{"role": "user", "content": q}] for q, _ in items]
    enc = encode(tok, prompts, [a for _, a in items], max_tokens)
    stats = run_samples(model, enc, tok.pad_token_id, batch_tokens)
    embs = np.stack([s.embedding for s in stats if len(s.entropy)])
    return embs.mean(axis=0).astype(np.float32)
