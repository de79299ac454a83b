"""Exact coverage of the default interval (Korn–Graubard ``beta`` with the FPC-adjusted
effective n) under simple random sampling without replacement from a finite estate.

For a population of N households with K satisfied (true rate P = K/N) and a sample of n,
the number satisfied in the sample is hypergeometric; the coverage is
``Σ_k P(k) · 1[lo(k) ≤ P ≤ hi(k)]`` over all outcomes k = 0..n, computed exactly and
vectorised. Grid: N from 80 to 3,000 households, P from 0.50 to 0.97, and n =
``sampling.size.sample_size`` at each tier threshold with the round defaults
(margin 0.08, planning p = threshold, minimum 30; respondents, so response rate 1).

Measured (this grid): beta mean 96.4%, 5th percentile 95.1%; for reference logit/xlogit
95.8%/94.5%, wilson 95.5%/94.2%, asin 95.2%/93.4%, mean (Wald) 94.4%/90.9%. The worst
beta cells are small estates at P = 0.97 (N = 80), where p̂ = 1 is likely and the
one-sided bound's n_eff = (n − 1)/(1 − f) + 1 is large.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from evaluation.round import DEFAULT_THRESHOLDS, SamplingConfig
from evaluation.scoring.estimation import proportion_interval
from sampling.size import sample_size

POPULATIONS = np.array(
    [80, 100, 120, 150, 200, 250, 300, 400, 500, 650, 800, 1000, 1300, 1600, 2000, 2500, 3000]
)
RATES = np.round(np.arange(0.50, 0.9701, 0.01), 2)


def exact_coverage(
    N: int, n: int, rates: np.ndarray, method: str = "beta", confidence: float = 0.95
) -> np.ndarray:
    """Exact coverage at each true rate for SRSWOR of n from N (all outcomes at once)."""
    k = np.arange(n + 1)
    K = np.round(rates * N).astype(int)
    truth = K / N
    pmf = stats.hypergeom.pmf(k[None, :], N, K[:, None], n)
    p = k / n
    f = n / N
    var = (1 - f) * p * (1 - p) / (n - 1) if n > 1 else np.zeros_like(p)
    lo, hi = proportion_interval(
        p,
        var,
        np.full_like(p, n),
        np.full_like(p, n - 1),
        np.full(p.shape, n == N),
        np.full_like(p, 1 - f),
        method=method,
        confidence=confidence,
    )
    covered = (lo[None, :] <= truth[:, None] + 1e-12) & (hi[None, :] >= truth[:, None] - 1e-12)
    return (pmf * covered).sum(axis=1)


def _grid(method: str = "beta") -> np.ndarray:
    cfg = SamplingConfig()
    out = []
    for threshold in sorted(set(DEFAULT_THRESHOLDS.values())):
        sizes = sample_size(POPULATIONS, margin=cfg.margin, p=threshold, minimum=cfg.minimum)
        for N, n in zip(POPULATIONS, sizes, strict=True):
            assert 2 <= n <= N
            out.append(exact_coverage(int(N), int(n), RATES, method))
    return np.concatenate(out)


def test_default_interval_exact_coverage():
    cov = _grid("beta")
    assert len(cov) == 5 * len(POPULATIONS) * len(RATES)
    assert 0.945 <= cov.mean() <= 0.965, cov.mean()
    assert np.percentile(cov, 5) >= 0.93, np.percentile(cov, 5)


def test_census_covers_exactly():
    assert exact_coverage(80, 80, np.array([0.5, 0.9]))[0] == pytest.approx(1.0)


def test_srs_coverage_matches_simulation():
    """Cross-check the exact computation by simulation at one cell."""
    rng = np.random.default_rng(7)
    N, n, P = 400, 90, 0.85
    K = round(P * N)
    k = rng.hypergeometric(K, N - K, n, size=20000)
    p = k / n
    f = n / N
    var = (1 - f) * p * (1 - p) / (n - 1)
    lo, hi = proportion_interval(
        p,
        var,
        np.full_like(p, n),
        np.full_like(p, n - 1),
        np.zeros(p.shape, bool),
        np.full_like(p, 1 - f),
    )
    sim = ((lo <= K / N) & (hi >= K / N)).mean()
    assert sim == pytest.approx(exact_coverage(N, n, np.array([P]))[0], abs=0.006)
