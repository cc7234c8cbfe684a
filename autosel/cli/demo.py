"""Demo commands. ``demo-pool`` (below) writes the offline demo pool; ``demo`` is elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from autosel.cli import app
from autosel.cli._common import console, print_json

# ----------------------------------------------------------------------------- demo-pool
# Owned by the demo pool generator (autosel.pool.demo). Keep other commands out of this block.


@app.command("demo-pool")
def demo_pool(
    out_dir: Annotated[Path, typer.Argument(
        help="Directory for pool.jsonl, labels.jsonl, bench/ and the manifest."
    )],
    size: Annotated[str, typer.Option(
        "--size", help="small (800 samples), medium (10k) or large (100k)."
    )] = "small",
    seed: Annotated[int, typer.Option(
        "--seed", help="Seed: the same seed writes byte-identical files."
    )] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
    kind: Annotated[str, typer.Option(
        "--kind", help="rules (short rule tasks, the `autosel demo` pool) or reasoning "
        "(step-by-step reasoning domains)."
    )] = "rules",
) -> None:
    """Generate the offline demo pool: planted defects, hidden labels, held-out benchmarks."""
    import json

    from rich.table import Table

    from autosel.errors import ConfigError
    from autosel.pool.demo import generate_demo_pool

    if kind == "rules":
        _rules_pool(out_dir, size, seed, as_json)
        return
    if kind != "reasoning":
        raise ConfigError(f"--kind {kind!r}: accepted rules, reasoning")

    with console.status(f"generating the {size} demo pool …", spinner="dots"):
        res = generate_demo_pool(out_dir, size=size, seed=seed)
    manifest = json.loads(res.manifest_path.read_text())
    if as_json:
        print_json(manifest)
        return
    console.print(
        f"[green]wrote[/] {res.n_samples:,} samples to {res.pool_path} in {res.seconds:.1f} s"
    )
    console.print(_defects_table(res.defect_counts, manifest["defect_rates"]))
    sources = Table("source", "samples", "benchmark items", title="domains")
    for name, count in res.source_counts.items():
        sources.add_row(name, f"{count:,}", f"{res.bench_sizes.get(name, 0):,}")
    console.print(sources)
    groups = manifest["groups"]
    console.print(
        f"{groups['prompts']:,} prompts have several responses ({groups['samples']:,} samples, "
        f"{groups['wrong_answers']:,} wrong). Labels: {res.labels_path} (never give them to "
        f"operators). Benchmarks: {res.out_dir / 'bench'}"
    )
    _print_contamination(res.pool_path, res.out_dir / "bench")


def _defects_table(counts: dict[str, int], rates: dict[str, float]) -> Any:
    from rich.table import Table

    table = Table("defect (hidden label)", "samples", "share", title="planted defects")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}", f"{rates[name]:.1%}")
    return table


def _rules_pool(out_dir: Path, size: str, seed: int, as_json: bool) -> None:
    import json

    from autosel.pool.demo.rules import generate_rules_pool

    res = generate_rules_pool(out_dir, size=size, seed=seed)
    manifest = json.loads(res.manifest_path.read_text())
    if as_json:
        print_json(manifest)
        return
    console.print(f"[green]wrote[/] {res.n_samples:,} samples to {res.pool_path}")
    console.print(_defects_table(res.defect_counts, manifest["defect_rates"]))
    console.print(f"Labels: {res.labels_path}; oracle-clean ids: {res.clean_ids_path} (never give "
                  f"them to operators). Benchmarks: {res.out_dir / 'bench'}")
    _print_contamination(res.pool_path, res.out_dir / "bench")


def _print_contamination(pool_path: Path, bench_dir: Path) -> None:
    """The demo's own decontamination check: its benchmark items are generated disjoint
    from the pool, so this prints 0 (a search on the pool checks it again when created)."""
    import json

    from autosel.bench.spec import BenchmarkSpec
    from autosel.signals.contamination import check_texts

    ids, prompts = [], []
    for line in Path(pool_path).read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        msgs = rec.get("messages") or []
        users = [m.get("content") or "" for m in msgs if m.get("role") == "user"]
        ids.append(str(rec.get("id")))
        prompts.append(rec["prompt"] if isinstance(rec.get("prompt"), str) else "\n".join(users))
    benches = [BenchmarkSpec(name=p.stem, path=p) for p in sorted(Path(bench_dir).glob("*.jsonl"))]
    rep = check_texts(prompts, ids, benches)
    console.print(rep.line(), style="yellow" if rep.count else "green", highlight=False)


# --------------------------------------------------------------------------- end demo-pool
