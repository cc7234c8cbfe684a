"""HES, absolute HES and AvgHE pinned on hand-computed token entropies, in bits and in nats.

The per-token entropies below are stored as the model pass stores them (nats, float16;
every value is exact in float16), and each expected number was worked out by hand from
the definitions (p = 0.005, so k = max(1, ceil(N / 200)); the default absolute
threshold is 1.6 bits = 1.6 * ln 2 = 1.10904 nats). Bits are nats / ln 2, written out.

    row  N    entropies (nats)                      k  HES   AvgHE  abs(τ=1.6 bits)  abs(τ=1.6 nats)
    0    5    0.5 2.0 1.25 2.0 0.25  (tie at top)   1  2.0   2.0    5.25             4.0
    1    0    (empty response)                      0  0     0      0                0
    2    201  3.0 1.5 1.5 + 198 x 0.125 (tie at k)  2  4.5   2.25   6.0              3.0
    3    200  4.0 + 199 x 1.0  (pN = 1 exactly)     1  4.0   4.0    4.0              4.0

Row 0 has N < 1/p and two tokens tied at the top: one slot, one token (2.0, not 4.0).
Row 2 has two tokens tied at the cut (1.5): k = 2 counts one of them. (OpenDataArena's
``HESScorer`` keeps every token at or above the interpolated 99.5th percentile, so with
ties at the cut it can sum more than k tokens; autosel sums exactly k.)
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from autosel.ops import SubsetView, get_operator
from autosel.ops.view import PoolColumns
from autosel.recipes import step_rng
from autosel.signals.cache import save_arrays
from autosel.signals.signalset import HES_TAU, SignalSet, default_tau

ROWS = [
    [0.5, 2.0, 1.25, 2.0, 0.25],
    [],
    [3.0, 1.5, 1.5] + [0.125] * 198,
    [4.0] + [1.0] * 199,
]
NATS = {
    "hes": [2.0, 0.0, 4.5, 4.0],
    "avg_he": [2.0, 0.0, 2.25, 4.0],
    "hes_abs": [5.25, 0.0, 6.0, 4.0],  # τ = 1.6 bits in either unit: the same tokens
    "entropy_mean": [1.2, 0.0, (3.0 + 1.5 + 1.5 + 198 * 0.125) / 201, (4.0 + 199) / 200],
}
BITS = {  # NATS / ln 2, written out
    "hes": [2.8853900817779268, 0.0, 6.4921276840003355, 5.7707801635558535],
    "avg_he": [2.8853900817779268, 0.0, 3.2460638420001677, 5.7707801635558535],
    "hes_abs": [7.574148964667058, 0.0, 8.656170245333781, 5.7707801635558535],
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("model")
    values = np.array([v for row in ROWS for v in row], dtype=np.float16)
    assert np.array_equal(values.astype(np.float64), [v for row in ROWS for v in row])  # exact
    offsets = np.cumsum([0] + [len(r) for r in ROWS]).astype(np.int64)
    n = len(ROWS)
    save_arrays(
        d,
        {
            "token_entropy": values,
            "token_logprob": np.zeros_like(values),
            "token_varentropy": np.zeros_like(values),
            "offsets": offsets,
            "resp_tokens": np.diff(offsets),
            "truncated": np.zeros(n, dtype=np.int8),
            "embeddings": np.zeros((n, 2), dtype=np.float32),
        },
    )
    return d


def signals(model_dir: Path, unit: str) -> SignalSet:
    return SignalSet(len(ROWS), {"model": model_dir}, {}, unit=unit)


@pytest.mark.parametrize("name", ["hes", "avg_he", "hes_abs", "entropy_mean"])
def test_columns_in_nats(model_dir: Path, name: str) -> None:
    got = signals(model_dir, "nats").column(name)
    assert got == pytest.approx(NATS[name], rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("name", ["hes", "avg_he", "hes_abs"])
def test_columns_in_bits(model_dir: Path, name: str) -> None:
    got = signals(model_dir, "bits").column(name)
    assert got == pytest.approx(BITS[name], rel=1e-12, abs=1e-12)


def test_every_entropy_column_follows_the_set_unit(model_dir: Path) -> None:
    """One unit per set: no entropy column stays in bits when nats were asked for."""
    bits, nats = signals(model_dir, "bits"), signals(model_dir, "nats")
    for name in ("hes", "avg_he", "hes_abs", "entropy_mean", "entropy_sum"):
        assert bits.column(name) == pytest.approx(nats.column(name) / math.log(2), rel=1e-12)


def test_methods_take_an_explicit_unit_and_p(model_dir: Path) -> None:
    s = signals(model_dir, "bits")
    assert s.hes(unit="nats") == pytest.approx(NATS["hes"], rel=1e-12)
    assert s.avg_he(unit="nats") == pytest.approx(NATS["avg_he"], rel=1e-12)
    # p = 0.5: row 0 has k = ceil(2.5) = 3 -> 2.0 + 2.0 + 1.25; row 3 k = 100.
    assert s.hes(0.5, "nats")[0] == pytest.approx(5.25)
    assert s.avg_he(0.5, "nats")[0] == pytest.approx(1.75)
    assert s.hes(0.5, "nats")[3] == pytest.approx(4.0 + 99 * 1.0)


def test_tau_is_read_in_the_unit_given(model_dir: Path) -> None:
    s = signals(model_dir, "bits")
    # 1.25 nats = 1.80 bits: above 1.6 bits, below 1.6 nats.
    assert s.hes_abs(1.6, "bits")[0] == pytest.approx(7.574148964667058, rel=1e-12)
    assert s.hes_abs(1.6, "nats").tolist() == pytest.approx([4.0, 0.0, 3.0, 4.0])
    assert default_tau("bits") == HES_TAU
    assert default_tau("nats") == pytest.approx(1.1090354888959124, rel=1e-15)
    assert s.hes_abs(default_tau("nats"), "nats") == pytest.approx(NATS["hes_abs"], rel=1e-12)


def test_hes_filter_threshold_uses_its_unit(model_dir: Path) -> None:
    """``threshold`` and ``tau`` are in the operator's ``unit``: 4.2 separates row 2's HES
    in bits (6.49) from row 3's in nats (4.0) differently."""
    pool = PoolColumns.from_arrays([f"s{i}" for i in range(len(ROWS))])
    op = get_operator("hes_filter")
    for set_unit in ("bits", "nats"):  # the set's own unit does not matter to the operator
        view = SubsetView(np.arange(len(ROWS), dtype=np.int64), pool, signals(model_dir, set_unit))
        rng = step_rng(0, "0" * 64, 0)
        bits, _ = op.apply(view, op.parse({"mode": "threshold", "threshold": 4.2}), rng)
        nats, _ = op.apply(
            view, op.parse({"mode": "threshold", "threshold": 4.2, "unit": "nats"}), rng
        )
        assert bits.tolist() == [2, 3] and nats.tolist() == [2]
        avg, _ = op.apply(view, op.parse({"score": "avg_he", "mode": "top", "fraction": 0.5}), rng)
        assert avg.tolist() == [2, 3]  # AvgHE 2.25 and 4.0 beat 2.0 and 0
        # Absolute HES at τ = 1.6 nats is [4, 0, 3, 4]: above 3.5 nats are rows 0 and 3.
        abs_nats = {"score": "hes_abs", "mode": "threshold", "unit": "nats", "threshold": 3.5}
        assert op.apply(view, op.parse(abs_nats), rng)[0].tolist() == [0, 3]
