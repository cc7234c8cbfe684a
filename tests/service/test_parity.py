"""Both front ends share every action: each one run through the REST API (TestClient) and
through the CLI's embedded client, against two fresh stores, leaves the same store state
and writes the same events (ids, times and paths aside).

No model and no training: the pool is a small JSONL file; trials and jobs that an action
needs (a scored trial to export, queued and running jobs to cancel) are staged directly in
the store, the same way in both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.cli.client import EmbeddedClient
from autosel.errors import InvalidStateError
from autosel.settings import Settings
from autosel.store import JobResult, JobSpec, Store, TrialSpec, open_store
from tests.scheduler.conftest import fast_spec

ROWS = 60


def _write_pool(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (
        json.dumps({"prompt": f"question {i}", "response": f"answer {i}", "source": f"s{i % 3}"})
        for i in range(ROWS)
    )
    path.write_text("\n".join(lines) + "\n")


class ApiFront:
    """The actions as HTTP requests; errors come back as (status, code)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.http = TestClient(create_app(settings, store=store), base_url="http://localhost")

    def _ok(self, method: str, url: str, **kw: Any) -> Any:
        r = self.http.request(method, url, **kw)
        assert r.status_code < 300, r.text
        return r

    def register_pool(self, path: Path) -> str:
        return str(
            self._ok("POST", "/v1/pools/register", json={"path": path.name}).json()["pool_id"]
        )

    def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        return dict(self._ok("POST", "/v1/searches", json=spec).json())

    def cancel(self, sid: str) -> dict[str, Any]:
        return dict(self._ok("POST", f"/v1/searches/{sid}/cancel").json())

    def resume(self, sid: str) -> Any:
        r = self.http.post(f"/v1/searches/{sid}/resume")
        return r.json() if r.status_code == 200 else (r.status_code, r.json()["error"]["code"])

    def report(self, sid: str) -> dict[str, Any]:
        return dict(self._ok("GET", f"/v1/searches/{sid}/report").json())

    def show(self, sid: str) -> dict[str, Any]:
        summary = self._ok("GET", f"/v1/searches/{sid}").json()
        return {**summary, "trials": self._ok("GET", f"/v1/searches/{sid}/trials").json()["data"]}

    def export(self, sid: str) -> list[dict[str, Any]]:
        text = self._ok("GET", f"/v1/searches/{sid}/export?format=chat").text
        return [json.loads(line) for line in text.splitlines()]

    def recipe(self, sid: str) -> str:
        return str(self._ok("GET", f"/v1/searches/{sid}/recipe").text)


