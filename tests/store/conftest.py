"""Store fixtures: every backend, each test on its own empty database.

PostgreSQL is a real server: one throwaway cluster per session from Debian's package
binaries, started on 127.0.0.1 and stopped at the end (see autosel.store.testing). Where
the binaries are missing the postgres tests skip, except under CI (env ``CI`` set), where
they fail: CI must never pass by skipping the PostgreSQL half.

Reliability tests record their figures through the ``figures`` fixture; they are printed
in the terminal summary.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autosel.store import SqlStore
from autosel.store.testing import TempPostgres, find_pg_bin

_FIGURES: list[str] = []
_db_numbers = itertools.count()


def report(line: str) -> None:
    """Record a measured figure for the terminal summary."""
    _FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("job store figures")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def figures() -> Callable[[str], None]:
    """``figures(line)`` records a measured figure for the terminal summary."""
    return report


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempPostgres]:
    """A private PostgreSQL server for the session."""
    if find_pg_bin() is None:
        reason = (
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
            "install Debian's postgresql package"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and postgres tests cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture()
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a new, empty database (no schema) on the test's backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    server: TempPostgres = request.getfixturevalue("pg_server")
    return server.create_database(f"t{os.getpid()}_{next(_db_numbers)}")


@pytest.fixture()
def store(db_url: str) -> Iterator[SqlStore]:
    """A migrated store on an empty database."""
    s = SqlStore(db_url)
    try:
        yield s
    finally:
        s.close()
