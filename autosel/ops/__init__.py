"""The operator contract: base class, registry, subset view and params search space.

Operators themselves live in the top-level ``operators`` package and in third-party
packs; both register through the ``autosel.operators`` entry-point group (this package
never imports ``operators``, which imports it).
"""

from autosel.ops.base import Decision, Operator, OpParams, StepStats
from autosel.ops.registry import (
    ENTRY_POINT_GROUP,
    UnknownOperatorError,
    get_operator,
    list_operators,
    operator_catalog,
    operator_info,
    register_operator,
)
from autosel.ops.space import Dimension, from_unit, param_space, to_unit
from autosel.ops.view import PoolColumns, SignalSource, SubsetView, available_signals

__all__ = [
    "ENTRY_POINT_GROUP",
    "Decision",
    "Dimension",
    "OpParams",
    "Operator",
    "PoolColumns",
    "SignalSource",
    "StepStats",
    "SubsetView",
    "UnknownOperatorError",
    "available_signals",
    "from_unit",
    "get_operator",
    "list_operators",
    "operator_catalog",
    "operator_info",
    "param_space",
    "register_operator",
    "to_unit",
]
