"""Alembic migrations: from an empty database to head, no drift from the models, on every
backend; the ``alembic`` command from the repository root; ``open_store`` defaults."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from alembic import command
from autosel.store import SqlStore, open_store
from autosel.store.engine import (
    alembic_config,
    current_revision,
    head_revision,
    make_engine,
    upgrade_schema,
)
from autosel.store.models import Base
from autosel.store.testing import TempPostgres

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"pools", "searches", "trials", "jobs", "results", "workers",
          "api_tokens", "events", "alembic_version"}


def test_upgrade_head_on_empty_database_matches_the_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert upgrade_schema(engine) is True
        assert upgrade_schema(engine) is False  # already at head: a no-op
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            assert set(inspect(conn).get_table_names()) == TABLES
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations drifted apart: {diff}"
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url: str) -> None:
    SqlStore(db_url).close()
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "base")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        assert upgrade_schema(engine) is True
    finally:
        engine.dispose()


def test_0003_renames_pruned_trials_cancelled_and_back(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0002")
    engine = make_engine(db_url)
    insert_search = (
        "INSERT INTO searches (id, name, spec, spec_hash, state, created_at, updated_at) "
        "VALUES ('s1', 's', '{}', 'h', 'cancelled', :t, :t)"
    )
    insert_trial = (
        "INSERT INTO trials (search_id, number, recipe, recipe_hash, fingerprint, "
        "state_vector, origin, state, created_at) "
        "VALUES ('s1', :n, '{}', 'r', 'f', '[]', 'warmup', :state, :t)"
    )
    now = "2026-12-02 00:00:00+00:00"
    states = "SELECT state FROM trials ORDER BY number"
    try:
        with engine.begin() as conn:
            conn.execute(text(insert_search), {"t": now})
            for n, state in enumerate(["pruned", "complete"]):
                conn.execute(text(insert_trial), {"n": n, "state": state, "t": now})
        assert upgrade_schema(engine) is True
        with engine.connect() as conn:
            assert conn.execute(text(states)).scalars().all() == ["cancelled", "complete"]
        with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
            conn.execute(text(insert_trial), {"n": 2, "state": "pruned", "t": now})
        command.downgrade(cfg, "0002")
        with engine.connect() as conn:
            assert conn.execute(text(states)).scalars().all() == ["pruned", "complete"]
    finally:
        engine.dispose()


def test_0004_drops_the_unused_signal_sets_table_and_back(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.upgrade(cfg, "0003")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert "signal_sets" in inspect(conn).get_table_names()
        command.upgrade(cfg, "0004")
        with engine.connect() as conn:
            assert "signal_sets" not in inspect(conn).get_table_names()
        command.downgrade(cfg, "0003")
        with engine.connect() as conn:
            assert "signal_sets" in inspect(conn).get_table_names()
            assert {i["name"] for i in inspect(conn).get_indexes("signal_sets")} == {
                "ix_signal_sets_pool_id"
            }
    finally:
        engine.dispose()


def _open(url: str) -> None:
    SqlStore(url).close()


def test_concurrent_first_opens_migrate_once(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_open, args=(db_url,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert current_revision(conn) == head_revision()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_alembic_command_from_repo_root(pg_server: TempPostgres) -> None:
    url = pg_server.create_database("alembic_cli")
    env = {**os.environ, "AUTOSEL_DATABASE_URL": url}
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "current"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0 and f"{head_revision()} (head)" in proc.stdout, proc.stderr


def test_open_store_defaults_to_sqlite_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AUTOSEL_DATABASE_URL", raising=False)
    store = open_store()
    try:
        assert store.url == f"sqlite:///{tmp_path / 'home' / 'autosel.db'}"
        assert (tmp_path / "home" / "autosel.db").is_file()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert store.pools() == []
    finally:
        store.close()


def test_open_store_reads_the_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    monkeypatch.setenv("AUTOSEL_DATABASE_URL", url)
    store = open_store()
    store.close()
    assert store.url == url and (tmp_path / "elsewhere.db").is_file()


def test_bad_urls_are_reported_with_what_is_accepted() -> None:
    from autosel.errors import ConfigError

    with pytest.raises(ConfigError, match="postgresql"):
        open_store("mysql://u@h/db")
    with pytest.raises(ConfigError, match="not a SQLAlchemy URL"):
        open_store("not a url")
