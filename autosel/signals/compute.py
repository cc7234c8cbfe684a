"""``compute_signals`` / ``load_signals``: compute what is missing, reuse the cache."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autosel.errors import ConfigError, NotFoundError
from autosel.pool.pool import Pool
from autosel.settings import Settings, get_settings
from autosel.signals import cache, minhash, text
from autosel.signals.params import (
    BENCH_VERSION,
    IFD_VERSION,
    MINHASH_VERSION,
    MODEL_VERSION,
    TEXT_VERSION,
    MinHashParams,
    ModelParams,
    TextParams,
)
from autosel.signals.ray_exec import RayExecutor, require_ray
from autosel.signals.relevance import (
    EMBEDDING,
    as_benchmark_specs,
    benchmark_centroid,
    centroid_key,
    dev_questions,
)
from autosel.signals.shard import ModelSpec, compute_shard, merge_shards, shard_ranges
from autosel.signals.signalset import SignalSet

if TYPE_CHECKING:  # pragma: no cover
    from autosel.bench.spec import BenchmarkSpec

ROWS_PER_SHARD = 1024
# Token budget of one model-pass batch, per device kind: the fastest measured setting.
# CPU (2 shared cores, SmolLM2-135M bf16, `benchmarks/signals.py --quick --budgets`, 48
# short demo samples, best of 2): 1 token (one sample a batch) 14.70 s, 512: 13.66 s,
# 2,048: 13.44 s, 8,192: 12.62 s. (Before batches held one padded width, 8,192 was ~1.5x
# slower than one at a time: padding to the longest of a mixed batch.) CUDA: batching is
# where a GPU's throughput comes from (not measured here).
DEFAULT_BATCH_TOKENS = {"cpu": 8192, "cuda": 8192}


def default_batch_tokens(device: str) -> int:
    """The batch budget used when none is given: :data:`DEFAULT_BATCH_TOKENS` by device
    kind (``cuda:1`` is ``cuda``; an unknown kind gets the CPU value)."""
    return DEFAULT_BATCH_TOKENS.get(device.split(":")[0], DEFAULT_BATCH_TOKENS["cpu"])


DTYPE_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def _key(
    group: str, version: int, pool: Pool, params: dict[str, Any], model_id: str | None = None
) -> dict[str, Any]:
    return {
        "group": group,
        "version": version,
        "pool": pool.content_hash,
        "model": model_id,
        "params": params,
    }


def _text_group(pool: Pool, root: Path, params: TextParams) -> Path:
    key = _key("text", TEXT_VERSION, pool, params.model_dump())

    def fill(tmp: Path) -> None:
        lex = np.fromiter(
            (text.lexical_entropy(r, params.lexical_ngram) for _, r in text.iter_texts(pool)),
            dtype=np.float64,
            count=len(pool),
        )
        cache.save_arrays(
            tmp,
            {
                "resp_chars": text.response_chars(pool),
                "lexical_entropy": lex,
                "exact_groups": text.exact_groups(pool),
            },
        )
        cache.write_manifest(tmp, {**key, "units": {"lexical_entropy": "bits"}})

    return cache.write_dir_atomic(cache.group_dir(root, "text", key), fill)


def _minhash_group(pool: Pool, root: Path, params: MinHashParams) -> Path:
    key = _key("minhash", MINHASH_VERSION, pool, params.model_dump(mode="json"))

    def fill(tmp: Path) -> None:
        texts = [f"{p}\n{r}" for p, r in text.iter_texts(pool)]
        sig = minhash.signatures(texts, params)
        clusters = minhash.lsh_clusters_all(sig, params.thresholds)
        cache.save_arrays(
            tmp, {"signatures": sig, "clusters": np.stack([clusters[t] for t in params.thresholds])}
        )
        bands = {str(t): list(minhash.lsh_bands(t, params.num_perm)) for t in params.thresholds}
        cache.write_manifest(
            tmp,
            {
                **key,
                "lsh_bands_rows": bands,
                "clusters_with_duplicates": {
                    str(t): int((clusters[t] != np.arange(len(pool))).sum())
                    for t in params.thresholds
                },
            },
        )

    return cache.write_dir_atomic(cache.group_dir(root, "minhash", key), fill)


class _Progress:
    """A rich progress bar (samples, response tokens/s, ETA), or nothing."""

    def __init__(self, enabled: bool, total: int, label: str) -> None:
        self.bar = None
        self.tokens = 0
        if enabled and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[tps]} tok/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self.task = self.bar.add_task(label, total=total, tps="-")
            self.bar.start()

    def update(self, samples: int, tokens: int) -> None:
        if self.bar is None:
            return
        self.tokens += tokens
        elapsed = self.bar.tasks[0].elapsed or 1e-9
        self.bar.update(self.task, advance=samples, tps=f"{self.tokens / elapsed:,.0f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


ShardRunner = Callable[[Pool, list[tuple[int, int]], ModelSpec, Path, str], list[Path]]


ProgressFn = Callable[[int, int], None]


def _local_runner(
    loader: Callable[[], Any], progress: bool, on_progress: ProgressFn | None = None
) -> ShardRunner:
    """Run the shards one after the other in this process, with a progress bar.

    ``on_progress(done, total)`` is called after each batch with the samples of this
    pass done so far (how a signals job reports its progress).
    """

    def run(
        pool: Pool, ranges: list[tuple[int, int]], spec: ModelSpec, partial: Path, label: str
    ) -> list[Path]:
        bar = _Progress(progress, len(pool), f"{label} pass")
        done = [0]

        def on_batch(samples: int, tokens: int) -> None:
            bar.update(samples, tokens)
            if on_progress is not None:
                done[0] = min(done[0] + samples, len(pool))
                on_progress(done[0], len(pool))

        try:
            return [
                compute_shard(pool.path, r, spec, partial, loaded=loader(), on_batch=on_batch)
                for r in ranges
            ]
        finally:
            bar.close()

    return run


def _ray_runner(executor: RayExecutor, progress: bool) -> ShardRunner:
    """Run the shards on a pool of Ray actors (see ``ray_exec.py``)."""

    def run(
        pool: Pool, ranges: list[tuple[int, int]], spec: ModelSpec, partial: Path, label: str
    ) -> list[Path]:
        return executor.run_shards(pool.path, ranges, spec, partial, progress=progress)

    return run


def _sharded_model_group(
    pool: Pool,
    root: Path,
    group: str,
    key: dict[str, Any],
    spec: ModelSpec,
    run: ShardRunner,
    extra: dict[str, Any],
) -> Path:
    """Compute the shards of a model-pass group with ``run``, merge and install them.

    Whatever ``run`` is (local loop, Ray), shards live under ``<group dir>.partial/`` and
    the group lands in the same cache directory, so executors resume each other's work.
    """
    target = cache.group_dir(root, group, key)
    if (target / cache.MANIFEST).is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    dirs = run(pool, shard_ranges(len(pool), ROWS_PER_SHARD), spec, partial, group)
    merged = merge_shards(dirs, len(pool))

    def fill(tmp: Path) -> None:
        cache.save_arrays(tmp, merged)
        counts = {
            "truncated": int(merged["truncated"].sum()),
            "empty": int((merged["resp_tokens"] == 0).sum()),
            "scored_tokens": int(merged["offsets"][-1]),
        }
        cache.write_manifest(
            tmp, {**key, **extra, "counts": counts, "units": {"token arrays": "nats (float32)"}}
        )

    cache.write_dir_atomic(target, fill)
    shutil.rmtree(partial, ignore_errors=True)
    return target


def compute_signals(
    pool: Pool,
    *,
    model: str | None = "smollm2",
    device: str | None = None,
    precision: str = "auto",
    benchmarks: Mapping[str, str | Path | BenchmarkSpec] | None = None,
    ifd: bool = False,
    minhash: MinHashParams | None = None,
    text_params: TextParams | None = None,
    max_tokens: int = 2048,
    batch_tokens: int | None = None,
    progress: bool = True,
    settings: Settings | None = None,
    unit: str = "bits",
    executor: str | RayExecutor = "local",
    on_progress: ProgressFn | None = None,
) -> SignalSet:
    """Compute every missing signal group of ``pool`` and return the signal set.

    ``model=None`` computes only the model-free groups. ``executor`` runs the model-pass
    shards here (``"local"``) or on a pool of Ray actors (``"ray"`` or a
    :class:`~autosel.signals.ray_exec.RayExecutor`); both fill the same cache entries.
    Benchmark centroids are always computed here. See the package docstring.

    ``benchmarks`` maps a name to a benchmark file (split by item id with the default
    ``test_fraction``) or to its :class:`~autosel.evaluation.spec.BenchmarkSpec` (how a
    search passes its own splits). Relevance reads only the dev split's questions
    (:mod:`autosel.signals.relevance`); the files are read and validated before any model
    pass, so a bad benchmark fails fast.

    ``on_progress(done, total)``: called with the samples done of each local model pass
    (not with Ray, whose actors report to their own progress bar).

    ``max_tokens`` (prompt + response cap; longer samples are truncated and counted in the
    model group's manifest, ``counts.truncated``) and the dtype are part of the model
    groups' cache key: a cached pass is reused only with the same values. ``batch_tokens``
    (``None``: :func:`default_batch_tokens` of the device) changes speed only, never
    values, and is recorded in the manifest.
    """
    if max_tokens < 8:
        raise ConfigError(f"max_tokens {max_tokens}: must be at least 8")
    if batch_tokens is not None and batch_tokens < 1:
        raise ConfigError(f"batch_tokens {batch_tokens}: must be a positive token count")
    ray_ex = _ray_executor(executor)
    bench_questions = {
        name: (bspec, dev_questions(bspec))
        for name, bspec in as_benchmark_specs(benchmarks if model is not None else None).items()
    }
    settings = settings or get_settings()
    root = cache.pool_signals_dir(settings, pool.content_hash)
    groups = {
        "text": _text_group(pool, root, text_params or TextParams()),
        "minhash": _minhash_group(pool, root, minhash or MinHashParams()),
    }
    bench_dirs: dict[str, Path] = {}
    if model is not None:
        from autosel.base_model import (
            load_model,
            model_identity,
            pick_device,
            pick_dtype,
            resolve_model,
        )

        path = resolve_model(model)
        if ray_ex is None:
            dev = here = pick_device(device)
        else:  # the actors' hardware decides; this process may have no GPU at all
            dev = device or ray_ex.device
            here = "cpu" if dev == "cpu" else pick_device(None)
            if precision == "auto" and dev.startswith("cuda"):
                precision = "bf16"  # what a local run picks on bf16-capable GPUs
        dtype = DTYPE_NAMES[str(pick_dtype(dev, precision)).removeprefix("torch.")]
        budget = default_batch_tokens(dev) if batch_tokens is None else batch_tokens
        mparams = ModelParams(max_tokens=max_tokens, dtype=dtype)
        mid = model_identity(path)
        loaded: list[Any] = []

        def loader() -> Any:  # load the model only if some shard or benchmark needs it
            if not loaded:
                loaded.append(load_model(str(path), device=here, dtype=dtype))
            return loaded[0]

        spec = ModelSpec(
            model=str(path),
            device=dev,
            dtype=dtype,
            max_tokens=max_tokens,
            batch_tokens=budget,
        )
        extra = {
            "model": {"ref": str(model), "path": str(path), "identity": mid},
            "batch_tokens": budget,  # speed only: not in the key
        }
        run = (
            _local_runner(loader, progress, on_progress)
            if ray_ex is None
            else _ray_runner(ray_ex, progress)
        )
        key = _key("model", MODEL_VERSION, pool, mparams.model_dump(), mid)
        groups["model"] = _sharded_model_group(pool, root, "model", key, spec, run, extra)
        if ifd:
            key = _key("ifd", IFD_VERSION, pool, mparams.model_dump(), mid)
            free = ModelSpec(**{**spec.__dict__, "prompt_free": True})
            groups["ifd"] = _sharded_model_group(pool, root, "ifd", key, free, run, extra)
        for name, (bspec, questions) in bench_questions.items():
            bkey = {
                "group": "bench",
                "version": BENCH_VERSION,
                "name": name,
                "model": mid,
                "texts": centroid_key(questions),
                "params": mparams.model_dump(),
            }
            about = {
                "name": name,
                "path": str(bspec.path),
                "test_path": None if bspec.test_path is None else str(bspec.test_path),
                "test_fraction": None if bspec.test_path is not None else bspec.test_fraction,
                "split": "dev",
                "embedded": EMBEDDING,
                "items": len(questions),
            }

            def fill(
                tmp: Path,
                qs: list[str] = questions,
                bkey: dict[str, Any] = bkey,
                about: dict[str, Any] = about,
            ) -> None:
                t0 = time.perf_counter()
                if progress:  # the centroid pass can take a while: never a silent stretch
                    _say(f"benchmark '{about['name']}': embedding {len(qs)} dev questions …")
                c = benchmark_centroid(qs, loader(), max_tokens, budget)
                if progress:
                    _say(
                        f"benchmark '{about['name']}': centroid of {len(qs)} dev questions "
                        f"in {time.perf_counter() - t0:.1f} s"
                    )
                cache.save_arrays(tmp, {"centroid": c})
                cache.write_manifest(tmp, {**bkey, **about})

            bench_dirs[name] = cache.write_dir_atomic(cache.group_dir(root, "bench", bkey), fill)
    return _open(pool, groups, bench_dirs, unit)


def _say(line: str) -> None:
    """One progress line on stderr (stdout may carry --json)."""
    import sys

    print(line, file=sys.stderr, flush=True)


def _ray_executor(executor: str | RayExecutor) -> RayExecutor | None:
    """``None`` for the local loop; fails before any work when Ray is asked but missing."""
    if executor == "local":
        return None
    if executor == "ray" or isinstance(executor, RayExecutor):
        require_ray()
        return executor if isinstance(executor, RayExecutor) else RayExecutor()
    raise ConfigError(
        f"executor {executor!r}: accepted values are 'local', 'ray' or a RayExecutor(...)"
    )


def signal_dirs(signals: SignalSet) -> dict[str, str]:
    """The cache directories of an open signal set: ``{group: dir}`` for the signal
    groups and ``{"bench/<name>": dir}`` for relevance centroids (what a signals job
    reports, so that the scheduler opens exactly what the job computed)."""
    dirs = {g: str(d) for g, d in sorted(signals._groups.items())}
    dirs.update({f"bench/{b}": str(d) for b, d in signals._bench.items()})
    return dirs


def open_signal_dirs(pool: Pool, dirs: Mapping[str, str], unit: str = "bits") -> SignalSet:
    """The signal set of ``pool`` made of the cache directories :func:`signal_dirs` gave.

    Raises:
        NotFoundError: a directory is gone from the cache (with the command to recompute).
    """
    groups: dict[str, Path] = {}
    bench: dict[str, Path] = {}
    for name, d in dirs.items():
        path = Path(d)
        if not (path / cache.MANIFEST).is_file():
            raise NotFoundError(
                f"signal group {name} of pool {pool.pool_id}: {path} is no longer in the "
                f"cache; run `autosel signals compute {pool.pool_id}`"
            )
        if name.startswith("bench/"):
            bench[name.removeprefix("bench/")] = path
        else:
            groups[name] = path
    return _open(pool, groups, bench, unit)


def _open(pool: Pool, groups: dict[str, Path], bench: dict[str, Path], unit: str) -> SignalSet:
    return SignalSet(
        len(pool), groups, bench, unit=unit, pool_difficulty=text.pool_difficulty(pool)
    )


def load_signals(
    pool: Pool,
    settings: Settings | None = None,
    model: str | None = "smollm2",
    unit: str = "bits",
    max_tokens: int | None = None,
) -> SignalSet:
    """The cached signals of ``pool`` (the newest group of each kind; model groups of ``model``).

    ``model=None`` accepts the newest model pass of any model. ``max_tokens`` (``None``:
    any) keeps only model passes (and their IFD pass and centroids) made with that token
    cap. Groups of an older recipe version are never returned.

    Raises:
        NotFoundError: nothing was computed for this pool yet (with the command to run).
    """
    settings = settings or get_settings()
    root = cache.pool_signals_dir(settings, pool.content_hash)
    found = cache.list_groups(root)
    if not found:
        raise NotFoundError(
            f"no signals computed for pool {pool.pool_id} ({pool.name}); run "
            f"`autosel signals compute {pool.pool_id}`"
        )
    mid = None
    if model is not None:
        from autosel.base_model import model_identity, resolve_model

        mid = model_identity(resolve_model(model))
    groups: dict[str, Path] = {}
    bench: dict[str, Path] = {}
    for d, man in found:  # sorted oldest first: later entries replace earlier ones
        g = man.get("group")
        if g in ("model", "ifd", "bench") and mid is not None and _identity(man) != mid:
            continue
        if g in _VERSIONS and man.get("version") != _VERSIONS[g]:
            continue  # an older recipe (see params.py): never reused
        made_with = man.get("params", {}).get("max_tokens")
        if g in ("model", "ifd", "bench") and max_tokens is not None and made_with != max_tokens:
            continue
        if g == "bench":
            bench[man["name"]] = d
        elif g in ("text", "minhash", "model", "ifd"):
            groups[g] = d
    if "model" in groups:  # IFD and relevance only pair with the model pass they were made with
        mkey = _identity(cache.read_manifest(groups["model"]))
        bench = {b: d for b, d in bench.items() if _identity(cache.read_manifest(d)) == mkey}
        if "ifd" in groups and _identity(cache.read_manifest(groups["ifd"])) != mkey:
            del groups["ifd"]
    else:
        bench = {}
        groups.pop("ifd", None)
    return _open(pool, groups, bench, unit)


_VERSIONS = {"text": TEXT_VERSION, "minhash": MINHASH_VERSION, "model": MODEL_VERSION}
_VERSIONS.update({"ifd": IFD_VERSION, "bench": BENCH_VERSION})


def _identity(manifest: dict[str, Any]) -> str | None:
    """Model identity recorded in a group manifest (a dict for model groups, a str for bench)."""
    m = manifest.get("model")
    return m.get("identity") if isinstance(m, dict) else m
