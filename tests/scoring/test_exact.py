"""The exact (hypergeometric) machinery of ``evaluation.scoring.exact``.

* against brute-force enumeration in rational arithmetic (``fractions.Fraction`` and
  ``math.comb``: no floating point) for every N ≤ 24, n and k;
* against its guarantee: each one-sided error ≤ α/2 for every true count, over N 30…3,000
  and sampling fractions from 1 household to a census (every n for N ≤ 60); the wider grid
  is in ``benchmarks/bench_exact.py``;
* the operating characteristic's two code paths (critical counts for ``exact``, enumeration
  of every outcome for the other methods) against each other and against simulation.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache

import numpy as np
import pytest
from scipy import stats

import evaluation
from evaluation.scoring import exact
from wuye_common.errors import WuyeError

ALPHA_HALF = 0.025
HALF = Fraction(1, 40)  # α/2 at 95% confidence, as a rational


@cache
def _pmf_table(N: int, n: int) -> tuple[tuple[Fraction, ...], ...]:
    """``table[M][k] = P(X = k | M)`` exactly."""
    total = math.comb(N, n)
    return tuple(
        tuple(Fraction(math.comb(M, k) * math.comb(N - M, n - k), total) for k in range(n + 1))
        for M in range(N + 1)
    )


def _brute_bounds(k: int, n: int, N: int) -> tuple[int, int]:
    table = _pmf_table(N, n)
    low = min(M for M in range(N + 1) if sum(table[M][k:]) > HALF)
    high = max(M for M in range(N + 1) if sum(table[M][: k + 1]) > HALF)
    return low, high


@pytest.mark.parametrize("N", [1, 2, 3, 5, 8, 13, 17, 24])
def test_bounds_match_brute_force(N):
    for n in range(N + 1):
        k = np.arange(n + 1)
        low, high = exact.count_bounds(k, n, N)
        brute = [_brute_bounds(int(j), n, N) for j in k]
        assert low.tolist() == [b[0] for b in brute], (N, n)
        assert high.tolist() == [b[1] for b in brute], (N, n)


def test_interval_edges():
    # census: the count itself; nothing satisfied: lower bound 0; all satisfied: upper 1
    assert exact.exact_interval(7, 20, 20) == (0.35, 0.35)
    low, high = exact.exact_interval([0, 10], 10, 50)
    assert low[0] == 0 and high[1] == 1
    assert 0 < high[0] < 0.5 and 0.5 < low[1] < 1
    # the bounds never contradict the sample: k satisfied and n − k not
    low, high = exact.count_bounds(np.arange(31), 30, 40)
    assert (low >= np.arange(31)).all() and (high <= 40 - (30 - np.arange(31))).all()


def _one_sided_errors(N: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P(M_U(X) < M | M)`` and ``P(M_L(X) > M | M)`` for every M = 0..N."""
    low, high = exact.count_bounds(np.arange(n + 1), n, N)
    M = np.arange(N + 1)
    # M_U is nondecreasing in k: {k : M_U(k) < M} = {k ≤ K(M)}
    below = np.searchsorted(high, M, side="left") - 1
    above = np.searchsorted(low, M, side="right")
    under = np.where(below >= 0, stats.hypergeom.cdf(below, N, M, n), 0.0)
    over = np.where(above <= n, stats.hypergeom.sf(above - 1, N, M, n), 0.0)
    return under, over


def _designs() -> list[tuple[int, int]]:
    out = [(N, n) for N in (30, 45, 60) for n in range(1, N + 1)]
    for N in (80, 114, 150, 230, 400, 700, 1000, 1600, 2400, 3000):
        for f in (0.01, 0.05, 0.1, 0.25, 0.4, 0.56, 0.75, 0.9, 0.99, 1.0):
            out.append((N, max(1, round(f * N))))
    return sorted(set(out))


def test_one_sided_error_guarantee():
    """Each one-sided error ≤ α/2 for every true count, N 30…3,000, every sampling fraction."""
    worst = 0.0
    for N, n in _designs():
        under, over = _one_sided_errors(N, n)
        worst = max(worst, under.max(), over.max())
        assert under.max() <= ALPHA_HALF + 1e-12, (N, n, under.argmax())
        assert over.max() <= ALPHA_HALF + 1e-12, (N, n, over.argmax())
    assert worst > 0.02  # the guarantee is tight somewhere, not vacuous


def test_verdicts_p_values_and_critical_counts_agree():
    rng = np.random.default_rng(3)
    N = rng.integers(30, 3000, 400)
    n = np.maximum(1, (rng.uniform(0.01, 1, 400) * N).astype(int))
    k = (rng.uniform(0, 1, 400) * (n + 1)).astype(int).clip(0, n)
    t = rng.choice([0.9, 0.8, 0.7, 0.6, 0.5], 400)
    low, high = exact.exact_interval(k, n, N)
    p_less = exact.exact_p_value(k, n, N, t, alternative="less")
    p_greater = exact.exact_p_value(k, n, N, t, alternative="greater")
    k_fail, k_pass = exact.critical_counts(n, N, t)
    fail = high < t - 1e-12
    passed = low >= t - 1e-12
    assert np.array_equal(fail, p_less <= ALPHA_HALF)
    assert np.array_equal(passed, p_greater <= ALPHA_HALF)
    assert np.array_equal(fail, k <= k_fail)
    assert np.array_equal(passed, k >= k_pass)
    assert fail.any() and passed.any() and (~fail & ~passed).any()


