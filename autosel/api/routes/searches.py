"""Searches: create (pool + budget + spec), list, status, trials, best recipe, cancel,
resume, live events (Server-Sent Events) and exports of any trial's subset and recipe."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from autosel.api.deps import SettingsDep, StoreDep, UserAuth
from autosel.api.errors import ApiError
from autosel.api.schemas import ErrorPublic

router = APIRouter(prefix="/v1/searches", tags=["searches"])
ERRORS = {401: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}


class SearchCreate(BaseModel):
    """A search spec (see ``autosel.scheduler.SearchSpec``; README, "Search spec")."""

    model_config = ConfigDict(extra="allow")
    pool: str = Field(description="Pool id, unique prefix or name.")
    budget: int = Field(8, ge=1, le=10_000)
    name: str | None = Field(None, max_length=200)


class SearchPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    state: str
    budget: int
    completed: int
    best_score: float | None


class SearchesPublic(BaseModel):
    data: list[SearchPublic]
    count: int


class TrialsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int


def _summary(store: Any, search_id: str) -> dict[str, Any]:
    from autosel.scheduler.views import search_summary

    return search_summary(store, store.get_search(search_id))


@router.post("", response_model=SearchPublic, status_code=201, responses=ERRORS)
def create(body: SearchCreate, store: StoreDep, settings: SettingsDep, _: UserAuth) -> dict[str, Any]:
    """Create a search; the server's scheduler starts proposing jobs at once."""
    from autosel.scheduler.service import create_search

    record = create_search(store, body.model_dump(exclude_none=True), settings=settings)
    return {**_summary(store, record.id), "spec": record.spec}


@router.get("", response_model=SearchesPublic, responses=ERRORS)
def list_(store: StoreDep, _: UserAuth) -> SearchesPublic:
    """Every search with its state and best score, oldest first."""
    data = [SearchPublic(**_summary(store, s.id)) for s in store.searches()]
    return SearchesPublic(data=data, count=len(data))


@router.get("/{search_id}", response_model=SearchPublic, responses=ERRORS)
def get(search_id: str, store: StoreDep, _: UserAuth) -> dict[str, Any]:
    """Status, progress, best trial, baseline scores and the immutable spec."""
    return {**_summary(store, search_id), "spec": store.get_search(search_id).spec}


@router.get("/{search_id}/trials", response_model=TrialsPublic, responses=ERRORS)
def trials(search_id: str, store: StoreDep, _: UserAuth) -> TrialsPublic:
    """Every trial: recipe, origin, predicted vs actual, per-benchmark scores, cost."""
    from autosel.scheduler.views import trial_rows

    store.get_search(search_id)
    rows = trial_rows(store, search_id)
    return TrialsPublic(data=rows, count=len(rows))


@router.post("/{search_id}/cancel", response_model=SearchPublic, responses=ERRORS)
def cancel(search_id: str, store: StoreDep, _: UserAuth) -> dict[str, Any]:
    """Stop a search: queued jobs are cancelled, running ones are signalled."""
    report = store.cancel_search(search_id)
    store.append_event("search_cancelled", {"cancelled": list(report.cancelled),
                                            "signalled": list(report.signalled)}, search_id=search_id)
    return _summary(store, search_id)


@router.post("/{search_id}/resume", response_model=SearchPublic, responses={**ERRORS, 409: {"model": ErrorPublic}})
def resume(search_id: str, store: StoreDep, _: UserAuth) -> dict[str, Any]:
    """Continue a failed search from its trial history (cancelled searches stay cancelled)."""
    search = store.get_search(search_id)
    if search.state != "failed":
        raise ApiError(409, "invalid_state", f"search is {search.state}; only a failed search can be resumed")
    store.set_search_state(search_id, "running")
    store.append_event("search_resumed", {}, search_id=search_id)
    return _summary(store, search_id)


def _trial(store: Any, search_id: str, number: int | None) -> dict[str, Any]:
    from autosel.scheduler.views import best_trial, trial_rows

    rows = trial_rows(store, search_id)
    row = best_trial(rows) if number is None else next((r for r in rows if r["number"] == number), None)
    if row is None:
        what = "no completed trial yet" if number is None else f"no trial number {number}"
        raise ApiError(404, "not_found", f"search {search_id}: {what}", field="trial")
    return row


@router.get("/{search_id}/recipe", response_class=PlainTextResponse, responses=ERRORS)
def recipe(search_id: str, store: StoreDep, _: UserAuth,
           trial: Annotated[int | None, Query(ge=0, description="Trial number (default: the best).")] = None
           ) -> PlainTextResponse:
    """The recipe of the best (or any) trial as YAML."""
    import yaml

    row = _trial(store, search_id, trial)
    text = yaml.safe_dump(row["recipe"], sort_keys=False)
    return PlainTextResponse(text, media_type="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="recipe-{search_id[:8]}-{row["number"]}.yaml"'})


@router.get("/{search_id}/export", responses={**ERRORS, 200: {"content": {"application/x-ndjson": {}}}})
def export(search_id: str, store: StoreDep, settings: SettingsDep, _: UserAuth,
           format: Literal["chat", "alpaca", "sharegpt"] = "chat",
           trial: Annotated[int | None, Query(ge=0, description="Trial number (default: the best).")] = None
           ) -> StreamingResponse:
    """The subset of the best (or any) trial as JSONL, sample ids kept."""
    import orjson

    from autosel.pool import get_pool
    from autosel.pool.export import CONVERTERS
    from autosel.scheduler.subsets import load_subset

    row = _trial(store, search_id, trial)
    pool = get_pool(store.get_search(search_id).pool_id or "", settings)
    indices = load_subset(settings, row["fingerprint"])
    convert = CONVERTERS[format]

    def lines():  # type: ignore[no-untyped-def]
        for r in pool.rows(indices):
            yield orjson.dumps(convert(r)) + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": f'attachment; filename="subset-{search_id[:8]}-{row["number"]}.{format}.jsonl"'})


@router.get("/{search_id}/events", responses={**ERRORS, 200: {"content": {"text/event-stream": {}}}})
async def events(request: Request, search_id: str, store: StoreDep, _: UserAuth,
                 follow: bool = True, since: Annotated[int, Query(ge=0)] = 0,
                 last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """Live updates as Server-Sent Events (``follow=false``: the backlog, then close)."""
    store.get_search(search_id)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else since

    async def stream():  # type: ignore[no-untyped-def]
        cursor = start
        while True:
            batch = await asyncio.to_thread(store.events, cursor, search_id=search_id, limit=500)
            for ev in batch:
                cursor = ev.id
                data = json.dumps({"kind": ev.kind, "at": ev.created_at.isoformat(), "trial_id": ev.trial_id,
                                   "job_id": ev.job_id, "data": ev.data})
                yield f"id: {ev.id}\nevent: {ev.kind}\ndata: {data}\n\n"
            if not follow and not batch:
                return
            if not batch:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                await asyncio.sleep(1.0)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
