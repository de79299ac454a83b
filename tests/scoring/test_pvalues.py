"""One-sided p-values against the threshold and BH q-values: exact binomial tails, the beta
interval's verdicts, censuses and edges, Benjamini–Hochberg by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.scoring.estimation import proportion_interval
from evaluation.scoring.pvalues import bh_q_values, effective_n, threshold_p_values


def _srs(n: int, T: float, f: float = 0.0):
    """Every outcome x = 0..n of a sample of n with the binomial variance p̂(1−p̂)/n (a
    with-replacement design, whose effective n is n itself)."""
    x = np.arange(n + 1)
    p = x / n
    var = (1 - f) * p * (1 - p) / n
    full = np.full(n + 1, float(n))
    return x, p, var, full, full - 1, np.zeros(n + 1, bool), np.full(n + 1, 1 - f), T


@pytest.mark.parametrize(("n", "T"), [(20, 0.5), (50, 0.8), (80, 0.9), (31, 0.7)])
def test_without_fpc_the_p_values_are_the_exact_binomial_tails(n: int, T: float) -> None:
    x, p, var, nn, df, census, fpc, _ = _srs(n, T)
    below, above = threshold_p_values(p, var, nn, df, census, fpc, np.full(n + 1, T))
    assert below == pytest.approx(stats.binom.cdf(x, n, T), abs=1e-12)
    assert above == pytest.approx(stats.binom.sf(x - 1, n, T), abs=1e-12)
    # so their size is at most α exactly (Clopper–Pearson tails): Σ pmf over rejections
    pmf = stats.binom.pmf(x, n, T)
    for alpha in (0.025, 0.05):
        assert pmf[below <= alpha].sum() <= alpha
        assert pmf[above <= alpha].sum() <= alpha


@pytest.mark.parametrize("seed", range(4))
def test_p_values_decide_as_the_beta_interval_does(seed: int) -> None:
    """U < T ⟺ p_value < α/2 and L ≥ T ⟺ p_value_red ≤ α/2, for designs with FPC,
    design effects, df below n − 1, and p̂ at 0 or 1."""
    rng = np.random.default_rng(seed)
    k = 4000
    n = rng.integers(2, 200, k).astype(float)
    p = np.round(rng.uniform(0, 1, k) * n) / n
    p[:200] = 0.0
    p[200:400] = 1.0
    deff = rng.uniform(0.5, 3, k)
    f = rng.uniform(0, 0.9, k)
    var = (1 - f) * p * (1 - p) / np.maximum(n - 1, 1) * deff
    df = np.maximum(n - rng.integers(1, 20, k), 1)
    census = np.zeros(k, bool)
    T = rng.uniform(0.3, 0.95, k)
    for confidence in (0.95, 0.9):
        a = (1 - confidence) / 2
        lo, hi = proportion_interval(p, var, n, df, census, 1 - f, confidence=confidence)
        below, above = threshold_p_values(p, var, n, df, census, 1 - f, T, confidence=confidence)
        clear = (np.abs(hi - T) > 1e-9) & (np.abs(lo - T) > 1e-9)
        assert ((hi < T) == (below < a))[clear].all()
        assert ((lo >= T) == (above <= a))[clear].all()


def test_census_edges_and_missing() -> None:
    p = np.array([0.7, 0.9, 0.8, 1.0, 0.0, np.nan, 0.8])
    var = np.array([0.0, 0.0, 0.0, 0.0, 0.0, np.nan, 0.001])
    n = np.array([100, 100, 100, 40, 40, 0, 50.0])
    census = np.array([True, True, True, False, False, False, False])
    T = np.array([0.8, 0.8, 0.8, 0.9, 0.1, 0.8, np.nan])
    below, above = threshold_p_values(p, var, n, n - 1, census, np.ones(7), T)
    # a census knows p: 0 on the alternative's side, else 1; p̂ = T reaches T (H0: p < T
    # rejected), as the verdict 达标 of a census at T says
    assert below[:3].tolist() == [0.0, 1.0, 1.0] and above[:3].tolist() == [1.0, 0.0, 0.0]
    # p̂ = 1 from a sample of 40: T^40 against H0 p ≤ T; nothing against p ≥ T
    assert above[3] == pytest.approx(0.9**40) and below[3] == 1.0
    assert below[4] == pytest.approx(0.9**40) and above[4] == 1.0
    assert np.isnan(below[5:]).all() and np.isnan(above[5:]).all()


def test_effective_n_is_korn_graubard() -> None:
    """n* = p̂(1−p̂)/V · (t_{n−1}/t_df)², and (n−1)/g + 1 at the edges."""
    p, var, n, df = np.array([0.8, 1.0]), np.array([0.002, 0.0]), np.array([60.0, 60]), 20
    got = effective_n(p, var, n, np.array([df, df]), np.array([1.0, 0.5]))
    ratio = (stats.t.ppf(0.975, 59) / stats.t.ppf(0.975, 20)) ** 2
    assert got[0] == pytest.approx(0.16 / 0.002 * ratio)
    assert got[1] == pytest.approx(59 / 0.5 + 1)


def test_bh_q_values_by_hand() -> None:
    """Sorted p 0.01, 0.02, 0.03, 0.2 (m = 4): m·p/rank = 0.04, 0.04, 0.04, 0.2 then the
    running minimum from the top; NaN is not part of the family."""
    p = np.array([0.03, np.nan, 0.2, 0.01, 0.02])
    q = bh_q_values(p)
    assert np.isnan(q[1])
    assert q[[0, 2, 3, 4]] == pytest.approx([0.04, 0.2, 0.04, 0.04])
    assert np.isnan(bh_q_values(np.array([np.nan]))).all()
