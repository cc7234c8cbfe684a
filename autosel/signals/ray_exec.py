"""Ray Data executor of the model pass (the ``ray`` extra): shards on a pool of model actors.

The driver lists the row shards of a signal group that are not finished yet, hands them to
``ray.data.from_items(...).map_batches(_ShardScorer, ...)``: a fixed pool of actors, each
loading the model once and calling :func:`~autosel.signals.shard.compute_shard` per shard,
which writes the shard into the group's ``.partial`` directory exactly as the local loop
does. The caller (``compute_signals``) then merges the shards and installs the group in the
same cache directory, under the same key, as a local run: the two executors are
interchangeable and a run interrupted on one resumes on the other.

The pool directory and ``AUTOSEL_HOME`` must be on storage every node sees (one machine,
NFS, ...); each node needs autosel installed. ``ray`` is imported only when a Ray run
starts.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autosel.errors import ConfigError
from autosel.signals.cache import MANIFEST
from autosel.signals.shard import ModelSpec, compute_shard, shard_name

INSTALL_HINT = "pip install 'autosel-sft[ray]'"
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # the dataset is row ranges and paths: tiny


def require_ray() -> None:
    """Fail early, without importing it, when Ray is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(
            f"executor 'ray' needs Ray Data, which is not installed; run `{INSTALL_HINT}`"
        )


def import_ray() -> Any:
    """``import ray`` with an error that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ConfigError(
            f"executor 'ray' needs Ray Data, which is not installed ({err}); run `{INSTALL_HINT}`"
        ) from err
    return ray


@dataclass(frozen=True)
class RayExecutor:
    """Where and how the model pass runs on Ray.

    Args:
        address: cluster to connect to (``ray://host:10001`` or ``host:6379``); ``None``
            uses ``RAY_ADDRESS`` when set, else starts a local Ray instance for this run
            and shuts it down afterwards. A Ray session already initialised in this process
            is used as it is and left running.
        actors: model actors (each loads the model once); ``None``: as many as the
            cluster's CPUs (or GPUs, with ``gpus_per_actor``) hold, at most one per shard.
        cpus_per_actor: CPUs reserved per actor; also its torch thread count on CPU.
        gpus_per_actor: GPUs per actor; > 0 runs the model on ``cuda``.
        num_cpus: CPUs of a local instance started here (``None``: all cores).
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float = 0.0
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.actors is not None and self.actors < 1:
            raise ConfigError(f"ray actors={self.actors}: expected 1 or more")
        if self.cpus_per_actor <= 0 or self.gpus_per_actor < 0:
            raise ConfigError(
                f"ray cpus_per_actor={self.cpus_per_actor}, gpus_per_actor="
                f"{self.gpus_per_actor}: expected CPUs > 0 and GPUs >= 0"
            )

    @property
    def device(self) -> str:
        """The device the actors run the model on (decided by the resources they hold)."""
        return "cuda" if self.gpus_per_actor > 0 else "cpu"

    def run_shards(
        self,
        pool_path: str | Path,
        ranges: Sequence[tuple[int, int]],
        spec: ModelSpec,
        partial: Path,
        progress: bool = True,
    ) -> list[Path]:
        """Compute every unfinished shard of ``ranges`` on Ray; return all shard dirs in order.

        Raises:
            ConfigError: Ray is not installed, or a shard Ray reported done is not visible
                here (the pool or ``AUTOSEL_HOME`` is not on storage every node sees).
        """
        todo = pending_ranges(ranges, partial)
        if todo:
            done = self._map(str(pool_path), todo, spec, str(partial), progress)
            missing = sorted(set(map(shard_name, todo)) - {Path(d).name for d in done})
            lost = [d for d in done if not (Path(d) / MANIFEST).is_file()]
            if missing or lost:
                raise ConfigError(
                    f"Ray finished shards this machine cannot see under {partial} "
                    f"(missing: {', '.join(missing + lost)}); the pool directory and "
                    "AUTOSEL_HOME must be on storage every Ray node shares"
                )
        return [partial / shard_name(r) for r in ranges]

    def _map(
        self,
        pool_path: str,
        todo: list[tuple[int, int]],
        spec: ModelSpec,
        partial: str,
        progress: bool,
    ) -> list[str]:
        """One Ray Data job: a row per shard, a fixed pool of model actors, shard dirs out."""
        with self._session(progress) as ray, _progress_bars(ray, progress):
            actors = min(self.actors or self._fit(ray), len(todo))
            rows = [{"start": s, "end": e} for s, e in todo]
            ds = ray.data.from_items(rows, override_num_blocks=len(rows))
            out = ds.map_batches(
                _ShardScorer,
                fn_constructor_kwargs={
                    "pool_path": pool_path,
                    "spec": spec,
                    "out_dir": partial,
                    "threads": max(1, int(self.cpus_per_actor)),
                },
                batch_size=1,  # one shard per call: shards are already the unit of work
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=self.cpus_per_actor,
                num_gpus=self.gpus_per_actor,
            )
            return [str(r["dir"]) for r in out.take_all()]

    def _fit(self, ray: Any) -> int:
        res = ray.cluster_resources()
        if self.gpus_per_actor > 0:
            return max(1, int(res.get("GPU", 0) // self.gpus_per_actor))
        return max(1, int(res.get("CPU", 1) // self.cpus_per_actor))

    @contextmanager
    def _session(self, progress: bool) -> Iterator[Any]:
        """Use a running Ray session, or connect / start one and shut down only that one."""
        ray = import_ray()
        if ray.is_initialized():
            yield ray
            return
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        if address:
            ray.init(address=address, log_to_driver=progress)
        else:  # "local": a fresh instance even if another one runs on this machine
            ray.init(
                address="local",
                num_cpus=self.num_cpus,
                include_dashboard=False,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                log_to_driver=progress,
            )
        try:
            yield ray
        finally:
            ray.shutdown()


@contextmanager
def _progress_bars(ray: Any, enabled: bool) -> Iterator[None]:
    """Ray Data's progress bars on or off for one job (the setting is process-wide)."""
    ctx = ray.data.DataContext.get_current()
    before, ctx.enable_progress_bars = ctx.enable_progress_bars, enabled
    try:
        yield
    finally:
        ctx.enable_progress_bars = before


def pending_ranges(ranges: Sequence[tuple[int, int]], partial: Path) -> list[tuple[int, int]]:
    """The shards of ``ranges`` without a finished directory under ``partial`` (resume)."""
    return [r for r in ranges if not (partial / shard_name(r) / MANIFEST).is_file()]


class _ShardScorer:
    """A Ray Data actor: loads the model once, then scores one shard per call."""

    def __init__(self, pool_path: str, spec: ModelSpec, out_dir: str, threads: int) -> None:
        import torch

        from autosel.base_model import load_model

        if spec.device == "cpu":  # Ray sets OMP_NUM_THREADS; torch must agree
            torch.set_num_threads(threads)
        self.pool_path = pool_path
        self.spec = spec
        self.out_dir = out_dir
        self.loaded = load_model(spec.model, device=spec.device, dtype=spec.dtype)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        dirs = [
            str(
                compute_shard(
                    self.pool_path, (int(s), int(e)), self.spec, self.out_dir, loaded=self.loaded
                )
            )
            for s, e in zip(batch["start"], batch["end"], strict=True)
        ]
        return {"dir": np.array(dirs)}
