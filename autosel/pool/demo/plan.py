"""The plan of a demo pool: which units (single samples, groups, duplicates) in which order.

Defect counts are exact (``round(rate * n)``), so realised rates equal the configured
ones up to rounding. Grouped prompts (2-4 responses each) hold only clean and
wrong-answer responses, with at least one correct response per group. Duplicates are
placed after the first clean single sample, so every duplicate has an earlier original.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from autosel.errors import ConfigError
from autosel.pool.demo.config import RATE_FIELDS, DemoConfig

SINGLE_DEFECTS = ("wrong_answer", "truncated", "off_topic", "too_short", "too_long")


@dataclass(frozen=True)
class Unit:
    """``kind`` is ``single`` (with ``defect``), ``group`` (with ``wrong`` flags) or ``dup``
    (with ``defect`` ``exact_duplicate`` or ``near_duplicate``)."""

    kind: str
    defect: str = "clean"
    wrong: tuple[bool, ...] = ()


@dataclass(frozen=True)
class Plan:
    units: tuple[Unit, ...]
    counts: dict[str, int]
    groups: int
    grouped_samples: int
    wrong_in_groups: int


def make_plan(n: int, config: DemoConfig, rng: random.Random) -> Plan:
    """Allocate ``n`` samples to units with exact defect counts, in a random order.

    Raises:
        ConfigError: the rates leave too few single samples to hold the defects.
    """
    counts = {d: round(getattr(config, d) * n) for d in RATE_FIELDS}
    n_dup = counts["exact_duplicate"] + counts["near_duplicate"]
    n_fresh = n - n_dup
    # With 2-4 responses (mean 3) per grouped prompt, prompts = fresh / (1 + 2 * share).
    n_groups = round(config.group_share * n_fresh / (1 + 2 * config.group_share))
    groups = _groups(n_groups, counts["wrong_answer"], config.group_wrong_fraction, rng)
    grouped = sum(len(g.wrong) for g in groups)
    wrong_in_groups = sum(sum(g.wrong) for g in groups)
    singles = [Unit("single", d) for d in SINGLE_DEFECTS
               for _ in range(counts[d] - (wrong_in_groups if d == "wrong_answer" else 0))]
    n_clean_singles = n_fresh - grouped - len(singles)
    if n_clean_singles < 1:
        raise ConfigError(f"the defect rates leave no clean single sample in a pool of {n}; "
                          "lower the rates or group_share")
    units = singles + [Unit("single")] * n_clean_singles + groups
    rng.shuffle(units)
    dups = [Unit("dup", "exact_duplicate")] * counts["exact_duplicate"] + \
        [Unit("dup", "near_duplicate")] * counts["near_duplicate"]
    rng.shuffle(dups)
    ordered = _insert_after_first_clean(units, dups, rng)
    counts["clean"] = n - sum(counts.values())
    return Plan(tuple(ordered), counts, len(groups), grouped, wrong_in_groups)


def _groups(n_groups: int, n_wrong: int, wrong_fraction: float, rng: random.Random) -> list[Unit]:
    sizes = [rng.randint(2, 4) for _ in range(n_groups)]
    # The first response of each group stays correct; wrong ones go to the other slots.
    free = [(g, j) for g, k in enumerate(sizes) for j in range(1, k)]
    n_wrong_g = min(round(wrong_fraction * n_wrong), len(free))
    wrong_slots = set(rng.sample(free, n_wrong_g))
    out = []
    for g, k in enumerate(sizes):
        flags = [(g, j) in wrong_slots for j in range(k)]
        rng.shuffle(flags)  # the correct response need not come first
        out.append(Unit("group", wrong=tuple(flags)))
    return out


def _insert_after_first_clean(units: list[Unit], dups: list[Unit],
                              rng: random.Random) -> list[Unit]:
    first = next(i for i, u in enumerate(units) if u.kind == "single" and u.defect == "clean")
    after = sorted(rng.randint(first, len(units) - 1) for _ in dups)
    out, k = [], 0
    for i, unit in enumerate(units):
        out.append(unit)
        while k < len(after) and after[k] == i:
            out.append(dups[k])
            k += 1
    return out
