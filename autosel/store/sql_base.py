"""Plumbing shared by the SQL store's halves: transactions, row conversion, upserts, events.

Statements use SQLAlchemy Core against the tables of :mod:`autosel.store.models`;
results leave as frozen records built from the row mappings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, Insert, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from autosel.store import models as m
from autosel.store.engine import DEFAULT_BUSY_TIMEOUT_MS, make_engine, upgrade_schema

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R", bound="DataclassInstance")


def _table(model: type[m.Base]) -> Table:
    """The Core table behind a declarative model (SQLAlchemy types it as a ``FromClause``)."""
    table = model.__table__
    if not isinstance(table, Table):  # pragma: no cover - every model here is one table
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


POOLS = _table(m.Pool)
SEARCHES = _table(m.Search)
TRIALS = _table(m.Trial)
JOBS = _table(m.Job)
RESULTS = _table(m.Result)
WORKERS = _table(m.Worker)
TOKENS = _table(m.ApiToken)
EVENTS = _table(m.Event)

# Built once: parameters passed at execution skip per-call statement construction.
_INSERT_EVENT = insert(EVENTS)

# Record fields that are tuples in Python and JSON arrays in the database.
_TUPLE_FIELDS = frozenset({"state_vector", "scopes"})
_FLOAT_TYPES = frozenset({"float", "float | None"})


def to_record(cls: type[R], row: Any) -> R:
    """Build the frozen record ``cls`` from a result row (extra columns are ignored)."""
    mapping: Mapping[str, Any] = row._mapping
    values = {}
    for f in dataclasses.fields(cls):
        value = mapping[f.name]
        if value is None:
            pass
        elif f.name in _TUPLE_FIELDS:
            value = tuple(value)
        elif f.type in _FLOAT_TYPES:
            # SQLite's RETURNING hands back REAL 1.0 as int 1.
            value = float(value)
        values[f.name] = value
    return cls(**values)


def canonical_hash(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class SqlBase:
    """Engine, transactions and helpers; :class:`~autosel.store.sql.SqlStore` builds on it.

    Args:
        url: SQLAlchemy URL, ``sqlite:///PATH`` or ``postgresql+psycopg://...``.
        migrate: run ``alembic upgrade head`` if the database is behind (default). With
            False the schema must already be current.
        busy_timeout_ms: SQLite only: how long a writer waits for the file lock.
    """

    def __init__(
        self, url: str, *, migrate: bool = True, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    ) -> None:
        self.url = url
        self.engine: Engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        self.dialect = self.engine.dialect.name
        if migrate:
            upgrade_schema(self.engine)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # On SQLite: BEGIN IMMEDIATE (take the write lock now, see engine.py).
        with self.engine.connect() as conn:
            conn.execution_options(autosel_write=True)
            with conn.begin():
                yield conn

    def _upsert(self, table: Table, values: dict[str, Any], key: str) -> Insert:
        """INSERT ... ON CONFLICT (key) DO UPDATE, in the dialect's own syntax."""
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        stmt = dialect_insert(table).values(**values)
        update = {k: stmt.excluded[k] for k in values if k != key}
        return stmt.on_conflict_do_update(index_elements=[key], set_=update)

    @staticmethod
    def _log(conn: Connection, kind: str, data: dict[str, Any] | None = None, **refs: Any) -> None:
        """Append an event in the caller's transaction (so the log matches the state)."""
        conn.execute(_INSERT_EVENT, {"kind": kind, "data": data or {}, **refs})

    @staticmethod
    def _log_many(conn: Connection, events: list[dict[str, Any]]) -> None:
        if events:
            conn.execute(_INSERT_EVENT, events)
