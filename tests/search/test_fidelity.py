"""The fidelity ladder: validation, ASHA promotions, the rows a screening run trains on."""

from __future__ import annotations

import pytest

from autosel.errors import ConfigError
from autosel.evaluation.evaluator import fidelity_rows
from autosel.scheduler.spec import SearchSpec
from autosel.search.fidelity import FidelitySpec, RungTrial, promotable, units


def _t(n: int, f: float, score: float | None, parent: int | None = None) -> RungTrial:
    return RungTrial(n, f, score, parent)


def test_asha_promotes_the_top_third_once_each() -> None:
    spec = FidelitySpec(ladder=(0.25, 1.0), eta=3)
    rung0 = [_t(0, 0.25, 0.1), _t(1, 0.25, 0.5), _t(2, 0.25, 0.3)]
    assert promotable(rung0[:2], spec) == []  # fewer than eta scores: nothing yet
    assert promotable(rung0, spec) == [(1, 1.0)]
    assert promotable([*rung0, _t(3, 1.0, 0.6, parent=1)], spec) == []  # already promoted
    more = [*rung0, _t(3, 1.0, None, 1), _t(4, 0.25, 0.9), _t(5, 0.25, 0.2), _t(6, 0.25, None)]
    assert promotable(more, spec) == [(4, 1.0)]  # 5 scored: top 1, trial 1 promoted already
    three = FidelitySpec(ladder=(0.1, 0.3, 1.0), eta=2)
    rungs = [_t(0, 0.1, 0.2), _t(1, 0.1, 0.4), _t(2, 0.3, 0.5, 1), _t(3, 0.3, 0.1, 0)]
    assert promotable(rungs, three) == [(2, 1.0)]  # rung 1 has 2 scores: its best goes up


def test_ties_go_to_the_earlier_trial_and_units_add_fidelities() -> None:
    spec = FidelitySpec(ladder=(0.5, 1.0), eta=2)
    assert promotable([_t(3, 0.5, 0.4), _t(1, 0.5, 0.4)], spec) == [(1, 1.0)]
    assert units([0.25, 0.25, 1.0]) == 1.5


@pytest.mark.parametrize(
    ("ladder", "fragment"),
    [
        ([0.5, 1.5], "above full"),
        ([0.0, 1.0], "accepted 0 < f <= 1.0"),
        ([0.5, 0.25, 1.0], "increase strictly"),
        ([0.5], "last rung must be 1.0"),
        ([], "at least one rung"),
    ],
)
def test_bad_ladders_name_the_field_and_what_is_accepted(ladder, fragment) -> None:
    with pytest.raises(ConfigError, match="fidelity.ladder") as info:
        SearchSpec.parse({"pool": "p", "budget": 8, "fidelity": {"ladder": ladder}})
    assert fragment in str(info.value)


def test_a_budget_too_small_for_the_ladder_is_refused_and_one_rung_is_the_old_search() -> None:
    with pytest.raises(ConfigError, match=r"field 'budget'.*at least 1.75"):
        SearchSpec.parse({"pool": "p", "budget": 1, "fidelity": {"ladder": [0.25, 1.0]}})
    assert not SearchSpec.parse({"pool": "p"}).fidelity.screening


def test_a_screening_run_trains_on_a_seeded_share_of_the_subset() -> None:
    rows = [{"i": i} for i in range(10)]
    assert fidelity_rows(rows, 1.0, 0) is rows
    quarter = fidelity_rows(rows, 0.25, 0)
    assert len(quarter) == 3 and quarter == fidelity_rows(rows, 0.25, 0)
    assert [r["i"] for r in quarter] == sorted(r["i"] for r in quarter)  # original order
    assert fidelity_rows(rows, 0.25, 1) != quarter or fidelity_rows(rows, 0.25, 2) != quarter
    assert len(fidelity_rows(rows[:1], 0.01, 0)) == 1


def test_with_a_step_budget_a_screening_run_takes_fewer_steps_on_the_whole_subset() -> None:
    from autosel.evaluation.evaluator import at_fidelity
    from autosel.evaluation.spec import EvalSpec

    rows = [{"i": i} for i in range(10)]
    steps = EvalSpec(model="m", max_steps=20, fidelity=0.25)
    kept, spec = at_fidelity(rows, steps)
    assert kept is rows and spec.max_steps == 5  # a quarter of the compute, same data
    assert at_fidelity(rows, steps.model_copy(update={"fidelity": 0.01}))[1].max_steps == 1
    epochs = EvalSpec(model="m", fidelity=0.25)  # an epoch budget: a quarter of the rows
    kept, spec = at_fidelity(rows, epochs)
    assert len(kept) == 3 and spec.max_steps is None
    full = EvalSpec(model="m", max_steps=20)
    assert at_fidelity(rows, full) == (rows, full)
