"""``autosel recipe`` (list, show, validate, run) and ``autosel operators`` (list, show).

Wherever a recipe file is asked for, a name from the named-recipe catalogue
(``autosel.recipes.catalogue``, ``autosel recipe list``) works too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json

if TYPE_CHECKING:
    from autosel.recipes import Recipe

recipe_app = typer.Typer(
    help="List named recipes; validate and run data recipes.", no_args_is_help=True
)
operators_app = typer.Typer(
    help="The operator library recipes are built from.", no_args_is_help=True
)
app.add_typer(recipe_app, name="recipe")
app.add_typer(operators_app, name="operators")


RECIPE_ARG = "Recipe file (.yaml, .yml or .json) or a named recipe (autosel recipe list)."


def _load(file: Path) -> Recipe:
    """The recipe in ``file``, or the named recipe when no such file exists."""
    from autosel.recipes import load_recipe
    from autosel.recipes.catalogue import CATALOGUE, named_recipe

    if not file.exists() and str(file) in CATALOGUE:
        return named_recipe(str(file))
    return load_recipe(file)


@recipe_app.command("list")
def list_recipes(
    as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON."),
) -> None:
    """The named recipes (published reference settings), usable wherever a recipe is."""
    from rich.table import Table

    from autosel.recipes.catalogue import list_named_recipes

    entries = list_named_recipes()
    if as_json:
        print_json(entries)
        return
    t = Table("name", "recipe", "what it does", "reference", title="named recipes")
    for e in entries:
        steps = " → ".join(
            f"{s['operator']}({', '.join(f'{k}={v}' for k, v in s['params'].items())})"
            for s in e["steps"]
        )
        t.add_row(e["name"], steps, e["summary"], e["reference"])
    console.print(t)


# `autosel recipes` reads naturally for the listing too (hidden: one documented spelling).
app.command("recipes", hidden=True, help="Same as `autosel recipe list`.")(list_recipes)


@recipe_app.command("show")
def show_recipe(name: str = typer.Argument(..., help="A named recipe.")) -> None:
    """One named recipe as JSON: steps, reference and recipe hash."""
    from autosel.recipes.catalogue import CATALOGUE, named_recipe

    named_recipe(name)  # unknown names: the accepted ones are listed
    print_json(CATALOGUE[name].to_dict())


@recipe_app.command("validate")
def validate(
    file: Path = typer.Argument(..., help=RECIPE_ARG),
    pool: str = typer.Option(
        None, "--pool", help="Also check signals against this pool's signals."
    ),
    max_steps: int = typer.Option(5, "--max-steps", help="Longest accepted recipe."),
) -> None:
    """Check a recipe: operators, params, (with --pool) required signals."""
    from autosel.recipes import validate_recipe

    recipe = _load(file)
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
    file: Path = typer.Argument(..., help=RECIPE_ARG),
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
    from autosel.recipes import realize
    from autosel.signals import load_signals

    recipe = _load(file)
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
