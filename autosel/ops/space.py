"""Operator params as a search space: bounds, choices and the unit-cube encoding.

The space of an operator is read from its ``Params`` model, so validation and search can
never disagree:

- ``Literal[...]`` fields and ``bool`` fields are categorical;
- ``float``/``int`` fields with both a lower (``ge``/``gt``) and an upper (``le``/``lt``)
  bound are numeric; ``json_schema_extra={"log": True}`` searches them on a log scale;
- ``json_schema_extra={"choices": [...]}`` makes a numeric field categorical;
- ``json_schema_extra={"search": False}`` (and any field without usable bounds: strings,
  mappings, optional values) is left out and keeps its value from ``base`` / the default.

Encoding: a numeric value maps linearly (or log-linearly) to ``[0, 1]``; a categorical
value with ``k`` choices maps to the centre of its bin, ``(i + 0.5) / k``; decoding takes
the bin ``floor(u * k)``. ``from_unit(to_unit(p)) == p`` up to float rounding of numerics.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types as at
import numpy as np

from autosel.errors import ConfigError
from autosel.ops.base import Operator, OpParams


@dataclass(frozen=True)
class Dimension:
    """One searchable parameter.

    Args:
        name: the ``Params`` field.
        kind: ``"float"``, ``"int"`` or ``"categorical"``.
        low: smallest admissible value (numeric; exclusive bounds already nudged inside).
        high: largest admissible value (numeric).
        log: search on a log scale.
        choices: admissible values (categorical), in declaration order.
    """

    name: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choices: tuple[Any, ...] = ()

    def encode(self, value: Any) -> float:
        if self.kind == "categorical":
            try:
                i = self.choices.index(value)
            except ValueError:
                raise ConfigError(
                    f"{self.name}={value!r}: accepted values are {list(self.choices)}"
                ) from None
            return (i + 0.5) / len(self.choices)
        v = float(value)
        if self.high == self.low:
            return 0.0
        if self.log:
            u = (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (v - self.low) / (self.high - self.low)
        return float(min(max(u, 0.0), 1.0))

    def decode(self, u: float) -> Any:
        u = float(min(max(u, 0.0), 1.0))
        if self.kind == "categorical":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.log:
            v = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            v = self.low + u * (self.high - self.low)
        v = min(max(v, self.low), self.high)
        # 10 significant digits: exp/log round trips give 0.005000000000000002, and a
        # decoded value is hashed into recipe identities, so keep it canonical.
        return int(round(v)) if self.kind == "int" else float(f"{v:.10g}")


def _operator(op: str | type[Operator]) -> type[Operator]:
    if isinstance(op, str):
        from autosel.ops.registry import get_operator

        return get_operator(op)
    return op


def _num(bound: Any) -> float:
    """A numeric ``Field`` bound as a float (annotated-types types it as merely comparable)."""
    return float(bound)


def _bounds(metadata: list[Any], is_int: bool) -> tuple[float | None, float | None]:
    low = high = None
    # Exclusive bounds are nudged inside so that every decoded value validates.
    step = 1 if is_int else None
    for m in metadata:
        if isinstance(m, at.Ge):
            low = _num(m.ge)
        elif isinstance(m, at.Gt):
            low = _num(m.gt) + (step or max(abs(_num(m.gt)) * 1e-6, 1e-6))
        elif isinstance(m, at.Le):
            high = _num(m.le)
        elif isinstance(m, at.Lt):
            high = _num(m.lt) - (step or max(abs(_num(m.lt)) * 1e-6, 1e-6))
    return low, high


def param_space(op: str | type[Operator]) -> list[Dimension]:
    """The searchable dimensions of an operator's params, in field declaration order."""
    cls = _operator(op)
    dims: list[Dimension] = []
    for name, f in cls.Params.model_fields.items():
        extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
        if extra.get("search") is False:
            continue
        ann = f.annotation
        if typing.get_origin(ann) is typing.Literal:
            dims.append(Dimension(name, "categorical", choices=tuple(typing.get_args(ann))))
        elif ann is bool:
            dims.append(Dimension(name, "categorical", choices=(False, True)))
        elif "choices" in extra:
            dims.append(Dimension(name, "categorical", choices=tuple(extra["choices"])))  # type: ignore[arg-type]  # a list, by the Field contract
        elif ann in (int, float):
            low, high = _bounds(f.metadata, ann is int)
            if low is None or high is None:
                continue
            dims.append(
                Dimension(
                    name,
                    "int" if ann is int else "float",
                    low,
                    high,
                    log=bool(extra.get("log", False)),
                )
            )
    return dims


def to_unit(
    op: str | type[Operator], params: OpParams | dict[str, Any] | None = None
) -> np.ndarray:
    """Encode params (default: the defaults) as a point of ``[0, 1]^d`` (`d` = len(param_space))."""
    cls = _operator(op)
    p = cls.parse(params)
    return np.array([d.encode(getattr(p, d.name)) for d in param_space(cls)], dtype=np.float64)


def from_unit(
    op: str | type[Operator],
    vec: np.ndarray | list[float],
    base: OpParams | dict[str, Any] | None = None,
) -> OpParams:
    """Decode a point of the unit cube into validated params.

    Fields outside the space keep their value from ``base`` (default: the defaults).

    Raises:
        ConfigError: ``vec`` does not have one entry per dimension.
    """
    cls = _operator(op)
    dims = param_space(cls)
    vec = np.asarray(vec, dtype=np.float64).ravel()
    if len(vec) != len(dims):
        raise ConfigError(
            f"operator '{cls.name}': expected {len(dims)} unit coordinates, got {len(vec)}"
        )
    values = cls.parse(base).model_dump()
    values.update({d.name: d.decode(u) for d, u in zip(dims, vec, strict=True)})
    return cls.parse(values)
