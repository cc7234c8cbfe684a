"""CLI: ``autosel recipe validate/run`` and ``autosel operators list/show`` (model-free signals)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autosel.cli import app
from autosel.settings import Settings

runner = CliRunner()


@pytest.fixture(scope="module")
def pool_ref(tmp_path_factory: pytest.TempPathFactory) -> str:
    from autosel.pool.ingest import add_pool
    from autosel.signals import compute_signals

    tmp = tmp_path_factory.mktemp("cli")
    rows = [
        {
            "id": f"r{i}",
            "prompt": f"question {i % 40}",
            "response": f"answer {i % 40}",
            "source": ["a", "b"][i % 2],
        }
        for i in range(120)
    ]
    (tmp / "p.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    # The CLI reads AUTOSEL_HOME set by the suite's conftest; ingest into the same home.
    pool = add_pool(tmp / "p.jsonl", settings=Settings()).pool
    compute_signals(pool, model=None, progress=False)
    return str(pool.path)


def test_operators_list_and_show() -> None:
    out = runner.invoke(app, ["operators", "list", "--json"])
    assert out.exit_code == 0
    assert "hes_filter" in [e["name"] for e in json.loads(out.stdout)]
    out = runner.invoke(app, ["operators", "show", "hes_filter"])
    assert json.loads(out.stdout)["params_schema"]["properties"]["mode"]["enum"] == [
        "top",
        "bottom",
        "threshold",
    ]


def test_recipe_validate_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - operator: hes_filter\n    params: {fraction: 3}\n")
    out = runner.invoke(app, ["recipe", "validate", str(bad)])
    assert out.exit_code != 0
    assert (
        "steps[0] (hes_filter), field 'params.fraction': Input should be less than or equal to 1"
        in str(out.exception)
    )


def test_recipe_run_writes_subset_and_prints_funnel(pool_ref: str, tmp_path: Path) -> None:
    rec = tmp_path / "r.json"
    rec.write_text(
        json.dumps(
            {
                "steps": [
                    {"operator": "exact_dedup"},
                    {"operator": "random_sample", "params": {"fraction": 0.5}},
                ]
            }
        )
    )
    ok = runner.invoke(app, ["recipe", "validate", str(rec), "--pool", pool_ref])
    assert ok.exit_code == 0, ok.output
    out_file = tmp_path / "subset.jsonl"
    res = runner.invoke(
        app, ["recipe", "run", str(rec), "--pool", pool_ref, "--out", str(out_file), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["funnel"][0]["out"] == 40  # 120 rows, 40 distinct prompt/response pairs
    assert data["size"] == 20
    lines = out_file.read_text().splitlines()
    assert len(lines) == 20 and "messages" in json.loads(lines[0])
    table = runner.invoke(app, ["recipe", "run", str(rec), "--pool", pool_ref])
    assert "exact_dedup" in table.stdout and "funnel" in table.stdout
    missing = tmp_path / "m.json"
    missing.write_text(json.dumps({"steps": [{"operator": "perplexity_filter"}]}))
    bad = runner.invoke(app, ["recipe", "validate", str(missing), "--pool", pool_ref])
    assert bad.exit_code != 0 and "needs signal 'ppl'" in str(bad.exception)
