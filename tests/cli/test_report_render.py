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


def test_followed_trials_print_their_progress_throttled(monkeypatch) -> None:
    """A running trial prints its training steps and scored benchmarks: a line when a
    phase starts or ends, and in between at most one per PROGRESS_SECONDS."""
    from types import SimpleNamespace

    import autosel.cli.search as search_cli

    clock = [0.0]
    monkeypatch.setattr(search_cli.time, "monotonic", lambda: clock[0])

    def ev(kind: str, data: dict, **refs: object) -> SimpleNamespace:
        return SimpleNamespace(kind=kind, data=data, trial_id=refs.get("trial_id", 7),
                               job_id=refs.get("job_id", 3))

    show = search_cli.event_printer()
    with _common.console.capture() as cap:
        show(ev("trial_proposed", {"number": 2, "origin": "warmup", "size": 10}))
        for step, t in [(0, 0), (1, 1), (2, 2), (3, 31), (4, 32), (40, 33)]:
            clock[0] = float(t)
            show(ev("job.progress", {"job_kind": "sft", "unit": "training steps",
                                     "done": step, "total": 40}))
        show(ev("job.progress", {"job_kind": "sft", "unit": "benchmarks scored",
                                 "done": 0, "total": 2}))
    lines = [x.strip() for x in cap.get().splitlines() if "trial 2:" in x]
    assert lines == [
        "trial 2: training steps 0/40",  # the phase starts
        "trial 2: training steps 3/40",  # 30 s later
        "trial 2: training steps 40/40",  # the phase ends
        "trial 2: benchmarks scored 0/2",  # the next phase starts
    ]
