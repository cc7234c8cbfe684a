"""The operator catalog with parameter schemas (built-ins and third-party packs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from autosel.api.deps import UserAuth
from autosel.api.schemas import ErrorPublic, OperatorPublic, OperatorsPublic

router = APIRouter(prefix="/v1/operators", tags=["operators"])


@router.get("", response_model=OperatorsPublic)
def list_catalog(_: UserAuth) -> OperatorsPublic:
    """Every registered operator, sorted by name, with its JSON parameter schema."""
    from autosel.ops import operator_catalog

    cat = operator_catalog()
    return OperatorsPublic(data=[OperatorPublic(**c) for c in cat], count=len(cat))


@router.get("/{name}", response_model=OperatorPublic, responses={404: {"model": ErrorPublic}})
def get_one(name: str, _: UserAuth) -> dict[str, Any]:
    """One operator's description and parameter schema."""
    from autosel.errors import NotFoundError
    from autosel.ops import UnknownOperatorError, operator_info

    try:
        return operator_info(name)
    except UnknownOperatorError as e:
        raise NotFoundError(str(e)) from None
