"""Recipe values: ordered steps, canonical JSON, ``recipe_hash``, YAML/JSON files.

A recipe's identity is the sha256 of its canonical JSON: steps in order, each with its
operator name and its params *after* validation (so defaults are filled in and ``1`` and
``1.0`` are the same value), keys sorted, no whitespace. The display ``name`` and
``description`` are not part of the identity.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autosel.errors import InputError


class Step(BaseModel):
    """One step: a registered operator name and its params."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operator: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class Recipe(BaseModel):
    """An ordered list of steps applied to the whole pool, first to last."""

    model_config = ConfigDict(frozen=True, extra="forbid", ignored_types=(cached_property,))

    steps: tuple[Step, ...] = ()
    name: str | None = None
    description: str | None = None

    @classmethod
    def of(cls, *steps: tuple[str, dict[str, Any]] | Step, name: str | None = None) -> Recipe:
        """Shorthand: ``Recipe.of(("hes_filter", {"fraction": 0.2}), ("cap", {...}))``."""
        return cls(
            steps=tuple(
                s if isinstance(s, Step) else Step(operator=s[0], params=s[1]) for s in steps
            ),
            name=name,
        )

    def canonical(self) -> dict[str, Any]:
        """The identity-bearing content: normalised steps only."""
        return {"steps": [_canonical_step(s) for s in self.steps]}

    def canonical_json(self) -> str:
        """Canonical JSON text (sorted keys, compact, UTF-8, no NaN)."""
        return json.dumps(
            self.canonical(),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )

    @cached_property
    def recipe_hash(self) -> str:
        """sha256 hex digest of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML/JSON files (steps as written, plus name/description if set)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        out["steps"] = [{"operator": s.operator, "params": dict(s.params)} for s in self.steps]
        return out


def _canonical_step(step: Step) -> dict[str, Any]:
    # Normalise through the operator's Params when it is known and the params are valid;
    # otherwise keep them as written (validation reports the problem separately).
    from autosel.ops.registry import UnknownOperatorError, get_operator

    try:
        params = get_operator(step.operator).parse(step.params).model_dump(mode="json")
    except (UnknownOperatorError, ValidationError):
        params = dict(step.params)
    return {"operator": step.operator, "params": params}


def recipe_from_data(data: Any, *, path: str | Path | None = None) -> Recipe:
    """Build a recipe from parsed YAML/JSON: a mapping with ``steps`` or a bare list of steps.

    Raises:
        InputError: wrong structure (the path and the dotted field are named).
    """
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise InputError("a recipe is a mapping with 'steps' (or a list of steps)", path=path)
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(f"[{x}]" if isinstance(x, int) else str(x) for x in e["loc"]).replace(
            ".[", "["
        )
        raise InputError(
            f"{e['msg']} (a step is {{operator: NAME, params: {{...}}}})",
            path=path,
            field=loc or None,
            unit="record",
        ) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe from a ``.yaml``/``.yml`` or ``.json`` file.

    Raises:
        InputError: unreadable file, syntax error (with line) or wrong structure.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read recipe: {exc.strerror}", path=p) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte {exc.start}); save it as UTF-8", path=p) from None
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg}", path=p, line=exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}",
            path=p,
            line=mark.line + 1 if mark else None,
        ) from None
    return recipe_from_data(data, path=p)


def dump_recipe(recipe: Recipe, path: str | Path) -> None:
    """Write a recipe as YAML (``.yaml``/``.yml``) or JSON (anything else)."""
    p = Path(path)
    data = recipe.to_dict()
    if p.suffix.lower() in (".yaml", ".yml"):
        p.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    else:
        p.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
