"""``autosel signals compute --bench/--bench-test/--test-fraction``: the benchmark specs
relevance gets, and clear errors for malformed options."""

from __future__ import annotations

from pathlib import Path

import pytest

from autosel.cli.signals import _parse_bench
from autosel.errors import ConfigError


def test_bench_options_become_benchmark_specs() -> None:
    specs = _parse_bench(["a=dev_a.jsonl", "b=b.jsonl"], ["a=test_a.jsonl"], 0.3)
    assert sorted(specs) == ["a", "b"]
    assert (specs["a"].path, specs["a"].test_path) == (Path("dev_a.jsonl"), Path("test_a.jsonl"))
    assert specs["b"].test_path is None and specs["b"].test_fraction == 0.3
    assert _parse_bench([]) == {}


@pytest.mark.parametrize(
    ("bench", "tests", "fraction", "fragment"),
    [
        (["a"], [], 0.5, "--bench 'a': expected NAME=PATH"),
        (["a=x.jsonl"], ["b=y.jsonl"], 0.5, "--bench-test b: no --bench of that name"),
        (["a=x.jsonl"], [], 0.95, "test_fraction"),
    ],
)
def test_bad_bench_options(
    bench: list[str], tests: list[str], fraction: float, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        _parse_bench(bench, tests, fraction)
