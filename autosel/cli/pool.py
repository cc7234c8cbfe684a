"""``autosel pool``: add, list, show and export pools."""

from __future__ import annotations

from pathlib import Path

import typer

from autosel.cli import app
from autosel.cli._common import BENCH_MAP_HELP, console, parse_bench_maps, print_json, stats_table

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
                "name_not_applied": res.name_not_applied,
                "seconds": res.seconds,
                **stats,
            }
        )
        return
    verb = "added" if res.created else "already present:"
    console.print(
        f"[green]{verb}[/] pool [bold]{res.pool.pool_id}[/] — {len(res.pool):,} rows in {res.seconds:.2f} s"
    )
    if res.name_not_applied:
        console.print(
            f"[yellow]name '{res.name_not_applied}' not applied[/]: this content is already "
            f"stored as '{res.pool.name}' (pools are content-addressed); refer to it by that "
            f"name or by its id {res.pool.pool_id}"
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


@pool_app.command("check")
def check(
    ref: str = typer.Argument(..., help="Pool id, unique id prefix, name or directory."),
    bench: list[str] = typer.Option(
        ..., "--bench", help="Benchmark JSONL, PATH or NAME=PATH (repeatable)."
    ),
    bench_map: list[str] = typer.Option(None, "--bench-map", help=BENCH_MAP_HELP),
    threshold: float = typer.Option(
        0.8, help="MinHash Jaccard (word 3-grams) of a near copy, in (0, 1]."
    ),
    test_fraction: float = typer.Option(
        0.5, help="Share of each benchmark's items in its test split (for the counts)."
    ),
    show: int = typer.Option(10, help="Matched pairs to list."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Count pool samples that copy benchmark items (dev and test), list the first pairs.

    The same check a search runs when it is created (``decontaminate`` in the search spec
    removes them from every arm); nothing is changed here.
    """
    from rich.table import Table

    from autosel.bench.spec import BenchmarkSpec
    from autosel.errors import ConfigError
    from autosel.pool import get_pool
    from autosel.settings import get_settings
    from autosel.signals.contamination import check_pool

    paths: dict[str, Path] = {}
    for item in bench:
        name, sep, path = item.partition("=")
        p = Path(path if sep else name).expanduser()
        key = name if sep else p.name.split(".")[0]
        if not (p.is_file() or p.is_dir()):
            raise ConfigError(
                f"--bench {item!r}: no file at {p} (accepted: PATH or NAME=PATH of a "
                "benchmark file or save_to_disk directory)"
            )
        if key in paths:
            raise ConfigError(f"--bench {item!r}: benchmark name '{key}' given twice")
        paths[key] = p.resolve()
    fields = parse_bench_maps(bench_map, paths)
    specs: dict[str, BenchmarkSpec] = {}
    for key, p in paths.items():
        try:
            specs[key] = BenchmarkSpec(
                name=key, path=p, test_fraction=test_fraction, fields=fields.get(key) or {}
            )
        except ValueError as exc:
            raise ConfigError(f"--bench {key} / --test-fraction: {exc}") from None
    pool = get_pool(ref)
    rep = check_pool(pool, list(specs.values()), threshold=threshold, settings=get_settings())
    if as_json:
        print_json(rep.to_event(shown=show))
        return
    console.print(rep.line(), style="yellow" if rep.count else "green", highlight=False)
    if rep.matches and show > 0:
        t = Table("pool sample", "benchmark", "split", "item", "similarity", title="first pairs")
        for m in rep.matches[:show]:
            sim = "exact" if m.exact else f"{m.similarity:.3f}"
            t.add_row(m.sample_id, m.benchmark, m.split, m.item_id, sim)
        console.print(t)
        if len(rep.matches) > show:
            console.print(f"… {len(rep.matches) - show} more pairs (--show N, --json)")
