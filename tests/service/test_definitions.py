"""Each concept has one definition that every front end reads: the budget's default and
bounds, the job/trial/search state names, and a trial's public shape."""

from __future__ import annotations

from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET


def test_budget_default_and_bounds_are_defined_once() -> None:
    from autosel.api.schemas import SearchCreate
    from autosel.scheduler.spec import SearchSpec
    from autosel.search.strategy import SearchKnobs

    spec = SearchSpec.parse({"pool": "p"})
    assert spec.budget == spec.search_knobs.budget == SearchKnobs().budget == DEFAULT_BUDGET
    assert SearchCreate(pool="p").budget == DEFAULT_BUDGET
    for model in (SearchSpec, SearchKnobs, SearchCreate):
        bounds = {type(m).__name__: m for m in model.model_fields["budget"].metadata}
        assert bounds["Ge"].ge == 1 and bounds["Le"].le == MAX_BUDGET, model
