"""``autosel search``: start, list, show, watch, cancel, resume, export, report — against a
server (``--server URL``) or, without it, the embedded store in this process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from autosel.cli import app
from autosel.cli._common import BENCH_MAP_HELP, console, print_json
from autosel.search.budget import DEFAULT_BUDGET, MAX_BUDGET

search_app = typer.Typer(help="Start and inspect recipe searches.", no_args_is_help=True)
app.add_typer(search_app, name="search")

SERVER = typer.Option(
    None, "--server", envvar="AUTOSEL_SERVER", help="Server URL (default: embedded)."
)
TOKEN = typer.Option(None, "--token", envvar="AUTOSEL_TOKEN", help="API token for --server.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def recipe_summary(recipe: dict[str, Any]) -> str:
    """``hes_filter(fraction=0.3) → minhash_dedup(threshold=0.8)`` (``full pool`` if empty;
    a final-report reference subset, which has no steps, by its name)."""
    steps = recipe.get("steps") or []
    if not steps:
        return recipe.get("name") or "full pool"
    parts = []
    for s in steps:
        params = ", ".join(f"{k}={v}" for k, v in sorted((s.get("params") or {}).items()))
        parts.append(f"{s['operator']}({params})")
    return " → ".join(parts)


def _at_other_fidelity(predicted_at: float | None, evaluated_at: float | None) -> str:
    """`` @ f`` when a prediction is on another fidelity's scale than the trial's score."""
    if predicted_at is None or evaluated_at is None or abs(predicted_at - evaluated_at) < 1e-9:
        return ""
    return f" @ f={predicted_at:g}"


def trials_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    benches = sorted({b for r in rows for b in r["scores"]})
    t = Table(title="trials (search trials: dev split; report:* trials: test split)")
    for col in ("#", "origin", "recipe", "size", "predicted", "actual", *benches, "state"):
        t.add_column(col, overflow="fold")
    for r in rows:
        pred = (
            "—"
            if r["predicted_mean"] is None
            else f"{r['predicted_mean']:.3f}±{r['predicted_std'] or 0:.3f}"
            + _at_other_fidelity(r.get("predicted_fidelity"), r.get("fidelity"))
        )
        t.add_row(
            str(r["number"]),
            r["origin"],
            recipe_summary(r["recipe"]),
            str(r["size"]),
            pred,
            _fmt(r["score"]),
            *[_fmt(r["scores"].get(b), 3) for b in benches],
            r["state"] + (f" ({r['error'][:60]})" if r["error"] else ""),
        )
    return t


def print_summary(s: dict[str, Any]) -> None:
    ladder = s.get("fidelity_ladder") or [1.0]
    spent = (
        f"{_fmt(s.get('units_spent'), 2)}/{s['budget']} compute units "
        f"({s['completed']} evaluations, fidelity ladder {ladder})"
        if len(ladder) > 1
        else f"{s['completed']}/{s['budget']} evaluations"
    )
    console.print(
        f"search [bold]{s['id']}[/] ({s['name']}): {s['state']}, "
        f"{spent}, best dev score {_fmt(s['best_score'])}"
    )
    if s.get("report_runs"):
        console.print(f"final report: {s['report_runs_done']}/{s['report_runs']} test runs done")
    if s.get("best"):
        console.print(
            f"best recipe (dev, trial {s['best']['number']}): {recipe_summary(s['best']['recipe'])}"
        )
    for w in s.get("warnings") or []:
        console.print(f"[yellow]warning:[/] {w['message']}", highlight=False)


VERDICT_STYLE = {
    "better": "bold green",
    "worse": "bold red",
    "not distinguishable": "bold yellow",
    "unavailable": "dim",
}


def _pm(x: float | None, se: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.4f}" if se is None else f"{x:.4f} ± {se:.4f}"


def print_report(r: dict[str, Any]) -> None:
    """Render ``search_report``: arms on test, each difference with its 95% CI and verdict.

    The best recipe's dev score is shown as what it is (the score the search maximised,
    biased upwards); the test rows are re-trained with fresh seeds. No line names a winner
    without the CI it rests on.
    """
    from rich.markup import escape
    from rich.table import Table

    if r["status"] != "complete":
        console.print(f"final report: {r['status']}: {r['message']}")
        for p in r.get("pending") or []:
            console.print(
                f"  trial {p['trial']} ({p['arm']}, replicate {p['replicate']}): {p['state']}"
            )
        return
    rep = r["report"]
    best = rep.get("best")
    if best:
        console.print(
            f"best recipe (dev): trial {best['trial']}, {best['size']} samples, "
            f"dev score {best['dev_score']:.4f} (the score the search maximised; "
            f"not a test score): {recipe_summary(best['recipe'])}"
        )
    t = Table(title="final report: test split, fresh training seeds")
    for col in ("arm", "size", "replicates", "test utility ± SE"):
        t.add_column(col, justify="left" if col == "arm" else "right")
    for a in rep["arms"]:
        reps = f"{a['replicates']}/{a['planned']}"
        t.add_row(a["name"], str(a["size"] or "—"), reps, _pm(a["test_utility"], a["test_se"]))
    console.print(t)
    sv = rep["seed_variance"]
    console.print(
        f"[dim]training-seed SD {sv['value'] ** 0.5:.4f} "
        + (f"(measured, {sv['df']} df)" if sv["measured"] else f"({sv['source']})")
        + "; 95% CIs carry item and seed noise[/]"
    )
    for c in rep["comparisons"]:
        style = VERDICT_STYLE.get(c["verdict"], "bold")
        console.print(f"  [{style}]{escape(c['verdict'])}[/]: {escape(c['sentence'])}")
    for m in rep.get("missing") or []:
        console.print(f"  [red]missing[/] {escape(m['name'])}: {escape(m['reason'])}")
    if rep.get("flat_warning"):
        console.print(f"[bold yellow]warning:[/] [yellow]{escape(rep['flat_warning'])}[/]")


PROGRESS_SECONDS = 30.0  # the longest a followed trial stays silent while it runs


def event_printer() -> Any:
    """A callback printing scheduler events as they happen (used by start and run)."""

    numbers: dict[Any, Any] = {}  # trial id -> trial number, from trial_proposed
    last: dict[Any, tuple[str, float]] = {}  # job id -> (unit, time) of its last line

    def show(ev: Any) -> None:
        d = ev.data
        if ev.kind == "job.progress" and d.get("job_kind") != "signals":
            # A trial's training steps and scored benchmarks: a line when a phase starts
            # or ends, else at most every PROGRESS_SECONDS (a trial can take many minutes).
            now, unit = time.monotonic(), str(d.get("unit"))
            prev = last.get(ev.job_id)
            done, total = d.get("done"), d.get("total")
            if prev and prev[0] == unit and done != total and now - prev[1] < PROGRESS_SECONDS:
                return
            last[ev.job_id] = (unit, now)
            who = numbers.get(ev.trial_id)
            label = f"trial {who}" if who is not None else f"job {ev.job_id}"
            console.print(f"    [dim]{label}: {unit} {done}/{total}[/]")
            return
        if ev.kind == "trial_proposed":
            numbers[getattr(ev, "trial_id", None)] = d.get("number")
            pred = d.get("prediction") or {}
            extra = (
                f", predicted {pred['mean']:.3f}"
                + _at_other_fidelity(pred.get("fidelity"), d.get("fidelity", 1.0))
                if pred.get("mean") is not None
                else ""
            )
            console.print(
                f"  → trial {d['number']} proposed ({d['origin']}, {d['size']} samples{extra})"
            )
        elif ev.kind == "trial_complete":
            console.print(f"  ✓ trial {d['number']} scored [bold]{d['score']:.4f}[/]")
        elif ev.kind in ("trial_failed", "trial_cancelled"):
            console.print(f"  ✗ trial {d.get('number')} {ev.kind[6:]}: {d.get('reason')}")
        elif ev.kind == "signals_queued":
            console.print(f"  signals: job queued for {d.get('samples')} samples of {d.get('pool')}")
        elif ev.kind == "job.progress" and d.get("job_kind") == "signals":
            console.print(f"  signals: {d.get('done')}/{d.get('total')} {d.get('unit', 'samples')}")
        elif ev.kind == "signals_ready":
            console.print("  signals: ready")
        elif ev.kind == "search_report":
            console.print("  [dim]final report computed[/] (test split)")
        elif ev.kind == "trial_promoted":
            console.print(
                f"  ↑ trial {d.get('from')} promoted to fidelity {d.get('fidelity')} "
                f"(screening score {_fmt(d.get('score'))})"
            )
        elif ev.kind == "gp_fit_failed":
            console.print(
                f"  [yellow]GP fit failed[/] ({d.get('reason')}): {d.get('proposed')} "
                f"candidate(s) picked by {d.get('fallback')} instead",
                highlight=False,
            )
        elif ev.kind in (
            "report_queued",
            "search_completed",
            "space_exhausted",
            "search_started",
        ):
            console.print(f"  [dim]{ev.kind.replace('_', ' ')}[/] {json.dumps(d, default=str)}")

    return show


def build_spec(
    pool: str,
    budget: int | None,
    spec_file: Path | None,
    name: str | None,
    benches: list[str] | None = None,
    profile: str | None = None,
    strategy: str | None = None,
    bench_maps: list[str] | None = None,
) -> dict[str, Any]:
    """The search spec from a YAML file plus command-line overrides, validated.

    ``benches`` (``NAME=PATH`` or ``PATH``, as ``autosel run --bench`` takes them): with a
    spec file they replace its ``eval.benchmarks``; without one, the evaluation is the
    ``profile``'s (``auto``: from the device, see :func:`autosel.cli.run.resolve_profile`)
    over these benchmarks, as ``autosel run`` builds it. ``bench_maps``: ``--bench-map``
    values (a field map per ``--bench`` name).
    """
    from autosel.cli._common import parse_bench_maps
    from autosel.errors import ConfigError
    from autosel.scheduler.spec import SearchSpec

    if bench_maps and not benches:
        raise ConfigError("--bench-map maps the fields of a --bench benchmark; give --bench too "
                          "(a spec file's benchmarks take `fields:` instead)")

    if spec_file is not None:
        spec = SearchSpec.from_file(
            spec_file, pool=pool, budget=budget, name=name, strategy=strategy
        )
        if benches:
            from autosel.cli.run import _parse_benches

            stored = spec.to_json()
            parsed = _parse_benches(benches)
            fields = parse_bench_maps(bench_maps, parsed)
            stored["eval"]["benchmarks"] = [
                {"name": n, "path": str(p), **({"fields": fields[n]} if n in fields else {})}
                for n, p in sorted(parsed.items())
            ]
            spec = SearchSpec.parse(stored, where=f"{spec_file} with --bench")
        return spec.to_json()
    data: dict[str, Any] = {
        "pool": pool,
        **({"budget": budget} if budget else {}),
        **({"name": name} if name else {}),
        **({"strategy": strategy} if strategy else {}),
    }
    if benches:
        from autosel.cli.run import (
            _parse_benches,
            eval_spec_for,
            profile_search_fields,
            resolve_profile,
        )

        chosen, why = resolve_profile(profile or "auto")
        typer.echo(f"profile: {chosen} ({why})", err=True)  # stderr: --json stays JSON
        parsed = _parse_benches(benches)
        fields = parse_bench_maps(bench_maps, parsed)
        data["eval"] = eval_spec_for(parsed, chosen, "smollm2", 0, fields)
        data.update(profile_search_fields(chosen))  # its screening ladder, report settings
    return SearchSpec.parse(data).to_json()


SearchIdArg = Annotated[
    str, typer.Argument(help="Search id, a unique id prefix (6+ characters) or its name.")
]


@search_app.command("start")
def start(
    pool: str = typer.Argument(..., help="Pool id, prefix or name."),
    budget: int = typer.Option(
        None,
        "--budget",
        min=1,
        max=MAX_BUDGET,
        help=f"Full evaluations to spend (default: the spec's, else {DEFAULT_BUDGET}).",
    ),
    spec_file: Path = typer.Option(None, "--spec", help="Search spec YAML (see README)."),
    bench: list[str] = typer.Option(
        None,
        "--bench",
        help="Benchmark JSONL, PATH or NAME=PATH (repeatable); replaces the spec's.",
    ),
    bench_map: list[str] = typer.Option(None, "--bench-map", help=BENCH_MAP_HELP),
    profile: str = typer.Option(
        "auto",
        help="Without --spec: evaluation size for --bench (auto: GPU full, CPU demo; "
        "tiny, demo, full).",
    ),
    name: str = typer.Option(None, help="A name for the search."),
    strategy: str = typer.Option(
        None, help="gp (default), random, grid (each operator swept) or tpe (optuna)."
    ),
    server: str = SERVER,
    token: str = TOKEN,
    detach: bool = typer.Option(
        False, help="Only create it (embedded: run later with `search resume`)."
    ),
    workers: int = typer.Option(1, min=1, help="Embedded mode: in-process workers."),
    as_json: bool = JSON,
) -> None:
    """Create a search and (unless --detach) follow it to the end."""
    from autosel.cli.client import EmbeddedClient, make_client

    client = make_client(server, token)
    created = client.create_search(build_spec(
        pool, budget, spec_file, name, bench, profile, strategy, bench_map
    ))
    sid = created["id"]
    if not as_json:
        console.print(f"created search [bold]{sid}[/] (budget {created['budget']})")
    if detach:
        if as_json:
            print_json(created)
        return
    if isinstance(client, EmbeddedClient):
        from autosel.service import run_embedded

        summary = run_embedded(
            client.store,
            sid,
            settings=client.settings,
            workers=workers,
            on_event=None if as_json else event_printer(),
        )
    else:
        summary = _watch(client, sid, quiet=as_json)
    if as_json:
        print_json(summary)
    else:
        print_summary(summary)
    exit_unless_completed(summary)


def exit_unless_completed(summary: dict[str, Any]) -> None:
    """Exit :data:`~autosel.cli._errors.EXIT_SEARCH_NOT_COMPLETED` with the reason when a
    followed search ended ``failed`` or ``cancelled``."""
    from autosel.cli._errors import EXIT_SEARCH_NOT_COMPLETED

    if summary.get("state") in ("failed", "cancelled"):
        why = summary.get("failure_reason") or "cancelled before its budget was spent"
        typer.secho(f"error: search {summary['id']} {summary['state']}: {why}", fg="red", err=True)
        raise typer.Exit(EXIT_SEARCH_NOT_COMPLETED)


@search_app.command("resume")
def resume(
    search_id: SearchIdArg,
    workers: int = typer.Option(1, min=1, help="Embedded mode: in-process workers."),
    server: str = SERVER,
    token: str = TOKEN,
) -> None:
    """Continue a failed search from its stored trials until its budget is spent.

    Embedded, this process runs it (also a search created with ``start --detach``); with
    ``--server``, the server's scheduler does and this command follows it."""
    from autosel.cli.client import EmbeddedClient, make_client

    client = make_client(server, token)
    if not isinstance(client, EmbeddedClient):
        client.resume(search_id)
        summary = _watch(client, search_id)
    else:
        from autosel.service import run_embedded

        current = client.search(search_id)  # also resolves a prefix or name to the id
        search_id = current["id"]
        if current["state"] == "failed":
            client.resume(search_id)
        summary = run_embedded(
            client.store,
            search_id,
            settings=client.settings,
            workers=workers,
            on_event=event_printer(),
        )
    print_summary(summary)
    exit_unless_completed(summary)


