"""One client interface for the CLI, two transports: a server (``--server URL``) or the
embedded store in-process (no ``--server``). Both return the same JSON-ready dicts as
the REST API, so every command behaves the same either way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autosel.errors import AutoselError, ConfigError, InvalidStateError, NotFoundError

if TYPE_CHECKING:
    from autosel.pool.ingest import IngestResult
    from autosel.settings import Settings
    from autosel.store import Store


class ServerError(AutoselError):
    """The server answered with an error (its JSON message is shown)."""

    code = "server_error"


class HttpClient:
    def __init__(self, server: str, token: str | None) -> None:
        import httpx

        token = token or os.environ.get("AUTOSEL_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=120)

    def _req(self, method: str, url: str, **kw: Any) -> Any:
        import httpx

        try:
            r = self.http.request(method, url, **kw)
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach {self.http.base_url}: {exc}") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
            except Exception:  # noqa: BLE001
                text = " ".join(r.text[:300].split())  # one line, whatever the server sent
                raise ServerError(f"{method} {url}: HTTP {r.status_code}: {text}") from None
            cls = {404: NotFoundError, 409: InvalidStateError, 422: ConfigError}.get(
                r.status_code, ServerError
            )
            rid = err.get("request_id")
            raise cls(err["message"] + (f" (request id {rid})" if rid else ""))
        return r

    def create_search(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self._req("POST", "/v1/searches", json=spec).json()

    def searches(self) -> list[dict[str, Any]]:
        return self._req("GET", "/v1/searches").json()["data"]

    def search(self, sid: str) -> dict[str, Any]:
        return self._req("GET", f"/v1/searches/{sid}").json()

    def trials(self, sid: str) -> list[dict[str, Any]]:
        return self._req("GET", f"/v1/searches/{sid}/trials").json()["data"]

    def cancel(self, sid: str) -> dict[str, Any]:
        return self._req("POST", f"/v1/searches/{sid}/cancel").json()

    def resume(self, sid: str) -> dict[str, Any]:
        return self._req("POST", f"/v1/searches/{sid}/resume").json()

    def report(self, sid: str) -> dict[str, Any]:
        return self._req("GET", f"/v1/searches/{sid}/report").json()

    def recipe_yaml(self, sid: str, trial: int | None) -> str:
        return self._req("GET", f"/v1/searches/{sid}/recipe", params=_trial(trial)).text

    def export_lines(self, sid: str, fmt: str, trial: int | None) -> Iterator[bytes]:
        r = self._req("GET", f"/v1/searches/{sid}/export", params={"format": fmt, **_trial(trial)})
        yield from (line + b"\n" for line in r.content.splitlines() if line.strip())


def _trial(trial: int | None) -> dict[str, Any]:
    return {} if trial is None else {"trial": trial}


class EmbeddedClient:
    """The same operations on the local store (``AUTOSEL_DATABASE_URL`` or SQLite in home).

    Each action is one call into :mod:`autosel.service`, the functions the API's routes
    call, so both transports change the same state and write the same events.
    """

    def __init__(self, settings: Settings | None = None, store: Store | None = None) -> None:
        from autosel.settings import get_settings

        self.settings = settings or get_settings()
        self._store = store

    @property
    def store(self) -> Store:
        """The store, opened on first use (``pool add`` needs none)."""
        if self._store is None:
            from autosel.store import open_store

            self._store = open_store(settings=self.settings)
        return self._store

    def register_pool(self, path: Path, **options: Any) -> IngestResult:
        from autosel.service import register_pool

        return register_pool(path, settings=self.settings, **options)

    def create_search(self, spec: dict[str, Any]) -> dict[str, Any]:
        from autosel.service import create_search

        rec = create_search(self.store, spec, settings=self.settings)
        return {**self.search(rec.id), "spec": rec.spec}

    def searches(self) -> list[dict[str, Any]]:
        from autosel.scheduler.views import search_summary

        return [search_summary(self.store, s) for s in self.store.searches()]

    def search(self, sid: str) -> dict[str, Any]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.scheduler.views import search_summary

        return search_summary(self.store, self.store.get_search(sid))

    def trials(self, sid: str) -> list[dict[str, Any]]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.scheduler.views import trial_rows

        return trial_rows(self.store, sid)

    def cancel(self, sid: str) -> dict[str, Any]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.service import cancel_search

        cancel_search(self.store, sid)
        return self.search(sid)

    def resume(self, sid: str) -> dict[str, Any]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.service import resume_search

        resume_search(self.store, sid)
        return self.search(sid)

    def report(self, sid: str) -> dict[str, Any]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.service import search_report

        return search_report(self.store, sid)

    def recipe_yaml(self, sid: str, trial: int | None) -> str:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.service import find_trial, recipe_yaml

        return recipe_yaml(find_trial(self.store, sid, trial))

    def subset_rows(self, sid: str, trial: int | None) -> Iterator[dict[str, Any]]:
        sid = self.store.resolve_search_id(sid)  # id, unique prefix or name
        from autosel.service import export_subset

        return export_subset(self.store, sid, trial, settings=self.settings).records()


def make_client(server: str | None, token: str | None) -> HttpClient | EmbeddedClient:
    return HttpClient(server, token) if server else EmbeddedClient()
