"""Held-out benchmark sets, one JSONL file per domain, disjoint from the pool.

Item format (the contract the evaluation code reads)::

    {"id": str, "question": str, "answer": str, "choices": [str, ...],
     "fewshot": [{"question": str, "answer": str}, ...],   # only when requested
     "metadata": {"domain": str, "task": str, "difficulty": float}}

``answer`` is the short final answer and the exact text of one choice; choices are four
(answer plus plausible neighbours) or two for yes/no and true/false questions. Items come
from a random stream of their own, and any question also in the pool is rejected.

**Reasoning-check sets** (``write_reasoning_bench``, one more JSONL file per domain) ask a
different question of the model: given a held-out problem, does it assign the higher
likelihood to the correct worked solution or to a flawed one (the same kind of mid-way
slip the pool's ``wrong_answer`` samples carry)? Each item has ``answer`` = the correct
solution text and ``choices`` = [correct, flawed] in random order, so the ordinary
multiple-choice log-likelihood metric scores it. The short-answer sets above cannot see
the effect of wrong training answers on a small model, which cannot compute the answer
without writing the reasoning out; this set looks where those answers differ.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from autosel.pool.demo.base import Domain, Problem, render
from autosel.pool.demo.config import stream

MAX_REJECTIONS = 10_000


def question_key(text: str) -> bytes:
    """A compact identity of a question text (for disjointness checks)."""
    return hashlib.blake2b(text.encode(), digest_size=12).digest()


def _fresh(domain: Domain, rng: Any, taken: set[bytes]) -> Problem:
    for _ in range(MAX_REJECTIONS):
        p = domain.problem(rng)
        key = question_key(p.question)
        if key not in taken:
            taken.add(key)
            return p
    raise RuntimeError(f"{domain.name}: no fresh benchmark question after {MAX_REJECTIONS} draws")


def _write_sets(bench_dir: Path, domains: Sequence[Domain], seed: int, stream_name: str,
                pool_keys: set[bytes],
                items: Callable[[Domain, Any, set[bytes]], Iterator[dict[str, Any]]]
                ) -> dict[str, Path]:
    """Write ``bench_dir/<domain>.jsonl`` from ``items(domain, rng, taken)`` for every domain,
    each under a temporary name then renamed; returns the paths by domain.

    ``rng`` is the domain's own stream ``(seed, stream_name, domain)``; ``taken`` starts as a
    copy of ``pool_keys`` (never modified) and keeps every question drawn distinct.
    """
    bench_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for domain in domains:
        rng = stream(seed, stream_name, domain.name)
        path = bench_dir / f"{domain.name}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "wb") as f:
            for item in items(domain, rng, set(pool_keys)):
                f.write(orjson.dumps(item) + b"\n")
        tmp.replace(path)
        paths[domain.name] = path
    return paths


def write_bench(bench_dir: Path, domains: Sequence[Domain], n_items: int, n_fewshot: int,
                seed: int, pool_keys: set[bytes]) -> dict[str, Path]:
    """Write ``bench_dir/<domain>.jsonl`` for every domain; returns the paths by domain.

    ``pool_keys`` holds the question keys of every pool prompt; it is not modified.
    """
    def items(domain: Domain, rng: Any, taken: set[bytes]) -> Iterator[dict[str, Any]]:
        # ``taken`` also keeps items and few-shot examples distinct.
        shots = [_fresh(domain, rng, taken) for _ in range(n_fewshot)]
        fewshot = [{"question": p.question, "answer": p.answer} for p in shots]
        for i in range(n_items):
            yield _item(domain, _fresh(domain, rng, taken), i, fewshot, rng)

    return _write_sets(bench_dir, domains, seed, "bench", pool_keys, items)


def _item(domain: Domain, p: Problem, i: int, fewshot: list[dict[str, str]],
          rng: Any) -> dict[str, Any]:
    choices = [p.answer, *domain.distractors(p.spec, rng)]
    rng.shuffle(choices)
    item: dict[str, Any] = {"id": f"{domain.name}-{i:05d}", "question": p.question,
                            "answer": p.answer, "choices": choices}
    if fewshot:
        item["fewshot"] = fewshot
    item["metadata"] = {"domain": domain.name, "task": p.task, "difficulty": p.difficulty}
    return item


def write_reasoning_bench(bench_dir: Path, domains: Sequence[Domain], n_items: int, seed: int,
                          pool_keys: set[bytes]) -> dict[str, Path]:
    """Write ``bench_dir/<domain>.jsonl`` reasoning-check items (see the module docstring).

    The flawed solution of an item comes from the domain's ``wrong_reasoning`` and is
    always a different text with a different final answer. The correct one is the
    rendering (over ``PHRASING_TRIES`` phrasing seeds) that shares the most lines with it,
    so the two differ where the slip is and as little as possible elsewhere: a model's
    taste for one wording over another is noise to this comparison. ``pool_keys`` holds the
    question keys of every pool prompt; it is not modified.
    """
    def items(domain: Domain, rng: Any, taken: set[bytes]) -> Iterator[dict[str, Any]]:
        for i in range(n_items):
            p = _fresh(domain, rng, taken)
            phrasing = rng.randrange(1 << 32)
            bad = domain.wrong_reasoning(p.spec, random.Random(phrasing))
            flawed = render(bad, random.Random(phrasing))
            good = _closest_correct(domain, p, flawed, phrasing)
            if bad.answer == p.answer or flawed == good:  # the domains promise otherwise
                raise RuntimeError(f"{domain.name}: wrong_reasoning kept the answer of "
                                   f"{p.question[:60]!r}")
            choices = [good, flawed]
            rng.shuffle(choices)
            yield {"id": f"{domain.name}-reasoning-{i:05d}", "question": p.question,
                   "answer": good, "choices": choices,
                   "metadata": {"domain": domain.name, "task": p.task,
                                "difficulty": p.difficulty, "kind": "reasoning_check",
                                "flawed_answer": bad.answer}}

    return _write_sets(bench_dir, domains, seed, "bench-reasoning", pool_keys, items)


PHRASING_TRIES = 512
_VALUES = re.compile(r"\d+|\b(?:True|False|true|false|yes|no|[A-Z])\b")


def _skeleton(line: str) -> str:
    """A line's wording with its values (numbers, truth values, node names) blanked."""
    return _VALUES.sub("#", line)


def _closest_correct(domain: Domain, p: Problem, flawed: str, phrasing: int) -> str:
    """The correct rendering worded most like ``flawed`` (numbers aside; first on ties)."""
    theirs = [_skeleton(x) for x in flawed.split("\n")]
    best, best_diff = "", None
    for k in range(PHRASING_TRIES):
        seed = (phrasing + k) % (1 << 32)
        # The opening line comes from render's own stream: the flawed text's, unchanged.
        text = render(domain.reasoning(p.spec, random.Random(seed)), random.Random(phrasing))
        ours = [_skeleton(x) for x in text.split("\n")]
        diff = sum(a != b for a, b in zip(ours, theirs, strict=False)) + abs(len(ours) - len(theirs))
        if best_diff is None or diff < best_diff:
            best, best_diff = text, diff
        if diff == 0:
            break
    return best
