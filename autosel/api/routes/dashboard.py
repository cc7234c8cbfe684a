"""The dashboard: one static page (plain HTML + vanilla JS) that reads the REST API.

The page itself holds no data, so it needs no token; the script sends the token (from
``?token=`` once, then sessionStorage) as a Bearer header on every API call. plotly.js
is served from the installed ``plotly`` Python package: machines running autosel are
often offline, and a copy in the repository would go stale.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from autosel.api.errors import ApiError

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).resolve().parent.parent / "static"
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}
# The page's scripts are all served from here; nothing inline, nothing from elsewhere.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


@lru_cache(maxsize=1)
def plotly_js() -> Path:
    """``plotly.min.js`` bundled with the installed plotly package."""
    import plotly

    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise ApiError(
            404, "not_found", f"plotly.min.js is not at {path}; reinstall the plotly package"
        )
    return path


def _page() -> FileResponse:
    return FileResponse(
        STATIC / "index.html",
        media_type="text/html",
        headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
    )


@router.get("/")
def index() -> FileResponse:
    return _page()


@router.get("/searches/{search_id}")
def search_page(search_id: str) -> FileResponse:
    return _page()  # the script reads the id from the path


@router.get("/static/vendor/plotly.min.js")
def plotly_bundle() -> FileResponse:
    return FileResponse(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file() or path.suffix not in _TYPES:
        raise ApiError(404, "not_found", f"no static file '{name}'")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers={"Cache-Control": "no-cache"})
