"""Benchmark files: loading, validation, prompt construction.

The one loader of benchmark items: relevance (:mod:`autosel.signals.relevance`) and
evaluation both call :func:`load_benchmark_split`, so they agree on every item, split,
gold answer and field map.

A benchmark is a JSONL file, a Parquet file, or a Hugging Face ``datasets`` directory
written by ``save_to_disk`` (read with pyarrow; a multi-split ``DatasetDict`` must be
given as one split's directory). One line (row) per item::

    {"id": "arith-3", "question": "What is 2 + 3?", "answer": "5",
     "choices": ["4", "5", "6", "7"],                  # optional: multiple choice
     "fewshot": [{"question": "...", "answer": "..."}], # optional: in-context examples
     "metadata": {...}}                                 # optional, carried through

With ``choices``, ``answer`` is the text of the correct choice, a letter ``A``-``Z``
indexing ``choices``, or an integer index into ``choices`` (``"answer": 0``, the Hugging
Face datasets convention; a JSON number, not the string ``"0"``, which can only be a
choice's text). Hugging Face's ARC shape, ``"choices": {"text": [...], "label": [...]}``
with the answer one of the labels, is accepted too. Without choices the answer is the
reference for exact match and answer NLL (a number is then its decimal text); an answer
ending in a ``#### x`` line (GSM8K's chain of thought) has ``x`` as its reference.

Field names: ``BenchmarkSpec.fields`` maps ``{canonical: source}`` (``{"question":
"problem", "answer": "solution"}``); each mapped field must be present in every item.
Every error names the file, the line (row) and the field; a missing field also lists the
fields that were found.

Splits: every benchmark has a *dev* split (what the search optimises; the only split that
signals and relevance read) and a *test* split (scored only by the final report). Either
two files are given (dev and test; an id in both is an error), or one file is split by
item id: an item is in test iff ``blake2b("autosel-split/<id>", 8 bytes)`` read as a
little-endian integer, divided by ``2**64``, is below ``test_fraction``. The split of an
item depends on its id alone: adding, removing or reordering other items never moves it,
and every machine agrees. A single file needs at least ``MIN_SPLIT_ITEMS`` items.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autosel.errors import InputError
from autosel.pool.formats import RecordError, apply_field_map, found_fields

if TYPE_CHECKING:  # pragma: no cover
    from autosel.bench.spec import BenchmarkSpec

MIN_SPLIT_ITEMS = 20
SPLITS = ("dev", "test")


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
    """A loaded benchmark file, or one split of it.

    Attributes:
        split: ``"dev"`` or ``"test"`` when this is one split, ``None`` for a whole file.
        all_multiple_choice: whether every item of the whole benchmark (both splits) has
            choices; set by :func:`load_benchmark_split` so that ``auto`` resolves to the
            same primary metric on dev and on test.
    """

    name: str
    path: Path
    items: tuple[BenchItem, ...]
    split: str | None = None
    all_multiple_choice: bool | None = None

    @property
    def is_multiple_choice(self) -> bool:
        if self.all_multiple_choice is not None:
            return self.all_multiple_choice
        return bool(self.items) and all(it.choices for it in self.items)


def _str_field(rec: dict[str, Any], key: str, path: Path, line: int) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value.strip():
        got = "missing" if key not in rec else f"{type(value).__name__} {value!r:.40}"
        raise InputError(f"expected a non-empty string, got {got}", path=path, line=line, field=key)
    return value


def _gold_index(answer: Any, choices: tuple[str, ...], path: Path, line: int) -> int:
    """Index of the gold choice: a choice's text, a letter, or an integer index (JSON number)."""
    last = len(choices) - 1
    accepted = f"one of the choices, a letter A-{chr(ord('A') + last)} or an index 0-{last}"
    if isinstance(answer, int) and not isinstance(answer, bool):
        as_text = choices.index(str(answer)) if str(answer) in choices else None
        in_range = 0 <= answer <= last
        if in_range and as_text not in (None, answer):
            # Numeric choices: "answer": 2 could be index 2 or the choice "2"; guessing
            # would silently score against the wrong gold.
            raise InputError(
                f"answer {answer} is ambiguous: index {answer} is {choices[answer]!r} but "
                f"the choice {str(answer)!r} is index {as_text}; write the answer as a "
                f"string ({str(answer)!r}) to mean the text, or as the letter "
                f"{chr(ord('A') + answer)!r} to mean the index",
                path=path,
                line=line,
                field="answer",
            )
        if in_range:
            return answer
        if as_text is not None:
            return as_text
        raise InputError(
            f"answer index {answer} is out of range for {len(choices)} choices "
            f"(expected {accepted})",
            path=path,
            line=line,
            field="answer",
        )
    if isinstance(answer, float):
        answer = str(answer)
    answer = _str_field({} if answer is None else {"answer": answer}, "answer", path, line)
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
        f"A-{chr(ord('A') + last)} (a JSON number 0-{last} would be an index)",
        path=path,
        line=line,
        field="answer",
    )


