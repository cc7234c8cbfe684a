"""The API and the remote CLI stay light: no torch, BoTorch, transformers or TRL.

Each check runs in a fresh interpreter (this test session has long imported everything)
and reads ``sys.modules`` at the end. A heavy import belongs inside the function that
needs it (a strategy's ``ask``, a worker's evaluation), never on a path that validates a
spec or lists searches.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import LiveServer

HEAVY = ("torch", "botorch", "gpytorch", "transformers", "trl", "peft", "datasets")

# Prints, as JSON on the last line of stdout, which HEAVY modules the code before it loaded.
REPORT = f"""
import json as _json, sys as _sys
print(_json.dumps(sorted(m for m in {HEAVY!r} if m in _sys.modules)))
"""


def _heavy_after(code: str, home: Path) -> list[str]:
    """Heavy modules loaded by ``code`` in a fresh interpreter with its own home."""
    env_code = f"import os\nos.environ['AUTOSEL_HOME'] = {str(home)!r}\n{code}\n{REPORT}"
    out = subprocess.run(
        [sys.executable, "-c", env_code], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_api_and_building_the_app_is_light(tmp_path: Path) -> None:
    code = "from autosel.api import create_app\ncreate_app()"
    assert _heavy_after(code, tmp_path / "home") == []


def test_validating_a_search_over_the_api_is_light(tmp_path: Path) -> None:
    # POST /v1/searches parses the spec and its knobs (SearchKnobs lives with the
    # strategies); a knob out of range is refused without loading the GP stack.
    code = """
from fastapi.testclient import TestClient
from autosel.api import create_app
client = TestClient(create_app(), base_url="http://localhost")
body = {"pool": "p", "budget": 2, "signals": {"model": None, "relevance": False},
        "knobs": {"patience": -1}}
r = client.post("/v1/searches", json=body)
assert r.status_code == 422 and "knobs.patience" in r.text, (r.status_code, r.text)
"""
    assert _heavy_after(code, tmp_path / "home") == []


def test_the_search_spec_module_is_light(tmp_path: Path) -> None:
    code = "import autosel.scheduler.spec\nimport autosel.search"
    assert _heavy_after(code, tmp_path / "home") == []


def test_remote_search_list_is_light(tmp_path: Path) -> None:
    from autosel.api import create_app
    from autosel.settings import Settings

    app = create_app(Settings(home=tmp_path / "server"))
    with LiveServer(app) as server:
        code = f"""
import sys
from autosel.cli import main
sys.argv = ["autosel", "search", "list", "--server", {server.url!r}]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), f"exit {{exc.code}}"
"""
        assert _heavy_after(code, tmp_path / "client") == []


def test_cli_help_is_light(tmp_path: Path) -> None:
    code = """
import sys
from autosel.cli import main
sys.argv = ["autosel", "--help"]
try:
    main()
except SystemExit as exc:
    assert exc.code in (0, None), f"exit {exc.code}"
"""
    assert _heavy_after(code, tmp_path / "home") == []
