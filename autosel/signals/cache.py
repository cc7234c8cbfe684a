"""Signal cache layout, keys and atomic writes.

``$AUTOSEL_HOME/signals/<pool content hash[:16]>/<group>-<key hash>/`` holds one signal
group: ``.npy`` arrays plus ``manifest.json``. The key is the canonical JSON of
``{group, version, pool content hash, model identity (model groups), params}``; its sha256
prefix names the directory, so asking again with the same inputs is a cache hit and any
change of a parameter that alters values is a different directory.

Writes go to a ``.tmp-*`` sibling that is renamed into place (atomic on POSIX), so a crash
never leaves a half-written group. Long groups are computed in row shards under
``<group>-<key hash>.partial/`` (each shard also written atomically); a rerun skips the
shards that exist, and the merge step assembles the final group and removes the partials.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autosel.settings import Settings

MANIFEST = "manifest.json"


def pool_signals_dir(settings: Settings, content_hash: str) -> Path:
    """Directory of every signal group of one pool."""
    return settings.home / "signals" / content_hash[:16]


def key_hash(key: dict[str, Any]) -> str:
    """Short stable hash of a key dict (canonical JSON)."""
    blob = json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def group_dir(root: Path, group: str, key: dict[str, Any]) -> Path:
    return root / f"{group}-{key_hash(key)}"


def write_dir_atomic(target: Path, fill: Callable[[Path], None]) -> Path:
    """Create ``target`` by filling a temp sibling and renaming it; no-op if it exists.

    ``fill`` must write ``manifest.json`` last: its presence marks a complete directory.
    """
    if (target / MANIFEST).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished the same group first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def save_arrays(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    for name in sorted(arrays):
        np.save(directory / f"{name}.npy", np.ascontiguousarray(arrays[name]), allow_pickle=False)


def load_array(directory: Path, name: str, mmap: bool = True) -> np.ndarray:
    return np.load(directory / f"{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    data = dict(manifest)
    data.setdefault("created_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (directory / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True, default=str))


def read_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST).read_text())


def list_groups(root: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every complete group under a pool's signal directory, sorted by creation then name."""
    if not root.is_dir():
        return []
    found = []
    for d in sorted(root.iterdir()):
        if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).is_file():
            found.append((d, read_manifest(d)))
    return sorted(found, key=lambda x: (x[1].get("created_at", ""), x[0].name))
