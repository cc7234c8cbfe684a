"""Model-free signals: lengths, n-gram lexical entropy, exact-duplicate groups, pool difficulty."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from autosel.pool.pool import Pool

WORD_RE = re.compile(r"\w+", re.UNICODE)
TEXT_BATCH = 8192


def iter_texts(pool: Pool, row_range: tuple[int, int] | None = None) -> Iterator[tuple[str, str]]:
    """Yield ``(prompt_text, response)`` per row: prompt messages' contents joined by newlines."""
    table = pool.table(["prompt", "response"])
    if row_range is not None:
        table = table.slice(row_range[0], row_range[1] - row_range[0])
    for batch in table.to_batches(max_chunksize=TEXT_BATCH):
        prompts = batch.column(0).to_pylist()
        responses = batch.column(1).to_pylist()
        for msgs, resp in zip(prompts, responses, strict=True):
            yield "\n".join(m["content"] or "" for m in (msgs or [])), resp or ""


def response_chars(pool: Pool) -> np.ndarray:
    """Response length in characters (Unicode code points)."""
    col = pool.table(["response"]).column(0)
    return pc.utf8_length(col.fill_null("")).to_numpy(zero_copy_only=False).astype(np.int64)


def lexical_entropy(text: str, n: int = 2) -> float:
    """Shannon entropy (bits) of the word n-gram distribution of ``text``; 0 if no n-gram."""
    words = WORD_RE.findall(text.lower())
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)] if n > 1 else words
    if not grams:
        return 0.0
    total = len(grams)
    counts = np.fromiter(Counter(grams).values(), dtype=np.float64)
    probs = counts / total
    return float(-(probs * np.log2(probs)).sum())


def smallest_index_groups(keys: np.ndarray) -> np.ndarray:
    """Group id per row = smallest row index holding the same key (keys: any sortable array)."""
    _, inverse = np.unique(keys, return_inverse=True)
    first = np.full(inverse.max() + 1 if len(inverse) else 0, len(keys), dtype=np.int64)
    np.minimum.at(first, inverse, np.arange(len(keys), dtype=np.int64))
    return first[inverse]


def exact_groups(pool: Pool) -> np.ndarray:
    """Exact-duplicate group per row: rows with identical prompt messages and response.

    Keys are 128-bit xxh3 digests of the canonical (role, content) sequence and the
    response; the group id is the smallest row index of the group (singletons: own row).
    """
    table = pool.table(["prompt", "response"])
    digests: list[bytes] = []
    for batch in table.to_batches(max_chunksize=TEXT_BATCH):
        for msgs, resp in zip(
            batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
        ):
            h = xxhash.xxh3_128()
            for m in msgs or []:
                h.update(
                    b"\x00" + (m["role"] or "").encode() + b"\x01" + (m["content"] or "").encode()
                )
            h.update(b"\x02" + (resp or "").encode())
            digests.append(h.digest())
    return smallest_index_groups(np.array(digests, dtype="S16"))


def pool_difficulty(pool: Pool) -> tuple[np.ndarray, int]:
    """The pool's own ``difficulty`` column (NaN where missing) and how many rows have it."""
    col = pool.table(["difficulty"]).column(0)
    arr = (
        col.to_numpy(zero_copy_only=False)
        if col.null_count == 0
        else pc.fill_null(col.cast(pa.float64()), float("nan")).to_numpy(zero_copy_only=False)
    )
    arr = np.asarray(arr, dtype=np.float64)
    return arr, int(len(col) - col.null_count)
