"""``generate_demo_pool``: write the demo pool, its hidden labels, benchmarks and manifest.

Records are streamed to disk as they are made; memory holds the plan (one small object
per prompt), one 12-byte key per prompt (for uniqueness and benchmark disjointness)
and a bounded window of recent clean samples that duplicates are copied from.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from autosel.pool.demo.arithmetic import Arithmetic
from autosel.pool.demo.base import Domain, Problem, final_answer, render
from autosel.pool.demo.bench import (
    MAX_REJECTIONS,
    question_key,
    write_bench,
    write_reasoning_bench,
)
from autosel.pool.demo.boolean import Boolean
from autosel.pool.demo.config import BENCH_SIZES, DEFECTS, SIZES, DemoConfig, make_config, stream
from autosel.pool.demo.dates import Dates
from autosel.pool.demo.defects import off_topic, reword, too_long, too_short, truncate
from autosel.pool.demo.graphs import Graphs
from autosel.pool.demo.plan import Plan, Unit, make_plan

DOMAINS: dict[str, Domain] = {d.name: d for d in (Arithmetic(), Graphs(), Boolean(), Dates())}
POOL_NAME, LABELS_NAME, MANIFEST_NAME = "pool.jsonl", "labels.jsonl", "demo_manifest.json"
BENCH_DIR = "bench"
REASONING_BENCH_DIR = "bench_reasoning"  # correct-vs-flawed solution sets
SYSTEM_PROMPTS = (
    "You are a careful assistant. Reason step by step and end with the final answer.",
    "You are a helpful tutor who shows the working.",
    "Answer the question. Put the final answer on the last line.",
)
DUP_WINDOW = 4096  # duplicates copy one of the last clean single samples
MAX_REWORD_TRIES = 20
GENERATOR_VERSION = 1


@dataclass(frozen=True)
class DemoPool:
    """Where a demo pool was written, and what it holds."""

    out_dir: Path
    pool_path: Path
    labels_path: Path
    manifest_path: Path
    bench_paths: tuple[Path, ...]
    size: str
    seed: int
    n_samples: int
    defect_counts: dict[str, int]
    source_counts: dict[str, int]
    bench_sizes: dict[str, int]
    reasoning_bench_paths: tuple[Path, ...] = ()
    seconds: float = field(default=0.0, compare=False)


class _Writer:
    """Builds pool records and their labels and streams both to disk."""

    def __init__(self, pool_f: IO[bytes], labels_f: IO[bytes], config: DemoConfig,
                 seed: int) -> None:
        self.pool_f, self.labels_f, self.config = pool_f, labels_f, config
        self.problems = stream(seed, "pool", "problems")
        self.text = stream(seed, "pool", "responses")
        self.keys: set[bytes] = set()  # question keys of every pool prompt
        self.recent: deque[dict[str, Any]] = deque(maxlen=DUP_WINDOW)
        self.defects: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.n = self.n_prompts = 0

    # -- units
    def unit(self, unit: Unit) -> None:
        if unit.kind == "dup":
            self._duplicate(unit.defect)
        elif unit.kind == "group":
            self._group(unit.wrong)
        else:
            self._single(unit.defect)

    def _single(self, defect: str) -> None:
        problem, prompt = self._prompt()
        domain = DOMAINS[problem.domain]
        if defect == "wrong_answer":
            response = render(domain.wrong_reasoning(problem.spec, self.text), self.text)
        elif defect == "off_topic":
            response = off_topic(self.text)
        elif defect == "too_short":
            response = too_short(problem.answer, self.text)
        elif defect == "too_long":
            lines = domain.reasoning(problem.spec, self.text).lines
            response = too_long(lines, problem.answer, self.text)
        else:
            response = render(domain.reasoning(problem.spec, self.text), self.text)
            if defect == "truncated":
                response = truncate(response, self.text)
        rec = self._emit(problem, prompt, response, defect)
        if defect == "clean":
            self.recent.append(rec)

    def _group(self, wrong: tuple[bool, ...]) -> None:
        problem, prompt = self._prompt()
        domain, gid = DOMAINS[problem.domain], f"prompt-{self.n_prompts:06d}"
        used: set[str] = set()
        for is_wrong in wrong:
            for _ in range(20):  # responses to one prompt must differ from each other
                make = domain.wrong_reasoning if is_wrong else domain.reasoning
                r = make(problem.spec, self.text)
                response = render(r, self.text)
                if response not in used:
                    break
            used.add(response)
            self._emit(problem, prompt, response, "wrong_answer" if is_wrong else "clean",
                       group=gid, correct=not is_wrong)

    def _duplicate(self, defect: str) -> None:
        for _ in range(MAX_REWORD_TRIES):
            orig = self.recent[self.text.randrange(len(self.recent))]
            msgs, response = orig["messages"][:-1], orig["messages"][-1]["content"]
            if defect == "near_duplicate":
                new = reword(msgs, response, self.text, self.config.near_band)
                if new is None:
                    continue
                msgs, response = new
            self.keys.add(question_key(msgs[-1]["content"]))
            reply = {"role": "assistant", "content": response}
            rec = {**orig, "id": self._next_id(), "messages": [*msgs, reply]}
            self._write(rec, defect, orig["id"])
            return
        raise RuntimeError(f"no near duplicate in the Jaccard band {self.config.near_band} "
                           f"after {MAX_REWORD_TRIES} originals")

    # -- helpers
    def _prompt(self) -> tuple[Problem, list[dict[str, str]]]:
        """A problem whose question is new to the pool, and its prompt messages."""
        domain = DOMAINS[self.problems.choice(list(DOMAINS))]
        for _ in range(MAX_REJECTIONS):
            problem = domain.problem(self.problems)
            key = question_key(problem.question)
            if key not in self.keys:
                break
        else:
            raise RuntimeError(f"{domain.name}: no new question after {MAX_REJECTIONS} draws")
        self.keys.add(key)
        self.n_prompts += 1
        msgs = [{"role": "user", "content": problem.question}]
        if self.problems.random() < self.config.system_share:
            msgs.insert(0, {"role": "system", "content": self.problems.choice(SYSTEM_PROMPTS)})
        return problem, msgs

    def _emit(self, problem: Problem, prompt: list[dict[str, str]], response: str, defect: str,
              group: str | None = None, correct: bool | None = None) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "id": self._next_id(),
            "messages": [*prompt, {"role": "assistant", "content": response}],
            "source": problem.domain,
            "difficulty": problem.difficulty,
            "answer": problem.answer,
        }
        if group is not None:
            rec["group"], rec["correct"] = group, correct
        rec["metadata"] = {"domain": problem.domain, "task": problem.task}
        self._write(rec, defect, None)
        return rec

    def _next_id(self) -> str:
        self.n += 1
        return f"demo-{self.n - 1:06d}"

    def _write(self, rec: dict[str, Any], defect: str, duplicate_of: str | None) -> None:
        correct = final_answer(rec["messages"][-1]["content"]) == rec["answer"]
        label = {"id": rec["id"], "defect": defect, "duplicate_of": duplicate_of,
                 "correct": correct}
        self.pool_f.write(orjson.dumps(rec) + b"\n")
        self.labels_f.write(orjson.dumps(label) + b"\n")
        self.defects[defect] += 1
        self.sources[rec["source"]] += 1


def generate_demo_pool(out_dir: str | os.PathLike[str], size: str = "small", seed: int = 0,
                       **options: Any) -> DemoPool:
    """Generate the offline demo pool, its hidden labels and held-out benchmarks.

    Args:
        out_dir: directory to write ``pool.jsonl``, ``labels.jsonl``, ``bench/<domain>.jsonl``
            and ``demo_manifest.json`` into (created; existing files are replaced).
        size: ``small`` (800 samples), ``medium`` (10k) or ``large`` (100k).
        seed: the same seed gives byte-identical files.
        **options: defect rates and other fields of
            :class:`~autosel.pool.demo.config.DemoConfig` (e.g. ``wrong_answer=0.2``).

    Raises:
        ConfigError: an unknown size or option, or invalid rates.
    """
    t0 = time.perf_counter()
    config = make_config(size, options)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    plan = make_plan(SIZES[size], config, stream(seed, "pool", "plan"))
    writer = _write_pool(out, plan, config, seed)
    n_bench = config.bench_size or BENCH_SIZES[size]
    bench = write_bench(out / BENCH_DIR, list(DOMAINS.values()), n_bench, config.bench_fewshot,
                        seed, writer.keys)
    reasoning = write_reasoning_bench(out / REASONING_BENCH_DIR, list(DOMAINS.values()), n_bench,
                                      seed, writer.keys)
    manifest = _manifest(size, seed, config, plan, writer, {d: n_bench for d in bench})
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return DemoPool(
        out_dir=out, pool_path=out / POOL_NAME, labels_path=out / LABELS_NAME,
        manifest_path=out / MANIFEST_NAME, bench_paths=tuple(bench.values()), size=size, seed=seed,
        reasoning_bench_paths=tuple(reasoning.values()),
        n_samples=writer.n, defect_counts=manifest["defect_counts"],
        source_counts=manifest["source_counts"], bench_sizes=manifest["bench_sizes"],
        seconds=time.perf_counter() - t0,
    )


def _write_pool(out: Path, plan: Plan, config: DemoConfig, seed: int) -> _Writer:
    # Written under temporary names and renamed at the end: no half-written pool is left.
    tmp_pool, tmp_labels = out / f"{POOL_NAME}.tmp", out / f"{LABELS_NAME}.tmp"
    try:
        with open(tmp_pool, "wb", buffering=1 << 20) as pf, \
                open(tmp_labels, "wb", buffering=1 << 20) as lf:
            writer = _Writer(pf, lf, config, seed)
            for unit in plan.units:
                writer.unit(unit)
        tmp_pool.replace(out / POOL_NAME)
        tmp_labels.replace(out / LABELS_NAME)
    finally:
        tmp_pool.unlink(missing_ok=True)
        tmp_labels.unlink(missing_ok=True)
    return writer


def _manifest(size: str, seed: int, config: DemoConfig, plan: Plan, writer: _Writer,
              bench_sizes: dict[str, int]) -> dict[str, Any]:
    n = writer.n
    counts = {d: writer.defects[d] for d in DEFECTS}
    return {
        "generator": "autosel.pool.demo",
        "version": GENERATOR_VERSION,
        "seed": seed,
        "size": size,
        "n_samples": n,
        "n_prompts": writer.n_prompts,
        "config": config.model_dump(mode="json"),
        "configured_rates": {d: round(r, 6) for d, r in config.rates().items()},
        "defect_counts": counts,
        "defect_rates": {d: round(c / n, 6) for d, c in counts.items()},
        "source_counts": dict(sorted(writer.sources.items())),
        "groups": {"prompts": plan.groups, "samples": plan.grouped_samples,
                   "wrong_answers": plan.wrong_in_groups},
        "bench_sizes": bench_sizes,
        "files": {"pool": POOL_NAME, "labels": LABELS_NAME,
                  "bench": {d: f"{BENCH_DIR}/{d}.jsonl" for d in bench_sizes},
                  "bench_reasoning": {d: f"{REASONING_BENCH_DIR}/{d}.jsonl" for d in bench_sizes}},
    }
