"""``autosel run`` says when its search failed: exit code 9 and the reason, never
"completed" and 0.

The flow is the real one (ingest, create the search, embedded scheduler and worker)
except for three stand-ins that keep it fast: model-free signals instead of the model
pass, an evaluation that fails the way a benchmark/metric mismatch does, and no
dashboard server.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import autosel.cli.run as run_cli
import autosel.service as service
import autosel.signals as signals_pkg
from autosel.cli import app


class _NoDashboard:
    url = "http://127.0.0.1:0/"

    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def _metric_never_computed(rows: Any, spec: Any, out: Path, *, stop: Any = None) -> Any:
    raise KeyError("benchmark 'add': primary metric 'mc_prob' was not computed")


def _run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evaluate: Any, extra: tuple[str, ...] = ()
) -> tuple[Any, Path]:
    """``autosel run`` on the small rules pool with ``evaluate`` as the evaluation."""
    from autosel.pool.demo.rules import generate_rules_pool

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    demo = generate_rules_pool(tmp_path / "data", size="small", seed=0)
    real_signals = signals_pkg.compute_signals
    monkeypatch.setattr(
        signals_pkg,
        "compute_signals",
        lambda pool, **kw: real_signals(pool, model=None, progress=False, settings=kw["settings"]),
    )
    monkeypatch.setattr(
        service,
        "run_embedded",
        functools.partial(service.run_embedded, evaluate_fn=evaluate, poll_seconds=0.05),
    )
    monkeypatch.setattr(run_cli, "_Dashboard", _NoDashboard)
    out = tmp_path / "out"
    args = ["run", str(demo.pool_path), "--profile", "tiny", "--budget", "4", "--no-serve"]
    args += [a for p in demo.bench_paths for a in ("--bench", str(p))]
    return CliRunner().invoke(app, [*args, *extra, "--out", str(out)]), out


def test_run_exits_9_with_the_reason_when_every_trial_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, out = _run(tmp_path, monkeypatch, _metric_never_computed)
    assert result.exit_code == 9, result.output
    text = " ".join(result.output.split())
    assert ": failed, 3/4 evaluations" in text
    assert "all 3 trials failed" in text and "'mc_prob' was not computed" in text
    assert not (out / "best_subset.jsonl").exists()


def test_run_says_how_many_evaluations_failed_when_some_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.scheduler.conftest import FakeEvalResult, items_around

    calls = []

    def first_fails(rows: Any, spec: Any, out: Path, *, stop: Any = None) -> Any:
        calls.append(len(rows))
        if len(calls) == 1:
            return _metric_never_computed(rows, spec, out)
        util = len(rows) / 1000
        scores, ids = items_around(util, "add")
        return FakeEvalResult(
            "succeeded", None, {"add": {"mc_prob": util}}, {"add": "mc_prob"}, util,
            item_scores=scores, item_ids=ids,
        )

    result, out = _run(tmp_path, monkeypatch, first_fails)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert ": completed, 4/4 evaluations" in text
    assert "1 evaluation(s) failed and counted against the budget" in text
    assert "'mc_prob' was not computed" in text
    assert (out / "best_subset.jsonl").exists()


def test_search_start_exits_9_when_its_search_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same contract for ``autosel search start`` (embedded), which follows its
    search to the end like ``run`` does."""
    import json

    from autosel.pool.demo.rules import generate_rules_pool

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    demo = generate_rules_pool(tmp_path / "data", size="small", seed=0)
    real_signals = signals_pkg.compute_signals
    monkeypatch.setattr(
        signals_pkg,
        "compute_signals",
        lambda pool, **kw: real_signals(pool, model=None, progress=False, settings=kw["settings"]),
    )
    monkeypatch.setattr(
        service,
        "run_embedded",
        functools.partial(
            service.run_embedded, evaluate_fn=_metric_never_computed, poll_seconds=0.05
        ),
    )
    runner = CliRunner()
    added = runner.invoke(app, ["pool", "add", str(demo.pool_path), "--name", "rules"])
    assert added.exit_code == 0, added.output
    benches = [{"name": p.stem, "path": str(p), "limit": 6} for p in demo.bench_paths]
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"budget": 3, "eval": {"benchmarks": benches}}))
    result = runner.invoke(app, ["search", "start", "rules", "--spec", str(spec)])
    assert result.exit_code == 9, result.output
    assert "'mc_prob' was not computed" in " ".join(result.output.split())


