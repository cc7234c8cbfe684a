"""The server perimeter, probed as an attacker and a clumsy user would (issue 18).

One test per case: paths a client names are confined to the data/model roots (missing and
forbidden alike), pools are never found by path, auth follows flag > AUTOSEL_AUTH > bind
address, cross-site writes and foreign Host names are refused, framing is forbidden,
unhandled errors are JSON with a request id, chunked uploads stop when the disk fills,
GET on a POST-only action is 405, validation errors name the field path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.settings import Settings
from autosel.store import open_store

LOCAL = "http://localhost"
OCTET = {"content-type": "application/octet-stream"}


def _jsonl(n: int) -> bytes:
    return b"".join(
        json.dumps({"prompt": f"p{i}", "response": f"r{i}", "source": "s"}).encode() + b"\n"
        for i in range(n)
    )


def _bench(path: Path, prefix: str) -> Path:
    items = [
        {"id": f"{prefix}{i}", "question": f"q{i}", "answer": "x", "choices": ["x", "y"]}
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(it) + "\n" for it in items))
    return path


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Any]:
    """An app (auth off: the loopback default) with one pool, and a data root holding a
    valid benchmark and a reference ids file; a secret file and a model dir outside it."""
    root = tmp_path / "data"
    root.mkdir()
    settings = Settings(home=tmp_path / "home", data_root=root)
    app = create_app(settings, store=open_store(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    client = TestClient(app, base_url=LOCAL, raise_server_exceptions=False)
    pool = client.post("/v1/pools/upload?name=mine", content=_jsonl(30), headers=OCTET).json()
    _bench(root / "dev.jsonl", "d")
    _bench(root / "test.jsonl", "t")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0\n")
    outside_model = tmp_path / "model"
    outside_model.mkdir()
    (outside_model / "config.json").write_text("{}")
    return {
        "client": client,
        "settings": settings,
        "root": root,
        "pool": pool,
        "secret": secret,
        "outside_model": outside_model,
        "tmp": tmp_path,
    }


def _spec(pool: str, **extra: Any) -> dict[str, Any]:
    return {"pool": pool, "budget": 1, "signals": {"model": None, "relevance": False}, **extra}


def _bench_spec(path: str, test_path: str | None = "test.jsonl") -> dict[str, Any]:
    b: dict[str, Any] = {"name": "b", "path": path, "primary_metric": "mc_accuracy"}
    if test_path is not None:
        b["test_path"] = test_path
    return {"benchmarks": [b], "model": "smollm2"}


def _searches(env: dict[str, Any]) -> int:
    return int(env["client"].get("/v1/searches").json()["count"])


# --- 1. one confinement rule for every path a client names ----------------------------


def test_spec_paths_outside_the_data_root_are_refused(env: dict[str, Any]) -> None:
    client, pid, root = env["client"], env["pool"]["pool_id"], env["root"]
    (root / "link.jsonl").symlink_to(env["secret"])  # a symlink inside pointing outside
    cases = {
        "eval.benchmarks[0].path": [
            _spec(pid, eval=_bench_spec(p))
            for p in (str(env["secret"]), "../secret.txt", "link.jsonl", "/etc/hostname")
        ],
        "eval.benchmarks[0].test_path": [
            _spec(pid, eval=_bench_spec("dev.jsonl", test_path=str(env["secret"])))
        ],
        "eval.model": [
            _spec(pid, eval={**_bench_spec("dev.jsonl"), "model": str(env["outside_model"])})
        ],
        "signals.model": [
            _spec(pid, signals={"model": str(env["outside_model"]), "relevance": False})
        ],
        "report.references.leak": [
            _spec(pid, report={"references": {"leak": str(env["secret"])}}),
            _spec(pid, report={"references": {"leak": "../secret.txt"}}),
        ],
    }
    for field, specs in cases.items():
        for spec in specs:
            r = client.post("/v1/searches", json=spec)
            assert r.status_code == 403, (field, r.text)
            err = r.json()["error"]
            assert err["code"] == "path_not_allowed" and err["field"] == field
            assert str(root) not in r.text and "root:x" not in r.text
    assert _searches(env) == 0, "nothing stored"


def test_spec_paths_inside_the_roots_are_stored_resolved(env: dict[str, Any]) -> None:
    client, pid, root = env["client"], env["pool"]["pool_id"], env["root"]
    extra_root = env["tmp"] / "models"
    (extra_root / "tiny").mkdir(parents=True)
    (extra_root / "tiny" / "config.json").write_text("{}")
    client.app.state.settings = env["settings"].model_copy(  # type: ignore[attr-defined]
        update={"model_roots": [extra_root]}
    )
    (root / "ids.txt").write_text("\n")  # exists; its content is checked after confinement
    spec = _spec(pid, eval={**_bench_spec("dev.jsonl"), "model": "tiny"})
    spec["signals"] = {"model": "SmolLM2", "relevance": False}  # builtin names stay allowed
    r = client.post("/v1/searches", json=spec)
    assert r.status_code == 201, r.text
    stored = r.json()["spec"]
    assert stored["eval"]["benchmarks"][0]["path"] == str(root / "dev.jsonl")
    assert stored["eval"]["benchmarks"][0]["test_path"] == str(root / "test.jsonl")
    assert stored["eval"]["model"] == str(extra_root / "tiny")
    assert stored["signals"]["model"] == "SmolLM2"


def test_missing_and_forbidden_paths_are_indistinguishable(env: dict[str, Any]) -> None:
    client, root = env["client"], env["root"]

    def answer(path: str, route: str) -> tuple[int, dict[str, Any]]:
        if route == "register":
            r = client.post("/v1/pools/register", json={"path": path})
        else:
            r = client.post("/v1/searches", json=_spec("mine", eval=_bench_spec(path)))
        return r.status_code, r.json()["error"]

    for route in ("register", "search"):
        outside = answer(str(env["secret"]), route)
        missing_outside = answer(str(env["tmp"] / "nope.txt"), route)
        missing_inside = answer(str(root / "nope.jsonl"), route)
        relative_missing = answer("nope.jsonl", route)
        assert outside == missing_outside == missing_inside == relative_missing, route
        assert outside[0] == 403 and str(root) not in outside[1]["message"]


# --- 2. pools by id, unique prefix or name; never by path --------------------------------


def test_pool_refs_are_ids_prefixes_or_names_never_paths(env: dict[str, Any]) -> None:
    client, pid = env["client"], env["pool"]["pool_id"]
    other = Settings(home=env["tmp"] / "other-home")  # a pool directory outside the data root
    from autosel.pool.ingest import add_pool

    src = env["tmp"] / "o.jsonl"
    src.write_bytes(_jsonl(5))
    foreign = add_pool(src, name="foreign", settings=other).pool
    for ref in ("~;Ü#}@=P", "a" * 300, "", str(foreign.path), pid[:5], "../" * 5 + "etc"):
        r = client.post("/v1/searches", json=_spec(ref))
        assert r.status_code == 404, (ref[:20], r.text)
        assert r.json()["error"]["code"] == "not_found"
    for ref in ("~;Ü#}@=P", "a" * 300, pid[:5]):
        r = client.get(f"/v1/pools/{ref}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", ref[:20]
    for ref in (pid, pid[:6], "mine"):
        assert client.get(f"/v1/pools/{ref}").json()["pool_id"] == pid
    assert _searches(env) == 0


# --- 3. auth: flag > AUTOSEL_AUTH > bind address ------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env_value", "host", "expected"),
    [
        (None, None, "127.0.0.1", False),
        (None, None, "localhost", False),
        (None, None, "::1", False),
        (None, None, "0.0.0.0", True),
        (None, True, "127.0.0.1", True),
        (None, False, "0.0.0.0", False),
        (True, None, "127.0.0.1", True),
        (True, False, "127.0.0.1", True),
        (False, None, "0.0.0.0", False),
        (False, True, "0.0.0.0", False),
    ],
)
def test_auth_precedence(
    flag: bool | None, env_value: bool | None, host: str, expected: bool
) -> None:
    from autosel.api.perimeter import decide_auth

    on, why = decide_auth(flag, env_value, host)
    assert on is expected
    if flag is not None:
        assert why == ("--auth" if flag else "--no-auth")
    elif env_value is not None:
        assert why.startswith("AUTOSEL_AUTH=")
    else:
        assert why.startswith("default")


@pytest.mark.parametrize(
    ("args", "env_auth", "expected"),
    [
        ([], "true", True),
        (["--no-auth"], "true", False),
        ([], None, False),
        (["--auth"], None, True),
    ],
)
def test_serve_honours_autosel_auth(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    env_auth: str | None,
    expected: bool,
) -> None:
    """``autosel serve`` on loopback: the app it would run asks for a token exactly when
    the precedence says so, and the banner says why."""
    import uvicorn
    from typer.testing import CliRunner

    from autosel.cli import app as cli

    served: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda application, **kw: served.update(app=application))
    monkeypatch.setenv("AUTOSEL_HOME", str(tmp_path))
    if env_auth is None:
        monkeypatch.delenv("AUTOSEL_AUTH", raising=False)
    else:
        monkeypatch.setenv("AUTOSEL_AUTH", env_auth)
    out = CliRunner().invoke(cli, ["serve", "--workers", "0", "--no-scheduler", *args])
    assert out.exit_code == 0, out.output
    banner = " ".join(out.output.split())  # the console wraps long lines
    assert f"auth {'on' if expected else 'off'}" in banner
    assert ("AUTOSEL_AUTH=true" in banner) == (env_auth is not None and not args)
    r = TestClient(served["app"], base_url="http://127.0.0.1").get("/v1/pools")
    assert r.status_code == (401 if expected else 200)


# --- 4. cross-site protection on the no-auth default ---------------------------------------


def test_foreign_host_names_are_refused(env: dict[str, Any]) -> None:
    client = env["client"]
    r = client.get("/v1/pools", headers={"Host": "evil.example"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed"
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert client.get("/v1/pools", headers={"Host": host}).status_code == 200, host
    configured = env["settings"].model_copy(update={"allowed_hosts": ["autosel.lan"]})
    other = TestClient(create_app(configured), base_url="http://autosel.lan")
    assert other.get("/v1/pools").status_code == 200
    assert other.get("/v1/pools", headers={"Host": "evil.example"}).status_code == 400


def test_cross_origin_writes_are_refused(env: dict[str, Any]) -> None:
    client, settings = env["client"], env["settings"]
    before = sorted(p.name for p in settings.pools_dir.iterdir())
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    r = client.post("/v1/pools/upload?name=x", content=_jsonl(3), headers=evil)
    assert r.status_code == 403 and r.json()["error"]["code"] == "cross_origin"
    sid = client.post("/v1/searches", json=_spec("mine")).json()["id"]
    for origin in ("http://evil.example", "null", "http://localhost.evil.example"):
        r = client.post(f"/v1/searches/{sid}/cancel", headers={"Origin": origin})
        assert r.status_code == 403, origin
    assert client.get(f"/v1/searches/{sid}").json()["state"] != "cancelled"
    # The dashboard's own pages (same origin) and clients sending no Origin may write.
    same = client.post(f"/v1/searches/{sid}/cancel", headers={"Origin": LOCAL})
    assert same.status_code == 200
    assert sorted(p.name for p in settings.pools_dir.iterdir()) == before, "no pool created"


def test_uploads_only_with_their_declared_content_types(env: dict[str, Any]) -> None:
    client, settings = env["client"], env["settings"]
    before = sorted(p.name for p in settings.pools_dir.iterdir())
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = client.post("/v1/pools/upload?name=x", content=_jsonl(4), headers=headers)
        assert r.status_code == 415, (ctype, r.text)
        assert r.json()["error"]["code"] == "unsupported_media_type"
    assert sorted(p.name for p in settings.pools_dir.iterdir()) == before
    ok = client.post("/v1/pools/upload?name=x", content=_jsonl(4), headers=OCTET)
    assert ok.status_code == 201


def test_every_answer_forbids_framing(env: dict[str, Any]) -> None:
    client = env["client"]
    for path in ("/v1/pools", "/health", "/v1/pools/nope", "/"):
        csp = client.get(path).headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp, path
    assert "frame-ancestors 'none'" in client.get(
        "/v1/pools", headers={"Host": "evil.example"}
    ).headers.get("content-security-policy", "")


# --- 5. no traceback ever: JSON 500 with a request id; disk checked while streaming --------


def test_unhandled_errors_are_json_with_a_request_id(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import autosel.pool

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(autosel.pool, "list_pools", broken)
    with caplog.at_level(logging.ERROR, logger="autosel.api"):
        r = env["client"].get("/v1/pools")
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    err = r.json()["error"]
    assert err["code"] == "internal_error" and "disk on fire" not in r.text
    assert len(err["request_id"]) == 16 and r.headers["x-request-id"] == err["request_id"]
    logged = [rec for rec in caplog.records if err["request_id"] in rec.getMessage()]
    assert logged and logged[0].exc_info is not None, "logged with its traceback"


def test_chunked_upload_stops_when_the_disk_fills(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunked upload declares no length: the free-disk guard must run as it streams."""
    client, settings = env["client"], env["settings"]
    before = sorted(p.name for p in settings.pools_dir.iterdir())
    usage = namedtuple("usage", "total used free")
    calls = {"n": 0}

    def filling(_: Any) -> Any:
        calls["n"] += 1  # plenty at first, then less than the minimum the settings keep
        free = 10**13 if calls["n"] == 1 else settings.min_free_disk_bytes // 2
        return usage(10**13, 10**13 - free, free)

    monkeypatch.setattr(shutil, "disk_usage", filling)

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield _jsonl(50)

    r = client.post("/v1/pools/upload?name=big", content=chunks(), headers=OCTET)
    assert r.status_code == 507 and r.json()["error"]["code"] == "insufficient_storage"
    assert sorted(p.name for p in settings.pools_dir.iterdir()) == before, "nothing half-written"
    assert not any(n.startswith(".upload-") for n in os.listdir(settings.pools_dir))


