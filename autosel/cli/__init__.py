"""The ``autosel`` command line (Typer).

Each command group lives in its own module and registers itself on ``app`` through
``_register_groups``. Importing this package must stay cheap: no torch, no
transformers at import time (heavy imports happen inside commands).

Exit codes: 0 success; 1 unexpected autosel error; 2 invalid configuration or usage;
3 not found; 4 invalid input data.
"""

from __future__ import annotations

import sys

import typer

from autosel import __version__
from autosel.errors import AutoselError

app = typer.Typer(
    name="autosel",
    help="Find the best SFT data recipe for a pool of samples under a budget of evaluations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autosel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """autosel: data-recipe search for supervised fine-tuning."""


def _register_groups() -> None:
    # One line per command module; each module adds its commands/groups to ``app``.
    from autosel.cli import demo, evaluate, pool, recipes, run, search, serve, signals  # noqa: F401


_register_groups()


def main() -> None:
    """Console-script entry point: runs the app and maps autosel errors to exit codes."""
    import click

    try:
        rc = app(standalone_mode=False)
    except AutoselError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(err.exit_code)
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)