def test_run_stores_the_signal_model_it_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run --model DIR`` computes signals with DIR, so the stored spec must name DIR: a
    restarted server reads the spec to find the search's cached signals."""
    from autosel.settings import Settings
    from autosel.store import open_store

    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    result, _ = _run(tmp_path, monkeypatch, _metric_never_computed, extra=("--model", str(model)))
    assert result.exit_code == 9, result.output
    (search,) = open_store(settings=Settings(home=tmp_path / "home")).searches()
    assert search.spec["signals"]["model"] == str(model)
    assert search.spec["eval"]["model"] == str(model)


def test_run_picks_the_profile_from_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``--profile``, a CPU gets the ``demo`` profile (``full`` trains for hours
    there) and the run says which and why; the stored spec is the demo profile's."""
    import autosel.base_model as base_model
    from autosel.settings import Settings
    from autosel.store import open_store

    monkeypatch.setattr(base_model, "pick_device", lambda requested=None: "cpu")
    result, _ = _run(tmp_path, monkeypatch, _metric_never_computed, extra=("--profile", "auto"))
    assert result.exit_code == 9, result.output
    assert "profile: demo (auto: no GPU (cpu)" in " ".join(result.output.split())
    (search,) = open_store(settings=Settings(home=tmp_path / "home")).searches()
    assert search.spec["eval"]["max_seq_len"] == run_cli.PROFILES["demo"]["max_seq_len"]
    assert run_cli.resolve_profile("auto", device="cuda:0") == ("full", "auto: cuda:0 found")
    assert run_cli.resolve_profile("tiny") == ("tiny", "as asked")


def test_run_refuses_an_unknown_profile_before_ingesting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = _run(tmp_path, monkeypatch, _metric_never_computed, extra=("--profile", "huge"))
    from autosel.errors import ConfigError

    # (CliRunner calls the app without the entry point that turns this into "error: ...")
    assert isinstance(result.exception, ConfigError), result.output
    assert "--profile 'huge': accepted auto, demo, tiny, full" in str(result.exception)
    assert not (tmp_path / "home" / "pools").exists() or not any(
        (tmp_path / "home" / "pools").iterdir()
    )


def test_run_maps_the_pools_fields(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`autosel run FILE --map question=problem,answer=solution` ingests a pool whose
    fields have other names, as `pool add --map` does (the search then fails on the
    stand-in evaluation: only the ingest is checked here)."""
    import json

    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.settings import Settings
    from autosel.store import open_store

    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path / "home"))
    demo = generate_rules_pool(tmp_path / "data", size="small", seed=0)
    mine = tmp_path / "mine.jsonl"
    with open(mine, "w") as fh:
        for i in range(40):
            fh.write(json.dumps({"problem": f"Reverse the word w{i}x", "solution": f"x{i}w"}) + "\n")
    real_signals = signals_pkg.compute_signals
    monkeypatch.setattr(
        signals_pkg,
        "compute_signals",
        lambda pool, **kw: real_signals(pool, model=None, progress=False, settings=kw["settings"]),
    )
    monkeypatch.setattr(
        service,
        "run_embedded",
        functools.partial(
            service.run_embedded, evaluate_fn=_metric_never_computed, poll_seconds=0.05
        ),
    )
    monkeypatch.setattr(run_cli, "_Dashboard", _NoDashboard)
    args = ["run", str(mine), "--map", "question=problem,answer=solution", "--profile", "tiny"]
    args += ["--budget", "3", "--no-serve", "--out", str(tmp_path / "out")]
    args += [a for p in demo.bench_paths for a in ("--bench", str(p))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 9, result.output  # ingested; the stand-in evaluation fails
    (pool,) = open_store(settings=Settings(home=tmp_path / "home")).pools()
    assert pool.rows == 40 and pool.manifest.get("field_map") == {
        "question": "problem", "answer": "solution"
    }
