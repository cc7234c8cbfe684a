"""FastAPI dependencies as ``Annotated`` aliases: settings, the store, and token auth.

Tokens are sent as ``Authorization: Bearer <token>``; the store keeps only their sha256.
Scopes: ``user`` (everything a person does) and ``worker`` (lease/heartbeat/report jobs,
fetch subsets). Auth is on when ``settings.auth`` is true — by default whenever the
server binds to anything but 127.0.0.1 (see ``autosel serve``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autosel.api.errors import ApiError
from autosel.settings import Settings
from autosel.store import Store

_bearer = HTTPBearer(auto_error=False, description="An API token from `autosel token create`.")


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    return request.app.state.store


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def _require(scope: str):
    def check(
        request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> str | None:
        if not request.app.state.auth:
            return None
        if creds is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing token: send 'Authorization: Bearer <token>' "
                "(create one with `autosel token create NAME --scope user|worker`)",
            )
        record = request.app.state.store.verify_token(creds.credentials)
        if record is None:
            raise ApiError(401, "unauthorized", "invalid or revoked token")
        if scope not in record.scopes and "admin" not in record.scopes:
            raise ApiError(
                403,
                "forbidden",
                f"this token's scopes {list(record.scopes)} do not include '{scope}'",
            )
        return record.name

    return check


UserAuth = Annotated[str | None, Depends(_require("user"))]
WorkerAuth = Annotated[str | None, Depends(_require("worker"))]
