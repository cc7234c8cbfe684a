"""Pool ingestion, storage and export (see docs/architecture.md)."""

from autosel.pool.pool import Pool, get_pool, list_pools

__all__ = ["Pool", "get_pool", "list_pools"]
