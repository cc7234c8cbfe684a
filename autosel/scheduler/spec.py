"""The immutable per-search spec (second configuration tier).

YAML in the CLI (``--spec spec.yaml``), JSON in the API, stored verbatim with the search
(its hash identifies it). Example::

    pool: 8918e6fb77e5df78          # pool id, prefix or name
    budget: 8                       # full SFT evaluations the search may spend
    report:                         # final report on the test split (see ReportSpec)
      replicates: 2
      references: {oracle-clean: clean_ids.txt}
    knobs: {patience: 3, max_steps: 3, seed: 0}
    decontaminate: {enabled: true, threshold: 0.8}   # or: decontaminate: false
    signals: {model: smollm2}
    eval:                           # autosel.evaluation.EvalSpec
      model: smollm2
      max_steps: 20
      benchmarks:
        - {name: arithmetic, path: bench/arithmetic.jsonl, limit: 40}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from autosel.bench.spec import _NAME_RE
from autosel.errors import ConfigError
from autosel.evaluation.spec import (
    EvalSpec,
    format_validation_error,
    resolve_benchmark_paths,
)
from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET
from autosel.search.fidelity import FidelitySpec
from autosel.search.strategy import SearchKnobs


class SignalsSpec(BaseModel):
    """Which cached signals the search reads (computed on demand when missing)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    model: str | None = Field(
        "smollm2", description="Signal model; null = model-free signals only."
    )
    ifd: bool = Field(
        False, description="Also compute instruction-following difficulty (2nd pass)."
    )
    device: str | None = None
    precision: str = "auto"
    relevance: bool = Field(True, description="Relevance to each evaluation benchmark.")
    max_tokens: int = Field(
        2048,
        ge=8,
        le=1_000_000,
        description="Prompt + response token cap of the model pass (longer samples are "
        "truncated and counted). Part of the signal cache key: a cached pass at another "
        "cap is not reused.",
    )
    batch_tokens: int | None = Field(
        None,
        ge=64,
        le=10_000_000,
        description="Token budget of one model-pass batch (speed only: a sample's signals do "
        "not depend on its batch-mates, so it is not part of the cache key); null = the "
        "device's measured default (autosel.signals.compute.default_batch_tokens).",
    )


