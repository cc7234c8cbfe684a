"""Reading the hidden per-sample labels of a demo pool (for tests and benchmarks only)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pandas as pd

LABEL_COLUMNS = ("id", "defect", "duplicate_of", "correct")


def load_labels(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The labels as a DataFrame with columns ``id, defect, duplicate_of, correct``.

    Args:
        path: a ``labels.jsonl`` file, or the demo directory holding one.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "labels.jsonl"
    with open(p, "rb") as f:
        rows = [orjson.loads(line) for line in f if line.strip()]
    df = pd.DataFrame.from_records(rows, columns=list(LABEL_COLUMNS))
    df["correct"] = df["correct"].astype(bool)
    return df