class CliFront:
    """The actions as the CLI's embedded client runs them."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.client = EmbeddedClient(settings, store)

    def register_pool(self, path: Path) -> str:
        return self.client.register_pool(path).pool.pool_id

    def create(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.client.create_search(spec)

    def cancel(self, sid: str) -> dict[str, Any]:
        return self.client.cancel(sid)

    def resume(self, sid: str) -> Any:
        try:
            return self.client.resume(sid)
        except InvalidStateError as e:
            return (409, e.code)

    def report(self, sid: str) -> dict[str, Any]:
        return self.client.report(sid)

    def show(self, sid: str) -> dict[str, Any]:  # what `search show --json` prints
        return {**self.client.search(sid), "trials": self.client.trials(sid)}

    def export(self, sid: str) -> list[dict[str, Any]]:
        from autosel.pool.export import jsonl_lines

        return [
            json.loads(line) for line in jsonl_lines(self.client.subset_rows(sid, None), "chat")
        ]

    def recipe(self, sid: str) -> str:
        return self.client.recipe_yaml(sid, None)


def _stage_trials(store: Store, settings: Settings, sid: str, pool_id: str) -> None:
    """A scored trial (its subset saved), a trial whose job runs and one whose job is queued."""
    from autosel.pool.pool import find_pool
    from autosel.recipes.realize import pool_columns, subset_fingerprint
    from autosel.recipes.subsets import save_subset

    cols = pool_columns(find_pool(pool_id, settings))
    store.register_worker("w1")
    for number, size in enumerate((20, 30, 40)):
        rows = np.arange(size)
        fp = subset_fingerprint(cols, rows)
        save_subset(settings, fp, rows)
        recipe = {"steps": [{"operator": "random_sample", "params": {"n": size}}]}
        trial = store.add_trial(
            sid, TrialSpec(recipe, f"hash{number}", fp, (float(size),), "warmup")
        )
        store.create_job(
            JobSpec({"n_samples": size, "eval": {"split": "dev"}}, search_id=sid, trial_id=trial.id)
        )
        if number < 2:
            job = store.claim_job("w1", 600, search_id=sid)
            assert job is not None and job.lease_token is not None
            store.start_job(job.id, job.lease_token)
        if number == 0:
            store.complete_job(job.id, job.lease_token, JobResult({"demo": 0.5}, utility=0.5))
            store.update_trial(trial.id, state="complete", score=0.5)


def _state(store: Store, settings: Settings, roots: tuple[Path, ...]) -> dict[str, Any]:
    """Everything the store and the pool store hold, with ids, times and paths replaced by
    what they mean."""
    from autosel.pool import list_pools

    names = {s.id: f"search{i}" for i, s in enumerate(store.searches())}

    def norm(x: Any) -> Any:
        text = json.dumps(x, default=str, sort_keys=True)
        for sid, name in names.items():
            text = text.replace(sid, name)
        for root in roots:
            text = text.replace(str(root), "<home>")
        return json.loads(text)

    def keep(record: Any, *drop: str) -> Any:
        skip = {"created_at", "updated_at", "finished_at", "leased_at", "started_at",
                "heartbeat_at", "lease_expires_at", "lease_token", "registered_at",
                "last_seen_at", *drop}  # fmt: skip
        return norm({k: v for k, v in vars(record).items() if k not in skip})

    return {
        "pool_store": [(p.pool_id, p.name, len(p), p.content_hash) for p in list_pools(settings)],
        "pools": [keep(p, "manifest") for p in store.pools()],
        "searches": [keep(s, "id") for s in store.searches()],
        "trials": [keep(t) for s in store.searches() for t in store.trials(s.id)],
        "jobs": [keep(j) for j in store.jobs()],
        "results": [keep(r) for r in store.results()],
        "events": [keep(e, "id") for e in store.events(0, limit=100_000)],
    }


def _timeless(x: Any) -> Any:
    """``x`` without its search id and timestamps (they differ between two stores)."""
    if isinstance(x, dict):
        drop = ("id", "created_at", "updated_at", "finished_at", "spec")
        return {k: _timeless(v) for k, v in x.items() if k not in drop}
    return [_timeless(v) for v in x] if isinstance(x, list) else x


@pytest.fixture()
def fronts(tmp_path: Path) -> tuple[Any, ...]:
    data = tmp_path / "data"
    _write_pool(data / "pool.jsonl")
    out = []
    for name, front in (("api", ApiFront), ("cli", CliFront)):
        settings = Settings(home=tmp_path / name, data_root=data)
        store = open_store(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
        out.append((front(settings, store), settings, store))
    return tuple(out)


def test_every_action_leaves_the_same_state_through_api_and_cli(
    fronts: tuple[Any, ...], tmp_path: Path
) -> None:
    roots = (tmp_path / "api", tmp_path / "cli")
    states: dict[str, list[Any]] = {"api": [], "cli": []}
    answers: dict[str, list[Any]] = {"api": [], "cli": []}
    for key, (front, settings, store) in zip(("api", "cli"), fronts, strict=True):

        def step(answer: Any = None) -> None:
            answers[key].append(answer)  # noqa: B023 - used within this iteration only
            states[key].append(_state(store, settings, roots))  # noqa: B023

        pool_id = front.register_pool(tmp_path / "data" / "pool.jsonl")
        step(pool_id)
        created = front.create(fast_spec(pool_id, 4, name="parity"))
        sid = created["id"]
        step({k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")})
        _stage_trials(store, settings, sid, pool_id)
        step({k: v for k, v in front.report(sid).items() if k != "search_id"})
        step(_timeless(front.show(sid)))
        step((front.export(sid), front.recipe(sid)))
        step(front.cancel(sid)["state"])
        step(front.resume(sid))  # a cancelled search stays cancelled: refused
        other = front.create(fast_spec(pool_id, 2, name="to resume"))["id"]
        store.set_search_state(other, "failed")
        step(front.resume(other)["state"])
    for i, (a, c) in enumerate(zip(states["api"], states["cli"], strict=True)):
        assert a == c, f"store state differs after action {i}"
    assert answers["api"] == answers["cli"]
    events = [e["kind"] for e in states["cli"][-1]["events"]]
    assert {"search_created", "search_cancelled", "search_resumed"} <= set(events)
    cancelled = next(e for e in states["cli"][-1]["events"] if e["kind"] == "search_cancelled")
    assert cancelled["data"] == {"cancelled": [3], "signalled": [2]}
    assert answers["cli"][6] == (409, "invalid_state") and answers["cli"][7] == "running"
    shown = answers["cli"][3]
    assert [t["job_state"] for t in shown["trials"]] == ["succeeded", "running", "queued"]
    assert shown["best"]["number"] == 0 and shown["in_flight"] == 2
    assert len(answers["cli"][4][0]) == 20, "the scored trial's subset is exported"
    (registered,) = states["cli"][0]["pool_store"]
    assert registered[2] == ROWS and not states["cli"][0]["pools"], "no search names it yet"
    assert states["cli"][1]["pools"][0]["rows"] == ROWS, "creating a search records its pool"
