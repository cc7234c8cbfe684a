"""Ray Data executor: same values and the same cache entry as the local path, resume across
executors, a Ray instance started for the run and shut down after it (local Ray, 2 CPUs).

One run of each executor on 24 demo samples in shards of 6. Home A: a local run is
interrupted after its first shard, then Ray finishes the other three with 2 actors of 1
CPU. Home B: the local path alone. Both use one torch thread per model (the actors get one
thread per CPU): in bf16 on CPU the thread count changes token entropies by up to ~0.2 nats,
so only like-for-like runs can be compared bitwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autosel.errors import ConfigError
from autosel.settings import Settings
from autosel.signals import compute as compute_mod
from autosel.signals import compute_signals, ray_exec
from autosel.signals.ray_exec import RayExecutor

pytestmark = pytest.mark.slow

ROWS, SHARD = 24, 6


def _require_ray() -> Any:
    try:
        import ray
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("ray is not installed in CI: the [test] extra pins it (make test)")
        pytest.skip("ray is not installed: pip install 'autosel-sft[ray]'")
    return ray


def _ray_processes(ray: Any) -> list[str]:
    """Command lines of this process's descendants that run Ray's code (raylet, workers)."""
    import psutil

    root = str(Path(ray.__file__).parent)
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if root in cmd:
            found.append(cmd)
    return found


def _wait_no_ray_processes(ray: Any, seconds: float = 20.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _ray_processes(ray)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The two runs (see the module docstring); the Ray session is gone when it returns."""
    ray = _require_ray()
    import torch

    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool

    root = tmp_path_factory.mktemp("ray")
    demo = generate_demo_pool(root / "demo", size="small", seed=0)
    pool_file = root / "pool.jsonl"
    pool_file.write_text("\n".join(demo.pool_path.read_text().splitlines()[:ROWS]) + "\n")
    home_a, home_b = Settings(home=root / "a"), Settings(home=root / "b")
    pool_a = add_pool(pool_file, settings=home_a).pool
    pool_b = add_pool(pool_file, settings=home_b).pool
    threads = torch.get_num_threads()
    submitted: list[list[tuple[int, int]]] = []
    real_map, real_shard = RayExecutor._map, compute_mod.compute_shard

    def spy(self: RayExecutor, pool_path: str, todo: list[tuple[int, int]], *a: Any) -> Any:
        submitted.append(list(todo))
        return real_map(self, pool_path, todo, *a)

    def interrupted(pool_path: Any, row_range: tuple[int, int], *a: Any, **k: Any) -> Any:
        if row_range[0] == SHARD:
            raise KeyboardInterrupt  # Ctrl-C during the second shard
        return real_shard(pool_path, row_range, *a, **k)

    mp = pytest.MonkeyPatch()
    try:
        torch.set_num_threads(1)
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")
        mp.setattr(compute_mod, "ROWS_PER_SHARD", SHARD)
        t0 = time.perf_counter()
        local = compute_signals(pool_b, settings=home_b, progress=False)
        local_s = time.perf_counter() - t0
        mp.setattr(compute_mod, "compute_shard", interrupted)
        t0 = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            compute_signals(pool_a, settings=home_a, progress=False)
        first_s = time.perf_counter() - t0
        mp.setattr(compute_mod, "compute_shard", real_shard)
        mp.setattr(RayExecutor, "_map", spy)
        t0 = time.perf_counter()
        on_ray = compute_signals(
            pool_a,
            settings=home_a,
            progress=False,
            executor=RayExecutor(actors=2, cpus_per_actor=1, num_cpus=2),
        )
        ray_s = time.perf_counter() - t0
        print(
            f"\nlocal {ROWS} rows {local_s:.1f} s; interrupted local run {first_s:.1f} s; "
            f"ray, the other {ROWS - SHARD} rows on 2 actors, {ray_s:.1f} s"
        )
        yield {
            "local": local,
            "ray": on_ray,
            "pool_a": pool_a,
            "home_a": home_a,
            "home_b": home_b,
            "submitted": submitted,
            "initialized_after": ray.is_initialized(),
            "left_after": _wait_no_ray_processes(ray),
        }
    finally:
        mp.undo()
        torch.set_num_threads(threads)
        if ray.is_initialized():  # only after a failure inside the run
            ray.shutdown()
    assert not _wait_no_ray_processes(ray), "Ray processes outlived the test module"


