"""Property-based fuzzing of the whole REST API from its own OpenAPI schema (schemathesis).

Every operation gets a bounded number of generated requests, in-process over ASGI, against
a store holding one finished search. Each request whose path names a search, pool or job
is also replayed with the id of the real one, so that fuzzed query strings and bodies
reach the code behind the 404. Checked: no 5xx, status codes, content types, headers and
bodies as the schema declares them. Every failure is collected and reported together.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from autosel.api import create_app
from autosel.store import open_store

EXAMPLES = int(os.environ.get("AUTOSEL_FUZZ_EXAMPLES", "20"))


@pytest.fixture(scope="module")
def fuzz_app(demo_env: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An app (no scheduler) over a store with one finished search, its jobs and results."""
    from fastapi.testclient import TestClient

    from tests.api.conftest import LabelObjective

    db = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'db.sqlite'}"
    spec = {
        "pool": demo_env["pool"].pool_id,
        "budget": 3,
        "signals": {"model": None, "relevance": False},
        "knobs": {
            "n_candidates": 32,
            "n_random": 4,
            "n_sobol": 32,
            "max_steps": 2,
            "seed": 3,
            "min_size": 20,
        },
    }
    runner = create_app(
        demo_env["settings"],
        store=open_store(db),
        run_scheduler=True,
        workers=1,
        evaluate_fn=LabelObjective(demo_env["labels"]),
    )
    with TestClient(runner, base_url="http://localhost") as client:
        sid = client.post("/v1/searches", json=spec).json()["id"]
        from tests.api.test_searches_api import _wait

        assert _wait(client, sid)["state"] == "completed"
    store = open_store(db)
    # schemathesis calls the app as Host 'testserver': served by a configured allow-list.
    settings = demo_env["settings"].model_copy(update={"allowed_hosts": ["testserver"]})
    return {
        "app": create_app(settings, store=store),
        "settings": settings,
        "store": store,
        "search_id": sid,
        "pool_id": demo_env["pool"].pool_id,
        "job_id": store.jobs(search_id=sid)[0].id,
    }


def test_every_answer_has_a_schema(fuzz_app: dict[str, Any]) -> None:
    """No route answers an undocumented shape: every 2xx body has a schema, JSON ones a model."""
    doc = fuzz_app["app"].openapi()
    untyped = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if not code.startswith("2") or code == "204":
                    continue
                content = response.get("content") or {"(none)": {}}
                for media, body in content.items():
                    schema = body.get("schema") or {}
                    typed = "$ref" in schema if media == "application/json" else bool(schema)
                    if not typed:
                        untyped.append(f"{method.upper()} {path} {code} {media}")
    assert untyped == []
    jobs = doc["components"]["schemas"]
    assert "lease_token" in jobs["JobLeased"]["properties"]
    assert "lease_token" not in jobs["JobPublic"]["properties"], "only the leasing worker sees it"


def _replays(case: Any, real: dict[str, Any]) -> list[dict[str, Any]]:
    """Path parameters naming the real search/pool/job, when the operation has such a path."""
    params = dict(case.path_parameters or {})
    swapped = {k: real[k] for k in params if k in real}
    return [{**params, **swapped}] if swapped else []


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_api_conforms_to_its_openapi_schema(fuzz_app: dict[str, Any], auth: bool) -> None:
    """Auth off (the loopback default) and on (with a user+worker token on every request)."""
    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
    ]
    headers: dict[str, str] = {}
    app = fuzz_app["app"]
    if auth:
        app = create_app(fuzz_app["settings"], store=fuzz_app["store"], auth=True)
        token, _ = fuzz_app["store"].create_token("fuzz", ["user", "worker"])
        headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    real = {
        "search_id": fuzz_app["search_id"],
        "pool_id": fuzz_app["pool_id"],
        "job_id": fuzz_app["job_id"],
    }
    failures: list[str] = []
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    operations = [r.ok() for r in schema.get_all_operations()]

    def run(case: Any, label: str) -> None:
        if case.operation.path.endswith("/events"):
            case.query = {**(case.query or {}), "follow": "false"}  # a followed stream never ends
        try:
            response = case.call_and_validate(checks=checks, headers=headers or None)
            statuses[response.status_code] += 1
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported together
            first = f"{label}: {type(exc).__name__}: {str(exc)[:400]}"
            if not any(f.startswith(first) for f in failures):  # one report per distinct failure
                failures.append(f"{first}\n  {case.as_curl_command()}")
        calls[label] += 1

    # Valid requests (positive) and invalid ones (negative: must be a documented 4xx).
    plan = [
        (op, mode, n)
        for op in operations
        for mode, n in (
            (GenerationMode.POSITIVE, EXAMPLES),
            (GenerationMode.NEGATIVE, EXAMPLES // 2),
        )
    ]
    for op, mode, n in plan:
        label = f"{op.method.upper()} {op.path}"
        try:
            strategy = op.as_strategy(generation_mode=mode)
        except Exception:  # noqa: BLE001 - nothing to negate (no parameters, no body)
            continue

        @given(case=strategy, replay=st.booleans())
        @settings(
            max_examples=n,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Any, replay: bool) -> None:
            run(case, case.operation.label)
            for params in _replays(case, real) if replay else []:
                case.path_parameters = params
                run(case, case.operation.label)

        try:
            fuzz()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, f"{label}: no valid request could be generated"

    server_errors = sum(n for code, n in statuses.items() if code >= 500)
    print(
        f"\nschemathesis (auth {'on' if auth else 'off'}): {len(operations)} operations, "
        f"{sum(calls.values())} requests, statuses {dict(sorted(statuses.items()))}, "
        f"{server_errors} server errors, {len(failures)} failures"
    )
    assert len(operations) >= 25
    assert all(calls[f"{op.method.upper()} {op.path}"] >= 1 for op in operations), calls
    assert sum(calls.values()) >= len(operations) * EXAMPLES, "hypothesis ran short of examples"
    assert server_errors == 0
    if auth:
        assert statuses[401] + statuses[403] < sum(statuses.values()) / 2, "the token was used"
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:30])
