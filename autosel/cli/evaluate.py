"""``autosel eval``: fine-tune on a subset of a pool and score it (one real evaluation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json

eval_app = typer.Typer(help="Real SFT evaluations of pool subsets.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")


def _read_ids(path: Path) -> list[str]:
    from autosel.errors import InputError

    try:
        ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise InputError(f"cannot read sample ids: {exc}", path=path) from None
    return ids


@eval_app.command("run")
def run(
    pool: Annotated[str, typer.Option("--pool", help="Pool id, id prefix, name or directory.")],
    spec_file: Annotated[Path, typer.Option("--spec", help="Evaluation spec (YAML or JSON).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (adapter, metrics.json).")],
    ids: Annotated[
        Path | None, typer.Option("--ids", help="File with one sample id per line (default: all).")
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Instead of --ids: 'full' or 'random:N' (seed: --seed)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random baseline.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fine-tune the spec's model on a subset of POOL and score the spec's benchmarks."""
    from autosel.errors import ConfigError
    from autosel.evaluation import EvalSpec, baseline_subsets, evaluate
    from autosel.pool import get_pool

    spec = EvalSpec.from_file(spec_file)
    p = get_pool(pool)
    if ids is not None and baseline is not None:
        raise ConfigError("give either --ids or --baseline, not both")
    if baseline is None:
        indices = p.indices_of(_read_ids(ids)) if ids is not None else None
    elif baseline == "full" or baseline.startswith("random:"):
        n = int(baseline.split(":", 1)[1]) if baseline != "full" else len(p)
        indices = baseline_subsets(len(p), n, seed)["full" if baseline == "full" else "random"]
    else:
        raise ConfigError(f"--baseline '{baseline}': accepted values are 'full' and 'random:N'")
    rows = list(p.rows(indices))
    with console.status(f"fine-tuning on {len(rows)} samples …", spinner="dots"):
        res = evaluate(rows, spec, out)
    if as_json:
        print_json(res.to_dict())
    elif res.status == "failed":
        console.print(f"[red]failed[/]: {res.failure_reason}")
    else:
        console.print(f"[green]utility {res.utility:.4f}[/] — train {res.train_seconds:.0f} s, "
                      f"eval {res.eval_seconds:.0f} s on {res.device}; {res.artifacts}")
        for name, metrics in res.per_benchmark.items():
            shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k != "n")
            console.print(f"  {name} ({res.primary_metrics[name]}): {shown}")
    if res.status == "failed":
        raise typer.Exit(1)
