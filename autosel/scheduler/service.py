"""Creating searches: the one path the CLI, the API and `autosel run` share."""

from __future__ import annotations

from typing import Any

from autosel.errors import ConfigError
from autosel.scheduler.spec import SearchSpec
from autosel.settings import Settings, get_settings
from autosel.store import PoolRecord, SearchRecord, Store


def register_pool(store: Store, pool: Any) -> PoolRecord:
    """Record a stored pool in the store's catalog (idempotent: pools are content-addressed)."""
    return store.put_pool(PoolRecord(id=pool.pool_id, name=pool.name, content_hash=pool.content_hash,
                                     rows=len(pool), path=str(pool.path), manifest=pool.manifest))


def create_search(store: Store, spec: SearchSpec | dict[str, Any], *,
                  settings: Settings | None = None, name: str | None = None) -> SearchRecord:
    """Validate ``spec`` against what exists and store a new search.

    Checks before anything is stored: the spec's fields, that the pool exists, that each
    benchmark file exists, and that each seed recipe parses. The stored spec names the
    pool by its full id, so later renames or prefixes cannot change what it means.

    Raises:
        ConfigError / NotFoundError: naming the field that is wrong.
    """
    from autosel.pool import get_pool
    from autosel.recipes.model import recipe_from_data

    settings = settings or get_settings()
    spec = spec if isinstance(spec, SearchSpec) else SearchSpec.parse(spec)
    pool = get_pool(spec.pool, settings)
    for i, bench in enumerate(spec.eval.benchmarks):
        if not bench.path.is_file():
            raise ConfigError(f"search spec: field 'eval.benchmarks[{i}].path': no file at {bench.path}")
    for i, rec in enumerate(spec.seed_recipes):
        try:
            recipe_from_data(rec)
        except Exception as exc:  # noqa: BLE001 - re-raised with the field named
            raise ConfigError(f"search spec: field 'seed_recipes[{i}]': {exc}") from None
    spec = spec.model_copy(update={"pool": pool.pool_id})
    register_pool(store, pool)
    record = store.create_search(name or spec.name or f"search on {pool.name}", spec.to_json(),
                                 pool_id=pool.pool_id)
    store.append_event("search_created", {"budget": spec.budget, "pool_id": pool.pool_id},
                       search_id=record.id)
    return record
