"""Robust extraction and normalisation of a final answer from generated text.

Generated answers come in many shapes (``Final answer: 1,234.``, ``The answer is
**True**``, ``(B)``, trailing chatter). Extraction takes, in order: an explicit
``Final answer:`` line, a ``the answer is X`` phrase, a boxed answer, then falls back on
the kind of the reference answer (option letter, boolean, number, date) and finally on
the whole text. Both sides are normalised the same way before comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_FINAL_RE = re.compile(r"final\s+answer\s*(?:is)?\s*[:=\-]?\s*(.+)", re.IGNORECASE)
_ANSWER_IS_RE = re.compile(r"\bthe\s+(?:correct\s+)?answer\s+is\s*[:\-]?\s*(.+)", re.IGNORECASE)
_BOXED_RE = re.compile(r"\\boxed\{([^{}]*)\}")
_NUMBER_RE = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+")
_LETTER_RE = re.compile(r"(?:^|[\s(\[])([A-Z])(?:[).:\]]|\s|$)")
_BOOL_RE = re.compile(r"\b(true|false|yes|no)\b", re.IGNORECASE)
_DATE_RE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b|\b(\d{1,2})/(\d{1,2})/(\d{4})\b")

_BOOL_MAP = {"true": "true", "yes": "true", "false": "false", "no": "false"}


def normalize_answer(text: str) -> str:
    """Canonical form for comparison: case, whitespace, markup, punctuation, number format.

    ``" 1,234.50. "`` → ``"1234.5"``; ``"**Yes**"`` → ``"true"``; ``"(b)"`` → ``"b"``.
    """
    s, prev = text.strip(), None
    while s != prev:  # "**Yes**." needs markup and punctuation peeled in turns
        prev = s
        s = s.strip("*_`\"' ").rstrip(".!?;:,").strip()
    s = re.sub(r"\s+", " ", s).lower()
    if s.startswith("$") and _is_number(s[1:]):
        s = s[1:]
    if _is_number(s):
        return _canonical_number(s)
    if s in _BOOL_MAP:
        return _BOOL_MAP[s]
    m = re.fullmatch(r"\(?([a-z])[).]?", s)
    if m:
        return m.group(1)
    date = _canonical_date(s)
    return date if date is not None else s


def _is_number(s: str) -> bool:
    return bool(re.fullmatch(r"[-+]?(\d{1,3}(,\d{3})+|\d+)?(\.\d+)?(/\d+)?", s)) and any(
        c.isdigit() for c in s
    )


def _canonical_number(s: str) -> str:
    s = s.replace(",", "").lstrip("+")
    if "/" in s:
        num, den = s.split("/", 1)
        try:
            if float(den) != 0 and float(num) / float(den) == int(float(num) / float(den)):
                return str(int(float(num) / float(den)))
        except ValueError:
            pass
        return s
    try:
        value = float(s)
    except ValueError:
        return s
    return str(int(value)) if value == int(value) else repr(value)


def _canonical_date(s: str) -> str | None:
    m = _DATE_RE.fullmatch(s)
    if not m:
        return None
    if m.group(1):
        y, mo, d = m.group(1), m.group(2), m.group(3)
    else:  # m/d/yyyy, the US order the demo pool uses
        mo, d, y = m.group(4), m.group(5), m.group(6)
    return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"


def _first_line(s: str) -> str:
    return s.strip().split("\n", 1)[0].strip()


def _explicit_answer(text: str) -> str | None:
    """The text after the last ``Final answer:``, else ``the answer is``, else ``\\boxed{}``."""
    for regex in (_FINAL_RE, _ANSWER_IS_RE):
        hits = list(regex.finditer(text))
        if hits:
            return _first_line(hits[-1].group(1))
    boxed = _BOXED_RE.findall(text)
    return boxed[-1] if boxed else None


def _kind(reference: str, choices: Sequence[str] | None) -> str:
    ref = normalize_answer(reference)
    if choices:
        return "letter"
    if ref in ("true", "false"):
        return "bool"
    if _is_number(ref):
        return "number"
    if _canonical_date(ref) is not None:
        return "date"
    return "text"


def _by_kind(text: str, kind: str) -> str | None:
    if kind == "number":
        nums = _NUMBER_RE.findall(text)
        return nums[-1].lstrip("$") if nums else None
    if kind == "bool":
        hits = _BOOL_RE.findall(text)
        return hits[-1] if hits else None
    if kind == "letter":
        hits = _LETTER_RE.findall(text.strip())
        return hits[0] if hits else None
    if kind == "date":
        m = list(_DATE_RE.finditer(text))
        return m[-1].group(0) if m else None
    return None


def extract_answer(text: str, reference: str = "", choices: Sequence[str] | None = None) -> str:
    """The normalised final answer in ``text``, guided by the shape of ``reference``.

    With ``choices``, a letter (``B``) or the text of a choice both map to that choice's
    letter; the reference may be given either way too.
    """
    kind = _kind(reference, choices)
    explicit = _explicit_answer(text)
    if explicit is not None:
        candidate = _by_kind(explicit, kind) if kind in ("number", "bool", "date") else None
        raw = candidate if candidate is not None else explicit
    else:
        raw = _by_kind(text, kind) or _first_line(text)
    answer = normalize_answer(raw)
    if choices:
        answer = _to_letter(answer, raw, choices)
    return answer


def _to_letter(answer: str, raw: str, choices: Sequence[str]) -> str:
    norm_choices = [normalize_answer(c) for c in choices]
    if answer in norm_choices:
        return chr(ord("a") + norm_choices.index(answer))
    if len(answer) == 1 and "a" <= answer <= chr(ord("a") + len(choices) - 1):
        return answer
    letter = _by_kind(raw, "letter")
    return letter.lower() if letter else answer


def exact_match(prediction: str, reference: str, choices: Sequence[str] | None = None) -> bool:
    """Whether the answer extracted from ``prediction`` equals ``reference`` (both normalised)."""
    got = extract_answer(prediction, reference, choices)
    want = normalize_answer(reference)
    if choices:
        want = _to_letter(want, reference, choices)
    return got == want and got != ""
