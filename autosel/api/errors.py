"""JSON errors with stable codes.

Every error response is ``{"error": {"code", "message", "field"?, "line"?}}`` where
``code`` is stable (clients switch on it) and ``message`` says what to fix.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from autosel.errors import AutoselError, ConfigError, InputError, NotFoundError


def _status_table() -> list[tuple[type[AutoselError], int]]:
    from autosel.store import InvalidStateError, LeaseLostError

    return [
        (NotFoundError, 404),
        (LeaseLostError, 409),
        (InvalidStateError, 409),
        (InputError, 422),
        (ConfigError, 422),
    ]


class ApiError(AutoselError):
    """An error raised by a route with an explicit HTTP status and stable code."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            **{k: v for k, v in extra.items() if v is not None},
        }
    }


def _autosel_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutoselError)
    if isinstance(exc, ApiError):
        return JSONResponse(
            error_body(exc.code, exc.message, field=exc.field), status_code=exc.status
        )
    status = next((s for cls, s in _status_table() if isinstance(exc, cls)), 400)
    extra: dict[str, Any] = {}
    if isinstance(exc, InputError):
        extra = {"field": exc.field, exc.unit: exc.line, "path": exc.path}
    return JSONResponse(error_body(exc.code, str(exc), **extra), status_code=status)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    field = ".".join(loc) or None
    details = [
        {
            "field": ".".join(
                str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")
            ),
            "message": e.get("msg", ""),
        }
        for e in errors
    ]
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    return JSONResponse(
        error_body("validation_error", message, field=field, details=details), status_code=422
    )


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {
        400: "invalid_body",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "too_large",
    }.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutoselError, _autosel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
