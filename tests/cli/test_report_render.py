"""The final report as the CLI prints it: no winner without its CI, words for a covered 0."""

from __future__ import annotations

import numpy as np

from autosel.cli import _common
from autosel.cli.search import print_report
from autosel.evaluation.stats import Arm, compare


def _arm(name: str, shift: float, label: str = "") -> Arm:
    rng = np.random.default_rng(len(name))
    base = np.clip(rng.normal(0.5, 0.2, size=(2, 90)) + shift, -1, 1)
    return Arm(name, {"rules": base}, {"rules": 1.0}, label=label)


def _report(comparisons: list[dict]) -> dict:
    arm_rows = [
        {"key": k, "name": k, "size": 100, "planned": 2, "replicates": 2,
         "test_utility": 0.5, "test_se": 0.05}
        for k in ("best", "full pool", "random subset")
    ]
    return {
        "status": "complete",
        "report": {
            "best": None, "arms": arm_rows, "missing": [], "flat_warning": None,
            "seed_variance": {"value": 0.004, "df": 3, "measured": True, "source": "replicates"},
            "comparisons": comparisons,
        },
    }


def test_every_verdict_line_carries_its_ci(capsys) -> None:  # type: ignore[no-untyped-def]
    full = _arm("full pool", 0.0, "the full pool")
    rand = _arm("random subset", 0.0, "random subsets of the same size")
    clear = compare(_arm("best", 0.4), full, seed_var=0.004, seed_dof=3)
    covered = compare(_arm("best", 0.01), rand, seed_var=0.004, seed_dof=3)
    assert clear.verdict == "better" and covered.verdict == "not distinguishable"
    width = _common.console.width
    _common.console.width = 400  # one comparison per line
    try:
        print_report(_report([clear.to_dict(), covered.to_dict()]))
    finally:
        _common.console.width = width
    out = capsys.readouterr().out
    verdict_lines = [ln for ln in out.splitlines() if " − " in ln]
    assert len(verdict_lines) == 2
    for line in verdict_lines:
        assert "95% CI" in line, line
    assert "better than the full pool" in verdict_lines[0]
    assert "not distinguishable from random subsets of the same size" in verdict_lines[1]
    # the dev score is never shown as a test result
    assert "test utility ± SE" in out
