"""``autosel search resume --server``: the CLI's HTTP client resumes a failed search on a
server, through the same action as the embedded client (same event, same refusal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autosel.api import create_app
from autosel.cli.client import HttpClient
from autosel.errors import InvalidStateError
from autosel.settings import Settings
from autosel.store import open_store
from tests.api.conftest import LiveServer
from tests.scheduler.conftest import fast_spec


def test_http_client_resumes_a_failed_search_and_is_refused_otherwise(tmp_path: Path) -> None:
    from autosel.service import create_search, register_pool

    (tmp_path / "pool.jsonl").write_text(
        "".join(
            json.dumps({"prompt": f"p{i}", "response": "r", "source": "s"}) + "\n"
            for i in range(30)
        )
    )
    settings = Settings(home=tmp_path / "home", data_root=tmp_path)
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    pool = register_pool(tmp_path / "pool.jsonl", settings=settings).pool
    sid = create_search(store, fast_spec(pool.pool_id, 2), settings=settings).id
    store.set_search_state(sid, "failed")
    with LiveServer(create_app(settings, store=store)) as server:
        client = HttpClient(server.url, None)
        assert client.resume(sid)["state"] == "running"
        with pytest.raises(InvalidStateError, match="only a failed search can be resumed"):
            client.resume(sid)
    kinds = [e.kind for e in store.events(0, search_id=sid)]
    assert kinds.count("search_resumed") == 1
