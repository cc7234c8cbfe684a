"""``xxh32`` of every word of many texts at once: the first stage of a MinHash signature.

A word is what ``text.lower().translate(punctuation -> " ").split()`` yields; its value is
``xxhash.xxh32_intdigest(word.encode())`` (seed 0). Splitting and hashing word by word in
Python costs ~150 ns a word; here the texts are lower-cased and translated as one string,
split on its UTF-8 bytes and hashed with xxh32 written in numpy (all words advance
through the algorithm together), about three times faster and with the same values.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

_U32 = np.uint32
_P1, _P2, _P3, _P4, _P5 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D, 0x27D4EB2F, 0x165667B1
LONG_WORD = 256  # bytes; longer words (rare) are hashed one by one with xxhash itself

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~"
# Every character str.split() splits on (str.isspace), so that after translating them to
# " " the UTF-8 bytes split on b" " alone give the same words (no UTF-8 byte of another
# character is 0x20). tests/signals checks the list against str.isspace.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_TO_SPACE = str.maketrans(dict.fromkeys(PUNCTUATION + WHITESPACE, " "))


def word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``xxh32`` of every word of ``texts`` (flat, uint32) and the word count per text.

    Raises:
        UnicodeEncodeError: a text holds a lone surrogate (as ``word.encode()`` would).
    """
    # One space between texts: a word never spans two of them, and lower() sees the same
    # context at a text's edges as it would alone (a space is neither cased nor ignorable).
    data = " ".join(texts).lower().translate(_TO_SPACE).encode()
    in_word = np.frombuffer(data, dtype=np.uint8) != 32
    # Word edges alternate start, end: where the mask, padded with False, changes.
    padded = np.concatenate([[False], in_word, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    starts, ends = edges[0::2], edges[1::2]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    text_start = np.cumsum(lengths + 1) - lengths - 1  # positions in ``data``, not chars
    if len(data) != int(lengths.sum()) + max(len(texts) - 1, 0):  # non-ASCII characters
        text_start = _byte_offsets(texts)
    counts = np.diff(np.searchsorted(starts, np.append(text_start, len(data))))
    return xxh32_spans(data, starts, ends - starts), counts


def _byte_offsets(texts: Sequence[str]) -> np.ndarray:
    """Start of each text in the joined, translated UTF-8 bytes (length of each, plus 1)."""
    sizes = np.fromiter(
        (len(t.lower().translate(_TO_SPACE).encode()) + 1 for t in texts),
        dtype=np.int64,
        count=len(texts),
    )
    return np.cumsum(sizes) - sizes


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << _U32(r)) | (x >> _U32(32 - r))


def xxh32_spans(data: bytes, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``xxh32(data[s : s + n], seed=0)`` for every span, vectorised (uint32).

    Spans are grouped by length, so each group runs xxh32's steps with no per-span
    branching: one numpy expression per 4-byte word or tail byte of that length.

    Args:
        data: the bytes.
        starts: start of each span (`m`, int).
        lengths: length of each span (`m`, int, > 0).
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    h = np.empty(len(starts), dtype=_U32)
    if len(starts) == 0:
        return h
    padded = np.frombuffer(data + b"\0" * 4, dtype=np.uint8)
    b = padded.astype(_U32)
    # The little-endian 32-bit word starting at every byte.
    word = b[:-3] | (b[1:-2] << _U32(8)) | (b[2:-1] << _U32(16)) | (b[3:] << _U32(24))
    # Spans by length (stable radix sort of small ints); long spans one by one below.
    order = np.argsort(np.minimum(lengths, LONG_WORD).astype(np.uint16), kind="stable")
    bounds = np.searchsorted(lengths[order], np.arange(LONG_WORD + 1), side="left")
    for n in range(1, LONG_WORD):
        idx = order[bounds[n] : bounds[n + 1]]
        if len(idx):
            h[idx] = _xxh32_fixed(word, b, starts.take(idx), n)
    h ^= h >> _U32(15)
    h *= _U32(_P2)
    h ^= h >> _U32(13)
    h *= _U32(_P3)
    h ^= h >> _U32(16)
    for i in order[bounds[LONG_WORD] :].tolist():
        s = int(starts[i])
        h[i] = xxhash.xxh32_intdigest(data[s : s + int(lengths[i])])
    return h


def _xxh32_fixed(word: np.ndarray, b: np.ndarray, at: np.ndarray, n: int) -> np.ndarray:
    """xxh32 of ``n``-byte spans starting at ``at``, before the final avalanche."""
    if n >= 16:
        acc = [np.full(len(at), x & 0xFFFFFFFF, dtype=_U32) for x in (_P1 + _P2, _P2, 0, -_P1)]
        for stripe in range(n // 16):
            for j in range(4):
                v = word.take(at + (16 * stripe + 4 * j), mode="clip")
                acc[j] = _rotl(acc[j] + v * _U32(_P2), 13) * _U32(_P1)
        h = _rotl(acc[0], 1) + _rotl(acc[1], 7) + _rotl(acc[2], 12) + _rotl(acc[3], 18)
        h += _U32(n)
    else:
        h = np.full(len(at), (_P5 + n) & 0xFFFFFFFF, dtype=_U32)
    off = n - n % 16
    for _ in range((n % 16) // 4):
        h = _rotl(h + word.take(at + off, mode="clip") * _U32(_P3), 17) * _U32(_P4)
        off += 4
    for _ in range(n % 4):
        h = _rotl(h + b.take(at + off, mode="clip") * _U32(_P5), 11) * _U32(_P1)
        off += 1
    return h
