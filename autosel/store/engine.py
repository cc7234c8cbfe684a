"""Engines for the store (SQLite and PostgreSQL) and schema migration on open.

SQLite is set up for several processes sharing one file: WAL journal (readers never block
the writer), a busy timeout (a writer waits for the lock instead of failing at once),
foreign keys on, and write transactions that start with ``BEGIN IMMEDIATE`` so they take
the write lock up front and never deadlock upgrading a read lock.

:func:`upgrade_schema` brings a database to the newest Alembic revision under a lock
(``pg_advisory_xact_lock`` on PostgreSQL, the SQLite write lock), so many processes may
open a fresh database at once and only one of them creates the schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from autosel.errors import ConfigError
from autosel.settings import Settings, get_settings

# Repository root: alembic.ini and alembic/ live next to the autosel package.
_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_DIR = _ROOT / "alembic"
# Any constant works; it only has to be the same for every autosel process.
_MIGRATION_LOCK_KEY = 0x6175746F73656C  # "autosel"

DEFAULT_BUSY_TIMEOUT_MS = 10_000


def default_url(settings: Settings | None = None) -> str:
    """``AUTOSEL_DATABASE_URL`` if set, else SQLite at ``$AUTOSEL_HOME/autosel.db``."""
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{settings.home / 'autosel.db'}"


def make_engine(url: str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> Engine:
    """An engine for a SQLite or PostgreSQL URL, configured for the job store.

    Args:
        url: SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://...``).
        busy_timeout_ms: SQLite only: how long a writer waits for the lock before the
            statement fails with "database is locked".

    Raises:
        ConfigError: unsupported or malformed URL.
    """
    try:
        parsed = make_url(url)
    except Exception as err:  # sqlalchemy raises ArgumentError; say what is accepted
        raise ConfigError(
            f"database_url {url!r} is not a SQLAlchemy URL; use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST:PORT/DB"
        ) from err
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(url, parsed.database, busy_timeout_ms)
    if backend == "postgresql":
        # pre_ping costs a round trip per transaction, but without it the first statement
        # on each pooled connection after a server restart fails, in every caller.
        return create_engine(
            url, pool_pre_ping=True, pool_size=4, max_overflow=4, skip_autocommit_rollback=True
        )
    raise ConfigError(
        f"database_url {url!r}: backend {backend!r} is not supported; use sqlite or postgresql"
    )


def _sqlite_engine(url: str, database: str | None, busy_timeout_ms: int) -> Engine:
    memory = database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {}
    if memory:
        # One connection shared by all threads, or every connection sees its own database.
        kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)  # type: ignore[arg-type]  # not None: None is in-memory
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys = ON")
        if not memory:
            cur.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable across process crashes in WAL mode (only power loss can
            # drop the last commits) and saves an fsync per commit.
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("autosel_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def alembic_config(url: str | None = None) -> Any:
    """An Alembic ``Config`` for the migrations in ``alembic/`` (no ini file needed)."""
    from alembic.config import Config

    if not ALEMBIC_DIR.is_dir():
        raise ConfigError(
            f"migrations not found at {ALEMBIC_DIR}: autosel's store needs the alembic/ "
            "directory of the source tree (install from a checkout with pip install -e)"
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "alembic/versions has no revision"
    return head


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(engine: Engine) -> bool:
    """Upgrade the database to the head revision if it is behind. Returns True if it was.

    Safe to run from many processes at once: the check is repeated under a lock.
    """
    from alembic import command

    head = head_revision()
    with engine.connect() as conn:
        if current_revision(conn) == head:
            return False
        conn.rollback()
        conn.execution_options(autosel_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
            if current_revision(conn) == head:
                return False
            cfg = alembic_config()
            # env.py runs the migrations on this connection, inside this transaction.
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    return True
