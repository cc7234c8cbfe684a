"""Searches: create (pool + budget + spec), list, status, trials, best recipe, final
report, cancel, resume, live events (Server-Sent Events, of one search or of all) and
exports of any trial's subset and recipe."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import PlainTextResponse, StreamingResponse

from autosel.api.deps import SettingsDep, StoreDep, UserAuth
from autosel.api.errors import ApiError
from autosel.api.openapi import NDJSON_200, SSE_200
from autosel.api.readcache import SearchReadCache
from autosel.api.schemas import (
    CompositionPublic,
    DiagnosticsPublic,
    ErrorPublic,
    SearchCreate,
    SearchesPublic,
    SearchPublic,
    SearchReportPublic,
    TrialsPublic,
)
from autosel.errors import NotFoundError
from autosel.store import Store

router = APIRouter(prefix="/v1/searches", tags=["searches"])
MAX_ID = 2**63 - 1  # the database's integer range: larger ids cannot exist
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic}, 404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}
}


def _cache(request: Request) -> SearchReadCache:
    return request.app.state.read_cache


CacheDep = Annotated[SearchReadCache, Depends(_cache)]


def _search_id(search_id: str, store: StoreDep) -> str:
    """The ``{search_id}`` path segment as a full id: an id, a unique id prefix (at least
    6 characters) or a unique search name, as the CLI accepts (404 otherwise)."""
    return store.resolve_search_id(search_id)


# Every "/{search_id}" route takes this: the path segment, resolved to the full id.
SearchId = Annotated[str, Depends(_search_id)]


def _summary(cache: SearchReadCache, search_id: str) -> dict[str, Any]:
    return cache.get(search_id).summary


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _resume_from(last_event_id: str | None, since: int | None) -> int | None:
    """The stream's start: a reconnecting client's ``Last-Event-ID`` wins over ``since``."""
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():  # not '²'
        return min(int(last_event_id), MAX_ID)
    return since


def _event_stream(
    request: Request, store: Store, start: int, *, follow: bool, search_id: str | None
) -> StreamingResponse:
    """Events after ``start`` as SSE: of one search, or (``search_id=None``) of every search."""

    async def stream():
        cursor = start
        while True:
            batch = await asyncio.to_thread(store.events, cursor, search_id=search_id, limit=500)
            for ev in batch:
                cursor = ev.id
                if ev.search_id is None:
                    continue
                data = json.dumps(
                    {
                        "kind": ev.kind,
                        "at": ev.created_at.isoformat(),
                        "search_id": ev.search_id,
                        "trial_id": ev.trial_id,
                        "job_id": ev.job_id,
                        "data": ev.data,
                    }
                )
                yield f"id: {ev.id}\nevent: {ev.kind}\ndata: {data}\n\n"
            if not follow and not batch:
                return
            if not batch:
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                await asyncio.sleep(1.0)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _parse_spec(data: dict[str, Any]) -> Any:
    """The search spec, or a 422 naming the first wrong field's path (every one in details)."""
    from pydantic import ValidationError

    from autosel.api.errors import field_path
    from autosel.evaluation.spec import format_validation_error
    from autosel.scheduler.spec import SearchSpec

    try:
        return SearchSpec.model_validate(data, context={"stored": False})
    except ValidationError as exc:
        errors = exc.errors()
        raise ApiError(
            422,
            "invalid_config",
            f"search spec: {format_validation_error(exc)}",
            field=field_path(tuple(errors[0]["loc"])) if errors else None,
        ) from None


@router.post(
    "",
    response_model=SearchPublic,
    status_code=201,
    responses={**ERRORS, 403: {"model": ErrorPublic}},
)
def create(
    body: SearchCreate, store: StoreDep, cache: CacheDep, settings: SettingsDep, _: UserAuth
) -> dict[str, Any]:
    """Create a search; the server's scheduler starts proposing jobs at once.

    Every path the spec names (benchmark files, model directories, reference id files)
    must lie inside the server's data root (models: also a model root); otherwise 403
    ``path_not_allowed``. The pool is named by id, unique id prefix or name."""
    from autosel.service import create_search

    spec = _parse_spec(body.model_dump(exclude_none=True))
    record = create_search(store, spec, settings=settings, confine_paths=True)
    return {**_summary(cache, record.id), "spec": record.spec}


