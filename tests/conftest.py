"""Suite-wide test setup.

Every test session gets its own ``AUTOSEL_HOME`` (tests never touch ``~/.autosel``), and
one shared model cache (``AUTOSEL_MODELS_CACHE``) so the embedded model is converted from
GGUF at most once per session, whatever home a test directory picks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from autosel.settings import Settings

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="autosel-tests-"))
_MEASURED: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    os.environ["AUTOSEL_HOME"] = str(_SESSION_ROOT / "home")
    os.environ.setdefault("AUTOSEL_MODELS_CACHE", str(_SESSION_ROOT / "models"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MEASURED:
        terminalreporter.section("measured figures")
        for line in _MEASURED:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def measured() -> Callable[[str], None]:
    """``measured(line)`` records a figure a slow test measured (training results, times);
    the lines are printed in the terminal summary, so CI logs keep them."""
    return _MEASURED.append


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty AUTOSEL_HOME for one test."""
    return Settings(home=tmp_path / "home")
