"""Pool actions: register a pool file (both front ends); record a pool in a store's catalog."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from autosel.settings import Settings, get_settings
from autosel.store import PoolRecord, Store

if TYPE_CHECKING:
    from autosel.pool.ingest import IngestResult


def record_pool(store: Store, pool: Any) -> PoolRecord:
    """Record a stored pool in the store's catalog (idempotent: pools are content-addressed)."""
    return store.put_pool(
        PoolRecord(
            id=pool.pool_id,
            name=pool.name,
            content_hash=pool.content_hash,
            rows=len(pool),
            path=str(pool.path),
            manifest=pool.manifest,
        )
    )


def register_pool(
    path: str | os.PathLike[str],
    *,
    settings: Settings | None = None,
    fmt: str = "auto",
    container: str = "auto",
    name: str | None = None,
    skip_invalid: bool = False,
    field_map: str | dict[str, str] | None = None,
) -> IngestResult:
    """Ingest the file (or ``save_to_disk`` directory) at ``path`` into the pool store.

    ``field_map`` (``{canonical: source}`` or ``"canonical=source,..."``) names the
    record fields to read as the canonical ones (:func:`autosel.pool.formats.parse_field_map`).

    Registering the same content twice returns the same pool (``created`` False). Where
    the file may come from is the caller's decision: the API confines it to the server's
    data root before calling, the CLI takes any local file. The database is not touched:
    a search records its pool in the store's catalog when it is created
    (:func:`record_pool`), so ``autosel pool add`` works before any database exists.

    Raises:
        InputError: naming the file, line/record and field of the first bad record; nothing
            is stored then.
    """
    from autosel.pool.ingest import add_pool

    return add_pool(
        path,
        fmt=fmt,
        container=container,
        name=name,
        skip_invalid=skip_invalid,
        field_map=field_map,
        settings=settings or get_settings(),
    )