def test_p_value_brute_force():
    N, n, T = 20, 8, 0.6  # m_T = 12
    table = _pmf_table(N, n)
    for k in range(n + 1):
        less = float(sum(table[12][: k + 1]))
        greater = float(sum(table[11][k:]))
        assert exact.exact_p_value(k, n, N, T) == pytest.approx(less, rel=1e-12, abs=1e-15)
        assert exact.exact_p_value(k, n, N, T, alternative="greater") == pytest.approx(
            greater, rel=1e-12, abs=1e-15
        )


def test_true_count_is_nearest_the_threshold():
    # 0.6 × 114 = 68.4: at the threshold the count is 69 (rate ≥ T), below it 68
    assert exact.true_count(0.6, 114, 0.6) == 69
    assert exact.true_count(0.599, 114, 0.6) == 68
    assert exact.true_count(0.9, 100, 0.9) == 90  # binary noise ignored
    assert exact.threshold_count(0.9, 100) == 90


def test_operating_characteristic_contract():
    oc = evaluation.operating_characteristic([[80], [3000]], [[40], [200]], 0.8, [0.75, 0.8, 0.85])
    assert list(oc.columns) == ["N", "n", "threshold", "rate", "p_pass", "p_borderline", "p_fail"]
    assert len(oc) == 6
    assert oc[["p_pass", "p_borderline", "p_fail"]].sum(axis=1).to_numpy() == pytest.approx(1)
    at_t = oc[oc["rate"] == 0.8]
    assert (at_t["p_fail"] <= ALPHA_HALF).all()
    # more evidence, more decisions: the bigger sample decides more often away from T
    far = oc[oc["rate"] != 0.8].set_index(["N", "rate"])
    assert far.loc[(3000, 0.75), "p_fail"] > far.loc[(80, 0.75), "p_fail"]


