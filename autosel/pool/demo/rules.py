"""The *rules* demo pool: short rule-based transformations where the data choice matters.

Why this pool exists (measured, see README "Results"): on the reasoning demo pool a 135M
model cannot compute the answers in a few LoRA steps, so clean and defective training
data score alike and every search is flat. Here each task is a short transformation with
a fixed answer format (sort numbers ascending, reverse a word list, rewrite an ISO date
as day/month/year) that SmolLM2-135M learns in one epoch of a few hundred samples, and
the main defect teaches a *systematic wrong rule* (descending order, a rotation instead
of a reversal, month/day swapped). A model trained on the full pool learns a mix of the
two rules; a model trained on the clean part learns the right one.

Defects (hidden labels in ``labels.jsonl``; operators never read them):

- ``wrong_rule`` — the answer follows the task's wrong rule. A faulty upstream generator
  produced them, and a mirror repeated that batch: each wrong-rule prompt appears
  ``1 + wrong_copies`` times (half the copies verbatim, the others with the prompt
  reworded), so near-duplicate clustering (``minhash_dedup``, ``exact_dedup``) is the signal
  that finds most of them. Base-model NLL/entropy do not: the wrong rules are as
  plausible to an untrained 135M model as the right ones (AUC ≈ 0.5, README).
- ``off_topic`` — chit-chat that ignores the request (found by length, lexical entropy,
  relevance).
- ``truncated`` — the answer is cut after its first item (found by length).
- ``duplicate`` — an exact copy of a clean sample (harmless; keeps dedup honest: it
  removes clean rows too).

Benchmarks ``bench/<task>.jsonl``: multiple choice between the right answer, the
wrong-rule answer and a third plausible answer (the input left unchanged, or a mixed
format), scored by log-likelihood (``mc_prob``: probability of the right answer among the
choices; paired across models and continuous). Questions are new to the pool.
``clean_ids.txt`` lists the clean samples: the *oracle-clean* reference of the final
report, built from the hidden labels (a ceiling, not something a recipe can read).
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from autosel.errors import ConfigError
from autosel.pool.demo.config import stream

RULES_SIZES = {"small": 240, "medium": 2_000, "large": 20_000}
RULES_BENCH_SIZE = {"small": 60, "medium": 100, "large": 200}
WORDS = ["apple", "river", "stone", "cloud", "tiger", "lamp", "forest", "candle", "mirror", "garden", "window", "rocket", "violin", "pepper", "island", "silver", "desert", "planet", "bridge", "engine", "pillow", "castle", "harbor", "meadow"]
OFF_TOPIC = (
    "What a lovely question! I hope you are having a wonderful day.",
    "Thanks for asking. I really enjoy chatting about all sorts of things.",
    "Sure! By the way, have you tried the new cafe downtown? The coffee is great.",
    "I am not sure, but the weather has been really nice this week.",
    "Interesting! Let me know if there is anything else I can help you with.",
)


@dataclass(frozen=True)
class RuleItem:
    """One task instance: prompt variants, right / wrong-rule / third answers."""

    task: str
    prompts: tuple[str, ...]  # the first is canonical; others are rewordings for copies
    answer: str
    wrong: str
    third: str


def _sort(r: random.Random) -> RuleItem:
    nums = r.sample(range(10, 100), r.randint(4, 6))
    while nums in (sorted(nums), sorted(nums, reverse=True)):  # the three choices must differ
        r.shuffle(nums)
    listed = " ".join(map(str, nums))
    return RuleItem(
        "sort",
        (
            f"Sort these numbers in ascending order: {listed}",
            f"Sort the following numbers in ascending order: {listed}",
            f"Please sort these numbers in ascending order: {listed}",
        ),
        " ".join(map(str, sorted(nums))),
        " ".join(map(str, sorted(nums, reverse=True))),
        listed,
    )


def _reverse(r: random.Random) -> RuleItem:
    words = r.sample(WORDS, r.randint(4, 6))
    listed = " ".join(words)
    return RuleItem(
        "reverse",
        (
            f"Reverse the order of these words: {listed}",
            f"Reverse the order of the following words: {listed}",
            f"Please reverse the order of these words: {listed}",
        ),
        " ".join(reversed(words)),
        " ".join(words[1:] + words[:1]),
        listed,
    )


def _date(r: random.Random) -> RuleItem:
    y, m, d = r.randint(1950, 2049), r.randint(1, 12), r.randint(13, 28)
    iso = f"{y}-{m:02d}-{d:02d}"
    return RuleItem(
        "date",
        (
            f"Rewrite the date {iso} as day/month/year.",
            f"Rewrite the following date as day/month/year: {iso}",
            f"Please rewrite the date {iso} as day/month/year.",
        ),
        f"{d:02d}/{m:02d}/{y}",
        f"{m:02d}/{d:02d}/{y}",
        f"{y}/{d:02d}/{m:02d}",
    )


TASKS: dict[str, Callable[[random.Random], RuleItem]] = {
    "sort": _sort,
    "reverse": _reverse,
    "date": _date,
}
ANSWER_PREFIX = "Answer: "


@dataclass(frozen=True)
class RulesPool:
    """Where a rules demo pool was written, and what it holds."""

    out_dir: Path
    pool_path: Path
    labels_path: Path
    clean_ids_path: Path
    manifest_path: Path
    bench_paths: tuple[Path, ...]
    n_samples: int
    defect_counts: dict[str, int]


def _defect_plan(n: int, rates: dict[str, float], copies: int, rng: random.Random) -> list[str]:
    """One label per *unit* (a wrong-rule unit is 1 + copies samples), shuffled."""
    n_wrong_units = round(n * rates["wrong_rule"] / (1 + copies))
    n_off = round(n * rates["off_topic"])
    n_trunc = round(n * rates["truncated"])
    n_dup = round(n * rates["duplicate"])
    n_clean = n - n_wrong_units * (1 + copies) - n_off - n_trunc - n_dup
    if n_clean < n // 3:
        raise ConfigError(f"defect rates leave {n_clean} clean samples of {n}; keep ≥ 1/3 clean")
    units = (["wrong_rule"] * n_wrong_units + ["off_topic"] * n_off + ["truncated"] * n_trunc
             + ["clean"] * n_clean)
    rng.shuffle(units)
    # Duplicates copy an earlier clean sample: insert them after the first clean unit.
    first_clean = units.index("clean") + 1
    for _ in range(n_dup):
        units.insert(rng.randint(first_clean, len(units)), "duplicate")
    return units


def generate_rules_pool(
    out_dir: str | os.PathLike[str],
    size: str = "small",
    seed: int = 0,
    *,
    wrong_rule: float = 0.40,
    wrong_copies: int = 3,
    exact_copy_share: float = 0.5,
    off_topic: float = 0.06,
    truncated: float = 0.06,
    duplicate: float = 0.04,
    bench_size: int | None = None,
) -> RulesPool:
    """Write the rules demo pool, labels, clean ids, benchmarks and manifest to ``out_dir``.

    Args:
        size: ``small`` (240 samples, the CPU demo), ``medium`` (2k) or ``large`` (20k).
        seed: the same seed writes byte-identical files.
        wrong_rule: share of samples (copies included) answering by the wrong rule.
        wrong_copies: extra copies of each wrong-rule sample (the mirrored batch).
        exact_copy_share: share of those copies that are verbatim (the rest reword the
            prompt: near duplicates that only MinHash clustering finds).
        off_topic, truncated, duplicate: shares of the other defects.
        bench_size: items per task benchmark (default by size); split dev/test later by id.

    Raises:
        ConfigError: an unknown size or rates that leave less than a third clean.
    """
    if size not in RULES_SIZES:
        raise ConfigError(f"unknown demo size '{size}'; accepted: {', '.join(RULES_SIZES)}")
    for name, rate in (("wrong_rule", wrong_rule), ("off_topic", off_topic),
                       ("truncated", truncated), ("duplicate", duplicate)):
        if not 0.0 <= rate <= 0.6:
            raise ConfigError(f"demo option {name}={rate}: accepted 0 ≤ rate ≤ 0.6")
    if not 0 <= wrong_copies <= 10:
        raise ConfigError(f"demo option wrong_copies={wrong_copies}: accepted 0..10")
    if not 0.0 <= exact_copy_share <= 1.0:
        raise ConfigError(f"demo option exact_copy_share={exact_copy_share}: accepted 0..1")
    n = RULES_SIZES[size]
    rates = {"wrong_rule": wrong_rule, "off_topic": off_topic, "truncated": truncated,
             "duplicate": duplicate}
    copies = {"wrong_copies": wrong_copies, "exact_copy_share": exact_copy_share}
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    units = _defect_plan(n, rates, wrong_copies, stream(seed, "rules", "plan"))
    problems, text = stream(seed, "rules", "problems"), stream(seed, "rules", "text")
    task_names = sorted(TASKS)
    seen: set[str] = set()
    records: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    clean_recs: list[dict[str, Any]] = []

    def fresh_item() -> RuleItem:
        task = task_names[len(seen) % len(task_names)]
        for _ in range(1000):
            item = TASKS[task](problems)
            if item.prompts[0] not in seen:
                seen.add(item.prompts[0])
                return item
        raise RuntimeError(f"{task}: no new question after 1000 draws")

    def emit(prompt: str, response: str, task: str, defect: str, dup_of: str | None) -> dict:
        rec = {"id": f"rules-{len(records):06d}", "prompt": prompt, "response": response,
               "source": task, "metadata": {"task": task}}
        records.append(rec)
        labels.append({"id": rec["id"], "defect": defect, "duplicate_of": dup_of})
        return rec

    for unit in units:
        if unit == "duplicate":
            orig = clean_recs[text.randrange(len(clean_recs))]
            emit(orig["prompt"], orig["response"], orig["source"], "duplicate", orig["id"])
            continue
        item = fresh_item()
        if unit == "clean":
            clean_recs.append(emit(item.prompts[0], ANSWER_PREFIX + item.answer, item.task,
                                   "clean", None))
        elif unit == "off_topic":
            emit(item.prompts[0], text.choice(OFF_TOPIC), item.task, "off_topic", None)
        elif unit == "truncated":
            emit(item.prompts[0], ANSWER_PREFIX + item.answer.split(" ")[0].split("/")[0],
                 item.task, "truncated", None)
        else:  # wrong_rule: the original and its mirrored copies (some reworded)
            first = emit(item.prompts[0], ANSWER_PREFIX + item.wrong, item.task,
                         "wrong_rule", None)
            for _ in range(wrong_copies):
                exact = text.random() < exact_copy_share
                prompt = item.prompts[0] if exact else text.choice(item.prompts[1:])
                emit(prompt, first["response"], item.task, "wrong_rule", first["id"])
    bench_paths = _write_bench(out / "bench", task_names, bench_size or RULES_BENCH_SIZE[size],
                               seed, seen)
    return _write_files(out, records, labels, bench_paths, size, seed, rates, copies)


def _write_bench(bench_dir: Path, tasks: list[str], k: int, seed: int,
                 pool_prompts: set[str]) -> tuple[Path, ...]:
    bench_dir.mkdir(parents=True, exist_ok=True)
    rng = stream(seed, "rules", "bench")
    paths = []
    for task in tasks:
        lines: list[dict[str, Any]] = []
        used = set(pool_prompts)
        while len(lines) < k:
            item = TASKS[task](rng)
            if item.prompts[0] in used:
                continue
            used.add(item.prompts[0])
            choices = [ANSWER_PREFIX + c for c in (item.answer, item.wrong, item.third)]
            order = list(range(3))
            rng.shuffle(order)
            lines.append({"id": f"{task}-{len(lines):04d}", "question": item.prompts[0],
                          "answer": choices[0], "choices": [choices[i] for i in order],
                          "metadata": {"task": task}})
        path = bench_dir / f"{task}.jsonl"
        _atomic_write(path, b"".join(orjson.dumps(x) + b"\n" for x in lines))
        paths.append(path)
    return tuple(paths)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _write_files(out: Path, records: list[dict[str, Any]], labels: list[dict[str, Any]],
                 bench_paths: tuple[Path, ...], size: str, seed: int, rates: dict[str, float],
                 copies: dict[str, float]) -> RulesPool:
    counts = Counter(lab["defect"] for lab in labels)
    clean_ids = [lab["id"] for lab in labels if lab["defect"] == "clean"]
    _atomic_write(out / "pool.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in records))
    _atomic_write(out / "labels.jsonl", b"".join(orjson.dumps(x) + b"\n" for x in labels))
    _atomic_write(out / "clean_ids.txt", ("\n".join(clean_ids) + "\n").encode())
    manifest = {
        "generator": "autosel.pool.demo.rules", "version": 1, "size": size, "seed": seed,
        "n_samples": len(records), "configured_rates": rates, **copies,
        "defect_counts": dict(sorted(counts.items())),
        "defect_rates": {k: round(v / len(records), 6) for k, v in sorted(counts.items())},
        "source_counts": dict(sorted(Counter(r["source"] for r in records).items())),
        "files": {"pool": "pool.jsonl", "labels": "labels.jsonl", "clean_ids": "clean_ids.txt",
                  "bench": {p.stem: f"bench/{p.name}" for p in bench_paths}},
    }
    _atomic_write(out / "demo_manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return RulesPool(out_dir=out, pool_path=out / "pool.jsonl", labels_path=out / "labels.jsonl",
                     clean_ids_path=out / "clean_ids.txt",
                     manifest_path=out / "demo_manifest.json", bench_paths=bench_paths,
                     n_samples=len(records), defect_counts=dict(sorted(counts.items())))
