"""Vectorised word hashing against the word-by-word definition, on awkward texts."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import xxhash

from autosel.signals import wordhash

_REFERENCE_TABLE = str.maketrans(dict.fromkeys(wordhash.PUNCTUATION, " "))


def reference(texts: list[str]) -> tuple[list[int], list[int]]:
    """The definition: lower-case, ASCII punctuation to spaces, ``str.split()``, xxh32."""
    words = [t.lower().translate(_REFERENCE_TABLE).split() for t in texts]
    return [xxhash.xxh32_intdigest(w.encode()) for ws in words for w in ws], list(map(len, words))


def test_whitespace_is_what_str_split_splits_on() -> None:
    spaces = {c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()}
    assert set(wordhash.WHITESPACE) == spaces


ALPHABET = [*"abcXYZ019  \t\n\r.,!?'\"-_()", "é", "Σ", "ς", "İ", "K", "ß", "ﬁ", "日本", "🙂"]
ALPHABET += ["\u2028", "\xa0", "\x85", "\u3000", "\x00", "\x1c", "\x1f", "\x0b"]


@pytest.mark.parametrize("seed", range(4))
def test_random_texts_match_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    texts = ["".join(rng.choice(ALPHABET, int(rng.integers(0, 80)))) for _ in range(500)]
    if seed % 2:  # ASCII only: the fast offset path
        texts = [t.encode("ascii", "ignore").decode() for t in texts]
    got, counts = wordhash.word_hashes(texts)
    assert (got.tolist(), counts.tolist()) == reference(texts)


def test_word_lengths_across_every_xxh32_branch() -> None:
    texts = ["x" * n for n in range(1, 70)] + ["y" * n for n in (255, 256, 257, 1000)]
    texts += [" ".join(["ab" * k] * 3) for k in range(1, 40)]
    texts += ["", " ", "ΟΔΟΣ", "ΑΣ.Β", ".Σ", "ΑΣ'Σ"]  # final-sigma context at text edges
    got, counts = wordhash.word_hashes(texts)
    assert (got.tolist(), counts.tolist()) == reference(texts)
    assert wordhash.word_hashes([])[0].size == 0
