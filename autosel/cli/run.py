"""``autosel demo``: the main job on the embedded default, stage by stage with timings."""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

import typer

from autosel.cli import app
from autosel.cli._common import console, stats_table


@contextmanager
def _stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    console.rule(f"[bold]{name}")
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0
    console.print(f"[dim]{name}: {timings[name]:.1f} s[/]")


@app.command("demo")
def demo(
    out: Path = typer.Option(None, help="Where to write the demo pool (default: $AUTOSEL_HOME/demo)."),
    size: str = typer.Option("small", help="Demo pool size: small, medium or large."),
    seed: int = typer.Option(0, help="Seed of the demo pool."),
) -> None:
    """Run the main job on the embedded default: demo pool → ingest → statistics."""
    from autosel.pool.demo import generate_demo_pool
    from autosel.pool.ingest import add_pool
    from autosel.settings import get_settings

    settings = get_settings()
    out = out or settings.home / "demo"
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    with _stage("1. generate the demo pool", timings):
        demo_pool = generate_demo_pool(out, size=size, seed=seed)
        console.print(f"pool file: {demo_pool.pool_path}")
        console.print(f"held-out benchmarks: {', '.join(str(p) for p in demo_pool.bench_paths)}")
    with _stage("2. ingest the pool", timings):
        res = add_pool(demo_pool.pool_path, name=f"demo-{size}-{seed}", settings=settings)
        console.print(stats_table(res.pool.stats()))
    console.rule("[bold]done")
    for name, secs in timings.items():
        console.print(f"  {name:<32} {secs:7.1f} s")
    console.print(f"  {'total':<32} {time.perf_counter() - t_all:7.1f} s")
    console.print(
        f"pool [bold]{res.pool.pool_id}[/] is stored in {res.pool.path}. Not yet part of this demo: "
        "signals, recipe search and SFT evaluations (see README, Status)."
    )
