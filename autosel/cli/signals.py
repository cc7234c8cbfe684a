"""``autosel signals``: compute and show the cached per-sample signals of a pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from autosel.cli import app
from autosel.cli._common import BENCH_MAP_HELP, console, print_json
from autosel.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from autosel.signals import SignalSet
    from autosel.signals.ray_exec import RayExecutor

signals_app = typer.Typer(
    help="Compute and inspect per-sample signals (HES, MinHash, ...).", no_args_is_help=True
)
app.add_typer(signals_app, name="signals")


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"{option} '{item}': expected NAME=PATH (a benchmark JSONL file)")
        out[name] = path
    return out


def _parse_bench(
    items: list[str],
    tests: list[str] | None = None,
    test_fraction: float = 0.5,
    maps: list[str] | None = None,
) -> dict[str, Any]:
    """``--bench NAME=PATH`` (+ ``--bench-test NAME=PATH``, ``--bench-map NAME:...``) as
    benchmark specs.

    Relevance reads only the dev split of each benchmark, so the split must be the one
    the search's evaluation spec uses: the same ``test_fraction``, or the same two files.
    """
    from pydantic import ValidationError

    from autosel.cli._common import parse_bench_maps
    from autosel.evaluation.spec import BenchmarkSpec, format_validation_error

    dev, test = _pairs(items, "--bench"), _pairs(tests or [], "--bench-test")
    fields = parse_bench_maps(maps, dev)
    unknown = sorted(set(test) - set(dev))
    if unknown:
        raise ConfigError(
            f"--bench-test {', '.join(unknown)}: no --bench of that name "
            f"(accepted names: {', '.join(sorted(dev)) or 'none given'})"
        )
    try:
        return {
            name: BenchmarkSpec(
                name=name,
                path=path,
                test_path=test.get(name),
                test_fraction=test_fraction,
                fields=fields.get(name) or {},
            )
            for name, path in dev.items()
        }
    except ValidationError as exc:
        raise ConfigError(f"--bench/--test-fraction: {format_validation_error(exc)}") from None


@signals_app.command("compute")
def compute(
    pool: str = typer.Argument(..., help="Pool id, id prefix, name or directory."),
    model: str = typer.Option(
        "smollm2", help="Local HF model directory or 'smollm2'; 'none' for model-free signals only."
    ),
    bench: Annotated[
        list[str] | None,
        typer.Option(
            "--bench",
            help="NAME=PATH benchmark JSONL (repeatable); relevance embeds only the questions "
            "of its dev split.",
        ),
    ] = None,
    bench_test: Annotated[
        list[str] | None,
        typer.Option(
            "--bench-test",
            help="NAME=PATH separate test file of benchmark NAME (then PATH of --bench is "
            "the whole dev split).",
        ),
    ] = None,
    bench_map: Annotated[
        list[str] | None, typer.Option("--bench-map", help=BENCH_MAP_HELP)
    ] = None,
    test_fraction: float = typer.Option(
        0.5, help="Share of each single-file benchmark's items held out as test (by item id)."
    ),
    ifd: bool = typer.Option(False, "--ifd", help="Also compute IFD (a second, prompt-free pass)."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1 (default: cuda if available)."),
    precision: str = typer.Option("auto", help="auto, bf16, fp16 or fp32."),
    max_tokens: int = typer.Option(
        2048,
        help="Prompt + response token cap (longer samples are truncated and counted); part "
        "of the cache key.",
    ),
    batch_tokens: int = typer.Option(
        None,
        help="Token budget of one model-pass batch (speed only, values do not change; "
        "default per device: 8192 on cpu and cuda).",
    ),
    limit: int = typer.Option(
        None,
        min=1,
        help="Only the first N rows: a pool of them is added (content-addressed, named "
        "POOL-firstN) and its signals computed, e.g. to check the pass and its speed first.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
    executor: str = typer.Option(
        "local", help="Where the model pass runs: 'local' (this process) or 'ray' (Ray Data)."
    ),
    ray_address: str = typer.Option(
        None, help="Ray cluster to join (default: $RAY_ADDRESS, else a local Ray instance)."
    ),
    actors: int = typer.Option(None, help="Ray model actors (default: as many as fit)."),
    actor_cpus: float = typer.Option(1.0, help="CPUs per Ray actor (its torch threads)."),
    actor_gpus: float = typer.Option(0.0, help="GPUs per Ray actor (> 0: the pass runs on cuda)."),
) -> None:
    """Compute every missing signal of POOL (cached; resumable after an interruption)."""
    from autosel.pool import get_pool
    from autosel.signals import compute_signals

    run_on = _executor(executor, ray_address, actors, actor_cpus, actor_gpus)
    p = get_pool(pool)
    if limit is not None and limit < len(p):
        p = _first_rows(p, limit)
        if not as_json:
            console.print(
                f"--limit {limit}: signals of pool [bold]{p.pool_id}[/] ({p.name}), the first "
                f"{len(p)} rows; the full pool's signals are not computed"
            )
    sig = compute_signals(
        p,
        model=None if model.lower() == "none" else model,
        benchmarks=_parse_bench(bench or [], bench_test, test_fraction, bench_map),
        ifd=ifd,
        device=device,
        precision=precision,
        max_tokens=max_tokens,
        batch_tokens=batch_tokens,
        progress=not as_json,
        executor=run_on,
    )
    _show(sig, as_json)


def _first_rows(pool: Any, n: int) -> Any:
    """A pool of the first ``n`` rows of ``pool`` (added once: content-addressed)."""
    import tempfile
    from pathlib import Path

    import numpy as np

    from autosel.pool.export import export_subset
    from autosel.pool.ingest import add_pool

    with tempfile.TemporaryDirectory(prefix="autosel-limit-") as tmp:
        path = Path(tmp) / f"{pool.name}-first{n}.jsonl"
        export_subset(pool, path, "chat", indices=np.arange(n))
        return add_pool(path, name=f"{pool.name}-first{n}").pool


def _executor(
    name: str, address: str | None, actors: int | None, cpus: float, gpus: float
) -> str | RayExecutor:
    """``"local"`` or a ``RayExecutor``; Ray options without ``--executor ray`` are an error."""
    if name == "ray":
        from autosel.signals.ray_exec import RayExecutor

        return RayExecutor(address=address, actors=actors, cpus_per_actor=cpus, gpus_per_actor=gpus)
    if name != "local":
        raise ConfigError(f"--executor '{name}': accepted values are local, ray")
    if address is not None or actors is not None or cpus != 1.0 or gpus != 0.0:
        raise ConfigError(
            "--ray-address, --actors, --actor-cpus and --actor-gpus need --executor ray"
        )
    return name


@signals_app.command("show")
def show(
    pool: str = typer.Argument(..., help="Pool id, id prefix, name or directory."),
    model: str = typer.Option("smollm2", help="Model whose pass to show ('any' for the newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Show which signals exist for POOL, with summary statistics."""
    from autosel.pool import get_pool
    from autosel.signals import load_signals

    sig = load_signals(get_pool(pool), model=None if model.lower() == "any" else model)
    _show(sig, as_json)