# --- 6. smaller ------------------------------------------------------------------------------


def test_get_on_post_only_actions_is_405(env: dict[str, Any]) -> None:
    for path in ("/v1/jobs/lease", "/v1/pools/upload", "/v1/pools/register"):
        r = env["client"].get(path)
        assert r.status_code == 405, path
        assert r.headers["allow"] == "POST" and r.json()["error"]["code"] == "method_not_allowed"


def test_validation_errors_name_the_field_path(env: dict[str, Any]) -> None:
    client, pid = env["client"], env["pool"]["pool_id"]
    not_object = client.post("/v1/jobs/lease", json=[1])
    bad_json = client.post(
        "/v1/jobs/lease", content=b"{bad", headers={"content-type": "application/json"}
    )
    for r in (not_object, bad_json):
        err = r.json()["error"]
        assert r.status_code == 422 and err["field"] == "body"
        assert all(d["field"] for d in err["details"]), err
    nested = client.post(
        "/v1/searches",
        json=_spec(pid, eval={"benchmarks": [{"name": "b c", "path": "dev.jsonl"}]}),
    )
    assert nested.status_code == 422
    assert nested.json()["error"]["field"] == "eval.benchmarks[0].name"
    knob = client.post("/v1/searches", json=_spec(pid, knobs={"seed": -1}))
    assert knob.json()["error"]["field"] == "knobs.seed"


def test_disk_full_during_ingest_is_507_without_server_paths(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    import autosel.pool.ingest
    from autosel.errors import StorageError, describe_os_error

    settings = env["settings"]

    def full(*_: Any, **__: Any) -> Any:
        err = OSError(errno.ENOSPC, "No space left on device", str(settings.pools_dir / "x"))
        raise StorageError(describe_os_error(err, home=settings.home))

    monkeypatch.setattr(autosel.pool.ingest, "add_pool", full)
    r = env["client"].post("/v1/pools/upload?name=x", content=_jsonl(3), headers=OCTET)
    assert r.status_code == 507 and r.json()["error"]["code"] == "storage_error"
    assert "no space left" in r.text and str(settings.home) not in r.text