def test_values_are_identical_to_the_local_path(runs: dict[str, Any]) -> None:
    local, on_ray = runs["local"], runs["ray"]
    for name in ("token_entropy", "token_logprob", "token_varentropy"):
        lv, lo = local.ragged(name)
        rv, ro = on_ray.ragged(name)
        np.testing.assert_array_equal(ro, lo, err_msg=name)
        np.testing.assert_array_equal(rv, lv, err_msg=name)
    np.testing.assert_array_equal(on_ray.embeddings(), local.embeddings())
    assert on_ray.names == local.names
    for name in local.names:  # HES, entropy statistics, NLL, flags, difficulty ...
        np.testing.assert_array_equal(on_ray.column(name), local.column(name), err_msg=name)
    np.testing.assert_array_equal(on_ray.hes(p=0.2), local.hes(p=0.2))
    assert len(local.column("hes")) == ROWS and (local.column("hes") > 0).any()


def test_same_cache_entry_as_the_local_path(runs: dict[str, Any]) -> None:
    def entries(home: Settings) -> list[str]:
        return sorted(str(p.relative_to(home.home)) for p in (home.home / "signals").glob("*/*"))

    assert entries(runs["home_a"]) == entries(runs["home_b"])  # same pool hash, same keys
    assert not any(e.endswith(".partial") for e in entries(runs["home_a"]))
    ma, mb = (dict(runs[r].manifest["groups"]["model"]) for r in ("ray", "local"))
    for m in (ma, mb):
        m.pop("created_at"), m.pop("dir")
    assert ma == mb


def test_ray_resumes_an_interrupted_local_run(runs: dict[str, Any]) -> None:
    # The local run finished shard [0, 6) before Ctrl-C; Ray got only the other three.
    assert runs["submitted"] == [[(6, 12), (12, 18), (18, 24)]]


def test_the_ray_instance_started_for_the_run_is_shut_down(runs: dict[str, Any]) -> None:
    assert runs["initialized_after"] is False
    assert runs["left_after"] == []


def test_later_calls_are_cache_hits(runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("a cache hit must neither load the model nor start Ray")

    monkeypatch.setattr("autosel.base_model.load_model", boom)
    monkeypatch.setattr(ray_exec, "import_ray", boom)
    for executor in ("local", "ray"):
        again = compute_signals(
            runs["pool_a"], settings=runs["home_a"], progress=False, executor=executor
        )
        np.testing.assert_array_equal(again.column("hes"), runs["local"].column("hes"))


def _cli(home: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("autosel")
    env = {**os.environ, "AUTOSEL_HOME": str(home.home)}
    return subprocess.run(
        [str(exe), "signals", "compute", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )


def test_cli_executor_options(runs: dict[str, Any]) -> None:
    pool_id = runs["pool_a"].pool_id
    out = _cli(runs["home_a"], pool_id, "--executor", "ray", "--actors", "2", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["groups"]["model"]["dir"] == str(
        runs["ray"].manifest["groups"]["model"]["dir"]
    )
    bad = _cli(runs["home_a"], pool_id, "--actors", "2")
    assert bad.returncode == 2 and "need --executor ray" in bad.stderr
    bad = _cli(runs["home_a"], pool_id, "--executor", "dask")
    assert bad.returncode == 2 and "accepted values are local, ray" in bad.stderr


def test_missing_ray_says_how_to_install(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, small_pool: Any
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # find_spec -> None, import -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'autosel-sft\[ray\]'"):
        compute_signals(small_pool, settings=settings, executor="ray", progress=False)
    assert not (settings.home / "signals").exists()  # failed before any work
    with pytest.raises(ConfigError, match=r"pip install 'autosel-sft\[ray\]'"):
        ray_exec.import_ray()


def test_unknown_executor_is_a_config_error(settings: Settings, small_pool: Any) -> None:
    with pytest.raises(ConfigError, match="accepted values are 'local', 'ray'"):
        compute_signals(small_pool, settings=settings, executor="dask", progress=False)
