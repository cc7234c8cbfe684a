"""Request/response schemas: ``XCreate`` in, ``XPublic`` out, ``XsPublic{data, count}`` lists."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FormatName = Literal["auto", "chat", "alpaca", "sharegpt", "prompt_response"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code clients can switch on.")
    message: str = Field(description="What was wrong and what would be accepted.")
    field: str | None = None


class ErrorPublic(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"]
    version: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]


class PoolRegister(BaseModel):
    """Register a file that already lies on the server, inside the allowed root."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="Path relative to (or inside) the server's allowed data root.")
    name: str | None = Field(default=None, max_length=200)
    format: FormatName = "auto"
    skip_invalid: bool = False


class PoolPublic(BaseModel):
    pool_id: str
    name: str
    rows: int
    format: str | None
    created_at: str | None = None
    source_counts: dict[str, int] = {}
    skipped: int = 0
    content_hash: str


class PoolsPublic(BaseModel):
    data: list[PoolPublic]
    count: int


class PoolCreated(PoolPublic):
    created: bool = Field(description="False when the same content was already stored.")


class PoolStats(BaseModel):
    model_config = ConfigDict(extra="allow")
    pool_id: str
    rows: int
    sources: dict[str, int]


class OperatorPublic(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    params_schema: dict[str, Any]


class OperatorsPublic(BaseModel):
    data: list[dict[str, Any]]
    count: int