@search_app.command("report")
def report(search_id: SearchIdArg, server: str = SERVER, token: str = TOKEN, as_json: bool = JSON) -> None:
    """The final report: best, full pool, random subsets (and references) on the test
    split, each difference with a 95% CI; or which report runs are still running."""
    from autosel.cli.client import make_client

    r = make_client(server, token).report(search_id)
    if as_json:
        print_json(r)
    else:
        print_report(r)


@search_app.command("list")
def list_(server: str = SERVER, token: str = TOKEN, as_json: bool = JSON) -> None:
    """Searches with their state and best score."""
    from rich.table import Table

    from autosel.cli.client import make_client

    rows = make_client(server, token).searches()
    if as_json:
        print_json(rows)
        return
    t = Table("id", "name", "state", "evaluations", "best (dev)")
    for s in rows:
        t.add_row(
            s["id"], s["name"], s["state"], f"{s['completed']}/{s['budget']}", _fmt(s["best_score"])
        )
    console.print(t)


@search_app.command("show")
def show(search_id: SearchIdArg, server: str = SERVER, token: str = TOKEN, as_json: bool = JSON) -> None:
    """Status and the table of trials (recipe, size, predicted vs actual, scores, origin)."""
    from autosel.cli.client import make_client

    client = make_client(server, token)
    summary, rows = client.search(search_id), client.trials(search_id)
    if as_json:
        print_json({**summary, "trials": rows})
        return
    print_summary(summary)
    console.print(trials_table(rows))


