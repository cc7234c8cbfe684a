"""Pool ingestion, storage and export (layer 2 of DESIGN.md)."""

from autosel.pool.pool import Pool, get_pool, list_pools

__all__ = ["Pool", "get_pool", "list_pools"]
