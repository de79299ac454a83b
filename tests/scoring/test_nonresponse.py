"""The pattern-mixture sensitivity nr_delta: its meaning (the log response odds ratio), the
bound it moves onto the threshold, infinities and the plausible band."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

from evaluation.scoring.estimation import proportion_interval
from evaluation.scoring.nonresponse import nr_delta, robust_thresholds, sensitive
from evaluation.scoring.pvalues import threshold_p_values


@pytest.mark.parametrize("p", [0.5, 0.8, 0.9])
def test_delta_is_the_log_odds_ratio_of_answering(p: float) -> None:
    """Satisfied households answer with r₁ = 0.75, dissatisfied with r₀ = 0.95 (the issue's
    differential non-response): logit p_R − logit p_NR = log[r₁(1−r₀)/(r₀(1−r₁))] in every
    tier."""
    r1, r0 = 0.75, 0.95
    p_r = p * r1 / (p * r1 + (1 - p) * r0)
    p_nr = p * (1 - r1) / (p * (1 - r1) + (1 - p) * (1 - r0))
    rr = p * r1 + (1 - p) * r0
    assert rr * p_r + (1 - rr) * p_nr == pytest.approx(p)
    assert logit(p_r) - logit(p_nr) == pytest.approx(np.log(r1 * (1 - r0) / (r0 * (1 - r1))))


def test_the_returned_delta_moves_the_deciding_bound_onto_the_threshold() -> None:
    verdict = np.array(["达标", "未达标", "临界", "临界"], dtype=object)
    lo = np.array([0.86, 0.40, 0.74, 0.60])
    hi = np.array([0.95, 0.47, 0.83, 0.72])
    T = np.array([0.8, 0.5, 0.8, 0.7])
    rr = np.array([0.6, 0.85, 0.7, 0.5])
    d = nr_delta(verdict, lo, hi, T, rr)
    moved = lambda b, delta: rr * b + (1 - rr) * expit(logit(b) - delta)  # noqa: E731
    assert d[0] > 0 and moved(lo, d)[0] == pytest.approx(0.8)
    assert d[1] < 0 and moved(hi, d)[1] == pytest.approx(0.5)
    # 临界: the nearer flip — L up to T (δ < 0) or U down to T (δ > 0)
    near = [moved(lo, d)[2], moved(hi, d)[2]]
    assert min(abs(v - 0.8) for v in near) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(d).all()


def test_infinities_unknowns_and_the_plausible_band() -> None:
    verdict = np.array(["达标", "未达标", "达标", "达标", "未评估"], dtype=object)
    lo = np.array([0.9, 0.1, 0.9, 0.9, np.nan])
    hi = np.array([0.95, 0.2, 0.95, 0.95, np.nan])
    T = np.array([0.5, 0.9, 0.8, 0.8, 0.8])
    rr = np.array([0.9, 0.9, 1.0, np.nan, 0.9])
    d = nr_delta(verdict, lo, hi, T, rr)
    # 0.9·0.9 ≥ 0.5: even non-responders all dissatisfied keep 达标; 0.9·0.2 + 0.1 < 0.9
    assert d[0] == np.inf and d[1] == -np.inf
    assert d[2] == np.inf  # everyone answered
    assert np.isnan(d[3]) and np.isnan(d[4])
    band = sensitive(
        np.array(["达标", "达标", "临界", "未达标"], dtype=object),
        np.array([0.5, 1.5, 0.1, -1.0]),
        3.0,
    )
    assert band.tolist() == [True, False, False, True]  # 临界 is never flagged


def test_robust_thresholds_map_onto_the_threshold() -> None:
    """b* solves RR·b + (1 − RR)·expit(logit b ± Δ) = T; RR = 1 or unknown leaves T."""
    T = np.array([0.8, 0.5, 0.9, 0.8, 0.7])
    rr = np.array([0.6, 0.85, 0.7, 1.0, np.nan])
    below, above = robust_thresholds(T, rr, 8.0)
    d = np.log(8.0)
    for b, shift in ((below, d), (above, -d)):
        mapped = rr[:3] * b[:3] + (1 - rr[:3]) * expit(logit(b[:3]) + shift)
        assert mapped == pytest.approx(T[:3], abs=1e-9)
    assert (below[:3] < T[:3]).all() and (above[:3] > T[:3]).all()
    assert below[3:].tolist() == [0.8, 0.7] and above[3:].tolist() == [0.8, 0.7]


@pytest.mark.parametrize("seed", range(3))
def test_the_robust_black_test_fails_exactly_when_the_verdict_is_sensitive(seed: int) -> None:
    """For 未达标 (beta interval): |nr_delta| ≤ log 8 ⟺ U ≥ b* ⟺ p-value against b* ≥ α/2."""
    rng = np.random.default_rng(seed)
    k = 3000
    n = rng.integers(30, 200, k).astype(float)
    T = rng.choice([0.5, 0.6, 0.7, 0.8, 0.9], k)
    p = np.clip(T - rng.uniform(0.0, 0.25, k), 0.02, 0.98)
    var = p * (1 - p) / (n - 1)
    rr = rng.uniform(0.5, 0.99, k)
    census = np.zeros(k, bool)
    lo, hi = proportion_interval(p, var, n, n - 1, census, np.ones(k))
    fail = hi < T
    delta = nr_delta(np.where(fail, "未达标", "临界").astype(object), lo, hi, T, rr)
    flagged = sensitive(np.where(fail, "未达标", "临界").astype(object), delta, 8.0)
    below, _ = robust_thresholds(T, rr, 8.0)
    p_robust = threshold_p_values(p, var, n, n - 1, census, np.ones(k), below)[0]
    clear = np.abs(hi - below) > 1e-7
    assert fail.sum() > 500
    assert (flagged == (p_robust >= 0.025))[fail & clear].all()
