"""Liveness and readiness (the only routes that never need a token)."""

from __future__ import annotations

import os

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autosel import __version__
from autosel.api.deps import SettingsDep
from autosel.api.schemas import Health, Readiness
from autosel.paths import redact

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> Health:
    """The process is up."""
    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(settings: SettingsDep) -> JSONResponse:
    """The data directory is writable (and, when configured, the store answers)."""
    checks: dict[str, str] = {}
    home = settings.home
    try:
        home.mkdir(parents=True, exist_ok=True)
        checks["home"] = "ok" if os.access(home, os.W_OK) else f"{home} is not writable"
    except OSError as e:
        checks["home"] = f"{home}: {e.strerror}"
    checks = {k: redact(v, settings) for k, v in checks.items()}  # no server path
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
