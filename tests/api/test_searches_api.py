"""Searches over the REST API, remote workers over HTTP, and token auth."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.store import open_store
from autosel.worker import Worker
from autosel.worker.remote import RemoteJobSource
from tests.scheduler.conftest import fast_spec


def _body(pool_id: str, budget: int, **kw: Any) -> dict[str, Any]:
    return fast_spec(pool_id, budget, seed=1, **kw)


def _wait(client: Any, sid: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = client.get(f"/v1/searches/{sid}").json()
        if s["state"] in ("completed", "failed", "cancelled"):
            return s
        time.sleep(0.2)
    raise AssertionError(f"search {sid} did not finish: {s}")


def test_embedded_search_end_to_end(
    demo_env: dict[str, Any], label_objective: Any, tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(
        settings,
        store=store,
        run_scheduler=True,
        workers=1,
        evaluate_fn=label_objective(demo_env["labels"]),
    )
    with TestClient(app, base_url="http://localhost") as client:
        # A fixed operator list: the path of this search (and so whether its best is the
        # whole pool, which has no random arm) must not change when operators are added.
        ops = ["difficulty_filter", "exact_dedup", "minhash_dedup", "random_sample", "source_mix"]
        body = _body(pool.name, 4, name="api")
        body["knobs"]["operators"] = ops
        r = client.post("/v1/searches", json=body)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert r.json()["spec"]["pool"] == pool.pool_id, "the stored spec names the pool by id"
        s = _wait(client, sid)
        assert s["state"] == "completed" and s["completed"] == 4
        assert s["report_runs"] == s["report_runs_done"] == 6 and s["best_score"] is not None
        trials = client.get(f"/v1/searches/{sid}/trials").json()
        assert trials["count"] == 4 + 6
        row = trials["data"][0]
        assert {
            "recipe",
            "origin",
            "predicted_mean",
            "scores",
            "cost",
            "size",
            "state_vector",
        } <= set(row)
        best = s["best"]
        yaml_text = client.get(f"/v1/searches/{sid}/recipe").text
        assert "steps" in yaml_text
        lines = client.get(f"/v1/searches/{sid}/export?format=alpaca").text.splitlines()
        assert len(lines) == best["size"]
        events = client.get(f"/v1/searches/{sid}/events?follow=false").text
        assert events.count("event: trial_proposed") == 10 and "event: search_completed" in events
        every = client.get("/v1/searches/events?follow=false&since=0").text
        assert every.count("event: trial_proposed") == 10 and f'"search_id": "{sid}"' in every
        assert "event: worker." not in every, "only events that belong to a search"
        assert client.get("/v1/searches/events?follow=false").text == "", "starts from now"
        listing = client.get("/v1/searches").json()
        assert listing["count"] == 1 and listing["data"][0]["state"] == "completed"
        assert client.post(f"/v1/searches/{sid}/resume").status_code == 409
        # The final report: test split, each difference with its CI and verdict.
        r = client.get(f"/v1/searches/{sid}/report")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "complete" and body["report"]["split"] == "test"
        assert body["report"]["best"]["trial"] == best["number"]
        assert body["report"]["best"]["dev_score"] == s["best_score"]
        comps = {c["key"]: c for c in body["report"]["comparisons"]}
        assert set(comps) == {"best-full", "best-random"}
        assert all(
            c["lo"] <= c["diff"] <= c["hi"] and "95% CI" in c["sentence"] for c in comps.values()
        )
        unknown = client.get("/v1/searches/no-such-search/report")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        schema = client.get("/openapi.json").json()
        assert "SearchReportPublic" in schema["components"]["schemas"]
        assert "/v1/searches/{search_id}/report" in schema["paths"]
        missing = client.get(f"/v1/searches/{sid}/export?trial=99")
        assert missing.status_code == 404 and missing.json()["error"]["field"] == "trial"
        # What the GP believes: leave-one-out on every scored search trial, importances
        # over its inputs (the state features by default), the dev utility curve.
        diag = client.get(f"/v1/searches/{sid}/diagnostics")
        assert diag.status_code == 200, diag.text
        d = diag.json()
        scored = [t for t in trials["data"] if t["state"] == "complete" and not t["report"]]
        assert d["status"] == "ok" and d["points"] == len(scored) and d["features"] == "state"
        assert {p["number"] for p in d["loo"]} == {t["number"] for t in scored}
        assert all(p["std"] > 0 for p in d["loo"])
        assert abs(sum(i["share"] for i in d["importance"]) - 1) < 1e-3
        assert len(d["utility_curve"]) == s["completed"]
        assert [c["best"] for c in d["utility_curve"]] == s["best_so_far"]
        # Every /{search_id} route takes a unique id prefix or the name, as the CLI does.
        for ref in (sid[:8], "api"):
            assert client.get(f"/v1/searches/{ref}").json()["id"] == sid
        assert client.get(f"/v1/searches/{sid[:8]}/report").json()["search_id"] == sid
        assert "trial_proposed" in client.get(f"/v1/searches/{sid[:8]}/events?follow=false").text
        short = client.get(f"/v1/searches/{sid[:3]}")
        assert short.status_code == 404 and "6 characters" in short.json()["error"]["message"]


def test_bad_search_specs_point_to_the_field(demo_env: dict[str, Any], tmp_path: Path) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    client = TestClient(
        create_app(settings, store=open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")),
        base_url="http://localhost",
    )
    r = client.post("/v1/searches", json=_body(pool.pool_id, 0))
    assert r.status_code == 422 and r.json()["error"]["field"] == "budget"
    r = client.post("/v1/searches", json={**_body(pool.pool_id, 2), "knobs": {"patience": -1}})
    assert r.status_code == 422 and "knobs.patience" in r.json()["error"]["message"]
    r = client.post("/v1/searches", json=_body("no-such-pool", 2))
    assert r.status_code == 404 and "pool 'no-such-pool' not found" in r.json()["error"]["message"]
    r = client.post(
        "/v1/searches",
        json=_body(
            pool.pool_id,
            2,
            eval={"benchmarks": [{"name": "b", "path": str(tmp_path / "missing.jsonl")}]},
        ),
    )
    assert r.status_code == 403 and r.json()["error"]["field"] == "eval.benchmarks[0].path"
    assert client.get("/v1/searches").json()["count"] == 0, "nothing stored for a bad spec"


def test_remote_workers_over_http_with_auth(
    demo_env: dict[str, Any], label_objective: Any, live_server: Any, tmp_path: Path
) -> None:
    settings, pool = demo_env["settings"], demo_env["pool"]
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    user_token, _ = store.create_token("alice", ["user"])
    worker_token, _ = store.create_token("gpu-node", ["worker"])
    app = create_app(settings, store=store, auth=True, run_scheduler=True)
    objective = label_objective(demo_env["labels"])
    with live_server(app) as server:
        anon = httpx.get(f"{server.url}/v1/searches")
        assert anon.status_code == 401 and anon.json()["error"]["code"] == "unauthorized"
        assert httpx.get(f"{server.url}/v1/searches/events").status_code == 401
        assert httpx.get(f"{server.url}/health").status_code == 200, "health needs no token"
        user = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {user_token}"})
        wrong = httpx.post(
            f"{server.url}/v1/jobs/lease",
            json={"worker_id": "x"},
            headers={"Authorization": f"Bearer {user_token}"},
        )
        assert wrong.status_code == 403, "a user token cannot lease jobs"
        sid = user.post(
            "/v1/searches", json=_body(pool.pool_id, 4, report={"enabled": False})
        ).json()["id"]
        stop = threading.Event()
        workers = [
            Worker(
                RemoteJobSource(server.url, worker_token),
                worker_id=f"remote-{i}",
                evaluate_fn=objective,
                lease_seconds=30,
                settings=settings,
            )
            for i in range(2)
        ]
        threads = [
            threading.Thread(target=w.run, kwargs={"stop": stop, "poll_seconds": 0.1}, daemon=True)
            for w in workers
        ]
        for t in threads:
            t.start()
        try:
            s = _wait(user, sid)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        assert s["state"] == "completed" and s["completed"] == 4
        assert sum(len(w.stats.succeeded) for w in workers) == 4
        reg = user.get("/v1/workers").json()
        assert {w["id"] for w in reg["data"]} == {"remote-0", "remote-1"}
        # A late report with a stale lease token changes nothing.
        job = user.get("/v1/jobs", params={"search_id": sid}).json()["data"][0]
        assert job["state"] == "succeeded" and "lease_token" not in job
        late = httpx.post(
            f"{server.url}/v1/jobs/{job['id']}/complete",
            json={"lease_token": "stale", "scores": {"x": 0.0}, "utility": 99.0},
            headers={"Authorization": f"Bearer {worker_token}"},
        )
        assert late.status_code == 409 and late.json()["error"]["code"] == "lease_lost"
        assert max(t["score"] for t in user.get(f"/v1/searches/{sid}/trials").json()["data"]) < 99
