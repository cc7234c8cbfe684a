"""Make the generated OpenAPI document say what the app really answers.

FastAPI documents request-validation failures as its own ``HTTPValidationError``
(``{detail: [...]}``), but :mod:`autosel.api.errors` answers every error, 422 included,
as ``{error: {code, message, ...}}``; and the token check (:mod:`autosel.api.deps`) can
answer 401/403 on every route that takes a bearer token. Both are fixed here, once, for
every route, so that clients generated from the schema (and schemathesis) see the truth.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from autosel.api.schemas import ErrorPublic

_ERROR_REF = {"$ref": "#/components/schemas/ErrorPublic"}
_AUTH_ERRORS = {
    "401": "Missing, invalid or revoked token (only when auth is on).",
    "403": "The token's scopes do not allow this operation.",
}


# Streamed 200 answers, declared by the routes that send them.
NDJSON_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON Lines: one JSON record per line, streamed.",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}
# Before OpenAPI 3.2 (``itemSchema``), an event stream's ``schema`` describes one event.
_EVENT_DATA = {
    "type": "object",
    "required": ["kind", "at", "search_id", "trial_id", "job_id", "data"],
    "properties": {
        "kind": {"type": "string"},
        "at": {"type": "string", "format": "date-time"},
        "search_id": {"type": "string"},
        "trial_id": {"type": ["integer", "null"]},
        "job_id": {"type": ["integer", "null"]},
        "data": {"type": "object"},
    },
}
SSE_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-Sent Events, one per logged change, with `: keep-alive` "
        "comments while nothing happens. Reconnect with `Last-Event-ID` (or `since`) set to "
        "the last `id` seen to miss nothing.",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["id", "event", "data"],
                    "properties": {
                        "id": {"type": "string", "description": "The event's id (increasing)."},
                        "event": {
                            "type": "string",
                            "description": "Its kind: `job.succeeded`, `trial_proposed`, "
                            "`search_completed`, ...",
                        },
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "contentSchema": _EVENT_DATA,
                        },
                    },
                }
            }
        },
    }
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _fix_operation(op: dict[str, Any]) -> None:
    responses = op.setdefault("responses", {})
    for code, response in responses.items():
        content = response.get("content", {})
        placeholder = content.get("application/json") in ({}, {"schema": {}})
        if code.startswith("2") and len(content) > 1 and placeholder:
            del content["application/json"]  # FastAPI's default beside the declared type
    if "requestBody" in op:  # FastAPI answers 400 when a JSON body does not parse
        responses.setdefault("400", _error_response("The request body is not valid JSON."))
    if "422" in responses:
        responses["422"] = _error_response("Invalid request: the field and what is accepted.")
    if op.get("security"):
        for code, description in _AUTH_ERRORS.items():
            responses.setdefault(code, _error_response(description))


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with a cached, corrected document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            if "ErrorPublic" not in components:
                error = ErrorPublic.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(error.pop("$defs", {}))
                components["ErrorPublic"] = error
            for path in doc.get("paths", {}).values():
                for op in path.values():
                    _fix_operation(op)
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override hook
