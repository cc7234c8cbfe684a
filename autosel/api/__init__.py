"""The REST API (FastAPI) and the dashboard: ``create_app(settings)``.

Routes are thin; one router per resource under ``/v1``; errors are JSON with stable
codes (see :mod:`autosel.api.errors`).
"""

from __future__ import annotations

from fastapi import FastAPI

from autosel import __version__
from autosel.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for ``settings`` (tests pass their own)."""
    from autosel.api.errors import install_error_handlers
    from autosel.api.routes import health, operators, pools

    app = FastAPI(
        title="autosel",
        version=__version__,
        description="Data-recipe search for supervised fine-tuning: pools, signals, operators, "
        "searches, trials, jobs and workers.",
    )
    app.state.settings = settings or get_settings()
    install_error_handlers(app)
    for module in (health, pools, operators):
        app.include_router(module.router)
    return app
