"""Alembic environment of autosel's store.

Two ways in:
- the ``alembic`` command (``alembic upgrade head`` from the repository root): the URL
  is ``AUTOSEL_DATABASE_URL`` / autosel's settings, else ``sqlalchemy.url`` of alembic.ini,
  else the default SQLite database under ``$AUTOSEL_HOME``;
- :func:`autosel.store.engine.upgrade_schema`, which passes an open connection in
  ``config.attributes["connection"]`` and holds the transaction (and the lock) itself.
"""

from __future__ import annotations

from logging.config import fileConfig

from sqlalchemy.engine import Connection

from alembic import context
from autosel.settings import get_settings
from autosel.store.engine import default_url, make_engine
from autosel.store.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("connection") is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    return config.get_main_option("sqlalchemy.url") or default_url(settings)


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        **kwargs,  # type: ignore[arg-type]
    )


def run_offline() -> None:
    url = _url()
    _configure(url=url, literal_binds=True, render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things in place: batch mode copies the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            conn.execution_options(autosel_write=True)
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
