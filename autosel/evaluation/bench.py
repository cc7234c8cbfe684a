"""Benchmark files: loading, validation, prompt construction.

One JSONL line per item::

    {"id": "arith-3", "question": "What is 2 + 3?", "answer": "5",
     "choices": ["4", "5", "6", "7"],                  # optional: multiple choice
     "fewshot": [{"question": "...", "answer": "..."}], # optional: in-context examples
     "metadata": {...}}                                 # optional, carried through

``answer`` is the text of the correct choice, or a letter ``A``-``Z`` indexing
``choices``; without choices it is the reference for exact match and answer NLL.
Every error names the file, the line and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autosel.errors import InputError


@dataclass(frozen=True)
class BenchItem:
    """One validated benchmark item. ``gold`` indexes ``choices`` (``None`` without choices)."""

    id: str
    question: str
    answer: str
    choices: tuple[str, ...] | None = None
    gold: int | None = None
    fewshot: tuple[tuple[str, str], ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Benchmark:
    """A loaded benchmark file."""

    name: str
    path: Path
    items: tuple[BenchItem, ...]

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.items) and all(it.choices for it in self.items)


def _str_field(rec: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        got = "missing" if key not in rec else f"{type(value).__name__} {value!r:.40}"
        raise InputError(f"expected a non-empty string, got {got}", path=path, line=line, field=key)
    return value


def _gold_index(answer: str, choices: tuple[str, ...], path: Path, line: int) -> int:
    if answer in choices:
        return choices.index(answer)
    stripped = answer.strip()
    if len(stripped) == 1 and "A" <= stripped.upper() <= "Z":
        idx = ord(stripped.upper()) - ord("A")
        if idx < len(choices):
            return idx
    shown = ", ".join(repr(c) for c in choices[:6])
    raise InputError(
        f"answer {answer!r} is neither one of the choices ({shown}) nor a letter "
        f"A-{chr(ord('A') + len(choices) - 1)}",
        path=path,
        line=line,
        field="answer",
    )


def parse_item(rec: Any, path: Path, line: int) -> BenchItem:
    """Validate one decoded JSONL record into a ``BenchItem``.

    Raises:
        InputError: naming ``path``, ``line`` and the offending field.
    """
    if not isinstance(rec, dict):
        raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    question = _str_field(rec, "question", path, line)
    answer = rec.get("answer")
    if isinstance(answer, (int, float, bool)) and not isinstance(answer, bool):
        answer = str(answer)  # numeric answers are common in math sets
    if isinstance(answer, bool):
        answer = "true" if answer else "false"
    rec = {**rec, "answer": answer}
    answer = _str_field(rec, "answer", path, line)
    choices = gold = None
    if rec.get("choices") is not None:
        raw = rec["choices"]
        if (
            not isinstance(raw, list)
            or len(raw) < 2
            or not all(isinstance(c, str) and c for c in raw)
        ):
            raise InputError(
                "expected a list of at least 2 non-empty strings",
                path=path,
                line=line,
                field="choices",
            )
        choices = tuple(raw)
        if len(set(choices)) != len(choices):
            raise InputError("choices must be distinct", path=path, line=line, field="choices")
        gold = _gold_index(answer, choices, path, line)
        answer = choices[gold]
    fewshot = []
    raw_fs = rec.get("fewshot") or []
    if not isinstance(raw_fs, list):
        raise InputError(
            "expected a list of {question, answer} objects", path=path, line=line, field="fewshot"
        )
    for k, ex in enumerate(raw_fs):
        if not isinstance(ex, dict):
            raise InputError("expected an object", path=path, line=line, field=f"fewshot[{k}]")
        fq = _str_field(ex, "question", path, line) if "question" in ex else None
        fa = ex.get("answer")
        if fq is None or not isinstance(fa, (str, int, float)) or str(fa) == "":
            raise InputError(
                "expected 'question' and 'answer'", path=path, line=line, field=f"fewshot[{k}]"
            )
        fewshot.append((fq, str(fa)))
    meta = rec.get("metadata") or {}
    if not isinstance(meta, dict):
        raise InputError("expected an object", path=path, line=line, field="metadata")
    item_id = rec.get("id", f"{path.stem}-{line}")
    return BenchItem(
        id=str(item_id),
        question=question,
        answer=answer,
        choices=choices,
        gold=gold,
        fewshot=tuple(fewshot),
        metadata=meta,
    )


def load_benchmark(
    path: str | Path, name: str | None = None, limit: int | None = None
) -> Benchmark:
    """Read and validate a benchmark JSONL file (first ``limit`` items when given).

    Raises:
        InputError: the file is missing, empty, or a line is invalid (file, line, field named).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("benchmark file not found (expected a JSONL file)", path=p)
    items: list[BenchItem] = []
    seen: dict[str, int] = {}
    with open(p, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"invalid JSON: {exc.msg} at column {exc.colno}", path=p, line=lineno
                ) from None
            item = parse_item(rec, p, lineno)
            if item.id in seen:
                raise InputError(
                    f"duplicate id {item.id!r} (first on line {seen[item.id]})",
                    path=p,
                    line=lineno,
                    field="id",
                )
            seen[item.id] = lineno
            items.append(item)
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise InputError("benchmark file has no items", path=p)
    return Benchmark(name=name or p.stem, path=p, items=tuple(items))


def item_messages(
    item: BenchItem, n_fewshot: int = 0, *, with_choices: bool = False
) -> list[dict[str, str]]:
    """Chat messages asking ``item`` (few-shot examples as earlier user/assistant turns).

    Args:
        with_choices: list the options as ``A. ...`` lines (for generation; log-likelihood
            scoring compares the choice texts directly, as lm-evaluation-harness does).
    """
    messages: list[dict[str, str]] = []
    for q, a in item.fewshot[:n_fewshot]:
        messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    question = item.question
    if with_choices and item.choices:
        opts = "\n".join(f"{chr(ord('A') + i)}. {c}" for i, c in enumerate(item.choices))
        question = f"{question}\n{opts}"
    messages.append({"role": "user", "content": question})
    return messages
