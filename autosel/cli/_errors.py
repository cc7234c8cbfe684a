"""Turn any exception that reaches the CLI into one line on stderr and a documented exit code.

Exit codes (also in README, "CLI exit codes"): the ``exit_code`` of an
:class:`~autosel.errors.AutoselError`; ``7`` for a file-system error (permission denied,
read-only file system, disk full, missing file or directory); ``8`` for a database error
(locked, unreachable, corrupt); ``2`` for an invalid setting; ``4`` for undecodable
(non-UTF-8) input; ``1`` for anything else, named by its exception class.
No traceback is printed unless ``AUTOSEL_DEBUG=1`` asks for it (then it precedes the
same one-line message and the exit code does not change).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from autosel.errors import (
    AutoselError,
    DatabaseError,
    InputError,
    StorageError,
    describe_os_error,
)

DEBUG_ENV = "AUTOSEL_DEBUG"
EXIT_UNEXPECTED = 1
EXIT_CONFIG = 2
# A followed search (`run`, `demo`, `search start`, `search resume`) ended failed or
# cancelled: a script must never read a search whose every trial failed as a success.
EXIT_SEARCH_NOT_COMPLETED = 9

_DB_HINTS = (
    # (text in the driver's message, what it means and what to do)
    ("database is locked", "the database is locked by another process; retry when it is done"),
    ("unable to open database file", "the database file cannot be opened or created"),
    ("file is not a database", "the database file is corrupt or not an SQLite database"),
    ("malformed", "the database file is corrupt"),
    ("disk i/o error", "the disk failed while reading or writing the database"),
    ("database or disk is full", "the disk holding the database is full"),
    ("readonly database", "the database file or its directory is read-only"),
    ("connection refused", "the database server is unreachable (connection refused)"),
    ("could not connect", "the database server is unreachable"),
    ("could not translate host name", "the database server's host name does not resolve"),
    ("password authentication failed", "the database server refused the credentials"),
    ("no such table", "the database has no autosel tables (wrong AUTOSEL_DATABASE_URL?)"),
)


def debug_enabled() -> bool:
    """Whether ``AUTOSEL_DEBUG`` asks for tracebacks (``1``, ``true``, ``yes``)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def report(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr (plus its traceback in debug mode); return the
    exit code."""
    if debug_enabled():
        traceback.print_exception(exc, file=sys.stderr)
    message, code = describe(exc)
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return code


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code for an exception."""
    if isinstance(exc, AutoselError):
        return one_line(str(exc)), exc.exit_code
    if isinstance(exc, OSError):
        return describe_os_error(exc, home=_home()), StorageError.exit_code
    db = _database_error_message(exc)
    if db is not None:
        return db, DatabaseError.exit_code
    settings = _settings_error_message(exc)
    if settings is not None:
        return settings, EXIT_CONFIG
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start : exc.start + 1].hex()
        return (
            f"input is not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save it as UTF-8",
            InputError.exit_code,
        )
    if isinstance(exc, EOFError):
        return "unexpected end of input (EOFError)", EXIT_UNEXPECTED
    detail = _first_line(str(exc))
    cls = type(exc)
    name = (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
    return (
        f"unexpected {name}{': ' + detail if detail else ''} "
        f"(set {DEBUG_ENV}=1 to see the traceback)",
        EXIT_UNEXPECTED,
    )


def one_line(message: str) -> str:
    """``message`` on one line: a list under a ``head:`` line joins as ``head: a; b``."""
    lines = [ln.strip() for ln in message.strip().splitlines()]
    lines = [ln for ln in lines if ln and ln != "^"]  # drop YAML's caret marker lines
    out = ""
    for ln in lines:
        sep = "" if not out else " " if out.endswith(":") else "; "
        out += sep + ln
    return out


def _home() -> str | None:
    try:
        from autosel.settings import get_settings

        return str(get_settings().home)
    except Exception:  # noqa: BLE001 - the home only refines the hint
        return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _database_error_message(exc: BaseException) -> str | None:
    """A message for SQLAlchemy's errors, or None if ``exc`` is not one (sqlalchemy is
    imported only when an error needs it: the CLI stays cheap to start)."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    raw = str(exc.orig) if isinstance(exc, DBAPIError) and exc.orig is not None else str(exc)
    raw = _first_line(raw.split("(Background on this error")[0])
    meaning = next((m for key, m in _DB_HINTS if key in raw.lower()), None)
    where = _database_location()
    if "unable to open database file" in raw.lower():
        file = where.split(":///", 1)[1] if ":///" in where else where  # sqlite:///path
        meaning = f"{meaning}: {_sqlite_open_failure(Path(file))}"
    text = f"database error at {where}: {meaning or raw}"
    if meaning is not None and meaning != raw:
        text += f" ({raw})"
    return text + "; check AUTOSEL_DATABASE_URL / AUTOSEL_HOME"


def _sqlite_open_failure(db: Path) -> str:
    """Why SQLite could not open ``db``: its directory is missing or not writable (SQLite
    needs to create its journal files next to the database)."""
    folder = db.parent
    if not folder.is_dir():
        return f"{folder} does not exist"
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable (read-only file system or permissions)"
    return "check the file's permissions"


def _database_location() -> str:
    """The configured database, password hidden."""
    try:
        from autosel.settings import get_settings

        s = get_settings()
        if s.database_url:
            from sqlalchemy.engine import make_url

            return make_url(s.database_url).render_as_string(hide_password=True)
        return str(s.home / "autosel.db")
    except Exception:  # noqa: BLE001 - the location only decorates the message
        return "the configured database"


def _settings_error_message(exc: BaseException) -> str | None:
    """A message for an invalid ``AUTOSEL_*`` variable (pydantic ValidationError)."""
    if not type(exc).__module__.startswith("pydantic"):
        return None
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or not exc.errors():
        return None
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ()))
    if exc.title == "Settings":
        field = f"AUTOSEL_{field.upper()}"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid {exc.title} value {field}: {first.get('msg', '')}{more}"