class DecontaminateSpec(BaseModel):
    """Pool samples that copy benchmark items (``autosel.signals.contamination``).

    Checked when the search is created, against every item of every benchmark (dev and
    test): the count is logged (event ``contamination``) and, when ``enabled``, those
    samples are removed from the pool every arm is realized on: search trials, the full
    pool, the random draws and reference subsets alike. ``decontaminate: false`` is short
    for ``{enabled: false}`` (the count is still reported).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(True, description="Remove contaminated samples from every arm.")
    threshold: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="MinHash Jaccard (word 3-grams) at or above which a pool prompt "
        "near-copies a benchmark question; equal normalised texts always match.",
    )


# Arm names the report uses itself; a reference may not take one of them.
RESERVED_ARMS = ("best", "full", "random")


class ReportSpec(BaseModel):
    """The final report: what is re-trained with fresh seeds and scored on the test split.

    After the budget is spent, the best recipe (by dev score), the full pool, random
    subsets of the best's size and each reference subset are trained again with training
    seeds the search never used and scored on the benchmarks' *test* split; each
    difference is reported with a 95% CI (see ``autosel.scheduler.report``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    enabled: bool = Field(True, description="Run the final report after the budget is spent.")
    replicates: int = Field(
        2, ge=1, le=20, description="Training seeds for the best, the full pool and each reference."
    )
    random_draws: int = Field(
        2, ge=2, le=50, description="Random subsets of the best's size (one training seed each)."
    )
    references: dict[str, Path] = Field(
        default_factory=dict,
        description="Reference subsets: name -> file of sample ids, one per line.",
    )

    @field_validator("references")
    @classmethod
    def _names(cls, v: dict[str, Path]) -> dict[str, Path]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(
                    f"reference name {name!r}: accepted letters, digits, '_', '.', '-' (non-empty)"
                )
            if name in RESERVED_ARMS:
                raise ValueError(
                    f"reference name {name!r} is taken by the report itself "
                    f"({', '.join(RESERVED_ARMS)}); choose another"
                )
        return dict(sorted(v.items()))


class SearchSpec(BaseModel):
    """Everything that defines one search; immutable once stored."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    pool: str = Field(description="Pool id, unique id prefix or name.")
    name: str | None = Field(None, max_length=200)
    budget: int = Field(
        DEFAULT_BUDGET, ge=1, le=MAX_BUDGET, description="Full evaluations to spend."
    )
    strategy: Literal["gp", "random", "grid", "tpe"] = Field(
        "gp",
        description="gp: the GP-assisted search; random: random recipes; grid: every "
        "operator alone, its params swept; tpe: optuna's TPE (autosel.search.baselines).",
    )
    fidelity: FidelitySpec = Field(
        default_factory=FidelitySpec,
        description="Screening ladder (autosel.search.fidelity); the budget is then in "
        "compute units (full-evaluation equivalents).",
    )
    knobs: SearchKnobs = Field(default_factory=SearchKnobs)
    signals: SignalsSpec = Field(default_factory=SignalsSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    seed_recipes: tuple[dict[str, Any], ...] = Field(
        (),
        description="Recipes evaluated first: recipe objects ({steps: [...]}) or names "
        "from the named-recipe catalogue (`autosel recipe list`), stored expanded.",
    )
    report: ReportSpec = Field(default_factory=ReportSpec)
    decontaminate: DecontaminateSpec = Field(default_factory=DecontaminateSpec)
    target_mix: dict[str, Annotated[float, Field(ge=0.0)]] | None = Field(
        None, description="Target source proportions (weights >= 0, not all 0; normalised)."
    )
    max_attempts: int = Field(2, ge=1, le=20, description="Tries per job when a worker is lost.")
    lease_seconds: float = Field(600.0, ge=5.0, le=86_400.0, description="Job lease length.")

    @model_validator(mode="before")
    @classmethod
    def _budget_of_knobs(cls, data: Any, info: ValidationInfo) -> Any:
        # The budget is the spec's: ``knobs.budget`` would be silently overridden, so it is
        # refused in input. Specs stored before this rule carry the knobs' default budget
        # (it never meant anything): read with ``stored=True``, it is dropped. The knobs
        # are then validated with the spec's budget, so n_warmup is checked against it.
        if not isinstance(data, dict) or not isinstance(data.get("knobs", {}), dict):
            return data
        knobs = dict(data.get("knobs", {}))
        if "budget" in knobs:
            if not (info.context or {}).get("stored"):
                raise _invalid(
                    [
                        (
                            ("knobs", "budget"),
                            "the budget is not a knob; set the spec's top-level 'budget' "
                            "(full evaluations to spend) instead",
                            knobs["budget"],
                        )
                    ]
                )
            del knobs["budget"]
        budget = data.get("budget", cls.model_fields["budget"].default)
        if isinstance(budget, int) and not isinstance(budget, bool) and 1 <= budget <= MAX_BUDGET:
            knobs["budget"] = budget
            warmup = knobs.get("n_warmup")
            if isinstance(warmup, int) and warmup > budget:
                raise _invalid(
                    [
                        (
                            ("knobs", "n_warmup"),
                            f"{warmup} warmup probes exceed the budget of {budget} "
                            f"evaluations; accepted: 1 to {budget}, or null (the default: max(3, budget // 5), at most the budget)",
                            warmup,
                        )
                    ]
                )
        return {**data, "knobs": knobs}

    @model_validator(mode="after")
    def _against_registry(self) -> SearchSpec:
        # Seed recipes and knobs.operators are checked against the operator registry and
        # each operator's params bounds now, so a bad seed is refused at creation instead
        # of being dropped (or failing the search) at run time.
        from autosel.ops.registry import list_operators

        model_free: list[str] | None = None
        if self.signals.model is None and self.seed_recipes:
            # Without a signal model only these exist: a seed needing more is refused now.
            model_free = model_free_signal_names()
        problems = [
            p for i, rec in enumerate(self.seed_recipes) for p in _seed_problems(i, rec, model_free)
        ]
        fid = self.fidelity
        if fid.screening and self.budget < 1.0 + fid.eta * fid.ladder[0]:
            problems.append(
                (
                    ("budget",),
                    f"with fidelity.ladder {list(fid.ladder)} and eta {fid.eta} the budget is "
                    "in compute units and must buy eta screening runs and one full "
                    f"evaluation: at least {1.0 + fid.eta * fid.ladder[0]:g}",
                    self.budget,
                )
            )
        known = list_operators()
        problems += [
            (
                ("knobs", "operators", i),
                f"unknown operator {name!r}; known operators: " + ", ".join(known),
                name,
            )
            for i, name in enumerate(self.knobs.operators or ())
            if name not in known
        ]
        if problems:
            raise _invalid(problems)
        return self

    @field_validator("seed_recipes", mode="before")
    @classmethod
    def _named_seeds(cls, v: Any) -> Any:
        # A name from the catalogue stands for its recipe; it is stored expanded (steps plus
        # the name, for display), so a stored spec does not depend on the catalogue.
        if not isinstance(v, (list, tuple)):
            return v
        from autosel.recipes.catalogue import CATALOGUE, named_recipe_names

        out = []
        for i, item in enumerate(v):
            if isinstance(item, str):
                if item not in CATALOGUE:
                    raise ValueError(
                        f"seed_recipes[{i}]: no named recipe {item!r}; accepted names: "
                        f"{', '.join(named_recipe_names())} (or a recipe object {{steps: [...]}})"
                    )
                item = CATALOGUE[item].recipe.to_dict()
            out.append(item)
        return tuple(out)

    @field_validator("decontaminate", mode="before")
    @classmethod
    def _decontaminate_flag(cls, v: Any) -> Any:
        return {"enabled": v} if isinstance(v, bool) else v

    @field_validator("target_mix")
    @classmethod
    def _target_mix(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None and not sum(v.values()) > 0:
            raise ValueError("accepted: source -> weight >= 0, with at least one weight > 0")
        return v

    @model_validator(mode="before")
    @classmethod
    def _legacy_baselines(cls, data: Any) -> Any:
        # Specs stored before the final report existed say ``baselines: bool``; it meant what
        # ``report.enabled`` means now, so it is read as that (and not kept: one definition).
        if isinstance(data, dict) and "baselines" in data:
            data = dict(data)
            enabled = data.pop("baselines")
            report = data.get("report")
            if report is None:
                data["report"] = {"enabled": enabled}
            elif isinstance(report, dict) and "enabled" not in report:
                data["report"] = {**report, "enabled": enabled}
        return data

    @property
    def search_knobs(self) -> SearchKnobs:
        """The knobs with this spec's budget (one source of truth for the budget)."""
        return self.knobs.model_copy(update={"budget": self.budget})

    @classmethod
    def parse(cls, data: Any, *, where: str = "search spec", stored: bool = False) -> SearchSpec:
        """Validate a dict, raising ``ConfigError`` that names each bad field.

        Args:
            stored: ``data`` is a spec already stored with a search (older versions of the
                spec may carry fields that new input may not, e.g. ``knobs.budget``).
        """
        if not isinstance(data, dict):
            raise ConfigError(
                f"{where}: expected a mapping of spec fields, got {type(data).__name__}"
            )
        try:
            return cls.model_validate(data, context={"stored": stored})
        except ValidationError as exc:
            raise ConfigError(f"{where}: {format_validation_error(exc)}") from None

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> SearchSpec:
        """Read YAML/JSON; relative benchmark paths (dev and test) and reference id files
        resolve from its folder."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read search spec: {exc}") from None
        except yaml.YAMLError as exc:  # one line, with the line number
            mark = getattr(exc, "problem_mark", None)
            at = f", line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or exc
            raise ConfigError(f"{p}{at}: invalid YAML in search spec: {problem}") from None
        if isinstance(data, dict):
            ev = data.get("eval")
            if isinstance(ev, dict):
                resolve_benchmark_paths(ev.get("benchmarks"), p.parent)
            report = data.get("report")
            refs = report.get("references") if isinstance(report, dict) else None
            if isinstance(refs, dict):  # reference id files, like benchmarks, sit by the spec
                for k, v in refs.items():
                    if isinstance(v, str) and not Path(v).is_absolute():
                        refs[k] = str((p.parent / v).resolve())
            data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.parse(data, where=str(p))

    def to_json(self) -> dict[str, Any]:
        """The stored form (``knobs.budget`` left out: the budget is the spec's)."""
        return self.model_dump(mode="json", exclude={"knobs": {"budget"}})


Problem = tuple[tuple[str | int, ...], str, Any]  # (field location, message, input)


def _invalid(problems: list[Problem]) -> ValidationError:
    """A validation error with each problem at its own field (raised from a validator of
    the whole spec, pydantic keeps these locations)."""
    return ValidationError.from_exception_data(
        "SearchSpec",
        [
            InitErrorDetails(type=PydanticCustomError("invalid_spec", msg), loc=loc, input=value)
            for loc, msg, value in problems
        ],
    )


def model_free_signal_names() -> list[str]:
    """What a recipe may require when ``signals.model`` is null: the pool's own columns,
    the text statistics and the MinHash / exact-duplicate structures (checked against a
    real model-free signal set in tests/scheduler/test_search_spec.py)."""
    from autosel.ops.view import EXACT_GROUPS, MINHASH
    from autosel.signals.signalset import POOL_SIGNALS, TEXT_SIGNALS

    return sorted({*POOL_SIGNALS, *TEXT_SIGNALS, MINHASH, EXACT_GROUPS})


def _seed_problems(
    index: int, data: dict[str, Any], signal_names: list[str] | None = None
) -> list[Problem]:
    """What is wrong with seed recipe ``index``, each problem at its field
    (``seed_recipes[1].steps[0].params.fraction``); empty when it is valid. With
    ``signal_names``, a step needing another signal is a problem too."""
    from autosel.ops.base import error_message
    from autosel.recipes.model import Recipe
    from autosel.recipes.validate import check_recipe

    where: tuple[str | int, ...] = ("seed_recipes", index)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        return [((*where, *e["loc"]), error_message(e), e.get("input")) for e in exc.errors()]
    # No step limit: knobs.max_steps bounds what the strategy proposes, not the user's seeds.
    issues = check_recipe(recipe, signal_names=signal_names, max_steps=max(len(recipe.steps), 1))
    out: list[Problem] = []
    for i in issues:
        loc = (*where, "steps") if i.step is None else (*where, "steps", i.step)
        field = tuple(i.field.split(".")) if i.field and i.field != "steps" else ()
        value = recipe.steps[i.step].operator if i.step is not None else None
        out.append(((*loc, *field), i.message, value))
    return out
