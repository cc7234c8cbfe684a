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


def test_limit_computes_the_signals_of_a_pool_of_the_first_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`signals compute POOL --limit N`: a content-addressed pool of the first N rows is
    added (named POOL-firstN, same sample ids) and only its signals are computed."""
    import json

    from typer.testing import CliRunner

    from autosel.cli import app
    from autosel.pool import get_pool
    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.pool.ingest import add_pool
    from autosel.signals import load_signals

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    demo = generate_rules_pool(tmp_path / "data", size="small", seed=0)
    full = add_pool(demo.pool_path, name="rules").pool
    out = CliRunner().invoke(
        app, ["signals", "compute", "rules", "--model", "none", "--limit", "24", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["rows"] == 24
    first = get_pool("rules-first24")
    assert len(first) == 24 and list(first.sample_ids) == list(full.sample_ids[:24])
    assert load_signals(first, model=None).manifest["rows"] == 24
    with pytest.raises(Exception):  # noqa: B017 - the full pool's signals were not computed
        load_signals(full, model=None)
