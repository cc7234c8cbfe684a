"""The vocabulary clients share with the server: state names and their groups, and the
budget's limits, so the dashboard reads them instead of spelling them again."""

from __future__ import annotations

from fastapi import APIRouter

from autosel.api.deps import UserAuth
from autosel.api.schemas import ErrorPublic, MetaPublic
from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET
from autosel.store import records as r

router = APIRouter(prefix="/v1", tags=["meta"])


@router.get("/meta", response_model=MetaPublic, responses={401: {"model": ErrorPublic}})
def meta(_: UserAuth) -> MetaPublic:
    """Job, search and trial state names with their groups, and the budget's limits."""
    return MetaPublic.model_validate(
        {
            "job_states": {
                "all": r.JOB_STATES,
                "active": r.ACTIVE_JOB_STATES,
                "final": r.FINAL_JOB_STATES,
            },
            "search_states": {"all": r.SEARCH_STATES, "final": r.FINAL_SEARCH_STATES},
            "trial_states": {
                "all": r.TRIAL_STATES,
                "open": r.OPEN_TRIAL_STATES,
                "final": r.FINAL_TRIAL_STATES,
                "scored": r.SCORED_TRIAL_STATE,
            },
            "budget": {"default": DEFAULT_BUDGET, "max": MAX_BUDGET},
        }
    )
