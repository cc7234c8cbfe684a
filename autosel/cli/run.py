"""``autosel run`` (one command for your own data) and ``autosel demo`` (the same flow on
the generated demo pool with the embedded model): ingest → signals → search with real
LoRA SFT evaluations on the dev split → final report on the test split (best recipe, full
pool, random subsets, references; each difference with a 95% CI) → subset, dashboard.
Every stage prints its wall time."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from autosel.cli import app
from autosel.cli._common import BENCH_MAP_HELP, console, parse_bench_maps, stats_table
from autosel.cli._errors import EXIT_SEARCH_NOT_COMPLETED

# Evaluation profiles sized for a 2-core CPU with the embedded 135M model.
#
# Training budget per trial (demo): a fixed number of optimizer steps, whatever the
# subset's size (equal training compute, as DataComp fixes compute across filtered pools;
# Gadre et al. 2023). Measured on the rules pool (seed 0, dev split, 2026-12-03): with
# one epoch over the subset a 48-sample subset trained 6 steps and stayed at chance
# (utility -0.007) however clean it was, so size, not data quality, decided a trial; at
# 20 steps x 8 examples the full pool scored 0.259 / 0.351 (two seeds), the oracle-clean
# 106 samples 0.945 / 0.949 and the MinHash-deduplicated 172 samples 0.479. A fixed step
# count also makes every trial cost the same (about a minute here), so the demo's time
# no longer depends on which recipe wins. The learning rate decays (cosine): with a
# constant rate the last batches decided which of the two rules a model on a mixed pool
# favoured, and the training-seed SD reached 0.19 of utility (README, Results).
# ``primary`` applies when generation is off: mc_prob for multiple-choice benchmarks
# (continuous and paired: probability of the right choice), neg_nll otherwise.
PROFILES: dict[str, dict[str, Any]] = {
    "demo": {
        "epochs": 1.0,
        "max_steps": 20,
        "batch_size": 8,
        "max_seq_len": 128,
        "learning_rate": 1e-3,
        "lr_scheduler": "cosine",
        "bench_limit": None,
        "generate": False,
        "budget": 10,
        # Screening: a quarter of the steps (5) costs ~19 s against ~55 s for 20 here and
        # ranks subsets as full fidelity does on the demo pool (benchmarks/replay.py).
        "fidelity": {"ladder": [0.25, 1.0], "eta": 3},
        # Final report: 4 random draws (3 df for the random arm's variance; with 2 draws
        # its t quantile was 12.7 and best - random could only be called when two draws
        # agreed). Paid for by the screens promotion_reserve no longer wastes.
        "report": {"random_draws": 4},
    },
    "tiny": {
        "epochs": 1.0,
        "max_steps": 3,
        "batch_size": 2,
        "max_seq_len": 160,
        "learning_rate": 3e-4,
        "lr_scheduler": "cosine",
        "bench_limit": 6,
        "generate": False,
        "budget": 2,
    },
    "full": {
        "epochs": 1.0,
        "max_steps": None,
        "batch_size": 8,
        "max_seq_len": 512,
        "learning_rate": 2e-4,
        "lr_scheduler": "cosine",
        "bench_limit": None,
        "generate": True,
        "budget": 8,
    },
}


@contextmanager
def _stage(name: str, timings: dict[str, float]) -> Iterator[None]:
    console.rule(f"[bold]{name}")
    t0 = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - t0
    console.print(f"[dim]{name}: {timings[name]:.1f} s[/]")


def _parse_benches(items: list[str]) -> dict[str, Path]:
    from autosel.errors import ConfigError

    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        p = Path(path if sep else name).expanduser()
        key = name if sep else p.name.split(".")[0]
        if not (p.is_file() or (p.is_dir() and (p / "state.json").is_file())):
            raise ConfigError(
                f"--bench {item!r}: no file at {p} (accepted: PATH or NAME=PATH of a JSONL "
                "or Parquet benchmark, or a Hugging Face save_to_disk directory)"
            )
        if key in out:
            raise ConfigError(f"--bench {item!r}: benchmark name '{key}' given twice")
        out[key] = p.resolve()
    return out


def resolve_profile(profile: str, device: str | None = None) -> tuple[str, str]:
    """``(profile, why)``: ``auto`` becomes ``full`` on a CUDA device and ``demo`` on a CPU
    (hours of SFT per trial at ``full`` on 2 cores); any other name is kept as given.

    ``device``: the device to judge by (default: what :func:`autosel.base_model.pick_device`
    finds). Raises ConfigError for an unknown profile, listing the accepted ones.
    """
    from autosel.errors import ConfigError

    if profile != "auto":
        if profile not in PROFILES:
            raise ConfigError(f"--profile {profile!r}: accepted auto, {', '.join(PROFILES)}")
        return profile, "as asked"
    if device is None:
        from autosel.base_model import pick_device

        device = pick_device()
    if device.startswith("cuda"):
        return "full", f"auto: {device} found"
    return "demo", f"auto: no GPU ({device}); --profile full for the full evaluation"


def profile_search_fields(profile: str) -> dict[str, Any]:
    """What a profile sets in a search spec beside ``eval`` (see :func:`eval_spec_for`):
    its screening ladder (``fidelity``) and final-report settings (``report``), deep
    copies; ``{}`` for a profile with neither."""
    import copy

    p = PROFILES[profile]
    return {k: copy.deepcopy(p[k]) for k in ("fidelity", "report") if p.get(k)}


def eval_spec_for(
    benches: dict[str, Path],
    profile: str,
    model: str,
    seed: int,
    fields: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The evaluation spec of a profile. Without generation the primary metric is one the
    harness computes: ``mc_prob`` for multiple choice, ``neg_nll`` for open answers.

    ``fields``: per benchmark name, its field map (``--bench-map``)."""
    from autosel.errors import ConfigError

    if profile not in PROFILES:
        raise ConfigError(f"--profile {profile!r}: accepted {', '.join(PROFILES)}")
    p = PROFILES[profile]
    from autosel.bench.load import load_benchmark

    def bench(name: str, path: Path) -> dict[str, Any]:
        fmap = (fields or {}).get(name) or {}
        b: dict[str, Any] = {
            "name": name, "path": str(path), "limit": p["bench_limit"], "generate": p["generate"]
        }
        if fmap:
            b["fields"] = dict(fmap)
        if not p["generate"]:
            # errors name file/line
            mc = load_benchmark(path, name=name, fields=fmap or None).is_multiple_choice
            b["primary_metric"] = "mc_prob" if mc else "neg_nll"
        return b

    spec: dict[str, Any] = {
        "model": model,
        "seed": seed,
        "epochs": p["epochs"],
        "batch_size": p["batch_size"],
        "max_seq_len": p["max_seq_len"],
        "learning_rate": p["learning_rate"],
        "lr_scheduler": p["lr_scheduler"],
        "benchmarks": [bench(n, path) for n, path in sorted(benches.items())],
    }
    if p["max_steps"]:
        spec["max_steps"] = p["max_steps"]
    return spec


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")


