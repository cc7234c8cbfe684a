"""A job source over the REST API: remote GPU workers need a URL and a worker token only.

Connection failures and 5xx answers are retried with exponential backoff and jitter (the
server or its database may be restarting); a 409 ``lease_lost`` becomes
:class:`~autosel.store.LeaseLostError`, exactly as with the local source.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from typing import Any

import httpx
import orjson

from autosel.errors import AutoselError, ConfigError
from autosel.store import JobProgress, JobResult, LeaseLostError
from autosel.worker.source import Lease

EVAL_KIND = "sft"  # the job kind of evaluations (the store's default kind)


class RemoteError(AutoselError):
    """The server refused a request (4xx other than a lost lease)."""

    code = "remote_error"


class RemoteJobSource:
    """:class:`~autosel.worker.source.JobSource` talking to ``autosel serve``.

    Args:
        server: base URL, e.g. ``http://10.0.0.5:8000``.
        token: a worker-scoped API token (or None when the server runs without auth).
        give_up_after: seconds of continuous failure before a call raises.
    """

    def __init__(
        self, server: str, token: str | None, *, give_up_after: float = 600.0, timeout: float = 60.0
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=timeout)
        self.give_up_after = give_up_after
        self._rng = random.Random()

    def _call(self, method: str, url: str, **kw: Any) -> httpx.Response:
        start, failures = time.monotonic(), 0
        while True:
            try:
                r = self.client.request(method, url, **kw)
                if r.status_code < 500:
                    break
                err: str = f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                err = f"{type(exc).__name__}: {exc}"
            failures += 1
            if time.monotonic() - start > self.give_up_after:
                raise RemoteError(
                    f"{method} {url}: server unreachable for {self.give_up_after:.0f} s ({err})"
                )
            time.sleep(self._rng.uniform(0, min(10.0, 0.2 * 2 ** (failures - 1))))
        if r.status_code == 409 and r.json().get("error", {}).get("code") == "lease_lost":
            raise LeaseLostError(r.json()["error"]["message"])
        if r.status_code >= 400:
            try:
                msg = r.json()["error"]["message"]
            except Exception:  # noqa: BLE001
                msg = r.text[:500]
            raise RemoteError(f"{method} {url}: HTTP {r.status_code}: {msg}")
        return r

    def register(self, worker_id: str, *, hostname: str, device: str, meta: dict[str, Any]) -> None:
        self._call(
            "POST",
            "/v1/workers/register",
            json={"worker_id": worker_id, "hostname": hostname, "device": device, "meta": meta},
        )

    def claim(self, worker_id: str, lease_seconds: float) -> Lease | None:
        # Evaluations only: a signals job writes the server's signal cache, which a remote
        # worker does not share (the server's in-process or local workers run those).
        body = {"worker_id": worker_id, "lease_seconds": lease_seconds, "kinds": [EVAL_KIND]}
        r = self._call("POST", "/v1/jobs/lease", json=body)
        if r.status_code == 204:
            return None
        j = r.json()
        return Lease(
            j["id"],
            j["lease_token"],
            float(j["lease_seconds"] or lease_seconds),
            j["payload"],
            j["search_id"],
            j["trial_id"],
        )

    def start(self, lease: Lease) -> None:
        self._call(
            "POST", f"/v1/jobs/{lease.job_id}/start", json={"lease_token": lease.lease_token}
        )

    def heartbeat(
        self, worker_id: str, lease: Lease, *, progress: JobProgress | None = None
    ) -> bool:
        body: dict[str, Any] = {"lease_token": lease.lease_token, "worker_id": worker_id}
        if progress is not None:
            body["progress"] = asdict(progress)
        r = self._call("POST", f"/v1/jobs/{lease.job_id}/heartbeat", json=body)
        return bool(r.json()["cancel_requested"])

    def complete(self, lease: Lease, result: JobResult) -> None:
        self._call(
            "POST",
            f"/v1/jobs/{lease.job_id}/complete",
            json={"lease_token": lease.lease_token, **asdict(result)},
        )

    def fail(self, lease: Lease, reason: str, *, retry: bool) -> None:
        self._call(
            "POST",
            f"/v1/jobs/{lease.job_id}/fail",
            json={"lease_token": lease.lease_token, "reason": reason, "retry": retry},
        )

    def rows(self, lease: Lease) -> list[dict[str, Any]]:
        r = self._call("GET", f"/v1/jobs/{lease.job_id}/subset")
        return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]

    def pool(self, lease: Lease) -> Any:
        raise ConfigError(
            f"job {lease.job_id} is a signals job: it runs where the pool store and the "
            "signal cache are (the server's in-process workers or `autosel worker` without "
            "--server); remote workers lease evaluation jobs only"
        )
