"""EvalSpec: defaults sized for the CPU demo, validation errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from autosel.errors import ConfigError
from autosel.evaluation import BenchmarkSpec, EvalSpec


def test_defaults_are_the_cpu_demo() -> None:
    s = EvalSpec()
    assert (s.model, s.method, s.lora.r, s.epochs, s.learning_rate) == (
        "smollm2",
        "lora",
        16,
        1.0,
        2e-4,
    )
    assert (s.lr_scheduler, s.max_seq_len, s.batch_size, s.seed) == ("cosine", 512, 8, 0)


def test_spec_is_frozen() -> None:
    with pytest.raises(ValidationError):
        EvalSpec().seed = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "field", "accepted"),
    [
        ({"lora": {"r": 0}}, "lora.r", "greater than or equal to 1"),
        ({"method": "qlora"}, "method", "'lora' or 'full'"),
        ({"learning_rate": -1}, "learning_rate", "greater than 0"),
        ({"epochs_typo": 1}, "epochs_typo", "Extra inputs are not permitted"),
        ({"device": "tpu"}, "device", "cpu, cuda, cuda:N"),
        ({"lora": {"target_modules": "everything"}}, "lora.target_modules", "all-linear"),
        (
            {"benchmarks": [{"name": "a b", "path": "x.jsonl"}]},
            "benchmarks[0].name",
            "letters, digits",
        ),
        (
            {"benchmarks": [{"name": "a", "path": "x", "primary_metric": "f1"}]},
            "benchmarks[0].primary_metric",
            "mc_accuracy",
        ),
    ],
)
def test_errors_name_field_and_accepted_values(data: dict, field: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as exc:
        EvalSpec.parse(data)
    msg = str(exc.value)
    assert f"field '{field}'" in msg and accepted in msg


def test_benchmark_names_unique_and_weights_not_all_zero() -> None:
    with pytest.raises(ConfigError, match="repeated: a"):
        EvalSpec.parse({"benchmarks": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]})
    with pytest.raises(ConfigError, match="weights must not all be 0"):
        EvalSpec.parse({"benchmarks": [{"name": "a", "path": "x", "weight": 0}]})


def test_from_file_resolves_benchmark_paths_next_to_the_spec(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(
        "epochs: 2\nlora: {r: 8, target_modules: [q_proj, v_proj]}\n"
        "benchmarks:\n  - {name: arith, path: bench/arith.jsonl, weight: 2}\n"
    )
    s = EvalSpec.from_file(tmp_path / "spec.yaml")
    assert s.epochs == 2 and s.lora.r == 8 and s.lora.target_modules == ("q_proj", "v_proj")
    assert s.benchmarks[0] == BenchmarkSpec(
        name="arith", path=tmp_path / "bench/arith.jsonl", weight=2
    )
    (tmp_path / "bad.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        EvalSpec.from_file(tmp_path / "bad.yaml")


def test_spec_round_trips_through_json() -> None:
    s = EvalSpec(benchmarks=[BenchmarkSpec(name="b", path=Path("/x.jsonl"), limit=3)], max_steps=5)
    assert EvalSpec.model_validate_json(s.model_dump_json()) == s
