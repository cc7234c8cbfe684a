"""per_prompt_topk (the HES paper's RFT selection) on a tiny pool whose answer is known.

    row  prompt  correct  HES
    0    A       yes      5
    1    A       yes      9
    2    A       yes      7
    3    B       yes      1
    4    B       no       100   (rejected: incorrect, however high its HES)
    5    C       no       3     (C has no correct response)
    6    C       no       4
    7    D       yes      8
    8    D       yes      6
    9    -       unknown  2     (no group: its own prompt; unlabelled counts as correct)

k = 2, per prompt: A keeps 9 and 7 (rows 1, 2), B keeps its one correct response (3),
C none, D both (7, 8), the lone row 9 itself: 6 rows. The global scope keeps the same
number, 2 + 1 + 0 + 2 + 1 = 6, by HES over every eligible row: 9 8 7 6 5 2, so row 0 (A's
third) replaces row 3 (B's only) -- not k x 5 prompts = 10 and not k x 4 eligible prompts.
"""

from __future__ import annotations

import numpy as np
import pytest

from autosel.ops import SubsetView, get_operator
from autosel.ops.view import PoolColumns
from autosel.recipes import step_rng

GROUPS = ["A", "A", "A", "B", "B", "C", "C", "D", "D", None]
CORRECT = [True, True, True, True, False, False, False, True, True, None]
HES = np.array([5, 9, 7, 1, 100, 3, 4, 8, 6, 2], dtype=np.float64)


class HesOnly:
    """The one signal per_prompt_topk reads: the cached ``hes`` column."""

    names = ["hes"]

    def column(self, name: str) -> np.ndarray:
        assert name == "hes"
        return HES


def run(params: dict, rows: list[int] | None = None) -> tuple[list[int], dict[str, int]]:
    pool = PoolColumns.from_arrays([f"r{i}" for i in range(10)], groups=GROUPS, correct=CORRECT)
    idx = np.arange(10, dtype=np.int64) if rows is None else np.array(rows, dtype=np.int64)
    view = SubsetView(idx, pool, HesOnly())  # type: ignore[arg-type]  # a one-column source
    op = get_operator("per_prompt_topk")
    kept, stats = op.apply(view, op.parse(params), step_rng(0, "0" * 64, 0))
    return kept.tolist(), stats.reasons


def test_per_prompt_keeps_the_top_k_correct_responses_of_each_prompt() -> None:
    kept, reasons = run({"k": 2})
    assert kept == [1, 2, 3, 7, 8, 9]
    assert reasons["incorrect"] == 3 and sum(reasons.values()) == 4


def test_global_scope_keeps_the_same_number() -> None:
    kept, reasons = run({"k": 2, "scope": "global"})
    assert kept == [0, 1, 2, 7, 8, 9]
    assert reasons["incorrect"] == 3 and "outside the global top 6 by HES" in reasons


@pytest.mark.parametrize("k", [1, 2, 3, 16])
@pytest.mark.parametrize("require_correct", [True, False])
def test_scopes_are_volume_matched(k: int, require_correct: bool) -> None:
    for rows in (None, [0, 1, 3, 4, 5, 9], [4, 5, 6]):
        per, _ = run({"k": k, "require_correct": require_correct}, rows)
        glob, _ = run({"k": k, "require_correct": require_correct, "scope": "global"}, rows)
        assert len(per) == len(glob), (k, require_correct, rows)


def test_k1_without_correctness_is_the_best_response_of_every_prompt() -> None:
    kept, _ = run({"k": 1, "require_correct": False})
    assert kept == [1, 4, 6, 7, 9]  # A: 9, B: 100, C: 4, D: 8, lone row
