"""docker-compose.yml, verified without docker: each service's command runs directly
against a real local PostgreSQL, with the environment the compose file gives it (only
the database host and the bind address are swapped for local ones)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.store.conftest import pg_server  # noqa: F401 - session PostgreSQL fixture

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _env(service: dict[str, Any], url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
    if "AUTOSEL_DATABASE_URL" in env:
        assert env["AUTOSEL_DATABASE_URL"].startswith("postgresql+psycopg://")
        env["AUTOSEL_DATABASE_URL"] = url
    env.update({"AUTOSEL_HOME": str(home), "AUTOSEL_MODELS_CACHE": str(home / "models"), **extra})
    return {**os.environ, **env, "PATH": f"{BIN}:{os.environ['PATH']}"}


def _cmd(service: dict[str, Any], **swap: str) -> list[str]:
    cmd = list(service["command"])
    for i, arg in enumerate(cmd):
        if arg in swap:
            cmd[i] = swap[arg]
    return cmd


def test_compose_file_shape(compose: dict[str, Any]) -> None:
    s = compose["services"]
    assert set(s) == {"postgres", "migrate", "api", "worker"}
    assert "healthcheck" in s["postgres"] and any("pgdata" in v for v in s["postgres"]["volumes"])
    assert s["migrate"]["command"] == ["alembic", "upgrade", "head"]
    assert s["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert s["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    dev = s["worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert dev["driver"] == "nvidia" and "gpu" in dev["capabilities"]
    assert "AUTOSEL_DATABASE_URL" not in s["worker"]["environment"], (
        "workers need no DB credentials"
    )
    assert any(v.startswith("models:") for v in s["worker"]["volumes"]), "model cache volume"
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.postgres
def test_each_service_command_runs_against_postgres(
    compose: dict[str, Any],
    pg_server: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    from autosel.store import open_store
    from autosel.store.testing import free_port

    url = pg_server.create_database("compose")
    s = compose["services"]
    # migrate: a one-shot `alembic upgrade head`, from the image's working directory.
    mig = subprocess.run(
        _cmd(s["migrate"]),
        cwd=ROOT,
        env=_env(s["migrate"], url, tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert mig.returncode == 0, mig.stderr
    store = open_store(url, migrate=False)
    assert store.searches() == [] and store.workers() == []

    # tokens, as the compose file's instructions say (`autosel token create`).
    def token(name: str, scope: str) -> str:
        out = subprocess.run(
            [str(BIN / "autosel"), "token", "create", name, "--scope", scope],
            env=_env(s["api"], url, tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip().splitlines()[-1]

    worker_token, user_token = token("gpu-workers", "worker"), token("me", "user")
    # api: bound to 127.0.0.1 here instead of 0.0.0.0.
    port = free_port()
    api_cmd = _cmd(s["api"], **{"0.0.0.0": "127.0.0.1", "8000": str(port)})
    api = subprocess.Popen(
        api_cmd,
        env=_env(s["api"], url, tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert api.poll() is None, api.stdout.read() if api.stdout else ""
            assert time.monotonic() < deadline, "api did not become ready"
            time.sleep(0.5)
        assert httpx.get(f"{base}/v1/searches").status_code == 401, "auth is on in the compose api"
        # worker: joins over the REST API with its token (no DB URL), then exits when idle.
        wcmd = _cmd(s["worker"], **{"http://api:8000": base}) + ["--idle-exit", "2"]
        wenv = _env(s["worker"], url, tmp_path / "worker", AUTOSEL_TOKEN=worker_token)
        wenv.pop("AUTOSEL_DATABASE_URL", None)
        w = subprocess.run(wcmd, env=wenv, capture_output=True, text=True, timeout=180)
        assert w.returncode == 0, w.stdout + w.stderr
        workers = httpx.get(
            f"{base}/v1/workers", headers={"Authorization": f"Bearer {user_token}"}
        ).json()
        assert workers["count"] == 1 and workers["data"][0]["device"] == "cuda:0"
    finally:
        api.terminate()
        api.wait(timeout=30)
