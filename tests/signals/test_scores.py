"""HES and ragged scores against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autosel.errors import ConfigError
from autosel.signals import scores
from autosel.signals.params import LN2, unit_factor

# Two samples: 4 tokens and 300 tokens; one empty sample in between.
ENT = np.array([0.5, 2.0, 1.0, 3.0], dtype=np.float64)
LONG = np.linspace(0.0, 2.99, 300)
VALUES = np.concatenate([ENT, LONG]).astype(np.float16)
OFFSETS = np.array([0, 4, 4, 304], dtype=np.int64)


def test_hes_hand_computed() -> None:
    # p = 0.5: k = ceil(0.5*4) = 2 -> 3.0 + 2.0; long: k = 150 largest of LONG.
    got = scores.hes(VALUES, OFFSETS, p=0.5)
    long_top = np.sort(LONG.astype(np.float16).astype(np.float64))[-150:].sum()
    assert got[0] == pytest.approx(5.0)
    assert got[1] == 0.0
    assert got[2] == pytest.approx(long_top, rel=1e-6)


def test_k_is_one_for_short_responses() -> None:
    k = scores.top_k_count(np.array([1, 4, 199, 200, 201, 0]), 0.005)
    assert k.tolist() == [1, 1, 1, 1, 2, 0]
    assert scores.hes(VALUES, OFFSETS, p=0.005)[0] == pytest.approx(3.0)


def test_relative_hes_unit_factor_is_exact_and_abs_uses_unit_threshold() -> None:
    nats = scores.hes(VALUES, OFFSETS, 0.1, unit_factor("nats"))
    bits = scores.hes(VALUES, OFFSETS, 0.1, unit_factor("bits"))
    np.testing.assert_allclose(bits, nats / LN2, rtol=1e-12)
    # Absolute: tau is compared in the reported unit. 2.0 nats = 2.885 bits > 2.5 bits.
    a_bits = scores.hes_abs(VALUES, OFFSETS, tau=2.5, factor=unit_factor("bits"))
    assert a_bits[0] == pytest.approx((2.0 + 3.0) / LN2)
    a_nats = scores.hes_abs(VALUES, OFFSETS, tau=2.5, factor=1.0)
    assert a_nats[0] == pytest.approx(3.0)


def test_avg_he_sum_mean_and_empty() -> None:
    assert scores.avg_he(VALUES, OFFSETS, p=0.5)[0] == pytest.approx(2.5)
    assert scores.segment_sum(VALUES, OFFSETS)[0] == pytest.approx(6.5)
    assert scores.segment_mean(VALUES, OFFSETS)[0] == pytest.approx(6.5 / 4)
    assert scores.segment_mean(VALUES, OFFSETS)[1] == 0.0
    assert scores.ppl_from_nll(np.array([0.0, math.log(4.0)])).tolist() == pytest.approx([1.0, 4.0])


def test_bad_p_and_unit() -> None:
    with pytest.raises(ConfigError):
        scores.top_k_count(np.array([3]), 0.0)
    with pytest.raises(ConfigError, match="bits, nats"):
        unit_factor("bans")


def test_top_k_sums_match_a_per_sample_sort_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    for trial in range(100):
        lengths = rng.integers(0, 300, int(rng.integers(0, 30)))
        offsets = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        values = rng.gamma(1.0, 0.8, int(offsets[-1])).astype(np.float16)
        if trial % 2:
            values = (np.round(values * 2) / 2).astype(np.float16)  # many ties
        ranked = scores.segment_sorted_desc(values, offsets)
        for p in (0.001, 0.005, 0.05, 1.0):
            k = scores.top_k_count(np.diff(offsets), p)
            expect = []
            for i in range(len(lengths)):
                acc = 0.0  # largest first, one float64 addition at a time
                for x in sorted(values[offsets[i] : offsets[i + 1]].tolist(), reverse=True)[: k[i]]:
                    acc += x
                expect.append(acc)
            assert scores.segment_top_k_sum(values, offsets, k).tolist() == expect
            assert scores.hes(values, offsets, p, sorted_desc=ranked).tolist() == expect
