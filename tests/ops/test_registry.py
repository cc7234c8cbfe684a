"""Registry: sorted listing, duplicates rejected, unknown names, entry-point packs."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

from autosel.errors import ConfigError
from autosel.ops import (
    Operator,
    OpParams,
    get_operator,
    list_operators,
    operator_catalog,
    register_operator,
    registry,
)

BUILTIN = [
    "cap",
    "difficulty_filter",
    "entropy_filter",
    "exact_dedup",
    "hes_filter",
    "ifd_filter",
    "length_filter",
    "minhash_dedup",
    "per_prompt_topk",
    "perplexity_filter",
    "random_sample",
    "relevance_filter",
    "source_mix",
    "union",
]


def test_builtins_are_registered_and_listing_is_sorted() -> None:
    names = list_operators()
    assert set(BUILTIN) <= set(names)
    assert names == sorted(names)


def test_unknown_operator_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="unknown operator 'hes_filtr'; known operators: cap, "):
        get_operator("hes_filtr")


def test_duplicate_name_is_rejected() -> None:
    class Other(Operator):
        class Params(OpParams):
            pass

    with pytest.raises(
        ConfigError, match="'hes_filter' is already registered by operators.quality"
    ):
        register_operator("hes_filter")(Other)
    assert get_operator("hes_filter").__module__ == "operators.quality"


def test_bad_names_and_classes_are_rejected() -> None:
    with pytest.raises(ConfigError, match="lower_snake_case"):
        register_operator("Bad-Name")
    with pytest.raises(ConfigError, match="not an autosel.ops.Operator subclass"):
        register_operator("not_an_op")(dict)  # type: ignore[arg-type]


def test_catalog_has_param_schemas() -> None:
    cat = {e["name"]: e for e in operator_catalog()}
    hes = cat["hes_filter"]
    assert hes["kind"] == "filter" and hes["requires"] == ["hes"]
    frac = hes["params_schema"]["properties"]["fraction"]
    assert frac["exclusiveMinimum"] == 0.0 and frac["maximum"] == 1.0
    assert cat["source_mix"]["kind"] == "select"


PACK = '''
import numpy as np
from autosel.ops import Operator, OpParams, register_operator

class KeepEven(Operator):
    """Keep rows at even pool indices (test pack)."""
    kind = "filter"
    class Params(OpParams):
        pass
    def keep(self, view, params, rng):
        return view.indices % 2 == 0
'''


def test_entry_point_pack_registers_and_is_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A tiny installed distribution on sys.path: module + dist-info with an entry point.
    (tmp_path / "autosel_testpack.py").write_text(PACK)
    dist = tmp_path / "autosel_testpack-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: autosel-testpack\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[autosel.operators]\nkeep_even = autosel_testpack:KeepEven\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        eps = [e.name for e in md.entry_points(group=registry.ENTRY_POINT_GROUP)]
        assert "keep_even" in eps
        registry.load_plugins(force=True)
        assert "keep_even" in list_operators()
        assert registry.operator_origin("keep_even") == "entry point autosel_testpack:KeepEven"
        assert "keep_even" in [e["name"] for e in operator_catalog()]
    finally:
        registry.unregister_operator("keep_even")
        sys.modules.pop("autosel_testpack", None)


def test_broken_pack_names_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "broken_pack-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-pack\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[autosel.operators]\nbroken = no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match="'broken = no_such_module_xyz' failed to load"):
        registry.load_plugins(force=True)


def test_builtins_come_from_the_installed_entry_point() -> None:
    eps = {e.name: e.value for e in md.entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert eps.get("builtin") == "operators", "reinstall: pip install -e . (pyproject entry point)"


def test_missing_builtin_entry_point_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.md, "entry_points", lambda group: [])
    with pytest.raises(ConfigError, match="built-in operators are not registered.*pip install -e"):
        registry.load_plugins(force=True)


def test_shadowing_operators_package_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = md.EntryPoint(name="builtin", value="operators", group=registry.ENTRY_POINT_GROUP)
    impostor = type(sys)("operators")  # an unrelated module that took the import name
    impostor.__file__ = str(tmp_path / "operators" / "__init__.py")
    monkeypatch.setattr(registry.md, "entry_points", lambda group: [fake])
    monkeypatch.setitem(sys.modules, "operators", impostor)
    with pytest.raises(ConfigError, match="is not autosel's operator library"):
        registry.load_plugins(force=True)
