"""Realized subsets on disk, addressed by fingerprint, so workers can fetch what to train on.

It lives with the recipes (a subset is what a recipe realizes) so that the scheduler that
writes subsets and the worker that reads them both import it from below.

``$AUTOSEL_HOME/subsets/<fingerprint>.npy`` holds the sorted int64 row indices. Local
workers read it directly; remote workers get the rows through ``GET /v1/jobs/{id}/subset``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from autosel.errors import NotFoundError
from autosel.settings import Settings


def subset_path(settings: Settings, fingerprint: str) -> Path:
    return settings.home / "subsets" / f"{fingerprint}.npy"


def save_subset(settings: Settings, fingerprint: str, indices: np.ndarray) -> Path:
    """Write the indices once (atomic; a second save of the same fingerprint is a no-op)."""
    path = subset_path(settings, fingerprint)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".subset-", suffix=".npy", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        np.save(f, np.asarray(indices, dtype=np.int64))
    os.replace(tmp, path)
    return path


def load_subset(settings: Settings, fingerprint: str) -> np.ndarray:
    path = subset_path(settings, fingerprint)
    if not path.is_file():
        raise NotFoundError(f"subset {fingerprint[:16]} is not stored under {path.parent}")
    return np.load(path)
