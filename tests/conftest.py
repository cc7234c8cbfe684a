"""Suite-wide test setup.

Every test session gets its own ``AUTOSEL_HOME`` (tests never touch ``~/.autosel``), and
one shared model cache (``AUTOSEL_MODELS_CACHE``) so the embedded model is converted from
GGUF at most once per session, whatever home a test directory picks.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from autosel.settings import Settings

_SESSION_ROOT = Path(tempfile.mkdtemp(prefix="autosel-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    os.environ["AUTOSEL_HOME"] = str(_SESSION_ROOT / "home")
    os.environ.setdefault("AUTOSEL_MODELS_CACHE", str(_SESSION_ROOT / "models"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh, empty AUTOSEL_HOME for one test."""
    return Settings(home=tmp_path / "home")