def test_exact_oc_matches_enumerating_the_interval():
    """The critical-count path of ``exact`` against verdicts of every outcome k."""
    for N, n, T in [(114, 48, 0.6), (80, 80, 0.9), (500, 37, 0.5), (31, 1, 0.7)]:
        k = np.arange(n + 1)
        low, high = exact.exact_interval(k, n, N)
        for M in range(0, N + 1, max(1, N // 17)):
            pmf = stats.hypergeom.pmf(k, N, M, n)
            want_pass = pmf[low >= T - 1e-12].sum()
            want_fail = pmf[high < T - 1e-12].sum()
            p_pass, _, p_fail = exact.verdict_probabilities(N, n, T, M)
            assert p_pass == pytest.approx(want_pass, abs=1e-12)
            assert p_fail == pytest.approx(want_fail, abs=1e-12)


def test_beta_oc_matches_simulation():
    rng = np.random.default_rng(11)
    N, n, M, T = 400, 90, 330, 0.8
    from evaluation.scoring.estimation import proportion_interval

    k = rng.hypergeometric(M, N - M, n, size=40_000)
    p = k / n
    f = n / N
    var = (1 - f) * p * (1 - p) / (n - 1)
    lo, hi = proportion_interval(
        p, var, np.full(p.shape, n), np.full(p.shape, n - 1), np.zeros(p.shape, bool), 1 - f
    )
    p_pass, _, p_fail = exact.verdict_probabilities(N, n, T, M, method="beta")
    assert (lo >= T).mean() == pytest.approx(p_pass, abs=0.006)
    assert (hi < T).mean() == pytest.approx(p_fail, abs=0.006)


def test_bad_arguments_are_located_errors():
    with pytest.raises(WuyeError, match="n"):
        exact.exact_interval(3, 12, 10)
    with pytest.raises(WuyeError, match="k"):
        exact.exact_interval(5, 4, 10)
    with pytest.raises(WuyeError, match="threshold"):
        exact.exact_p_value(3, 10, 20, 1.5)
    with pytest.raises(WuyeError, match="alternative"):
        exact.exact_p_value(3, 10, 20, 0.5, alternative="two-sided")
    with pytest.raises(WuyeError, match="confidence"):
        exact.exact_interval(3, 10, 20, confidence=95)
    with pytest.raises(WuyeError):
        evaluation.operating_characteristic([10, 20], 5, 0.8, [0.1, 0.2, 0.3])


# --------------------------------------------------------------------------- stratified
def _stratified_worst(sizes: tuple[int, ...], drawn: tuple[int, ...]) -> float:
    """Worst one-sided error of the SRS exact interval (on the pooled k of n) when the
    sample is stratified with these ``N_h``/``n_h``, over every allocation ``M_h`` of the
    satisfied households to the strata: the exact convolution of per-stratum
    hypergeometrics (Wendell & Schmee 1996)."""
    from itertools import product

    N, n = sum(sizes), sum(drawn)
    low, high = exact.count_bounds(np.arange(n + 1), n, N)
    worst = 0.0
    for split in product(*[range(s + 1) for s in sizes]):
        pmf = np.array([1.0])
        for size, m, count in zip(sizes, drawn, split, strict=True):
            pmf = np.convolve(pmf, stats.hypergeom.pmf(np.arange(m + 1), size, count, m))
        M = sum(split)
        worst = max(worst, pmf[high < M].sum(), pmf[low > M].sum())
    return worst


def test_srs_exact_interval_is_not_guaranteed_under_proportional_allocation():
    """The decision documented in docs/architecture.md: stratified (proportional) estates
    keep the beta interval. Equal-size buildings, proportional allocation, the pooled k of
    n judged with the SRS exact interval: with homogeneous buildings the stratified count
    varies MORE than an SRS count (factor N_h/(N_h − 1) over N/(N − 1)), and the one-sided
    error exceeds α/2 for some true allocation."""
    assert _stratified_worst((6, 6, 6, 6), (3, 3, 3, 3)) > 0.0275
    assert _stratified_worst((20, 20), (10, 10)) > 0.0255
    # one stratum: the guarantee holds (the same computation as above)
    assert _stratified_worst((24,), (12,)) <= ALPHA_HALF + 1e-12


# --------------------------------------------------------------------------- two waves
def _two_wave_errors(N, m1, m2, T, planned=None):
    """P(未达标 | M) and P(达标 | M) of the two-wave verdict for every M, by enumerating
    every (x1, x2) with the sequential hypergeometric pmf (independent of the module's
    continuation sums)."""
    b = exact.two_wave_boundaries(N, m1, m2, T, planned_m2=planned)
    c1, d1, c2, d2 = (int(v) for v in (b.c1, b.d1, b.c2, b.d2))
    fail, passed = np.zeros(N + 1), np.zeros(N + 1)
    x1 = np.arange(m1 + 1)
    x2 = np.arange(m2 + 1)
    for M in range(N + 1):
        p1 = stats.hypergeom.pmf(x1, N, M, m1)
        fail[M] += p1[x1 <= c1].sum()
        passed[M] += p1[x1 >= d1].sum()
        for x in range(max(c1 + 1, 0), min(d1, m1 + 1)):
            if not 0 <= M - x <= N - m1:  # impossible first wave: p1[x] = 0
                continue
            p2 = stats.hypergeom.pmf(x2, N - m1, M - x, m2)
            fail[M] += p1[x] * p2[x + x2 <= c2].sum()
            passed[M] += p1[x] * p2[x + x2 >= d2].sum()
    return fail, passed, b


@pytest.mark.parametrize(
    ("N", "m1", "m2", "T", "planned"),
    [
        (40, 12, 10, 0.8, None),
        (60, 20, 20, 0.5, None),
        (114, 40, 25, 0.6, 30),  # fewer top-up respondents than planned
        (150, 60, 50, 0.9, 40),  # more than planned
        (300, 90, 0, 0.7, 60),  # no top-up answers at all
    ],
)
def test_two_wave_one_sided_errors_exactly_at_most_alpha_half(N, m1, m2, T, planned):
    fail, passed, b = _two_wave_errors(N, m1, m2, T, planned)
    m_t = int(exact.threshold_count(T, N))
    assert fail[m_t:].max() <= ALPHA_HALF + 1e-12  # H0: rate ≥ T
    assert passed[:m_t].max() <= ALPHA_HALF + 1e-12  # H0: rate < T
    assert fail[m_t] == pytest.approx(float(b.spent_fail), abs=1e-12)
    assert passed[m_t - 1] == pytest.approx(float(b.spent_pass), abs=1e-12)
    assert b.c1 <= b.c2 and b.d2 <= b.d1 + m2  # the interim boundary is the stricter one


def test_two_wave_first_look_spends_obrien_fleming():
    spent = exact.obrien_fleming_spent([0.25, 0.5, 1.0], 0.025)
    assert spent[-1] == pytest.approx(0.025)
    assert spent[1] == pytest.approx(2 * stats.norm.sf(stats.norm.isf(0.0125) / np.sqrt(0.5)))
    c1, d1 = exact.first_wave_counts(400, 100, 100, 0.7)
    p_fail = stats.hypergeom.cdf(c1, 400, 280, 100)
    assert p_fail <= spent[1] < stats.hypergeom.cdf(c1 + 1, 400, 280, 100)
    p_pass = stats.hypergeom.sf(d1 - 1, 400, 279, 100)
    assert p_pass <= spent[1] < stats.hypergeom.sf(d1 - 2, 400, 279, 100)
    # without a planned top-up the first wave is the whole design: the one-wave counts
    assert exact.first_wave_counts(400, 100, 0, 0.7) == exact.critical_counts(100, 400, 0.7)
