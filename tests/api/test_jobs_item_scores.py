"""A remote worker's result carries its per-item scores through the complete-job route into
the store; malformed item scores are refused with the field named and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.api.routes.jobs import MAX_ITEMS_PER_BENCHMARK
from autosel.settings import Settings
from autosel.store import JobResult, JobSpec, open_store
from autosel.worker.loop import result_to_job_result
from autosel.worker.remote import RemoteJobSource

ITEMS = {"arith": [1.0, -0.5, 0.25], "dates": [0.0]}


@pytest.fixture()
def env(tmp_path: Path) -> Any:
    settings = Settings(home=tmp_path / "home")
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    client = TestClient(create_app(settings, store=store, auth=False), base_url="http://localhost")
    sid = store.create_search("s", {"budget": 1}).id
    store.create_jobs([JobSpec(payload={}, search_id=sid)])
    try:
        yield store, client
    finally:
        client.close()
        store.close()


def _remote(client: TestClient) -> RemoteJobSource:
    source = RemoteJobSource("http://localhost", None, give_up_after=5)
    source.client = client  # the app in-process: same requests, no socket
    return source


def test_remote_complete_stores_item_scores(env: Any) -> None:
    store, client = env
    source = _remote(client)
    source.register("w1", hostname="h", device="cpu", meta={})
    lease = source.claim("w1", 30)
    assert lease is not None
    source.complete(lease, JobResult(scores={"arith": 0.4}, utility=0.4, item_scores=ITEMS))
    stored = store.get_result(lease.job_id)
    assert stored is not None and stored.item_scores == ITEMS


@pytest.mark.parametrize(
    ("items", "fragment"),
    [
        ({"arith": [0.5, float("nan")]}, "item_scores"),
        ({"arith": [float("inf")]}, "item_scores"),
        ({"arith": ["high"]}, "item_scores"),
        ({"arith": 0.5}, "item_scores"),
        ({"": [0.5]}, "item_scores"),
        ({"arith": [0.0] * (MAX_ITEMS_PER_BENCHMARK + 1)}, "item_scores"),
    ],
)
def test_bad_item_scores_are_refused(env: Any, items: dict, fragment: str) -> None:
    store, client = env
    client.post("/v1/workers/register", json={"worker_id": "w1"})
    job = client.post("/v1/jobs/lease", json={"worker_id": "w1"}).json()
    # Sent as text: NaN and Infinity the way Python's json writes them.
    body = json.dumps({"lease_token": job["lease_token"], "scores": {}, "item_scores": items})
    r = client.post(
        f"/v1/jobs/{job['id']}/complete",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert fragment in r.json()["error"]["message"]
    assert store.get_result(job["id"]) is None
    assert store.get_job(job["id"]).state == "leased"


def test_result_to_job_result_copies_item_scores() -> None:
    from autosel.evaluation import EvalResult

    res = EvalResult(
        status="succeeded",
        failure_reason=None,
        per_benchmark={"arith": {"mc_accuracy": 0.75, "mc_accuracy_normalized": 0.5}},
        primary_metrics={"arith": "mc_accuracy"},
        utility=0.5,
        loss_curve=[],
        train_seconds=1.0,
        eval_seconds=1.0,
        device="cpu",
        n_samples=3,
        train_tokens=10,
        item_scores={"arith": [1.0, 0.0, 0.5, 0.5]},
        item_ids={"arith": ["a", "b", "c", "d"]},
    )
    jr = result_to_job_result(res)
    assert jr.item_scores == {"arith": [1.0, 0.0, 0.5, 0.5]}
    assert jr.scores["arith"] == 0.75 and jr.scores["arith/mc_accuracy_normalized"] == 0.5
    assert res.to_dict()["item_ids"] == {"arith": ["a", "b", "c", "d"]}
