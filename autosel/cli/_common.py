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
