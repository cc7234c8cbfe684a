"""Params as a search space: dimensions from Field bounds, unit-cube round trips."""

from __future__ import annotations

import numpy as np
import pytest

from autosel.errors import ConfigError
from autosel.ops import from_unit, get_operator, list_operators, param_space, to_unit


def test_hes_filter_dimensions_come_from_the_params_model() -> None:
    dims = {d.name: d for d in param_space("hes_filter")}
    assert dims["mode"].choices == ("top", "bottom", "threshold")
    assert (
        dims["fraction"].kind == "float"
        and 0 < dims["fraction"].low < 1e-5
        and dims["fraction"].high == 1
    )
    assert dims["p"].log and dims["p"].low == 0.001
    assert "threshold" not in dims  # search=False


def test_choices_bool_and_int_dimensions() -> None:
    mh = {d.name: d for d in param_space("minhash_dedup")}
    assert mh["threshold"].kind == "categorical" and 0.8 in mh["threshold"].choices
    topk = {d.name: d for d in param_space("per_prompt_topk")}
    assert topk["k"].kind == "int" and (topk["k"].low, topk["k"].high) == (1, 16)
    assert topk["require_correct"].choices == (False, True)


@pytest.mark.parametrize("name", list_operators())
def test_defaults_round_trip_through_the_unit_cube(name: str) -> None:
    cls = get_operator(name)
    u = to_unit(name)
    assert u.shape == (len(param_space(name)),) and np.all((u >= 0) & (u <= 1))
    assert from_unit(name, u) == cls.Params()


@pytest.mark.parametrize("name", list_operators())
def test_every_corner_of_the_cube_decodes_to_valid_params(name: str) -> None:
    d = len(param_space(name))
    rng = np.random.default_rng(0)
    for vec in [np.zeros(d), np.ones(d), *rng.random((20, d))]:
        p = from_unit(name, vec)
        assert np.allclose(to_unit(name, from_unit(name, to_unit(name, p))), to_unit(name, p))


def test_from_unit_keeps_unsearched_fields_from_base_and_checks_length() -> None:
    p = from_unit("source_mix", [0.5], base={"proportions": {"a": 1.0}})
    assert p.proportions == {"a": 1.0} and p.fraction == pytest.approx(0.5, abs=1e-5)
    with pytest.raises(ConfigError, match="expected 1 unit coordinates, got 2"):
        from_unit("source_mix", [0.1, 0.2])