def _watch(client: Any, sid: str, *, quiet: bool = False, interval: float = 2.0) -> dict[str, Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from autosel.store.records import FINAL_SEARCH_STATES

    s = client.search(sid)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
    ) as prog:
        task = prog.add_task("evaluations", total=s["budget"])
        while True:
            s = client.search(sid)
            prog.update(
                task,
                completed=s["completed"],
                description=(
                    f"{s['state']}: best dev {_fmt(s['best_score'])}, {s['in_flight']} running"
                ),
            )
            if s["state"] in FINAL_SEARCH_STATES:
                return s
            time.sleep(interval)


@search_app.command("watch")
def watch(
    search_id: SearchIdArg,
    server: str = SERVER,
    token: str = TOKEN,
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between polls."),
) -> None:
    """Live progress until the search ends (Ctrl-C stops watching, not the search)."""
    from autosel.cli.client import make_client

    print_summary(_watch(make_client(server, token), search_id, interval=interval))


@search_app.command("cancel")
def cancel(search_id: SearchIdArg, server: str = SERVER, token: str = TOKEN) -> None:
    """Cancel: queued jobs stop, running ones are signalled."""
    from autosel.cli.client import make_client

    print_summary(make_client(server, token).cancel(search_id))


@search_app.command("export")
def export(
    search_id: SearchIdArg,
    out: Path = typer.Option(..., "--out", help="Output file (or directory for hf)."),
    fmt: str = typer.Option("chat", "--format", help="chat, alpaca, sharegpt or hf."),
    trial: int = typer.Option(None, help="Trial number (default: the best)."),
    recipe_out: Path = typer.Option(None, "--recipe-out", help="Also write the recipe YAML here."),
    server: str = SERVER,
    token: str = TOKEN,
) -> None:
    """Write the best (or any) trial's subset, and optionally its recipe."""
    from autosel.cli.client import EmbeddedClient, make_client
    from autosel.errors import ConfigError
    from autosel.pool.export import EXPORT_FORMATS, export_records

    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"--format '{fmt}': accepted {', '.join(EXPORT_FORMATS)}")
    client = make_client(server, token)
    if isinstance(client, EmbeddedClient):
        n = export_records(client.subset_rows(search_id, trial), out, fmt)
    else:
        if fmt == "hf":
            raise ConfigError("--format hf is available in embedded mode; export chat and convert")
        out.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with open(out, "wb") as f:
            for line in client.export_lines(search_id, fmt, trial):
                f.write(line)
                n += 1
    console.print(f"wrote {n:,} samples ({fmt}) to {out}")
    if recipe_out is not None:
        recipe_out.write_text(client.recipe_yaml(search_id, trial))
        console.print(f"wrote the recipe to {recipe_out}")
