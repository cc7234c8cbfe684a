"""The operator contract.

An operator is a small class::

    @register_operator("hes_filter")
    class HesFilter(Operator):
        kind = "filter"
        class Params(OpParams):
            fraction: float = Field(0.5, gt=0, le=1)
        requires = ("hes",)

        def keep(self, view, params, rng):
            return top_fraction(view.hes(), params.fraction)

``Params`` is frozen pydantic with ``extra="forbid"``: its ``Field`` bounds and ``Literal``
choices are both the validation and the search space (:mod:`autosel.ops.space`). The base
class owns everything around the one pure method: turning a keep-mask (filters, dedup)
or a position selection (mixing, sampling) into the next subset, checking it stays
inside the input, counting drops by reason and timing the step.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from autosel.errors import ConfigError
from autosel.ops.view import SubsetView

Kind = Literal["filter", "select", "combine"]


# What a NaN or an infinity in any number field is told (pydantic says "finite number").
NON_FINITE = "NaN/Infinity is not allowed; accepted: a finite number"


class OpParams(BaseModel):
    """Base of every operator's ``Params``: immutable, unknown fields and NaN/Infinity
    rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


@dataclass(frozen=True)
class Decision:
    """What an operator method returns when it has more to say than a bare array.

    Args:
        keep: bool keep-mask over the view (filters; selections may return one too, e.g.
            to keep everything) or int positions into the view (selections); for
            ``combine`` operators, sorted pool rows.
        reasons: ordered ``reason -> bool mask of rows it drops`` (or a count). A dropped
            row is attributed to the first reason whose mask contains it.
        notes: human-readable remarks (e.g. "source 'code' short by 12 samples").
    """

    keep: np.ndarray
    reasons: Mapping[str, np.ndarray | int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepStats:
    """Funnel statistics of one applied step."""

    operator: str
    params: dict[str, Any]
    n_in: int
    n_out: int
    reasons: dict[str, int]
    notes: tuple[str, ...]
    seconds: float

    @property
    def dropped(self) -> int:
        return max(self.n_in - self.n_out, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operator": self.operator,
            "params": self.params,
            "in": self.n_in,
            "out": self.n_out,
            "dropped": self.dropped,
            "reasons": self.reasons,
            "notes": list(self.notes),
            "seconds": self.seconds,
        }


class Operator:
    """Base class of operators. Subclasses set ``kind``, ``Params``, ``requires`` and one method.

    Filters implement :meth:`keep`; selections implement :meth:`select`; ``combine``
    operators (``union``) implement :meth:`combine`. Methods must be pure: no mutation of
    the view's arrays, randomness only from ``rng``.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[Kind] = "filter"
    Params: ClassVar[type[OpParams]] = OpParams
    requires: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""

    # ----- what subclasses override -------------------------------------------------
    @classmethod
    def required_signals(cls, params: OpParams) -> tuple[str, ...]:
        """Signal names this step needs with these params (default: ``requires``)."""
        return cls.requires

    def keep(
        self, view: SubsetView, params: Any, rng: np.random.Generator
    ) -> np.ndarray | Decision:
        raise NotImplementedError

    def select(
        self, view: SubsetView, params: Any, rng: np.random.Generator
    ) -> np.ndarray | Decision:
        raise NotImplementedError

    def combine(
        self, view: SubsetView, params: Any, rng: np.random.Generator
    ) -> np.ndarray | Decision:
        raise NotImplementedError

    # ----- what the base class owns ---------------------------------------------------
    @classmethod
    def parse(cls, params: Mapping[str, Any] | OpParams | None = None) -> OpParams:
        """Validate raw params into ``cls.Params``.

        Raises:
            pydantic.ValidationError: wrong type, out of bounds, unknown field.
        """
        if isinstance(params, cls.Params):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump()
        return cls.Params.model_validate(dict(params or {}))

    @classmethod
    def apply(
        cls, view: SubsetView, params: OpParams, rng: np.random.Generator
    ) -> tuple[np.ndarray, StepStats]:
        """Run one step: the next subset (sorted pool rows) and its funnel statistics."""
        t0 = time.perf_counter()
        n = len(view)
        op = cls()
        out = getattr(op, {"filter": "keep", "select": "select", "combine": "combine"}[cls.kind])(
            view, params, rng
        )
        dec = out if isinstance(out, Decision) else Decision(np.asarray(out))
        if cls.kind == "filter":
            mask = _check_mask(cls.name, dec.keep, n)
            rows = _kept_rows(view, mask)
        elif cls.kind == "select":
            if dec.keep.dtype == np.bool_:
                mask = _check_mask(cls.name, dec.keep, n)
            else:
                mask = np.zeros(n, dtype=bool)
                mask[_check_positions(cls.name, dec.keep, n)] = True
            rows = _kept_rows(view, mask)
        else:
            rows = _sorted_unique(np.asarray(dec.keep, dtype=np.int64))
            if len(rows) and (rows[0] < 0 or rows[-1] >= view.n_pool):
                raise ConfigError(
                    f"operator '{cls.name}' returned pool rows outside 0..{view.n_pool - 1}"
                )
            mask = np.isin(view.indices, rows, assume_unique=True)
        reasons = _attribute(cls.name, dec.reasons, mask, n - len(rows))
        stats = StepStats(
            cls.name,
            params.model_dump(mode="json"),
            n,
            len(rows),
            reasons,
            tuple(dec.notes),
            time.perf_counter() - t0,
        )
        return rows, stats


def _sorted_unique(rows: np.ndarray) -> np.ndarray:
    """``np.unique(rows)`` by sort and compare: numpy 2.4's ``np.unique`` takes a hashing
    path that is ~40 times slower on a million pool rows."""
    rows = np.sort(rows)
    keep = np.empty(len(rows), dtype=bool)
    keep[:1] = True
    np.not_equal(rows[1:], rows[:-1], out=keep[1:])
    return rows[keep]


def _kept_rows(view: SubsetView, mask: np.ndarray) -> np.ndarray:
    """Pool rows of the view where ``mask`` is set (sorted, int64).

    ``flatnonzero`` + ``take`` rather than ``indices[mask]``: boolean indexing with an
    irregular mask runs several times slower on large inputs.
    """
    if np.count_nonzero(mask) == len(mask):
        return view.indices  # nothing dropped: no copy
    pos = mask.nonzero()[0]  # the method: np.flatnonzero adds three Python-level calls
    return pos if view.is_whole else view.indices.take(pos, mode="clip")  # pos < len(view)


def _check_mask(name: str, keep: np.ndarray, n: int) -> np.ndarray:
    if keep.dtype != np.bool_ or keep.shape != (n,):
        raise ConfigError(
            f"operator '{name}' returned a keep-mask of {keep.dtype} {keep.shape}; "
            f"expected bool ({n},)"
        )
    return keep


def _check_positions(name: str, pos: np.ndarray, n: int) -> np.ndarray:
    pos = np.asarray(pos)
    if pos.size and (not np.issubdtype(pos.dtype, np.integer) or pos.min() < 0 or pos.max() >= n):
        raise ConfigError(f"operator '{name}' selected positions outside its input of {n} rows")
    return pos.astype(np.int64, copy=False)


def _attribute(
    name: str, reasons: Mapping[str, np.ndarray | int], kept: np.ndarray, total: int
) -> dict[str, int]:
    """Drop counts per reason; each dropped row counts once, for the first reason naming it."""
    if not reasons or total <= 0:
        return {name: total} if total > 0 else {}
    if len(reasons) == 1:  # the common case needs no per-row attribution
        return {next(iter(reasons)): total}
    out: dict[str, int] = {}
    left = ~kept  # dropped rows not yet attributed
    hit = np.empty_like(left)
    last = len(reasons) - 1
    for j, (reason, what) in enumerate(reasons.items()):
        if isinstance(what, (int, np.integer)):
            count = int(what)
        else:
            np.logical_and(left, np.asarray(what, dtype=bool), out=hit)
            count = int(np.count_nonzero(hit))
            if j < last:
                left ^= hit  # hit is within left: xor removes it
        if count:
            out[reason] = count
    rest = total - sum(out.values())
    if rest > 0:
        out["other"] = rest
    return out


def error_message(err: Mapping[str, Any]) -> str:
    """The message of one pydantic error (``ValidationError.errors()`` item), said plainly:
    NaN/Infinity named as such rather than as a failed bound."""
    if err.get("type") == "finite_number":
        return NON_FINITE
    return str(err.get("msg", "invalid")).removeprefix("Value error, ")


def format_validation_error(err: ValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of a pydantic error, fields dotted."""
    pairs = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e.get("loc", ())) or "params"
        pairs.append((loc, error_message(e)))
    return pairs