_GSM8K_FINAL = "\n#### "


def _missing(rec: dict[str, Any], key: str, path: Path, line: int, unit: str) -> InputError:
    return InputError(
        f"expected a non-empty string, got missing (fields found: {found_fields(rec)}); "
        "name the field holding the "
        f"{key} with the benchmark's fields map, e.g. fields: {{{key}: <your field>}}",
        path=path,
        line=line,
        field=key,
        unit=unit,
    )


def parse_item(
    rec: Any,
    path: Path,
    line: int,
    fields: dict[str, str] | None = None,
    *,
    unit: str = "line",
) -> BenchItem:
    """Validate one decoded record into a ``BenchItem``.

    Args:
        fields: ``{canonical: source}`` applied first (see the module docstring).
        unit: how ``line`` counts in errors: ``line`` (JSONL) or ``record`` (Parquet, Arrow).

    Raises:
        InputError: naming ``path``, ``line`` and the offending field.
    """
    if not isinstance(rec, dict):
        raise InputError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=line)
    if fields:
        try:
            rec = apply_field_map(rec, fields)
        except RecordError as e:
            raise InputError(e.message, path=path, line=line, field=e.field, unit=unit) from None
    if unit == "record":  # a null in a column is an absent field
        rec = {k: v for k, v in rec.items() if v is not None}
    for key in ("question", "answer"):
        if key not in rec:
            raise _missing(rec, key, path, line, unit)
    question = _str_field(rec, "question", path, line)
    choices = gold = None
    if rec.get("choices") is None:
        answer = rec.get("answer")
        if isinstance(answer, bool):
            answer = "true" if answer else "false"
        elif isinstance(answer, (int, float)):
            answer = str(answer)  # numeric answers are common in math sets
        answer = _str_field({**rec, "answer": answer}, "answer", path, line)
        if _GSM8K_FINAL in answer:  # chain of thought ending "#### 42": the reference is 42
            answer = answer.rpartition(_GSM8K_FINAL)[2].split("\n", 1)[0].strip() or answer
    else:
        raw = rec["choices"]
        labels: list[Any] | None = None
        if isinstance(raw, dict) and isinstance(raw.get("text"), list):
            labels, raw = raw.get("label"), raw["text"]  # Hugging Face ARC shape
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
        raw_answer = rec.get("answer")
        if isinstance(raw_answer, bool):  # JSON true/false name a choice's text, not an index
            raw_answer = "true" if raw_answer else "false"
        if isinstance(labels, list) and len(labels) == len(choices) and raw_answer in labels:
            gold = labels.index(raw_answer)
        else:
            gold = _gold_index(raw_answer, choices, path, line)
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


def _jsonl_records(p: Path) -> Iterator[tuple[int, Any]]:
    with open(p, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                yield lineno, json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"invalid JSON: {exc.msg} at column {exc.colno}", path=p, line=lineno
                ) from None


