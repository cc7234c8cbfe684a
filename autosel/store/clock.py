"""The database clock, and a timestamp type that means the same on SQLite and PostgreSQL.

Leases are compared against the *database's* clock, never a worker's: workers on many
machines then agree on when a lease expired even if their own clocks drift.

SQLite has no timestamp type; SQLAlchemy stores ``DateTime`` there as text in the form
``YYYY-MM-DD HH:MM:SS.ffffff`` and lease checks compare those strings. :class:`db_now`
renders on SQLite to exactly that form (milliseconds padded to six digits) so a stored
value and "now" compare correctly as text. All timestamps are UTC and timezone-aware in
Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

# SQLAlchemy's own SQLite storage format for DateTime; %f is SS.SSS, so pad with 000.
_SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f000', 'now'{modifier})"


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, and values read back
    get ``tzinfo=UTC`` attached so callers never see a naive datetime.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class db_now(FunctionElement[datetime]):  # noqa: N801 - reads like the SQL function it is
    """The database's current UTC time, optionally shifted by ``seconds`` (a float).

    PostgreSQL: ``now()`` (transaction start; store transactions are short) plus an
    interval. SQLite: ``strftime`` with a ``'+N seconds'`` modifier.
    """

    type = UtcDateTime()
    inherit_cache = True

    def __init__(self, seconds: Any = None) -> None:
        # seconds is a SQL expression (a column) or a number; None means no shift.
        args = () if seconds is None else (literal(seconds) if _is_number(seconds) else seconds,)
        super().__init__(*args)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@compiles(db_now, "postgresql")
def _pg_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    args = list(element.clauses)
    if not args:
        return "now()"
    return f"(now() + make_interval(secs => CAST({compiler.process(args[0], **kw)} AS float8)))"


@compiles(db_now, "sqlite")
def _sqlite_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    args = list(element.clauses)
    if not args:
        return _SQLITE_NOW.format(modifier="")
    secs = compiler.process(args[0], **kw)
    # printf keeps the sign explicit ('+2.000 seconds'), which SQLite's modifiers require.
    return _SQLITE_NOW.format(modifier=f", printf('%+.3f seconds', {secs})")


@compiles(db_now)
def _default_now(element: db_now, compiler: SQLCompiler, **kw: Any) -> str:
    raise NotImplementedError(
        f"db_now is implemented for sqlite and postgresql, not {compiler.dialect.name}"
    )
