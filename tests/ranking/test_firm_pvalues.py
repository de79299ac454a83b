"""The firms' threshold tests hold their level, computed exactly: a firm of two estates,
each a simple random sample of its estate (the default design), over every joint outcome
(k₁, k₂) of the two hypergeometric counts, at true rates on the null's boundary.

Measured with these enumerations when the test took the plug-in variance Σ W_e² v_e
(before): the 红榜 test of the 四级 + 一级 firm rejected 1.44 α at α = 0.004 (the BH level
of one firm among 12). With the variance under the null (now): 0.07 α there, and at most
1.024 α over the cases below (the 一级 + 三级 firm's 黑榜 test at α = 0.01: the beta p-value
at a non-integer effective count is not exactly conservative)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.ranking.firms import firm_rollup

# (households, thresholds, sample sizes) of the two estates
FIRMS = {
    "一级+三级": (np.array([400, 900]), np.array([0.9, 0.7]), np.array([150, 160])),
    "四级+一级": (np.array([351, 747]), np.array([0.6, 0.9]), np.array([241, 227])),
}
TOLERANCE = 1.03  # the measured 1.024 α, and no more


def _levels(
    name: str, shift: int | np.ndarray, column: str, alphas: tuple[float, ...]
) -> list[float]:
    """P(p-value ≤ α) for each α, each estate holding ⌈T N⌉ + ``shift`` satisfied
    households (one shift, or one per estate) (exact enumeration of the two hypergeometric counts)."""
    N, T, n = FIRMS[name]
    K = np.ceil(T * N).astype(int) + shift
    k1, k2 = np.meshgrid(np.arange(n[0] + 1), np.arange(n[1] + 1), indexing="ij")
    k = np.column_stack([k1.ravel(), k2.ravel()])
    pmf = stats.hypergeom.pmf(k[:, 0], N[0], K[0], n[0]) * stats.hypergeom.pmf(
        k[:, 1], N[1], K[1], n[1]
    )
    p = k / n
    f = n / N
    frame = pd.DataFrame(
        {
            "firm": np.repeat(np.arange(len(k)), 2).astype(str),
            "households": np.tile(N, len(k)).astype(float),
            "rate": p.ravel(),
            "rate_se": np.sqrt(p * (1 - p) / (n - 1) * (1 - f)).ravel(),
            "n": np.tile(n, len(k)),
            "df": np.tile(n - 1, len(k)),
            "fpc": np.tile(1 - f, len(k)),
            "threshold": np.tile(T, len(k)),
        }
    )
    out = firm_rollup(frame).set_index("firm").loc[np.arange(len(k)).astype(str)]
    values = out[column].to_numpy()
    return [float(pmf @ (values <= a)) for a in alphas]


ALPHAS = (0.05, 0.01, 0.004)


@pytest.mark.parametrize("name", list(FIRMS))
def test_red_test_level_at_the_boundary(name: str) -> None:
    """H0 of the 红榜 test: the firm's rate is below its threshold (each estate one
    household under its own threshold puts the firm just under the weighted one)."""
    for alpha, level in zip(ALPHAS, _levels(name, -1, "p_value_red", ALPHAS), strict=True):
        assert level <= alpha * TOLERANCE, (name, alpha, level)


@pytest.mark.parametrize("name", list(FIRMS))
def test_black_test_level_at_the_boundary(name: str) -> None:
    """H0 of the 黑榜 test: the firm's rate is at or above its threshold."""
    for alpha, level in zip(ALPHAS, _levels(name, 0, "p_value", ALPHAS), strict=True):
        assert level <= alpha * TOLERANCE, (name, alpha, level)


def test_tests_still_find_a_clear_difference() -> None:
    """Power stays: eight points under both thresholds is found at α = 0.05 nine times in
    ten, six points over them more often than not."""
    N, _, _ = FIRMS["一级+三级"]
    under = -np.round(0.08 * N).astype(int)
    over = np.round(0.06 * N).astype(int)
    assert _levels("一级+三级", under, "p_value", (0.05,))[0] > 0.9
    assert _levels("一级+三级", over, "p_value_red", (0.05,))[0] > 0.5
