"""Pools: upload (streamed, size-limited), register a server-side path, list, stats, export."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from autosel.api.deps import SettingsDep, UserAuth
from autosel.api.errors import ApiError, post_only
from autosel.api.openapi import NDJSON_200
from autosel.api.schemas import (
    ErrorPublic,
    FormatName,
    PoolCreated,
    PoolPublic,
    PoolRegister,
    PoolsPublic,
    PoolStats,
)
from autosel.errors import InputError, StorageError, describe_os_error
from autosel.paths import confine, data_roots
from autosel.pool.pool import Pool, find_pool
from autosel.settings import Settings

router = APIRouter(prefix="/v1/pools", tags=["pools"])

ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic}, 422: {"model": ErrorPublic}}
# What an upload may declare as its Content-Type. Anything else (text/plain or a form, the
# types a page of another site can send without asking) is refused with 415.
UPLOAD_TYPES = (
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/x-ndjson",
    "application/jsonl",
    "application/json",
    "application/vnd.apache.parquet",
)
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _public(pool: Pool) -> PoolPublic:
    m = pool.manifest
    return PoolPublic(
        pool_id=pool.pool_id,
        name=pool.name,
        rows=len(pool),
        format=m.get("format"),
        created_at=m.get("created_at"),
        source_counts=m.get("source_counts", {}),
        skipped=m.get("skipped", 0),
        content_hash=pool.content_hash,
    )


def _created(res) -> PoolCreated:
    return PoolCreated(**_public(res.pool).model_dump(), created=res.created)


@router.get("", response_model=PoolsPublic)
def list_(settings: SettingsDep, _: UserAuth) -> PoolsPublic:
    """Stored pools, oldest first."""
    from autosel.pool import list_pools

    pools = [_public(p) for p in list_pools(settings)]
    return PoolsPublic(data=pools, count=len(pools))


def _check_disk(settings: Settings, incoming: int) -> None:
    """507 when writing ``incoming`` more bytes would leave less than the minimum free
    (``settings.pools_dir`` must exist)."""
    free = shutil.disk_usage(settings.pools_dir).free
    if free - incoming < settings.min_free_disk_bytes:
        raise ApiError(
            507,
            "insufficient_storage",
            f"not enough free disk for this upload ({free / 1e6:.0f} MB free, "
            f"{settings.min_free_disk_bytes / 1e6:.0f} MB must stay free)",
        )


@router.post(
    "/upload",
    response_model=PoolCreated,
    status_code=201,
    responses={
        **ERRORS,
        413: {"model": ErrorPublic},
        415: {"model": ErrorPublic},
        507: {"model": ErrorPublic},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {t: _BINARY for t in UPLOAD_TYPES}}
    },
)
async def upload(
    request: Request,
    settings: SettingsDep,
    _: UserAuth,
    name: Annotated[str | None, Query(max_length=200)] = None,
    format: FormatName = "auto",
    skip_invalid: bool = False,
    map: Annotated[  # noqa: A002 - the public parameter name, as the CLI's --map
        str | None,
        Query(
            max_length=2000,
            description="Field map CANONICAL=SOURCE,... e.g. question=problem,answer=solution.",
        ),
    ] = None,
) -> PoolCreated:
    """Upload a pool file as the raw request body (JSONL, .jsonl.gz, JSON array or Parquet).

    The Content-Type must be one of the declared binary types (415 otherwise). The body is
    streamed to a temporary file and refused (413) as soon as it exceeds
    ``AUTOSEL_MAX_UPLOAD_BYTES``, or (507) as soon as it would leave less free disk than
    ``AUTOSEL_MIN_FREE_DISK_BYTES`` (checked as it streams, chunked uploads included);
    a refused upload leaves nothing behind.
    """
    from starlette.concurrency import run_in_threadpool

    from autosel.service import register_pool

    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in UPLOAD_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"upload Content-Type {media[:100]!r} is not accepted: send the file as the body "
            f"with one of {', '.join(UPLOAD_TYPES)}",
            field="content-type",
        )
    limit = settings.max_upload_bytes
    declared = int(request.headers.get("content-length") or 0)
    if declared > limit:
        raise ApiError(
            413, "too_large", f"upload of {declared} bytes exceeds the limit of {limit} bytes"
        )
    try:
        settings.pools_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", dir=settings.pools_dir)
    except OSError as e:  # read-only or unwritable home: a 507, not a traceback
        raise StorageError(describe_os_error(e, home=settings.home)) from None
    tmp = Path(tmp_name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as f:
            _check_disk(settings, declared)
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "too_large", f"upload exceeds the limit of {limit} bytes")
                _check_disk(settings, len(chunk))  # a chunked upload declares no length
                f.write(chunk)
        if size == 0:
            raise ApiError(
                422,
                "invalid_input",
                "empty upload: send the pool file as the request body",
                field="body",
            )
        try:
            res = await run_in_threadpool(
                register_pool,
                tmp,
                fmt=format,
                name=name or "upload",
                skip_invalid=skip_invalid,
                field_map=map,
                settings=settings,
            )
        except InputError as e:  # name the upload, not the server's temporary file
            raise InputError(
                e.message,
                path=f"upload '{name or 'body'}'",
                line=e.line,
                field=e.field,
                unit=e.unit,
            ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return _created(res)


@router.post(
    "/register",
    response_model=PoolCreated,
    status_code=201,
    responses={**ERRORS, 403: {"model": ErrorPublic}},
)
def register(body: PoolRegister, settings: SettingsDep, _: UserAuth) -> PoolCreated:
    """Ingest a file already on the server, or a Hugging Face ``save_to_disk`` directory:
    the path (relative to the data root, or absolute) must resolve, symlinks followed, to
    one inside ``AUTOSEL_DATA_ROOT``; otherwise 403 ``path_not_allowed``, the same answer
    whether it is missing or outside. ``map`` renames fields as the CLI's ``--map``."""
    from autosel.service import register_pool

    candidate = confine(body.path, data_roots(settings), field="path", kind="file_or_dir")
    res = register_pool(
        candidate,
        fmt=body.format,
        name=body.name,
        skip_invalid=body.skip_invalid,
        field_map=body.map,
        settings=settings,
    )
    return _created(res)


post_only(router, "/upload")
post_only(router, "/register")


@router.get("/{pool_id}", response_model=PoolPublic, responses=ERRORS)
def get(pool_id: str, settings: SettingsDep, _: UserAuth) -> PoolPublic:
    """One pool."""
    return _public(find_pool(pool_id, settings))


@router.get("/{pool_id}/stats", response_model=PoolStats, responses=ERRORS)
def stats(pool_id: str, settings: SettingsDep, _: UserAuth) -> dict[str, Any]:
    """Summary statistics: sources, lengths, groups, difficulty."""
    return find_pool(pool_id, settings).stats()


@router.get("/{pool_id}/export", responses={**ERRORS, **NDJSON_200})
def export(
    pool_id: str,
    settings: SettingsDep,
    _: UserAuth,
    format: Literal["chat", "alpaca", "sharegpt"] = "chat",
) -> StreamingResponse:
    """The whole pool as JSONL in chat, Alpaca or ShareGPT form (ids kept)."""
    from autosel.pool.export import jsonl_lines

    pool = find_pool(pool_id, settings)
    return StreamingResponse(
        jsonl_lines(pool.rows(), format),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{pool.pool_id}.{format}.jsonl"'},
    )
