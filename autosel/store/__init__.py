"""The store: the only part of autosel that writes SQL.

``open_store()`` opens the store named by ``AUTOSEL_DATABASE_URL`` (default: SQLite at
``$AUTOSEL_HOME/autosel.db``) and runs ``alembic upgrade head`` on it when it is behind,
so a fresh database is usable at once; it does nothing to a database that is current.
Opening is cheap enough for every process (worker, API, CLI) to do it at start-up.
"""

from __future__ import annotations

from autosel.settings import Settings
from autosel.store.base import InvalidStateError, LeaseLostError, Store
from autosel.store.engine import default_url
from autosel.store.records import (
    CancelReport,
    EventRecord,
    JobProgress,
    JobRecord,
    JobResult,
    JobSpec,
    PoolRecord,
    RequeueReport,
    ResultRecord,
    SearchRecord,
    TokenRecord,
    TrialRecord,
    TrialSpec,
    WorkerRecord,
)
from autosel.store.sql import SqlStore


def open_store(
    url: str | None = None, *, settings: Settings | None = None, migrate: bool = True
) -> SqlStore:
    """Open (and, unless ``migrate=False``, upgrade to the newest schema) the store.

    Args:
        url: SQLAlchemy URL; default from ``settings`` (``AUTOSEL_DATABASE_URL``, else
            SQLite at ``$AUTOSEL_HOME/autosel.db``).
        settings: settings to read the default from (default: the environment's).
        migrate: run ``alembic upgrade head`` if the database is behind.
    """
    return SqlStore(url or default_url(settings), migrate=migrate)


__all__ = [
    "CancelReport",
    "EventRecord",
    "InvalidStateError",
    "JobProgress",
    "JobRecord",
    "JobResult",
    "JobSpec",
    "LeaseLostError",
    "PoolRecord",
    "RequeueReport",
    "ResultRecord",
    "SearchRecord",
    "SqlStore",
    "Store",
    "TokenRecord",
    "TrialRecord",
    "TrialSpec",
    "WorkerRecord",
    "open_store",
]
