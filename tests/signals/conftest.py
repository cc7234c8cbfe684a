"""Signals test fixtures: one session AUTOSEL_HOME (set by tests/conftest.py), so the embedded
model is converted once, one fp32 model load, and a small hand-made pool."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.pool.pool import Pool
from autosel.settings import Settings

QUESTIONS = [
    ("What is 2 plus 3?", "2 plus 3 equals 5. The answer is 5."),
    ("Name a primary colour.", "Red is a primary colour."),
    ("Is 7 prime? Explain briefly.", "Yes. 7 has no divisors other than 1 and 7, so it is prime."),
    ("Translate 'bonjour' to English.", "Hello."),
    ("Sum the numbers 1 to 4.", "1 + 2 + 3 + 4 = 10, so the sum is 10."),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Give the empty answer.", ""),
    ("Count to three.", "One, two, three."),
]


@pytest.fixture(scope="session")
def session_settings() -> Settings:
    return Settings()  # AUTOSEL_HOME of the test session


@pytest.fixture(scope="session")
def fp32_model():
    """The embedded model in fp32 on CPU (exact comparisons), loaded once."""
    from autosel.base_model import load_model

    return load_model("smollm2", device="cpu", dtype="fp32")


def write_pool_file(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps(
            {
                "id": f"s{i}",
                "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}],
            }
        )
        for i, (q, a) in enumerate(pairs)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def small_pool(tmp_path_factory: pytest.TempPathFactory, session_settings: Settings) -> Pool:
    from autosel.pool.ingest import add_pool

    f = write_pool_file(tmp_path_factory.mktemp("pool") / "small.jsonl", QUESTIONS)
    return add_pool(f, settings=session_settings).pool


@pytest.fixture(scope="session")
def questions() -> list[tuple[str, str]]:
    return list(QUESTIONS)
