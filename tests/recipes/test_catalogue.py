"""The named-recipe catalogue: valid recipes, usable by name in the CLI and as search seeds."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from autosel.cli import app
from autosel.errors import ConfigError
from autosel.recipes import check_recipe
from autosel.recipes.catalogue import CATALOGUE, named_recipe, named_recipe_names
from autosel.scheduler.spec import SearchSpec


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_every_named_recipe_is_valid(name: str) -> None:
    recipe = named_recipe(name)
    assert check_recipe(recipe, max_steps=5) == [], name
    assert recipe.name == name and CATALOGUE[name].reference


def test_the_paper_settings_are_there() -> None:
    eff = named_recipe("hes-efficiency").canonical()["steps"][0]
    den = named_recipe("hes-denoise").canonical()["steps"][0]
    assert eff["operator"] == den["operator"] == "hes_filter"
    assert (eff["params"]["mode"], eff["params"]["fraction"]) == ("top", 0.2)
    assert (den["params"]["mode"], den["params"]["fraction"]) == ("top", 0.8)
    assert eff["params"]["p"] == den["params"]["p"] == 0.005
    # The operator's defaults are the efficiency setting.
    from autosel.recipes import Recipe

    assert Recipe.of(("hes_filter", {})).recipe_hash == named_recipe("hes-efficiency").recipe_hash


def test_unknown_name_lists_the_accepted_ones() -> None:
    with pytest.raises(ConfigError, match="hes-denoise"):
        named_recipe("hes-nope")


def test_seed_recipes_by_name_are_stored_expanded() -> None:
    spec = SearchSpec.parse({"pool": "p", "seed_recipes": ["hes-denoise", {"steps": []}]})
    first = spec.seed_recipes[0]
    assert first["name"] == "hes-denoise"
    assert first["steps"] == [
        {"operator": "hes_filter", "params": {"score": "hes", "mode": "top", "fraction": 0.8}}
    ]
    assert SearchSpec.parse(spec.to_json(), stored=True) == spec
    with pytest.raises(ConfigError) as info:
        SearchSpec.parse({"pool": "p", "seed_recipes": [{"steps": []}, "hes-nope"]})
    assert "seed_recipes[1]" in str(info.value) and "hes-efficiency" in str(info.value)


def test_cli_lists_shows_and_validates_by_name() -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["recipe", "list", "--json"])
    assert out.exit_code == 0, out.output
    assert [e["name"] for e in json.loads(out.stdout)] == named_recipe_names()
    alias = runner.invoke(app, ["recipes", "--json"])
    assert alias.exit_code == 0 and json.loads(alias.stdout) == json.loads(out.stdout)
    out = runner.invoke(app, ["recipe", "show", "hes-efficiency"])
    assert out.exit_code == 0 and json.loads(out.stdout)["steps"][0]["operator"] == "hes_filter"
    out = runner.invoke(app, ["recipe", "validate", "hes-denoise"])
    assert out.exit_code == 0 and "valid" in out.stdout, out.output
