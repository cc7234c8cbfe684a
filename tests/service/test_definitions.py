"""Each concept has one definition that every front end reads: the budget's default and
bounds, the job/trial/search state names, and a trial's public shape."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

import autosel.api
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


def test_state_names_are_served_to_the_dashboard(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from autosel.api import create_app
    from autosel.settings import Settings
    from autosel.store import records

    client = TestClient(create_app(Settings(home=tmp_path)), base_url="http://localhost")
    meta = client.get("/v1/meta").json()
    assert meta["trial_states"]["all"] == list(get_args(records.TrialState))
    assert meta["trial_states"]["final"] == list(records.FINAL_TRIAL_STATES)
    assert meta["trial_states"]["scored"] == "complete"
    assert meta["search_states"]["final"] == ["completed", "failed", "cancelled"]
    assert meta["job_states"]["all"] == list(get_args(records.JobState))
    assert meta["budget"] == {"default": DEFAULT_BUDGET, "max": MAX_BUDGET}
    js = (Path(autosel.api.__file__).parent / "static" / "app.js").read_text()
    assert '"/v1/meta"' in js
    for name in ("complete", "completed", "cancelled", "pending", "succeeded"):
        # (the report's own ``status: "complete"`` is not a state and may be spelled)
        assert f't.state === "{name}"' not in js and f'"{name}", "failed"' not in js, name


def test_a_trial_row_is_exactly_the_public_trial_schema() -> None:
    """The rows the API, ``search show --json`` and the dashboard get are built by one
    function and have exactly the fields of one schema (no field only one of them has)."""
    from datetime import UTC, datetime

    from autosel.api.schemas import TrialPublic
    from autosel.scheduler.views import trial_rows
    from autosel.store import TrialRecord

    now = datetime.now(UTC)
    trial = TrialRecord(
        1,
        "s",
        0,
        {"steps": []},
        "h",
        "fp",
        (0.5,),
        None,
        "warmup",
        None,
        "pending",
        None,
        now,
        None,
    )

    class OneTrial:
        def jobs(self, **_: Any) -> list[Any]:
            return []

        def results(self, **_: Any) -> list[Any]:
            return []

        def trials(self, _: str) -> list[Any]:
            return [trial]

    (row,) = trial_rows(OneTrial(), "s")  # type: ignore[arg-type]
    assert set(row) == set(TrialPublic.model_fields)
    assert TrialPublic.model_validate(row).model_dump(mode="json") == row
    with pytest.raises(ValidationError, match="surprise"):  # closed: a new field needs the schema
        TrialPublic.model_validate({**row, "surprise": 1})
