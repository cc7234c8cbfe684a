"""Row shards of the model pass: computed anywhere, merged in row order.

:func:`compute_shard` is pure given its arguments (pool directory, row range, model spec):
it reads only those rows, runs the model and writes one shard directory. Any executor can
call it (the local loop in ``compute.py``; Ray Data actors in ``ray_exec.py``);
:func:`merge_shards` concatenates finished shards into a signal group.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autosel.pool.pool import Pool
from autosel.signals.cache import (
    load_array,
    read_manifest,
    save_arrays,
    write_dir_atomic,
    write_manifest,
)

RAGGED = ("token_entropy", "token_logprob", "token_varentropy")


@dataclass(frozen=True)
class ModelSpec:
    """What a model shard needs: model reference, device, dtype name, token limits."""

    model: str = "smollm2"
    device: str | None = None
    dtype: str = "bf16"
    max_tokens: int = 2048
    batch_tokens: int = 2048  # speed only (see model_pass: values do not depend on batching)
    prompt_free: bool = False  # the IFD "response alone" pass


def shard_name(row_range: tuple[int, int]) -> str:
    return f"shard-{row_range[0]:09d}-{row_range[1]:09d}"


def shard_ranges(n: int, rows_per_shard: int) -> list[tuple[int, int]]:
    return [(s, min(s + rows_per_shard, n)) for s in range(0, n, rows_per_shard)]


def compute_shard(
    pool_path: str | Path,
    row_range: tuple[int, int],
    spec: ModelSpec,
    out_dir: str | Path,
    *,
    loaded: tuple[Any, Any] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> Path:
    """Run the model over rows ``[start, end)`` of a pool and write ``out_dir/shard-...``.

    Args:
        pool_path: the pool directory (``Pool.open`` works on any machine that sees it).
        row_range: ``(start, end)`` row indices.
        spec: model and token limits.
        out_dir: the ``.partial`` directory of the group; the shard is a subdirectory.
        loaded: an already loaded ``(model, tokenizer)`` to reuse across shards.
        on_batch: progress callback ``(samples, response_tokens)``.

    Returns:
        The shard directory (existing shards are returned untouched: resume).
    """
    from autosel.base_model import load_model
    from autosel.signals.model_pass import encode, run_samples

    target = Path(out_dir) / shard_name(row_range)
    if (target / "manifest.json").is_file():
        if on_batch is not None:
            on_batch(row_range[1] - row_range[0], 0)
        return target
    pool = Pool.open(pool_path)
    model, tok = loaded or load_model(spec.model, device=spec.device, dtype=spec.dtype)
    table = pool.table(["prompt", "response"]).slice(row_range[0], row_range[1] - row_range[0])
    prompts = table.column("prompt").to_pylist()
    responses = [r or "" for r in table.column("response").to_pylist()]
    limit = min(
        spec.max_tokens, int(getattr(model.config, "max_position_embeddings", spec.max_tokens))
    )
    enc = encode(tok, [p or [] for p in prompts], responses, limit, prompt_free=spec.prompt_free)
    stats = run_samples(
        model,
        enc,
        tok.pad_token_id,
        spec.batch_tokens,
        want_embedding=not spec.prompt_free,
        on_batch=on_batch,
    )
    lengths = np.array([len(s.entropy) for s in stats], dtype=np.int64)

    def fill(tmp: Path) -> None:
        arrays: dict[str, np.ndarray] = {
            "lengths": lengths,
            "resp_tokens": np.array([e.resp_total for e in enc], dtype=np.int64),
            "truncated": np.array([e.truncated for e in enc], dtype=np.int8),
            "token_logprob": _cat([s.logprob for s in stats]),
        }
        if not spec.prompt_free:
            arrays["token_entropy"] = _cat([s.entropy for s in stats])
            arrays["token_varentropy"] = _cat([s.varentropy for s in stats])
            arrays["embeddings"] = np.stack([s.embedding for s in stats]).astype(np.float32)
        save_arrays(tmp, arrays)
        write_manifest(tmp, {"rows": list(row_range), "spec": asdict(spec)})

    return write_dir_atomic(target, fill)


TOKEN_DTYPE = np.float32
"""Stored dtype of the per-token arrays. float32, not float16: float16 keeps ~3 decimal
digits, which moved a token at the HES threshold across it (1.600003 bits stored as
1.5996); float32 keeps the fp32 statistics exactly, at 4 instead of 2 bytes a value
(12 bytes per response token for entropy, log-prob and varentropy)."""


def _cat(parts: Sequence[np.ndarray]) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype=TOKEN_DTYPE)
    return np.concatenate(parts).astype(TOKEN_DTYPE)


def merge_shards(shard_dirs: Sequence[Path], n_rows: int) -> dict[str, np.ndarray]:
    """Concatenate shards (any order given) into pool-wide arrays; ragged columns get offsets.

    Raises:
        ValueError: the shards do not tile ``[0, n_rows)`` exactly.
    """
    shards = sorted((tuple(read_manifest(d)["rows"]), d) for d in shard_dirs)
    pos = 0
    for (start, end), d in shards:
        if start != pos:
            raise ValueError(f"shards do not tile the pool: gap or overlap at row {pos} ({d})")
        pos = end
    if pos != n_rows:
        raise ValueError(f"shards cover rows [0, {pos}) of {n_rows}")
    names = sorted(p.stem for p in shards[0][1].glob("*.npy")) if shards else []
    merged = {
        name: np.concatenate([load_array(d, name, mmap=False) for _, d in shards]) for name in names
    }
    lengths = merged.pop("lengths", np.zeros(0, dtype=np.int64))
    merged["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return merged
