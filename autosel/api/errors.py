"""JSON errors with stable codes.

Every error response is ``{"error": {"code", "message", "field"?, "line"?}}`` where
``code`` is stable (clients switch on it) and ``message`` says what to fix. Messages
never name the server's own directories (see :func:`autosel.paths.redact`). An
exception no handler knows becomes a 500 in the same envelope with a ``request_id``,
logged here with its traceback under that id: never a plain-text traceback.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from autosel.errors import (
    AutoselError,
    ConfigError,
    DatabaseError,
    InputError,
    NotFoundError,
    StorageError,
)
from autosel.paths import PathNotAllowedError, redact

log = logging.getLogger("autosel.api")


def _status_table() -> list[tuple[type[AutoselError], int]]:
    from autosel.store import InvalidStateError, LeaseLostError

    return [
        (PathNotAllowedError, 403),
        (NotFoundError, 404),
        (LeaseLostError, 409),
        (InvalidStateError, 409),
        (InputError, 422),
        (ConfigError, 422),
        (StorageError, 507),  # the server's disk: full, read-only, permissions
        (DatabaseError, 503),
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


def _autosel_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutoselError)
    settings = request.app.state.settings
    if isinstance(exc, ApiError):
        return JSONResponse(
            error_body(exc.code, redact(exc.message, settings), field=exc.field),
            status_code=exc.status,
        )
    status = next((s for cls, s in _status_table() if isinstance(exc, cls)), 400)
    extra: dict[str, Any] = {"field": getattr(exc, "field", None)}
    if isinstance(exc, InputError):
        path = redact(exc.path, settings) if exc.path else None
        extra = {"field": exc.field, exc.unit: exc.line, "path": path}
    return JSONResponse(
        error_body(exc.code, redact(str(exc), settings), **extra), status_code=status
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic error location as a dotted field path: ``eval.benchmarks[0].path``.

    The request part (``body``, ``query``, ...) is dropped, except when the error is about
    that part as a whole (a body that is not an object, or not JSON): then it is named.
    """
    parts = list(loc)
    where = str(parts.pop(0)) if parts and parts[0] in _REQUEST_PARTS else None
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or where or "body"


_REQUEST_PARTS = ("body", "query", "path", "header", "cookie")


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}

    def one(e: Any) -> dict[str, str]:
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid":  # loc is (body, character offset)
            return {"field": "body", "message": f"invalid JSON at character {loc[-1]}"}
        return {"field": field_path(loc), "message": str(e.get("msg", ""))}

    details = [one(e) for e in errors] or [one(first)]
    field = details[0]["field"]
    message = f"{field}: {details[0]['message']}"
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
        415: "unsupported_media_type",
    }.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def post_only(router: APIRouter, path: str) -> None:
    """Answer GET on the POST-only ``path`` with 405 (and ``Allow: POST``), where a
    ``{id}`` route beside it would otherwise take the action's name for an id (a 404/422).
    Register it before that route."""

    def refuse() -> None:
        raise StarletteHTTPException(
            405, f"GET {path} is not allowed: use POST", headers={"Allow": "POST"}
        )

    router.add_api_route(path, refuse, methods=["GET"], include_in_schema=False)


class CatchAllMiddleware:
    """Any exception that reaches here becomes a JSON 500 with a request id (logged with
    its traceback). Once a streamed answer has started it can only be cut short."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            request_id = uuid.uuid4().hex[:16]
            log.error(
                "request %s: %s %s failed",
                request_id,
                scope.get("method"),
                scope.get("path"),
                exc_info=exc,
            )
            if started:
                raise
            body = error_body(
                "internal_error",
                "internal server error; the server log has the details under this request id",
                request_id=request_id,
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"x-request-id", request_id.encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutoselError, _autosel_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(CatchAllMiddleware)