@router.get("", response_model=SearchesPublic, responses=ERRORS)
def list_(store: StoreDep, cache: CacheDep, _: UserAuth) -> SearchesPublic:
    """Every search with its state and best score, oldest first."""
    data = [SearchPublic(**_summary(cache, s.id)) for s in store.searches()]
    return SearchesPublic(data=data, count=len(data))


# Declared before "/{search_id}" so that "events" is never taken for a search id.
@router.get("/events", responses={**ERRORS, **SSE_200})
async def list_events(
    request: Request,
    store: StoreDep,
    _: UserAuth,
    follow: bool = True,
    since: Annotated[
        int | None,
        Query(ge=0, le=MAX_ID, description="Replay events after this id (default: from now)."),
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Live updates of every search as Server-Sent Events (the dashboard's list page).

    The same events as ``/{search_id}/events``, each naming its ``search_id``; events
    that belong to no search (tokens, worker registrations) are left out. Without
    ``since`` or ``Last-Event-ID`` the stream starts at the newest event: open it, then
    read ``GET /v1/searches``, and no change is missed in between.
    """
    start = _resume_from(last_event_id, since)
    if start is None:
        start = await asyncio.to_thread(store.last_event_id)
    return _event_stream(request, store, start, follow=follow, search_id=None)


# The two polling routes return the cache's ready bytes: re-validating and re-encoding a
# few hundred trial rows per poll would cost more than everything else in the request.
@router.get("/{search_id}", response_model=SearchPublic, responses=ERRORS)
def get(search_id: SearchId, cache: CacheDep, _: UserAuth) -> Response:
    """Status, progress, best trial (by dev score) and the immutable spec."""
    return _json(cache.get(search_id).summary_json)


@router.get("/{search_id}/trials", response_model=TrialsPublic, responses=ERRORS)
def trials(search_id: SearchId, cache: CacheDep, _: UserAuth) -> Response:
    """Every trial: recipe, origin, predicted vs actual, per-benchmark scores, cost."""
    return _json(cache.get(search_id).trials_json)


@router.get("/{search_id}/report", response_model=SearchReportPublic, responses=ERRORS)
def report(search_id: SearchId, store: StoreDep, _: UserAuth) -> dict[str, Any]:
    """The final report on the test split: best recipe, full pool, random subsets and
    references re-trained with fresh seeds, each difference with a 95% CI and a verdict;
    or, before it exists, which report runs are still running."""
    from autosel.service import search_report

    return search_report(store, search_id)


@router.get("/{search_id}/diagnostics", response_model=DiagnosticsPublic, responses=ERRORS)
def diagnostics(
    search_id: SearchId, store: StoreDep, settings: SettingsDep, _: UserAuth
) -> dict[str, Any]:
    """What the surrogate believes: leave-one-out predicted vs actual dev scores, the
    importance of each GP input, and the dev utility curve against the full pool."""
    from autosel.service.diagnostics import search_diagnostics

    return search_diagnostics(store, search_id, settings=settings)


@router.post(
    "/{search_id}/cancel",
    response_model=SearchPublic,
    responses={**ERRORS, 409: {"model": ErrorPublic}},
)
def cancel(search_id: SearchId, store: StoreDep, cache: CacheDep, _: UserAuth) -> dict[str, Any]:
    """Stop a search: queued jobs are cancelled, running ones are signalled."""
    from autosel.service import cancel_search

    cancel_search(store, search_id)
    return _summary(cache, search_id)


@router.post(
    "/{search_id}/resume",
    response_model=SearchPublic,
    responses={**ERRORS, 409: {"model": ErrorPublic}},
)
def resume(search_id: SearchId, store: StoreDep, cache: CacheDep, _: UserAuth) -> dict[str, Any]:
    """Continue a failed search from its trial history (cancelled searches stay cancelled)."""
    from autosel.service import resume_search

    resume_search(store, search_id)
    return _summary(cache, search_id)


def _find(
    store: Store, cache: SearchReadCache, search_id: str, number: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Trial ``number`` (default: the best) and every trial row, from the read cache."""
    from autosel.service import find_trial

    rows = cache.get(search_id).rows  # an unknown search is a plain 404
    try:
        return find_trial(store, search_id, number, rows=rows), rows
    except NotFoundError as e:  # name the query parameter that found nothing
        raise ApiError(404, "not_found", str(e), field="trial") from None


TrialQuery = Annotated[
    int | None, Query(ge=0, le=2**31, description="Trial number (default: the best).")
]


_STEP = {
    "type": "object",
    "required": ["operator", "params"],
    "properties": {"operator": {"type": "string"}, "params": {"type": "object"}},
}
YAML_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The recipe as a YAML document (what `autosel recipe run` reads).",
        "content": {
            "application/yaml": {
                "schema": {
                    "type": "object",
                    "required": ["steps"],
                    "properties": {
                        "name": {"type": "string"},
                        "description": {"type": "string"},
                        "steps": {"type": "array", "items": _STEP},
                    },
                }
            }
        },
    }
}


# No response_class: it would document the JSON errors as text/plain too.
@router.get("/{search_id}/recipe", response_model=None, responses={**ERRORS, **YAML_200})
def recipe(
    search_id: SearchId, store: StoreDep, cache: CacheDep, _: UserAuth, trial: TrialQuery = None
) -> PlainTextResponse:
    """The recipe of the best (or any) trial as YAML."""
    from autosel.service import recipe_yaml

    row = _find(store, cache, search_id, trial)[0]
    return PlainTextResponse(
        recipe_yaml(row),
        media_type="application/yaml",
        headers={
            "Content-Disposition": "attachment; "
            f'filename="recipe-{search_id[:8]}-{row["number"]}.yaml"'
        },
    )


@router.get("/{search_id}/export", responses={**ERRORS, **NDJSON_200})
def export(
    search_id: SearchId,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    _: UserAuth,
    format: Literal["chat", "alpaca", "sharegpt"] = "chat",
    trial: TrialQuery = None,
) -> StreamingResponse:
    """The subset of the best (or any) trial as JSONL, sample ids kept."""
    from autosel.pool.export import jsonl_lines
    from autosel.service import export_subset

    row, rows = _find(store, cache, search_id, trial)
    sub = export_subset(store, search_id, row["number"], settings=settings, rows=rows)
    return StreamingResponse(
        jsonl_lines(sub.records(), format),
        media_type="application/x-ndjson",
        headers={
            "Content-Disposition": "attachment; "
            f'filename="subset-{search_id[:8]}-{row["number"]}.{format}.jsonl"'
        },
    )


@router.get("/{search_id}/composition", response_model=CompositionPublic, responses=ERRORS)
def composition(
    search_id: SearchId,
    store: StoreDep,
    cache: CacheDep,
    settings: SettingsDep,
    _: UserAuth,
    trial: TrialQuery = None,
) -> CompositionPublic:
    """Rows per source of the best (or any) trial's subset against the whole pool."""
    from autosel.api.composition import source_composition
    from autosel.service import export_subset

    row, rows = _find(store, cache, search_id, trial)
    sub = export_subset(store, search_id, row["number"], settings=settings, rows=rows)
    return CompositionPublic(trial=row["number"], **source_composition(sub.pool, sub.indices))


@router.get("/{search_id}/events", responses={**ERRORS, **SSE_200})
async def events(
    request: Request,
    search_id: SearchId,
    store: StoreDep,
    _: UserAuth,
    follow: bool = True,
    since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Live updates as Server-Sent Events (``follow=false``: the backlog, then close)."""
    start = _resume_from(last_event_id, since) or 0
    return _event_stream(request, store, start, follow=follow, search_id=search_id)
