"""Pools over the REST API: streamed upload with limits, path registration, errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autosel.api import create_app
from autosel.settings import Settings


def _jsonl(n: int, start: int = 0) -> bytes:
    return b"".join(
        json.dumps({"prompt": f"p{i}", "response": "r", "source": "s"}).encode() + b"\n"
        for i in range(start, start + n)
    )


OCTET = {"content-type": "application/octet-stream"}


@pytest.fixture()
def client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://localhost")


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/ready").json() == {"status": "ready", "checks": {"home": "ok"}}


def test_upload_list_get_stats_export(client: TestClient) -> None:
    r = client.post("/v1/pools/upload?name=mine", content=gzip.compress(_jsonl(5)), headers=OCTET)
    assert r.status_code == 201, r.text
    pool = r.json()
    assert pool["rows"] == 5 and pool["created"] and pool["name"] == "mine"
    again = client.post("/v1/pools/upload?name=mine", content=_jsonl(5), headers=OCTET)
    assert again.status_code == 201 and not again.json()["created"]
    assert again.json()["pool_id"] == pool["pool_id"]
    listing = client.get("/v1/pools").json()
    assert listing["count"] == 1 and listing["data"][0]["pool_id"] == pool["pool_id"]
    assert client.get(f"/v1/pools/{pool['pool_id']}/stats").json()["sources"] == {"s": 5}
    lines = client.get(f"/v1/pools/{pool['pool_id']}/export?format=sharegpt").text.splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["conversations"][1] == {
        "from": "gpt",
        "value": "r",
    }


def test_upload_errors_name_line_and_field(client: TestClient, settings: Settings) -> None:
    r = client.post(
        "/v1/pools/upload?name=bad", content=_jsonl(2) + b'{"prompt": "x"}\n', headers=OCTET
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "invalid_input" and err["line"] == 3 and err["field"] == "response"
    assert "upload 'bad', line 3" in err["message"] and ".upload-" not in err["message"]
    assert (
        client.post("/v1/pools/upload", content=b"", headers=OCTET).json()["error"]["field"]
        == "body"
    )
    assert [p.name for p in settings.pools_dir.iterdir()] == [], "nothing half-written"


def test_upload_size_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", max_upload_bytes=1000)
    client = TestClient(create_app(settings), base_url="http://localhost")

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(50):  # no content-length: only the streaming check can stop it
            yield _jsonl(1, i)

    r = client.post("/v1/pools/upload", content=chunks(), headers=OCTET)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert list(settings.pools_dir.iterdir()) == []


def test_upload_refused_when_disk_would_fill(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", min_free_disk_bytes=10**18)
    client = TestClient(create_app(settings), base_url="http://localhost")
    r = client.post("/v1/pools/upload", content=_jsonl(2), headers=OCTET)
    assert r.status_code == 507 and r.json()["error"]["code"] == "insufficient_storage"


def test_register_inside_root_only(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "p.jsonl").write_bytes(_jsonl(3))
    outside = tmp_path / "secret.jsonl"
    outside.write_bytes(_jsonl(3))
    (root / "link.jsonl").symlink_to(outside)
    client = TestClient(
        create_app(Settings(home=tmp_path / "h", data_root=root)), base_url="http://localhost"
    )
    ok = client.post("/v1/pools/register", json={"path": "sub/p.jsonl", "name": "reg"})
    assert ok.status_code == 201 and ok.json()["rows"] == 3
    for bad in ("../secret.jsonl", str(outside), "link.jsonl", "sub/../../secret.jsonl"):
        r = client.post("/v1/pools/register", json={"path": bad})
        assert r.status_code == 403, bad
        assert r.json()["error"] == {
            **r.json()["error"],
            "code": "path_not_allowed",
            "field": "path",
        }
        assert str(root) not in r.text, "the data root is not revealed"
    missing = client.post("/v1/pools/register", json={"path": "sub/none.jsonl"})
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "path_not_allowed"
    extra = client.post("/v1/pools/register", json={"path": "sub/p.jsonl", "colour": "red"})
    assert extra.status_code == 422 and extra.json()["error"]["field"] == "colour"


def test_unknown_pool_and_operator_catalog(client: TestClient) -> None:
    r = client.get("/v1/pools/nope")
    assert r.status_code == 404 and "not found" in r.json()["error"]["message"]
    cat = client.get("/v1/operators").json()
    names = [op["name"] for op in cat["data"]]
    assert names == sorted(names) and "hes_filter" in names and cat["count"] == len(names)
    assert (
        client.get("/v1/operators/hes_filter").json()["params_schema"]["additionalProperties"]
        is False
    )
    assert client.get("/v1/operators/zzz").json()["error"]["code"] == "not_found"
