"""``autosel recipe`` (validate, run) and ``autosel operators`` (list, show)."""

from __future__ import annotations

from pathlib import Path

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json

recipe_app = typer.Typer(help="Validate and run data recipes.", no_args_is_help=True)
operators_app = typer.Typer(
    help="The operator library recipes are built from.", no_args_is_help=True
)
app.add_typer(recipe_app, name="recipe")
app.add_typer(operators_app, name="operators")


@recipe_app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="Recipe file (.yaml, .yml or .json)."),
    pool: str = typer.Option(
        None, "--pool", help="Also check signals against this pool's signals."
    ),
    max_steps: int = typer.Option(5, "--max-steps", help="Longest accepted recipe."),
) -> None:
    """Check a recipe: operators, params, (with --pool) required signals."""
    from autosel.recipes import load_recipe, validate_recipe

    recipe = load_recipe(file)
    names = None
    if pool:
        from autosel.ops.view import available_signals
        from autosel.pool import get_pool
        from autosel.signals import load_signals

        names = available_signals(load_signals(get_pool(pool)))
    validate_recipe(recipe, names, max_steps=max_steps)
    console.print(
        f"[green]valid[/] recipe {recipe.recipe_hash[:16]} — {len(recipe.steps)} step(s)"
        + ("" if pool else " (signals not checked: pass --pool)")
    )


@recipe_app.command("run")
def run(
    file: Path = typer.Argument(..., help="Recipe file (.yaml, .yml or .json)."),
    pool: str = typer.Option(..., "--pool", help="Pool id, prefix, name or directory."),
    out: Path = typer.Option(None, "--out", help="Write the subset here (JSONL, chat format)."),
    fmt: str = typer.Option("chat", "--format", help="chat, alpaca, sharegpt or hf."),
    seed: int = typer.Option(0, help="Seed of the random steps."),
    min_size: int = typer.Option(1, "--min-size", help="Smaller subsets are reported infeasible."),
    max_steps: int = typer.Option(5, "--max-steps", help="Longest accepted recipe."),
    as_json: bool = typer.Option(False, "--json", help="Print the realization as JSON."),
) -> None:
    """Realize a recipe on a pool: print the funnel, optionally write the subset."""
    from autosel.pool import get_pool
    from autosel.recipes import load_recipe, realize
    from autosel.signals import load_signals

    recipe = load_recipe(file)
    p = get_pool(pool)
    res = realize(recipe, p, load_signals(p), seed, min_size=min_size, max_steps=max_steps)
    written = None
    if out is not None:
        from autosel.pool.export import export_subset

        written = export_subset(p, out, fmt, indices=res.indices)
    if as_json:
        print_json({**res.to_dict(), "pool_id": p.pool_id, "out": str(out) if out else None})
        return
    console.print(funnel_table(res, len(p)))
    status = "[green]feasible[/]" if res.feasible else f"[red]infeasible[/]: {res.reason}"
    console.print(
        f"recipe {res.recipe_hash[:16]} → {len(res):,} of {len(p):,} samples, "
        f"fingerprint {res.fingerprint[:16]}, {res.seconds * 1000:.1f} ms; {status}"
    )
    if written is not None:
        console.print(f"wrote {written:,} samples to {out}")
    if not res.feasible:
        raise typer.Exit(1)


def funnel_table(res, n_pool: int):
    """The per-step funnel of a realization as a rich table."""
    from rich.table import Table

    t = Table("#", "operator", "in", "out", "dropped", "why", "ms", title="funnel")
    for i, s in enumerate(res.funnel):
        why = "; ".join([f"{k}: {v:,}" for k, v in s.reasons.items()] + list(s.notes))
        t.add_row(
            str(i),
            s.operator,
            f"{s.n_in:,}",
            f"{s.n_out:,}",
            f"{s.dropped:,}",
            why,
            f"{s.seconds * 1000:.1f}",
        )
    return t


@operators_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print the catalog as JSON.")) -> None:
    """List registered operators (built-in and from installed packs)."""
    from rich.table import Table

    from autosel.ops import operator_catalog

    cat = operator_catalog()
    if as_json:
        print_json(cat)
        return
    t = Table("name", "kind", "requires", "summary")
    for e in cat:
        t.add_row(e["name"], e["kind"], ", ".join(e["requires"]), e["summary"])
    console.print(t)


@operators_app.command("show")
def show(name: str = typer.Argument(..., help="Operator name.")) -> None:
    """Show one operator: kind, required signals, origin and the JSON schema of its params."""
    from autosel.ops import operator_info

    print_json(operator_info(name))