def _parquet_records(p: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad file to the user
        raise InputError(f"not a readable Parquet file: {e}", path=p) from None
    yield from enumerate(table.to_pylist(), start=1)


def _records(p: Path) -> tuple[Iterator[tuple[int, Any]], str]:
    """``(numbered records, unit)`` of a benchmark file or save_to_disk directory."""
    if p.is_dir():
        from autosel.pool.ingest import hf_arrow_files, iter_arrow_files

        return iter_arrow_files(hf_arrow_files(p)), "record"
    if not p.is_file():
        raise InputError(
            "benchmark file not found (expected a JSONL or Parquet file, or a save_to_disk "
            "directory)",
            path=p,
        )
    with open(p, "rb") as f:
        if f.read(4) == b"PAR1":
            return _parquet_records(p), "record"
    return _jsonl_records(p), "line"


def _read_items(
    p: Path, limit: int | None = None, fields: dict[str, str] | None = None
) -> list[BenchItem]:
    """Validated items of one benchmark, in file order (the first ``limit`` when given).

    Raises:
        InputError: the file is missing, empty, or a line is invalid (file, line, field named).
    """
    items: list[BenchItem] = []
    seen: dict[str, int] = {}
    records, unit = _records(p)
    for lineno, rec in records:
        try:
            item = parse_item(rec, p, lineno, fields, unit=unit)
        except InputError as e:
            if e.unit == unit:
                raise
            # The field checks count lines; a Parquet or Arrow item is a record.
            raise InputError(
                e.message, path=e.path, line=e.line, field=e.field, unit=unit
            ) from None
        if item.id in seen:
            raise InputError(
                f"duplicate id {item.id!r} (first on {unit} {seen[item.id]})",
                path=p,
                line=lineno,
                field="id",
                unit=unit,
            )
        seen[item.id] = lineno
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise InputError("benchmark file has no items", path=p)
    return items


def load_benchmark(
    path: str | Path,
    name: str | None = None,
    limit: int | None = None,
    fields: dict[str, str] | None = None,
) -> Benchmark:
    """Read and validate a whole benchmark (first ``limit`` items when given).

    This ignores splits: evaluation and signals go through :func:`load_benchmark_split`.

    Raises:
        InputError: the file is missing, empty, or a line is invalid (file, line, field named).
    """
    p = Path(path)
    return Benchmark(name=name or p.stem, path=p, items=tuple(_read_items(p, limit, fields)))


def split_fraction(item_id: str) -> float:
    """Where ``item_id`` falls in ``[0, 1)``; the item is in test iff this < ``test_fraction``."""
    digest = hashlib.blake2b(f"autosel-split/{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def is_test_item(item_id: str, test_fraction: float) -> bool:
    """Whether ``item_id`` belongs to the test split of a single-file benchmark."""
    return split_fraction(item_id) < test_fraction


def _overlap_error(dev: Path, test: Path, ids: list[str]) -> InputError:
    shown = ", ".join(repr(i) for i in ids[:10])
    more = f" and {len(ids) - 10} more" if len(ids) > 10 else ""
    return InputError(
        f"{len(ids)} item id(s) appear in both the dev file {dev} and the test file {test}: "
        f"{shown}{more}; an item must be in one split only (remove or rename them in one file)",
        path=test,
        field="id",
    )


def load_benchmark_split(bspec: BenchmarkSpec, split: str) -> Benchmark:
    """The ``split`` (``"dev"`` or ``"test"``) of the benchmark ``bspec`` describes.

    With ``bspec.test_path`` the dev split is the whole of ``bspec.path`` and the test split
    the whole of ``test_path``; otherwise the items of ``path`` are split by id (see the
    module docstring) with ``bspec.test_fraction``. Items keep their file order; ``limit``
    then keeps the first N items of the split. Both files (or the whole file) are always
    read and validated, so a problem with either split shows up before the search starts.

    Raises:
        InputError: a file is invalid; a single file has fewer than ``MIN_SPLIT_ITEMS``
            items or one of its splits comes out empty; dev and test files share ids.
        ValueError: ``split`` is not ``"dev"`` or ``"test"`` (a programming error).
    """
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: accepted values are {', '.join(SPLITS)}")
    path = Path(bspec.path)
    if bspec.test_path is None:
        every = _read_items(path, fields=bspec.fields)
        if len(every) < MIN_SPLIT_ITEMS:
            raise InputError(
                f"{len(every)} items cannot be split into dev and test: splitting one file "
                f"by item id needs at least {MIN_SPLIT_ITEMS} items (add items, or give a "
                "separate test file with test_path)",
                path=path,
            )
        want_test = split == "test"
        items = [it for it in every if is_test_item(it.id, bspec.test_fraction) == want_test]
        if not items:
            raise InputError(
                f"the {split} split of {len(every)} items is empty with test_fraction "
                f"{bspec.test_fraction} (add items, change test_fraction, or give test_path)",
                path=path,
            )
        source = path
    else:
        test_path = Path(bspec.test_path)
        dev = _read_items(path, fields=bspec.fields)
        test = _read_items(test_path, fields=bspec.fields)
        test_ids = {it.id for it in test}
        shared = [it.id for it in dev if it.id in test_ids]
        if shared:
            raise _overlap_error(path, test_path, shared)
        every = dev + test
        items, source = (dev, path) if split == "dev" else (test, test_path)
    if bspec.limit is not None:
        items = items[: bspec.limit]
    return Benchmark(
        name=bspec.name,
        path=source,
        items=tuple(items),
        split=split,
        all_multiple_choice=all(it.choices for it in every),
    )


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
