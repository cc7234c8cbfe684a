"""Signals jobs over the REST API: a remote worker leases evaluations only (a signals job
writes the server's signal cache, which it does not share), and a heartbeat's progress
reaches the store as a ``job.progress`` event; a bad progress is refused, nothing logged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.settings import Settings
from autosel.store import JobProgress, JobSpec, open_store
from autosel.worker.remote import RemoteJobSource


@pytest.fixture()
def env(tmp_path: Path) -> Any:
    settings = Settings(home=tmp_path / "home")
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    client = TestClient(create_app(settings, store=store, auth=False), base_url="http://localhost")
    sid = store.create_search("s", {"budget": 1}).id
    try:
        yield store, client, sid
    finally:
        client.close()
        store.close()


def _remote(client: TestClient) -> RemoteJobSource:
    source = RemoteJobSource("http://localhost", None, give_up_after=5)
    source.client = client  # the app in-process: same requests, no socket
    return source


def test_a_remote_worker_leases_evaluations_and_leaves_signals_jobs(env: Any) -> None:
    store, client, sid = env
    signals = store.create_job(JobSpec(payload={"kind": "signals"}, search_id=sid, kind="signals"))
    evaluation = store.create_job(JobSpec(payload={"kind": "trial"}, search_id=sid))
    source = _remote(client)
    source.register("remote-1", hostname="h", device="cpu", meta={})
    lease = source.claim("remote-1", 60)
    assert lease is not None and lease.job_id == evaluation.id
    assert source.claim("remote-1", 60) is None, "the signals job stays for a local worker"
    assert store.get_job(signals.id).state == "queued"


def test_heartbeat_progress_is_logged_and_bad_progress_refused(env: Any) -> None:
    store, client, sid = env
    job = store.create_job(JobSpec(payload={"kind": "signals"}, search_id=sid, kind="signals"))
    store.register_worker("local-1")
    lease = store.claim_job("local-1", 60)
    assert lease is not None and lease.id == job.id
    token = lease.lease_token or ""
    ok = client.post(
        f"/v1/jobs/{job.id}/heartbeat",
        json={"lease_token": token, "worker_id": "local-1",
              "progress": {"done": 120, "total": 240}},
    )
    assert ok.status_code == 200, ok.text
    bad = client.post(
        f"/v1/jobs/{job.id}/heartbeat",
        json={"lease_token": token, "worker_id": "local-1",
              "progress": {"done": 300, "total": 240}},
    )
    assert bad.status_code == 422 and "between 0 and total" in bad.json()["error"]["message"]
    beats = [e.data for e in store.events(0, search_id=sid, limit=1000) if e.kind == "job.progress"]
    assert beats == [{"done": 120, "total": 240, "unit": "samples", "job_kind": "signals"}]
    with pytest.raises(ValueError, match="between 0 and total"):
        JobProgress(-1, 10)