class _Dashboard:
    """The API + dashboard on 127.0.0.1 in a background thread, reading the same store."""

    def __init__(self, store: Any, settings: Any, port: int) -> None:
        import uvicorn

        from autosel.api import create_app

        self.port = _free_port(port)
        self.url = f"http://127.0.0.1:{self.port}/"
        application = create_app(settings, store=store, auth=False)
        self.server = uvicorn.Server(
            uvicorn.Config(application, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="dashboard")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def run_flow(
    pool_file: Path,
    benches: dict[str, Path],
    *,
    budget: int | None,
    profile: str,
    model: str,
    out: Path,
    port: int,
    serve: bool,
    workers: int,
    seed: int,
    spec_file: Path | None,
    name: str,
    timings: dict[str, float],
    references: dict[str, Path] | None = None,
    field_map: str | None = None,
    bench_fields: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The main job, stage by stage. Returns the final search summary.

    ``references``: extra subsets (name -> file of sample ids) the final report re-trains
    and compares with the full pool, e.g. the demo's oracle-clean subset.
    ``bench_fields``: per benchmark name, its field map (``--bench-map``).
    """
    from autosel.cli.search import event_printer, print_report, print_summary, trials_table
    from autosel.pool.export import export_records
    from autosel.scheduler.spec import SearchSpec
    from autosel.scheduler.views import trial_rows
    from autosel.service import create_search, register_pool, run_embedded, search_report
    from autosel.settings import get_settings
    from autosel.signals import compute_signals
    from autosel.store import open_store

    settings = get_settings()
    with _stage("ingest the pool", timings):
        res = register_pool(pool_file, name=name, settings=settings, field_map=field_map)
        console.print(stats_table(res.pool.stats()))
    pool = res.pool
    with _stage("compute signals (one model pass, cached)", timings):
        from autosel.bench.spec import BenchmarkSpec

        bench_specs = {
            n: BenchmarkSpec(name=n, path=p, fields=(bench_fields or {}).get(n) or {})
            for n, p in benches.items()
        }
        signals = compute_signals(pool, model=model, benchmarks=bench_specs, settings=settings)
        console.print(f"{len(signals.names)} signal columns: {', '.join(signals.names)}")
    store = open_store(settings=settings)
    spec_data: dict[str, Any] = {
        "pool": pool.pool_id,
        "name": f"{name} ({profile})",
        "budget": budget or PROFILES[profile]["budget"],
        "eval": eval_spec_for(benches, profile, model, seed, bench_fields),
        # the signals computed above: a restarted server must look for these, not defaults
        "signals": {"model": model},
        "knobs": {"seed": seed},
    }
    spec_data.update(profile_search_fields(profile))
    if references:
        spec_data.setdefault("report", {})["references"] = {
            k: str(v) for k, v in references.items()
        }
    spec = (
        SearchSpec.from_file(spec_file, pool=pool.pool_id, budget=budget)
        if spec_file
        else SearchSpec.parse(spec_data)
    )
    search = create_search(store, spec, settings=settings)
    _print_contamination(store, search.id)
    dash = _Dashboard(store, settings, port)
    dash.start()
    console.print(f"dashboard: [bold]{dash.url}searches/{search.id}[/] (live)")
    if spec.fidelity.screening:
        ladder = ", ".join(f"{f:g}" for f in spec.fidelity.ladder)
        what = f"{spec.budget:g} compute units (screening at fidelities {ladder})"
    else:
        what = f"{spec.budget:g} real SFT evaluations"
    with _stage(f"search: {what} + final report", timings):
        summary = run_embedded(
            store,
            search.id,
            settings=settings,
            workers=workers,
            on_event=event_printer(),
            signals=signals,
        )
    if summary["state"] != "completed":
        _search_did_not_complete(summary, trial_rows(store, search.id), dash)
    with _stage("write the best recipe and subset", timings):
        out.mkdir(parents=True, exist_ok=True)
        rows = trial_rows(store, search.id)
        console.print(trials_table(rows))
        best = summary["best"]
        if best is not None:
            from autosel.recipes.subsets import load_subset

            subset_file = out / "best_subset.jsonl"
            recipe_file = out / "best_recipe.yaml"
            import yaml

            export_records(
                pool.rows(load_subset(settings, best["fingerprint"])), subset_file, "chat"
            )
            recipe_file.write_text(yaml.safe_dump(best["recipe"], sort_keys=False))
    console.rule("[bold]result")
    print_summary(summary)
    if summary["failed"]:  # failed evaluations spent budget: say so, with the reason
        console.print(f"[yellow]{_failures(rows)}[/]")
    print_report(search_report(store, search.id))
    if best is not None:
        console.print(f"subset of the best recipe (dev), {best['size']} samples: {subset_file}")
        console.print(f"recipe: {recipe_file}")
    console.print(f"dashboard: {dash.url}searches/{search.id}")
    console.rule("[bold]stage times")
    for stage, secs in timings.items():
        console.print(f"  {stage:<52} {secs:8.1f} s")
    if serve:
        console.print("serving the dashboard until Ctrl-C (use --no-serve to exit at once)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    dash.stop()
    return summary


def _failures(rows: list[dict[str, Any]]) -> str:
    """How many search evaluations failed, and the most common reason."""
    from collections import Counter

    errors = [r["error"] or "failed" for r in rows if not r["report"] and r["state"] == "failed"]
    common, n = Counter(errors).most_common(1)[0]
    return f"{len(errors)} evaluation(s) failed and counted against the budget ({n}x: {common})"


def _print_contamination(store: Any, search_id: str) -> None:
    """The decontamination check ``create_search`` ran: yellow when samples were found."""
    from autosel.service.searches import contamination_line, contamination_of

    found = contamination_of(store, search_id)
    if found is not None:
        style = "yellow" if found.get("count") else "green"
        console.print(contamination_line(found), style=style, highlight=False)


def _search_did_not_complete(summary: dict[str, Any], rows: list[Any], dash: _Dashboard) -> None:
    """Show the trials and why the search ended, then exit with
    :data:`EXIT_SEARCH_NOT_COMPLETED` (no subset is written, the dashboard is not kept)."""
    from autosel.cli.search import print_summary, trials_table

    console.print(trials_table(rows))
    console.rule("[bold]result")
    print_summary(summary)
    why = summary.get("failure_reason") or "cancelled before its budget was spent"
    typer.secho(f"error: search {summary['id']} {summary['state']}: {why}", fg="red", err=True)
    dash.stop()
    raise typer.Exit(EXIT_SEARCH_NOT_COMPLETED)


# Options both commands take: one definition each, so `run` and `demo` cannot drift apart.
BudgetOption = Annotated[
    int | None, typer.Option(min=1, help="Full SFT evaluations (default: the profile's).")
]
ProfileOption = Annotated[
    str, typer.Option(help="Evaluation size: tiny, demo or full (see README).")
]
PortOption = Annotated[
    int, typer.Option(help="Dashboard port on 127.0.0.1 (another is picked if busy).")
]
ServeOption = Annotated[
    bool, typer.Option("--serve/--no-serve", help="Keep serving the dashboard at the end.")
]
WorkersOption = Annotated[int, typer.Option(min=1, help="In-process workers.")]


@app.command("run")
def run(
    pool_file: Path = typer.Argument(
        ..., help="Your pool (JSONL/JSON/Parquet, any supported format)."
    ),
    bench: list[str] = typer.Option(
        ..., "--bench", help="Benchmark JSONL, PATH or NAME=PATH (repeatable)."
    ),
    bench_map: list[str] = typer.Option(None, "--bench-map", help=BENCH_MAP_HELP),
    budget: BudgetOption = None,
    profile: Annotated[
        str,
        typer.Option(help="Evaluation size: auto (GPU: full, CPU: demo), tiny, demo or full."),
    ] = "auto",
    model: str = typer.Option("smollm2", help="Base model: a local HF directory or 'smollm2'."),
    spec_file: Path = typer.Option(
        None, "--spec", help="A search spec YAML instead of the profile."
    ),
    out: Path = typer.Option(Path("autosel-out"), help="Where the best subset and recipe go."),
    port: PortOption = 8000,
    serve: ServeOption = True,
    workers: WorkersOption = 1,
    seed: int = typer.Option(0, min=0, help="Search and training seed."),
    field_map: str = typer.Option(
        None,
        "--map",
        help="Pool field map CANONICAL=SOURCE,... (as `autosel pool add --map`), e.g. "
        "question=problem,answer=solution.",
    ),
) -> None:
    """Ingest → signals → search with real SFT → best recipe, in one command."""
    benches = _parse_benches(bench)
    bench_fields = parse_bench_maps(bench_map, benches)
    profile, why = resolve_profile(profile)
    if spec_file is None:
        console.print(f"profile: [bold]{profile}[/] ({why})")
    run_flow(
        pool_file,
        benches,
        budget=budget,
        profile=profile,
        model=model,
        out=out,
        port=port,
        serve=serve,
        workers=workers,
        seed=seed,
        spec_file=spec_file,
        name=pool_file.name.split(".")[0],
        timings={},
        field_map=field_map,
        bench_fields=bench_fields,
    )


@app.command("demo")
def demo(
    out: Path = typer.Option(None, help="Output directory (default: $AUTOSEL_HOME/demo)."),
    size: str = typer.Option("small", help="Demo pool size: small, medium or large."),
    profile: ProfileOption = "demo",
    budget: BudgetOption = None,
    seed: int = typer.Option(0, min=0, help="Seed of the demo pool, the search and training."),
    port: PortOption = 8000,
    serve: ServeOption = True,
    workers: WorkersOption = 1,
) -> None:
    """The main job on the embedded default: demo pool, SmolLM2 signals, a real search.

    The demo pool is the *rules* pool (autosel.pool.demo.rules): short rule-based tasks
    with a planted wrong-rule defect the model really learns from, so the data choice
    shows on the held-out test split. Its hidden labels give the oracle-clean reference
    of the final report (a ceiling no recipe can read).
    """
    from autosel.pool.demo.rules import generate_rules_pool
    from autosel.settings import get_settings

    out = out or get_settings().home / "demo"
    timings: dict[str, float] = {}
    with _stage("generate the demo pool and held-out benchmarks", timings):
        demo_pool = generate_rules_pool(out / "data", size=size, seed=seed)
        console.print(f"pool: {demo_pool.pool_path} ({demo_pool.n_samples} samples; planted "
                      f"defects {demo_pool.defect_counts})")
    benches = {p.stem: p for p in demo_pool.bench_paths}
    run_flow(
        demo_pool.pool_path,
        benches,
        budget=budget,
        profile=profile,
        model="smollm2",
        out=out,
        port=port,
        serve=serve,
        workers=workers,
        seed=seed,
        spec_file=None,
        name=f"demo-{size}",
        timings=timings,
        references={"oracle-clean": demo_pool.clean_ids_path},
    )