def _show(sig: SignalSet, as_json: bool) -> None:
    import numpy as np
    from rich.table import Table

    manifest = sig.manifest
    if as_json:
        print_json(manifest)
        return
    t = Table(title=f"signals ({manifest['rows']:,} rows, entropy in {manifest['unit']})")
    for c in ("signal", "mean", "min", "p50", "max"):
        t.add_column(c)
    for name in sig.names:
        x = np.asarray(sig.column(name), dtype=np.float64)
        t.add_row(name, *(f"{f(x):.4g}" for f in (np.nanmean, np.nanmin, np.nanmedian, np.nanmax)))
    console.print(t)
    levels = sig.minhash_thresholds
    if levels:
        dup = [
            f"{t}: {int((sig.minhash_clusters(t) != np.arange(manifest['rows'])).sum())}"
            for t in levels
        ]
        console.print("near-duplicate rows by Jaccard threshold: " + ", ".join(dup))
    console.print(
        f"difficulty source: {manifest['difficulty_source']}; empty responses: {manifest['empty']}"
    )
    model = manifest["groups"].get("model")
    if model is not None:
        params = model.get("params", {})
        console.print(
            f"model pass: max_tokens {params.get('max_tokens')}, {params.get('dtype')}, "
            f"batch budget {model.get('batch_tokens', '?')} tokens; truncated at "
            f"max_tokens: {manifest['truncated']} of {manifest['rows']:,} samples"
        )
