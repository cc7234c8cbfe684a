"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

A real search (label-objective evaluation, see ``tests/scheduler/conftest.py``) runs on a
live server on 127.0.0.1; the tests read what the page shows and what plotly drew, click
the downloads, and watch a running search update over Server-Sent Events.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from autosel.api import create_app
from autosel.store import open_store
from tests.scheduler.conftest import fast_spec

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _spec(pool_id: str, budget: int, **kw: Any) -> dict[str, Any]:
    return fast_spec(pool_id, budget, seed=1, **kw)


def _wait_state(
    client: httpx.Client, sid: str, states: set[str], timeout: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = client.get(f"/v1/searches/{sid}").json()
        if s["state"] in states:
            return s
        time.sleep(0.2)
    raise AssertionError(f"search {sid} never reached {states}: {s}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium from Debian; never a downloaded browser."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = reason or "playwright is not installed (pip install -e '.[test]')"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(reason)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Page:
    """A page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(
            viewport={"width": 1300, "height": 1000}, accept_downloads=True
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def traces(self, div: str) -> list[dict[str, Any]]:
        """Name and point count of every trace plotly holds for a graph div."""
        return self.page.evaluate(
            "(id) => document.getElementById(id).data.map(t => ({name: t.name, n: t.x.length, "
            "y: Array.from(t.y)}))",
            div,
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def finished(
    demo_env: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A live server holding one finished search (budget 6: warmup and GP-proposed trials)."""
    from tests.api.conftest import LabelObjective, LiveServer

    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('dash') / 'db.sqlite'}")
    app = create_app(
        demo_env["settings"],
        store=store,
        run_scheduler=True,
        workers=1,
        evaluate_fn=LabelObjective(demo_env["labels"]),
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        sid = client.post(
            "/v1/searches", json=_spec(demo_env["pool"].pool_id, 6, name="dash")
        ).json()["id"]
        summary = _wait_state(client, sid, {"completed", "failed", "cancelled"})
        assert summary["state"] == "completed", summary
        trials = client.get(f"/v1/searches/{sid}/trials").json()["data"]
        yield {
            "url": server.url,
            "sid": sid,
            "summary": summary,
            "trials": trials,
            "client": client,
        }


def test_searches_list_page(browser: Any, finished: dict[str, Any]) -> None:
    p = Page(browser)
    p.page.goto(finished["url"] + "/")
    p.page.wait_for_selector("#searches tbody tr")
    rows = p.page.locator("#searches tbody tr")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "dash" in text and "completed" in text and "6 / 6" in text
    assert f"{finished['summary']['best_score']:.4f}" in text
    assert p.page.locator("h1").inner_text() == "Searches"
    p.page.click("#searches tbody a")
    p.page.wait_for_url(f"**/searches/{finished['sid']}")
    p.page.wait_for_selector("#trials tbody tr")
    assert p.errors == []
    p.close()


def test_search_page_plots_table_recipe_downloads(browser: Any, finished: dict[str, Any]) -> None:
    sid, trials, summary = finished["sid"], finished["trials"], finished["summary"]
    client = finished["client"]
    p = Page(browser)
    p.page.goto(f"{finished['url']}/#/search/{sid}")
    p.page.wait_for_selector("#trials tbody tr")
    p.page.wait_for_function(
        "() => document.getElementById('recipe-yaml').textContent.includes('steps')"
    )

    # One table row per trial (final-report runs included), numbered like the API.
    numbers = p.page.locator("#trials tbody tr th").all_inner_texts()
    assert numbers == [str(t["number"]) for t in trials] and len(trials) == 6 + 6

    # Best-so-far on dev: one point per finished search evaluation, no test score mixed in.
    progress = {t["name"]: t for t in p.traces("plot-progress")}
    full_dev = [t for t in trials if not t["report"] and not t["recipe"].get("steps")]
    want = {"best so far", "observed"} | ({"full pool (dev)"} if full_dev else set())
    assert set(progress) == want
    assert progress["best so far"]["n"] == summary["completed"] == 6
    assert progress["best so far"]["y"] == summary["best_so_far"]

    # The final report on test: every comparison with its CI and verdict, every arm's score.
    report = client.get(f"/v1/searches/{sid}/report").json()["report"]
    p.page.wait_for_selector("#report-comparisons li")
    shown = p.page.locator("#report-comparisons li").all_inner_texts()
    assert shown == [f"{c['verdict']}: {c['sentence']}" for c in report["comparisons"]]
    assert all("95% CI" in line for line in shown)
    assert p.page.locator("#report-arms tbody tr").count() == len(report["arms"]) == 3
    assert "dev score" in p.page.inner_text("#report-best")
    assert p.traces("plot-report")[0]["n"] == 3

    # Prediction vs observed: warmup trials have no prediction, the GP's trials do.
    search_trials = [t for t in trials if not t["report"]]
    n_pred = sum(t["predicted_mean"] is not None for t in search_trials)
    assert 0 < n_pred < len(search_trials), "some warmup and some GP-proposed trials"
    prediction = {t["name"]: t for t in p.traces("plot-prediction")}
    assert prediction["predicted mean ± std"]["n"] == n_pred
    assert prediction["observed"]["n"] == sum(t["score"] is not None for t in search_trials)
    drawn = p.page.locator("#plot-prediction .scatterlayer .point").count()
    assert drawn == n_pred + prediction["observed"]["n"], "plotly drew every marker"

    # What the GP believes: one leave-one-out point per scored search trial, importances.
    diag = client.get(f"/v1/searches/{sid}/diagnostics").json()
    p.page.wait_for_function(
        "() => document.getElementById('diagnostics-status').textContent.includes('GP fitted')"
    )
    loo = {t["name"]: t for t in p.traces("plot-loo")}
    assert loo["trials"]["n"] == len(diag["loo"]) == diag["points"] >= 3
    assert p.traces("plot-importance")[0]["n"] == min(12, len(diag["importance"]))

    # The chosen recipe as YAML, the same bytes as the API, and the downloads.
    api_yaml = client.get(f"/v1/searches/{sid}/recipe").text
    assert p.page.locator("#recipe-yaml").inner_text().strip() == api_yaml.strip()
    with p.page.expect_download() as dl:
        p.page.click("#download-recipe")
    assert dl.value.suggested_filename.endswith(".yaml")
    assert Path(dl.value.path()).read_text() == api_yaml
    p.page.select_option("#export-format", "alpaca")
    with p.page.expect_download() as dl:
        p.page.click("#download-subset")
    lines = Path(dl.value.path()).read_text().splitlines()
    assert len(lines) == summary["best"]["size"] and "alpaca" in dl.value.suggested_filename

    # Composition of the best subset against the pool, as bars and as a table.
    comp = client.get(f"/v1/searches/{sid}/composition").json()
    bars = {t["name"]: t for t in p.traces("plot-composition")}
    assert bars["pool"]["n"] == len(comp["sources"]) >= 2
    assert p.page.locator("#composition tbody tr").count() == len(comp["sources"])

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "dashboard-search.png"
    p.page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # Another trial's recipe on request.
    first_done = next(t for t in search_trials if t["state"] == "complete")
    p.page.click(f"#trials tr[data-trial='{first_done['number']}'] button")
    p.page.wait_for_function(
        f"() => document.getElementById('detail-title').textContent.includes('trial "
        f"{first_done['number']}')"
    )
    assert p.errors == [], p.errors
    p.close()


def test_token_from_query_is_kept_and_sent(
    browser: Any, demo_env: dict[str, Any], tmp_path: Path
) -> None:
    from tests.api.conftest import LiveServer

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    token, _ = store.create_token("viewer", ["user"])
    with LiveServer(create_app(demo_env["settings"], store=store, auth=True)) as server:
        p = Page(browser)
        p.page.goto(server.url + "/")
        p.page.wait_for_selector("[role=alert]")
        assert "?token=" in p.page.inner_text("main"), "says how to pass a token"
        p.errors.clear()  # the browser logs the 401 itself
        p.page.goto(f"{server.url}/?token={token}")
        p.page.wait_for_selector("#main p:has-text('No search yet')")
        assert "token" not in p.page.url, "the token is removed from the address bar"
        assert p.page.evaluate("() => sessionStorage.getItem('autosel-token')") == token
        p.page.reload()
        p.page.wait_for_selector("#main p:has-text('No search yet')")
        assert p.errors == [], p.errors
        p.close()


class SlowObjective:
    """The label objective, one second per evaluation: slow enough to watch a search run."""

    def __init__(self, labels: dict[str, str]) -> None:
        from tests.api.conftest import LabelObjective

        self.inner = LabelObjective(labels)

    def __call__(self, rows: list[dict[str, Any]], spec: Any, out: Path, *, stop: Any) -> Any:
        time.sleep(1.5)
        return self.inner(rows, spec, out)


def test_running_search_updates_live(
    browser: Any, demo_env: dict[str, Any], tmp_path: Path
) -> None:
    from tests.api.conftest import LiveServer

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(
        demo_env["settings"],
        store=store,
        run_scheduler=True,
        workers=1,
        evaluate_fn=SlowObjective(demo_env["labels"]),
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        sid = client.post(
            "/v1/searches", json=_spec(demo_env["pool"].pool_id, 4, report={"enabled": False})
        ).json()["id"]
        p = Page(browser)
        p.page.goto(f"{server.url}/searches/{sid}")
        p.page.wait_for_selector("#trials tbody tr")
        p.page.evaluate("() => { window.__noReload = true; }")  # gone if the page ever reloads
        first = p.page.locator("#trials tbody tr").count()
        assert first < 4, "the page opened while the search was still running"
        p.page.wait_for_function(
            "() => document.querySelectorAll('#trials tbody tr').length === 4", timeout=60_000
        )
        p.page.wait_for_function(
            "() => document.getElementById('search-state').textContent === 'completed'",
            timeout=60_000,
        )
        assert p.page.evaluate("() => window.__noReload === true"), (
            "updated in place, not by reloading"
        )
        assert p.traces("plot-progress")[0]["n"] == 4
        assert p.page.locator("#trials tbody tr td.state-complete").count() == 4
        assert p.errors == [], p.errors
        p.close()


def test_searches_list_updates_live(browser: Any, demo_env: dict[str, Any], tmp_path: Path) -> None:
    """The list page follows /v1/searches/events: a search started after the page opened
    appears, runs and completes with its best score, all without a reload or a poll. A
    second page whose stream is blocked falls back to polling and still gets there."""
    from tests.api.conftest import LiveServer

    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    app = create_app(
        demo_env["settings"],
        store=store,
        run_scheduler=True,
        workers=1,
        evaluate_fn=SlowObjective(demo_env["labels"]),
    )
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        live, cut = Page(browser), Page(browser)
        requests: list[str] = []
        live.page.on("request", lambda r: requests.append(r.url.removeprefix(server.url)))
        cut.page.route("**/v1/searches/events*", lambda route: route.abort())
        for p in (live, cut):
            p.page.goto(server.url + "/")
            p.page.wait_for_selector("#main p:has-text('No search yet')")
            p.page.evaluate("() => { window.__noReload = true; }")  # gone if the page reloads
        live.page.wait_for_function(
            "() => document.getElementById('live').textContent.startsWith('Live')"
        )
        assert "interrupted" in cut.page.inner_text("#live")

        sid = client.post(
            "/v1/searches",
            json=_spec(demo_env["pool"].pool_id, 3, report={"enabled": False}, name="live"),
        ).json()["id"]
        row = f"#searches tr[data-search='{sid}']"
        live.page.wait_for_selector(f"{row} td.state-running", timeout=30_000)
        assert live.page.locator(f"{row} td.num").inner_text() == "–", "no score yet"
        summary = _wait_state(client, sid, {"completed", "failed", "cancelled"})
        assert summary["state"] == "completed", summary
        best = f"{summary['best_score']:.4f}"
        for p, timeout in ((live, 10_000), (cut, 15_000)):  # the fallback polls every 5 s
            p.page.wait_for_selector(f"{row} td.state-completed", timeout=timeout)
            p.page.wait_for_function(
                f"() => document.querySelector(\"{row} td.num\").textContent === '{best}'",
                timeout=timeout,
            )
            assert "3 / 3" in p.page.inner_text(row)
            assert p.page.evaluate("() => window.__noReload === true"), "updated in place"

        # The live page learned everything from its one stream: once the search is quiet,
        # longer than a poll interval passes without the list being read again.
        def list_reads() -> int:
            return sum(u == "/v1/searches" for u in requests)

        # The search's last events (job and search transitions after the summary turned
        # "completed") may still trigger one event-driven read: wait until 2 s pass quiet.
        before = list_reads()
        for _ in range(15):
            live.page.wait_for_timeout(2_000)
            if list_reads() == before:
                break
            before = list_reads()
        live.page.wait_for_timeout(6_000)
        assert list_reads() == before, "the live page does not poll"
        assert [u for u in requests if u.startswith("/v1/searches/events")] == [
            "/v1/searches/events"
        ], "one stream, never reopened"
        assert live.page.inner_text("#live").startswith("Live")
        assert live.errors == [], live.errors
        # The blocked page logs only its refused stream requests.
        assert all("ERR_FAILED" in e for e in cut.errors), cut.errors
        live.close()
        cut.close()
