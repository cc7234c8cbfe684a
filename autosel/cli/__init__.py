"""The ``autosel`` command line (Typer).

Each command group lives in its own module and registers itself on ``app`` through
``_register_groups``. Importing this package must stay cheap: no torch, no
transformers at import time (heavy imports happen inside commands).

Exit codes: 0 success; 1 unexpected error; 2 invalid configuration or usage; 3 not found;
4 invalid input data; 5 lease lost; 6 invalid state; 7 file-system error (permission
denied, read-only, disk full, missing path); 8 database error; 9 the search of ``run`` or
``demo`` failed; 130 interrupted. Every error is one line on stderr; ``AUTOSEL_DEBUG=1``
adds the traceback (see ``_errors``).
"""

from __future__ import annotations

import sys

import typer

from autosel import __version__

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


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """Click's usage-error class(es): typer 0.29 vendors click as ``typer._click``."""
    types: list[type[BaseException]] = []
    try:
        from typer._click.exceptions import ClickException as vendored

        types.append(vendored)
    except ImportError:  # pragma: no cover - older typer uses click itself
        pass
    import click

    types.append(click.ClickException)
    return tuple(types)


def _quiet_libraries() -> None:
    """Keep the console to autosel's own progress: no per-load bars or deprecation noise.

    Hugging Face's "Loading weights" / dataset-map bars repeat on every evaluation and
    bury the search's progress lines; transformers' FutureWarnings are about its own
    API churn, not the user's data. Set the variables yourself to get the bars back
    (``HF_HUB_DISABLE_PROGRESS_BARS=0``).
    """
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers reads this
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers(\.|$)")


def main() -> None:
    """Console-script entry point: runs the app and maps errors to documented exit codes."""
    from autosel.cli._errors import report

    _quiet_libraries()
    usage_errors = _usage_error_types()
    try:
        rc = app(standalone_mode=False)
    except usage_errors as exc:  # bad option, missing argument: exit code 2
        exc.show()  # type: ignore[attr-defined]  # a click usage error (vendored or not)
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]  # same: click sets exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        # Click turns an EOFError escaping a command into Abort: that is a failure, not
        # the user aborting, and must not be reported as one.
        if isinstance(exc.__cause__, EOFError):
            sys.exit(report(exc.__cause__))
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the one place every error becomes a line
        sys.exit(report(exc))
    sys.exit(rc if isinstance(rc, int) else 0)
