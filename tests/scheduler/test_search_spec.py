"""The search spec refuses bad input at the door, naming the field and what is accepted.

Seed recipes and ``knobs.operators`` are checked against the operator registry and the
params bounds when the spec is parsed (creation, API and CLI alike), never accepted and
dropped later; NaN and ±Infinity are refused in every number field with a message that
says so; the budget belongs to the spec, not to the knobs.
"""

from __future__ import annotations

from typing import Any

import pytest

from autosel.errors import ConfigError
from autosel.scheduler.spec import SearchSpec

NAN, INF = float("nan"), float("inf")


def _error(**fields: Any) -> str:
    with pytest.raises(ConfigError) as info:
        SearchSpec.parse({"pool": "p", **fields})
    return str(info.value)


def _step(operator: str, **params: Any) -> dict[str, Any]:
    return {"operator": operator, "params": params}


def test_seed_recipe_with_unknown_operator_is_refused_with_its_place() -> None:
    msg = _error(seed_recipes=[{"steps": []}, {"steps": [_step("nope")]}])
    assert "seed_recipes[1].steps[0].operator" in msg
    assert "unknown operator 'nope'" in msg and "random_sample" in msg


def test_seed_recipe_params_out_of_bounds_is_refused_with_its_place() -> None:
    msg = _error(seed_recipes=[{"steps": [_step("random_sample", fraction=2.0)]}])
    assert "seed_recipes[0].steps[0].params.fraction" in msg and "less than or equal to 1" in msg


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_seed_recipe_nan_or_infinite_param_says_so(value: float) -> None:
    msg = _error(seed_recipes=[{"steps": [_step("random_sample", fraction=value)]}])
    assert "seed_recipes[0].steps[0].params.fraction" in msg
    assert "NaN/Infinity is not allowed" in msg and "less than" not in msg


def test_unknown_knob_operator_is_refused_at_parse_time() -> None:
    msg = _error(knobs={"operators": ["random_sample", "nope"]})
    assert "knobs.operators[1]" in msg and "unknown operator 'nope'" in msg


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"eval": {"max_grad_norm": INF}}, "eval.max_grad_norm"),
        ({"eval": {"max_grad_norm": "Infinity"}}, "eval.max_grad_norm"),
        ({"eval": {"learning_rate": NAN}}, "eval.learning_rate"),
        ({"eval": {"lora": {"dropout": NAN}}}, "eval.lora.dropout"),
        ({"target_mix": {"web": NAN}}, "target_mix.web"),
        ({"target_mix": {"web": INF}}, "target_mix.web"),
        ({"knobs": {"sigma": NAN}}, "knobs.sigma"),
        ({"knobs": {"perturb_scales": [1.0, INF]}}, "knobs.perturb_scales[1]"),
        ({"lease_seconds": -INF}, "lease_seconds"),
        (
            {"eval": {"benchmarks": [{"name": "b", "path": "b.jsonl", "test_fraction": NAN}]}},
            "eval.benchmarks[0].test_fraction",
        ),
    ],
)
def test_nan_and_infinity_are_refused_everywhere_with_a_message_that_says_so(
    fields: dict[str, Any], where: str
) -> None:
    msg = _error(**fields)
    assert f"field '{where}': NaN/Infinity is not allowed" in msg


def test_target_mix_must_be_non_negative_and_not_all_zero() -> None:
    assert "target_mix.web" in _error(target_mix={"web": -0.5, "code": 1.0})
    assert "at least one weight > 0" in _error(target_mix={"web": 0.0})


def test_budget_in_knobs_is_refused_and_warmup_checked_against_the_spec_budget() -> None:
    assert "knobs.budget" in _error(knobs={"budget": 30})
    msg = _error(budget=5, knobs={"n_warmup": 10})
    assert "knobs.n_warmup': 10 warmup probes exceed the budget of 5" in msg
    spec = SearchSpec.parse({"pool": "p", "budget": 100, "knobs": {"n_warmup": 30}})
    assert spec.search_knobs.budget == 100 and spec.knobs.n_warmup == 30


def test_stored_specs_round_trip_and_old_ones_with_knobs_budget_still_load() -> None:
    spec = SearchSpec.parse({"pool": "p", "budget": 5})
    stored = spec.to_json()
    assert "budget" not in stored["knobs"]
    assert SearchSpec.parse(stored) == spec
    legacy = {**stored, "knobs": {**stored["knobs"], "budget": 25}}  # as stored before
    assert SearchSpec.parse(legacy, stored=True).search_knobs.budget == 5


def test_seed_needing_model_signals_is_refused_when_the_spec_has_no_signal_model() -> None:
    """``signals.model: null`` computes model-free signals only: a seed using HES could
    never run, so it is refused at creation (it used to be accepted, then dropped)."""
    seeds = [{"steps": [_step("minhash_dedup")]}, {"steps": [_step("hes_filter")]}]
    msg = _error(signals={"model": None}, seed_recipes=seeds)
    assert "seed_recipes[1].steps[0].signals" in msg and "needs signal 'hes'" in msg
    assert "seed_recipes[0]" not in msg  # MinHash needs no model
    SearchSpec.parse({"pool": "p", "seed_recipes": seeds})  # with the default model: fine


def test_model_free_signal_names_are_what_a_model_free_signal_set_offers(
    tmp_path: Any,
) -> None:
    """The list the spec checks against is the real thing: model-free signals computed on
    a small pool offer exactly these names to recipes."""
    from autosel.ops.view import available_signals
    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.pool.ingest import add_pool
    from autosel.scheduler.spec import model_free_signal_names
    from autosel.settings import Settings
    from autosel.signals import compute_signals

    settings = Settings(home=tmp_path / "home")
    demo = generate_rules_pool(tmp_path / "data", seed=0)
    pool = add_pool(demo.pool_path, name="rules", settings=settings).pool
    signals = compute_signals(pool, model=None, progress=False, settings=settings)
    assert available_signals(signals) == model_free_signal_names()


def test_min_size_defaults_to_a_share_of_the_pool_and_cannot_exceed_it(
    demo_env: dict[str, Any], tmp_path: Any
) -> None:
    """No min_size: 5% of the pool (a 3-row subset is not a comparison with the full
    pool); a min_size above the pool is refused at creation, naming the field and the
    pool's size, and nothing is stored."""
    from autosel.scheduler import Scheduler
    from autosel.search.strategy import DEFAULT_MIN_SHARE, SearchKnobs, resolve_min_size
    from autosel.service import create_search
    from autosel.store import open_store
    from tests.scheduler.conftest import fast_spec

    assert resolve_min_size(SearchKnobs(), 240) == 12 == round(DEFAULT_MIN_SHARE * 240)
    assert resolve_min_size(SearchKnobs(), 7) == 1 and resolve_min_size(SearchKnobs(min_size=30), 240) == 30
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    knobs = {k: v for k, v in fast_spec(pool.pool_id, 3)["knobs"].items() if k != "min_size"}
    made = create_search(store, {**fast_spec(pool.pool_id, 3), "knobs": knobs}, settings=settings)
    space = Scheduler(store, made.id, settings=settings).space
    assert space.min_size == max(1, -(-len(pool) * 5 // 100))
    too_big = {**knobs, "min_size": len(pool) + 1}
    with pytest.raises(ConfigError, match=rf"knobs.min_size.*\({len(pool)} rows\)"):
        create_search(store, {**fast_spec(pool.pool_id, 3), "knobs": too_big}, settings=settings)
    assert [s.id for s in store.searches()] == [made.id]
