"""Shared CLI helpers: one rich console, JSON output, and stats rendering."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Machine-readable output for ``--json`` (plain stdout, no colour codes)."""
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def stats_table(stats: dict[str, Any]) -> Table:
    """A two-column table of pool statistics."""
    t = Table(title=f"pool {stats['pool_id']} ({stats['name']})", show_header=False)
    t.add_column("key", style="bold")
    t.add_column("value")
    t.add_row("format", str(stats["format"]))
    t.add_row("rows", f"{stats['rows']:,}")
    if stats.get("skipped"):
        t.add_row("skipped (invalid)", f"{stats['skipped']:,}")
    t.add_row("sources", ", ".join(f"{k}: {v:,}" for k, v in stats["sources"].items()))
    t.add_row("exact duplicate rows", f"{stats['exact_duplicate_rows']:,}")
    rc = stats["response_chars"]
    t.add_row(
        "response chars", f"mean {rc['mean']:.0f}, median {rc['p50']:.0f}, max {rc['max']:.0f}"
    )
    pm = stats["prompt_messages"]
    t.add_row("prompt messages", f"mean {pm['mean']:.2f}, max {pm['max']:.0f}")
    if stats["groups"]:
        t.add_row(
            "prompt groups", f"{stats['groups']:,} groups covering {stats['rows_in_groups']:,} rows"
        )
    if stats["correct_labelled"]:
        t.add_row("rows with `correct`", f"{stats['correct_labelled']:,}")
    if stats.get("difficulty"):
        d = stats["difficulty"]
        t.add_row("difficulty", f"mean {d['mean']:.2f}, range [{d['min']:.2f}, {d['max']:.2f}]")
    t.add_row("content hash", stats["content_hash"][:32] + "…")
    return t


BENCH_MAP_HELP = (
    "Field map of one benchmark, NAME:CANONICAL=SOURCE,... (repeatable), e.g. "
    "math:question=problem,answer=solution; canonical fields: id, question, answer, "
    "choices, fewshot, metadata."
)


def parse_bench_maps(items: list[str] | None, names: Any) -> dict[str, dict[str, str]]:
    """``--bench-map NAME:CANONICAL=SOURCE,...`` values as ``{bench name: {canonical: source}}``.

    ``names``: the benchmark names given with ``--bench``. Each map is checked as a
    benchmark spec's ``fields`` is (:class:`autosel.bench.spec.BenchmarkSpec`).

    Raises:
        ConfigError: a value is not ``NAME:CANONICAL=SOURCE,...``, names no ``--bench``, is
            given twice for one benchmark, or maps an unknown canonical field (the message
            names the option, the value and what is accepted).
    """
    from autosel.bench.spec import BENCH_FIELDS
    from autosel.errors import ConfigError
    from autosel.pool.formats import RecordError, parse_field_map

    known = sorted(names)
    example = "math:question=problem,answer=solution"
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        name, sep, pairs = item.partition(":")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--bench-map {item!r}: expected NAME:CANONICAL=SOURCE,... "
                              f"(e.g. {example})")
        if name not in known:
            raise ConfigError(f"--bench-map {item!r}: no --bench named '{name}' "
                              f"(accepted names: {', '.join(known) or 'none given'})")
        if name in out:
            raise ConfigError(f"--bench-map {item!r}: benchmark '{name}' is mapped twice")
        try:  # the pool's --map parser, with a benchmark's canonical fields
            fields = parse_field_map(pairs, accepted=BENCH_FIELDS, example=example)
        except RecordError as exc:
            raise ConfigError(f"--bench-map {item!r}: {exc.message}") from None
        if not fields:
            raise ConfigError(f"--bench-map {item!r}: no CANONICAL=SOURCE pair (e.g. {example})")
        out[name] = fields
    return out
