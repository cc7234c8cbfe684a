"""``autosel signals``: compute and show the cached per-sample signals of a pool."""

from __future__ import annotations

from typing import Annotated

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json
from autosel.errors import ConfigError

signals_app = typer.Typer(
    help="Compute and inspect per-sample signals (HES, MinHash, ...).", no_args_is_help=True
)
app.add_typer(signals_app, name="signals")


def _parse_bench(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--bench '{item}': expected NAME=PATH (a benchmark JSONL file)")
        out[name] = path
    return out


@signals_app.command("compute")
def compute(
    pool: str = typer.Argument(..., help="Pool id, id prefix, name or directory."),
    model: str = typer.Option(
        "smollm2", help="Local HF model directory or 'smollm2'; 'none' for model-free signals only."
    ),
    bench: Annotated[
        list[str] | None,
        typer.Option("--bench", help="NAME=PATH benchmark JSONL (repeatable)."),
    ] = None,
    ifd: bool = typer.Option(False, "--ifd", help="Also compute IFD (a second, prompt-free pass)."),
    device: str = typer.Option(None, help="cpu, cuda, cuda:1 (default: cuda if available)."),
    precision: str = typer.Option("auto", help="auto, bf16, fp16 or fp32."),
    max_tokens: int = typer.Option(2048, help="Prompt + response token cap (longer: truncated)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Compute every missing signal of POOL (cached; resumable after an interruption)."""
    from autosel.pool import get_pool
    from autosel.signals import compute_signals

    p = get_pool(pool)
    sig = compute_signals(
        p,
        model=None if model.lower() == "none" else model,
        benchmarks=_parse_bench(bench or []),
        ifd=ifd,
        device=device,
        precision=precision,
        max_tokens=max_tokens,
        progress=not as_json,
    )
    _show(sig, as_json)


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


def _show(sig: object, as_json: bool) -> None:
    import numpy as np
    from rich.table import Table

    manifest = sig.manifest  # type: ignore[attr-defined]
    if as_json:
        print_json(manifest)
        return
    t = Table(title=f"signals ({manifest['rows']:,} rows, entropy in {manifest['unit']})")
    for c in ("signal", "mean", "min", "p50", "max"):
        t.add_column(c)
    for name in sig.names:  # type: ignore[attr-defined]
        x = np.asarray(sig.column(name), dtype=np.float64)  # type: ignore[attr-defined]
        t.add_row(name, *(f"{f(x):.4g}" for f in (np.nanmean, np.nanmin, np.nanmedian, np.nanmax)))
    console.print(t)
    levels = sig.minhash_thresholds  # type: ignore[attr-defined]
    if levels:
        dup = [
            f"{t}: {int((sig.minhash_clusters(t) != np.arange(manifest['rows'])).sum())}"
            for t in levels
        ]  # type: ignore[attr-defined]
        console.print("near-duplicate rows by Jaccard threshold: " + ", ".join(dup))
    console.print(
        f"difficulty source: {manifest['difficulty_source']}; truncated: "
        f"{manifest['truncated']}; empty: {manifest['empty']}"
    )
