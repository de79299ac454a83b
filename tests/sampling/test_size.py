"""Sample sizes: Cochran's formula with FPC against hand-computed values."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from sampling.size import expected_margin, sample_size, z_value
from wuye_common.errors import WuyeError


def cochran(
    big_n: int, e: float, p: float = 0.5, conf: float = 0.95, deff: float = 1.0, rr: float = 1.0
) -> int:
    """Independent scalar re-implementation (statistics.NormalDist, not scipy)."""
    z = NormalDist().inv_cdf(0.5 + conf / 2)
    n0 = z * z * p * (1 - p) * deff / (e * e)
    n = math.ceil(n0 / (1 + (n0 - 1) / big_n) - 1e-9)
    return min(math.ceil(n / rr - 1e-9), big_n)


def test_hand_value_500_households():
    # z = 1.959964, n0 = 3.841459 * 0.25 / 0.0025 = 384.146; 384.146 / (1 + 383.146/500) = 217.5
    assert int(sample_size(500, margin=0.05)) == 218
    assert cochran(500, 0.05) == 218


@pytest.mark.parametrize(("big_n", "expected"), [(10_000, 370), (1_000_000_000, 385), (300, 169)])
def test_hand_values_fpc(big_n, expected):
    # 384.146/(1+383.146/10000) = 369.97; no FPC effect → ceil(384.146) = 385;
    # 384.146/(1+383.146/300) = 168.6
    assert int(sample_size(big_n, margin=0.05)) == expected


def test_planning_proportion_threshold():
    # p = 0.8, e = 0.08: n0 = 3.841459 * 0.16 / 0.0064 = 96.04; N = 300 → 96.04/1.3168 = 72.9
    assert int(sample_size(300, margin=0.08, p=0.8)) == 73
    assert int(sample_size(300, margin=0.08, p=0.5)) > 73


def test_response_rate_inflation_and_deff():
    assert int(sample_size(500, margin=0.05, response_rate=0.85)) == 257  # 218 / 0.85 = 256.5
    assert int(sample_size(10**9, margin=0.05, deff=2.0)) == 769  # 2 * 384.146 = 768.3
    assert int(sample_size(500, margin=0.05, deff=1.5, response_rate=0.8)) == cochran(
        500, 0.05, deff=1.5, rr=0.8
    )


def test_census_when_n_reaches_population():
    # N = 20: 384.146 / (1 + 383.146/20) = 19.06 → 20 = N (census)
    assert int(sample_size(20, margin=0.05)) == 20
    assert int(sample_size(1, margin=0.05)) == 1
    assert int(sample_size(0, margin=0.05)) == 0
    # inflation for non-response never goes above N
    assert int(sample_size(250, margin=0.05, response_rate=0.5)) == 250


def test_minimum_maximum_and_never_above_population():
    assert int(sample_size(10_000, margin=0.2, minimum=30)) == 30
    assert int(sample_size(20, margin=0.2, minimum=30)) == 20
    assert int(sample_size(10_000, margin=0.02, maximum=400)) == 400


def test_vectorised_broadcasting_matches_scalar():
    pops = np.array([1, 7, 50, 500, 5_000, 123_456])
    ps = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.5])
    got = sample_size(pops, margin=0.06, p=ps, response_rate=0.9)
    assert got.dtype == np.int64 and got.shape == (6,)
    assert got.tolist() == [cochran(int(n), 0.06, p, rr=0.9) for n, p in zip(pops, ps, strict=True)]
    grid = sample_size(np.array([[100], [1000]]), margin=np.array([0.05, 0.1]))
    assert grid.shape == (2, 2)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"margin": 0}, "margin"),
        ({"margin": -0.1}, "margin"),
        ({"margin": 1.5}, "margin"),
        ({"margin": 0.05, "confidence": 0}, "confidence"),
        ({"margin": 0.05, "confidence": 1}, "confidence"),
        ({"margin": 0.05, "confidence": 1.2}, "confidence"),
        ({"margin": 0.05, "p": 0}, "p"),
        ({"margin": 0.05, "p": 1}, "p"),
        ({"margin": 0.05, "deff": 0}, "deff"),
        ({"margin": 0.05, "response_rate": 0}, "response_rate"),
        ({"margin": 0.05, "minimum": -1}, "minimum"),
        ({"margin": 0.05, "minimum": 10, "maximum": 5}, "maximum"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, name):
    with pytest.raises(WuyeError) as info:
        sample_size(100, **kwargs)
    assert f"参数 {name}" in str(info.value)


def test_bad_population():
    with pytest.raises(WuyeError, match="population"):
        sample_size([-1, 10], margin=0.05)
    with pytest.raises(WuyeError, match="population"):
        sample_size(10.5, margin=0.05)


def test_z_value():
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert z_value(0.90) == pytest.approx(1.644854, abs=1e-6)


def test_expected_margin_inverts_sample_size():
    pops = np.array([80, 500, 5_000, 50_000])
    n = sample_size(pops, margin=0.05, p=0.8)
    got = expected_margin(n, pops, p=0.8)
    assert np.all(got <= 0.05 + 1e-12)
    # one household fewer would miss the margin (no minimum, no census)
    assert np.all(expected_margin(n - 1, pops, p=0.8) > 0.05)


def test_expected_margin_hand_value_and_edges():
    # m = 100 * 0.8 = 80 completes of N = 400, p = 0.5:
    # 1.959964 * sqrt(0.25/80 * 320/399) = 0.098121
    assert float(expected_margin(100, 400, p=0.5, response_rate=0.8)) == pytest.approx(
        0.098121, abs=2e-6
    )
    assert float(expected_margin(50, 50, p=0.7)) == 0.0  # census
    assert float(expected_margin(1, 1, p=0.7)) == 0.0
    assert np.isnan(expected_margin(0, 50, p=0.7))
