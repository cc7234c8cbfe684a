"""``autosel pool``: add, list, show and export pools."""

from __future__ import annotations

from pathlib import Path

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json, stats_table

pool_app = typer.Typer(
    help="Ingest, inspect and export pools of training samples.", no_args_is_help=True
)
app.add_typer(pool_app, name="pool")


@pool_app.command("add")
def add(
    file: Path = typer.Argument(
        ...,
        help="JSONL (optionally .gz), JSON array or Parquet file, or a Hugging Face "
        "datasets directory written by save_to_disk.",
    ),
    fmt: str = typer.Option(
        "auto",
        "--format",
        help="auto, chat, alpaca, sharegpt, prompt_response or question_answer.",
    ),
    container: str = typer.Option("auto", help="auto, jsonl, json, parquet or hf."),
    field_map: str = typer.Option(
        None,
        "--map",
        help="Read your fields as the canonical ones: CANONICAL=SOURCE pairs, e.g. "
        "question=problem,answer=solution or prompt=input,response=output,id=uid.",
    ),
    name: str = typer.Option(None, help="Display name (default: the file name)."),
    skip_invalid: bool = typer.Option(
        False, "--skip-invalid", help="Ingest valid records; write a report of the invalid ones."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Ingest FILE as a pool (adding the same content twice returns the same pool)."""
    from autosel.cli.client import EmbeddedClient

    with console.status(f"ingesting {file} …", spinner="dots"):
        res = EmbeddedClient().register_pool(
            file,
            fmt=fmt,
            container=container,
            name=name,
            skip_invalid=skip_invalid,
            field_map=field_map,
        )
    stats = res.pool.stats()
    if as_json:
        print_json(
            {
                "created": res.created,
                "skipped_report": res.report_path,
                "seconds": res.seconds,
                **stats,
            }
        )
        return
    verb = "added" if res.created else "already present:"
    console.print(
        f"[green]{verb}[/] pool [bold]{res.pool.pool_id}[/] — {len(res.pool):,} rows in {res.seconds:.2f} s"
    )
    if res.skipped:
        console.print(
            f"[yellow]skipped {res.skipped} invalid record(s)[/]; report: {res.report_path}"
        )
    console.print(stats_table(stats))


@pool_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List stored pools."""
    from rich.table import Table

    from autosel.pool import list_pools

    pools = list_pools()
    if as_json:
        print_json(
            [{"pool_id": p.pool_id, "name": p.name, "rows": len(p), "path": p.path} for p in pools]
        )
        return
    t = Table("pool id", "name", "rows", "format", "created")
    for p in pools:
        t.add_row(
            p.pool_id,
            p.name,
            f"{len(p):,}",
            str(p.manifest.get("format")),
            p.manifest.get("created_at", ""),
        )
    console.print(t)


@pool_app.command("show")
def show(
    ref: str = typer.Argument(..., help="Pool id, unique id prefix, name or directory."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a pool's statistics."""
    from autosel.pool import get_pool

    stats = get_pool(ref).stats()
    if as_json:
        print_json(stats)
    else:
        console.print(stats_table(stats))


@pool_app.command("export")
def export(
    ref: str = typer.Argument(..., help="Pool id, unique id prefix, name or directory."),
    out: Path = typer.Option(
        ..., "--out", help="Output file (.jsonl, .jsonl.gz) or directory (hf)."
    ),
    fmt: str = typer.Option("chat", "--format", help="chat, alpaca, sharegpt or hf."),
    ids: Path = typer.Option(
        None, "--ids", help="File of sample ids (one per line); default: all rows."
    ),
) -> None:
    """Export a pool, or the subset named by --ids, to a training file."""
    from autosel.pool import get_pool
    from autosel.pool.export import export_subset

    pool = get_pool(ref)
    id_list = None if ids is None else _read_ids(ids)
    n = export_subset(pool, out, fmt, ids=id_list)
    console.print(f"wrote {n:,} records ({fmt}) to {out}")


def _read_ids(path: Path) -> list[str]:
    """Sample ids, one per line (blank lines ignored).

    Raises:
        InputError: the file cannot be read or is not UTF-8 text (line named).
    """
    from autosel.errors import InputError, describe_os_error

    try:
        data = path.read_bytes()
    except OSError as e:
        e.filename = None  # the path is named once, by the InputError
        raise InputError(f"cannot read the id list: {describe_os_error(e)}", path=path) from None
    ids = []
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise InputError(
                f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                "expected one sample id per line",
                path=path,
                line=n,
            ) from None
        if line:
            ids.append(line)
    return ids
