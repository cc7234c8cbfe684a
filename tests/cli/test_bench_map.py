"""`--bench-map NAME:CANONICAL=SOURCE,...`: a benchmark with its own field names works from
the command line (`run`, `search start`, `signals compute`, `pool check`) as a spec's
`fields:` does, and a bad map is refused naming the option, the value and what is accepted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from autosel.cli._common import parse_bench_maps
from autosel.errors import ConfigError

MAP = "r:question=problem,answer=solution,choices=options"


def _renamed(src: Path, dst: Path) -> Path:
    """The benchmark at ``src`` with question/answer/choices renamed problem/solution/options."""
    names = {"question": "problem", "answer": "solution", "choices": "options"}
    lines = [
        json.dumps({names.get(k, k): v for k, v in json.loads(line).items()})
        for line in src.read_text().splitlines()
    ]
    dst.write_text("\n".join(lines) + "\n")
    return dst


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from autosel.pool.demo.rules import generate_rules_pool

    root = tmp_path_factory.mktemp("benchmap")
    res = generate_rules_pool(root / "data", size="small", seed=0)
    return {"root": root, "pool": res.pool_path, "bench": _renamed(res.bench_paths[0], root / "r.jsonl")}


def test_parse_bench_maps_accepts_one_map_per_benchmark() -> None:
    got = parse_bench_maps(["a:question=problem, answer=solution", "b:id=uid"], ["a", "b", "c"])
    assert got == {"a": {"question": "problem", "answer": "solution"}, "b": {"id": "uid"}}
    assert parse_bench_maps(None, ["a"]) == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("question=problem", "expected NAME:CANONICAL=SOURCE"),
        ("z:question=problem", "no --bench named 'z' (accepted names: a)"),
        ("a:prompt=problem", "unknown canonical field 'prompt'"),
        ("a:question", "'question' is not CANONICAL=SOURCE"),
        ("a:question=x,question=y", "'question' is mapped twice"),
        ("a:", "no CANONICAL=SOURCE pair"),
    ],
)
def test_a_bad_bench_map_names_the_option_and_what_is_accepted(value: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_bench_maps([value], ["a"])
    assert f"--bench-map {value!r}" in str(err.value) and says in str(err.value), str(err.value)
    with pytest.raises(ConfigError, match="mapped twice"):
        parse_bench_maps(["a:id=x", "a:id=y"], ["a"])


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("autosel")), *args],
        env={"AUTOSEL_HOME": str(home), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_search_start_maps_a_benchmarks_fields(demo: dict[str, Any]) -> None:
    """The map reaches the stored spec, and through it the profile sees a multiple-choice
    benchmark (mc_prob); without it the file's first line is refused, naming the field."""
    home = demo["root"] / "home"
    assert _cli(home, "pool", "add", str(demo["pool"]), "--name", "rules").returncode == 0
    args = ["search", "start", "rules", "--bench", f"r={demo['bench']}", "--profile", "tiny",
            "--detach", "--json"]
    out = _cli(home, *args, "--bench-map", MAP)
    assert out.returncode == 0, out.stderr
    (bench,) = json.loads(out.stdout)["spec"]["eval"]["benchmarks"]
    assert bench["fields"] == {"answer": "solution", "choices": "options", "question": "problem"}
    assert bench["primary_metric"] == "mc_prob"
    unmapped = _cli(home, *args)
    assert unmapped.returncode != 0 and "question" in unmapped.stderr, unmapped.stderr
    alone = _cli(home, "search", "start", "rules", "--bench-map", MAP, "--detach")
    assert alone.returncode != 0 and "give --bench too" in alone.stderr, alone.stderr


def test_signals_and_pool_check_take_the_map(demo: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from autosel.cli import app
    from autosel.cli.signals import _parse_bench

    specs = _parse_bench([f"r={demo['bench']}"], maps=[MAP])
    assert specs["r"].fields == {"answer": "solution", "choices": "options", "question": "problem"}
    runner = CliRunner(env={"AUTOSEL_HOME": str(demo["root"] / "clihome")})
    assert runner.invoke(app, ["pool", "add", str(demo["pool"]), "--name", "rules"]).exit_code == 0
    check = ["pool", "check", "rules", "--bench", f"r={demo['bench']}"]
    res = runner.invoke(app, [*check, "--bench-map", MAP])
    assert res.exit_code == 0, res.output
    assert "0 pool samples" in " ".join(res.output.split()) or "no pool sample" in res.output
    res = runner.invoke(app, check)
    assert res.exit_code != 0 and "question" in str(res.exception)


def test_run_refuses_a_bad_map_before_any_work(demo: dict[str, Any], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autosel.cli import app

    runner = CliRunner(env={"AUTOSEL_HOME": str(tmp_path / "home")})
    res = runner.invoke(app, ["run", str(demo["pool"]), "--bench", f"r={demo['bench']}",
                              "--bench-map", "z:question=problem", "--no-serve"])
    assert res.exit_code != 0 and "no --bench named 'z'" in str(res.exception)
    assert not (tmp_path / "home").exists() or not any((tmp_path / "home").rglob("*.jsonl"))
