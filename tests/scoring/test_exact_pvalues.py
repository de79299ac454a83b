"""Exact p-values for estates drawn by SRS of the whole estate (``interval_method = "exact"``):
hypergeometric tails checked against rational brute force, the same decisions as the exact
interval, a black q-gate that never contradicts the verdict, and no over-rejection at high
sampling fractions (where the design-based p-value does over-reject)."""

from __future__ import annotations

from fractions import Fraction
from math import ceil, comb
from types import SimpleNamespace

import numpy as np
import pytest

from evaluation.scoring import exact
from evaluation.scoring.pvalues import threshold_p_values
from evaluation.scoring.round_scores import score_round
from tests.scoring.test_round_scores import synth


def _tails(k: int, n: int, N: int, T: float) -> tuple[float, float]:
    """``P(X ≤ k | M = ⌈TN⌉)`` and ``P(X ≥ k | M = ⌈TN⌉ − 1)`` in rational arithmetic."""
    m = ceil(Fraction(str(T)) * N)

    def pmf(j: int, M: int) -> Fraction:
        return Fraction(comb(M, j) * comb(N - M, n - j), comb(N, n))

    return float(sum(pmf(j, m) for j in range(k + 1))), float(
        sum(pmf(j, m - 1) for j in range(k, n + 1))
    )


def _srs_p_values(k, n, N, T, *, exact_rows=True):
    """threshold_p_values for SRS outcomes k of n out of N (design-based arguments as
    scoring gives them: p̂ = k/n, V = (1 − n/N) p̂(1 − p̂)/(n − 1), df = n − 1)."""
    k, n, N = (np.asarray(a, dtype=float) for a in np.broadcast_arrays(k, n, N))
    p = k / n
    f = n / N
    var = (1 - f) * p * (1 - p) / np.maximum(n - 1, 1)
    return threshold_p_values(
        p,
        var,
        n,
        n - 1,
        n == N,
        1 - f,
        np.broadcast_to(T, p.shape),
        exact=np.full(p.shape, exact_rows),
        households=N,
    )


@pytest.mark.parametrize(("N", "n", "T"), [(12, 7, 0.7), (40, 25, 0.9), (87, 30, 0.5), (9, 9, 0.6)])
def test_exact_rows_are_the_hypergeometric_tails(N: int, n: int, T: float) -> None:
    k = np.arange(n + 1)
    below, above = _srs_p_values(k, n, N, T)
    want = np.array([_tails(int(j), n, N, T) for j in k])
    np.testing.assert_allclose(below, want[:, 0], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(above, want[:, 1], rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize(("N", "T"), [(30, 0.9), (114, 0.6), (250, 0.8), (61, 0.5)])
def test_exact_p_values_decide_as_the_exact_interval_and_never_contradict_it(
    N: int, T: float
) -> None:
    """For every n and k: 未达标 ⇔ p_value ≤ α/2 and 达标 ⇔ p_value_red ≤ α/2 (#15's
    convention: the red test's H0 is rate < T); a 达标 outcome has p_value ≥ 1 − α/2, so
    its BH q-value (≥ p) never passes a black gate of fdr < 1 − α/2."""
    a = 0.025
    n = np.concatenate([np.full(m + 1, m) for m in range(1, N + 1, 3)])
    k = np.concatenate([np.arange(m + 1) for m in range(1, N + 1, 3)])
    low, high = exact.exact_interval(k, n, N)
    below, above = _srs_p_values(k, n, N, T)
    assert ((high < T) == (below <= a)).all()
    assert ((low >= T) == (above <= a)).all()
    assert (below[low >= T] >= 1 - a).all()
    assert (above[high < T] >= 1 - a).all()


def _size(p_values: np.ndarray, k: np.ndarray, n: int, N: int, M: int, level: float) -> float:
    return float(exact.stats.hypergeom.pmf(k, N, M, n)[p_values <= level].sum())


def test_no_over_rejection_at_high_sampling_fractions() -> None:
    """At n/N ≥ 0.5 the design-based p-value of an SRS rejects a true H0 more often than its
    level (so did #18's p-values before the exact ones); the exact p-value never does, for
    every true count on H0's side."""
    a = 0.025
    worst_design, worst_exact = 0.0, 0.0
    for N in (40, 61, 114, 200):
        for share in (0.5, 0.6, 0.75, 0.9):
            n = ceil(share * N)
            k = np.arange(n + 1)
            for T in (0.5, 0.6, 0.7, 0.8, 0.9):
                m_t = ceil(T * N - 1e-9)
                design = _srs_p_values(k, n, N, T, exact_rows=False)
                below, above = _srs_p_values(k, n, N, T)
                worst_design = max(worst_design, _size(design[0], k, n, N, m_t, a))
                for M in (m_t, min(m_t + 2, N)):  # H0: rate ≥ T
                    worst_exact = max(worst_exact, _size(below, k, n, N, M, a))
                for M in (m_t - 1, max(m_t - 3, 0)):  # H0: rate < T
                    worst_exact = max(worst_exact, _size(above, k, n, N, M, a))
    assert worst_design > 0.03  # the design-based test over-rejects here
    assert worst_exact <= a


def test_score_round_gives_srs_estates_exact_p_values_and_q_gates_agree() -> None:
    rnd, ing, rec = synth(n_estates=10, resp_per=60, households=90, seed=3)
    rec = rec.assign(design=np.where(rec["estate_id"] < "E006", "simple_srs", "stratified_srs"))
    rnd = SimpleNamespace(**{**vars(rnd), "interval_method": "exact"})
    plain = SimpleNamespace(respondents=ing.respondents, answers=ing.answers)  # RR unknown
    e = score_round(rnd, plain, rec, overall_item="S05").estates.set_index("estate_id")
    srs = e[e["interval_method"] == "exact"]
    assert len(srs) == 6
    k = np.rint(srs["rate"] * srs["n"]).astype(int)
    N = rec.groupby("estate_id")["N_h"].sum().reindex(srs.index)
    for estate, kk, n, NN, T in zip(srs.index, k, srs["n"], N, srs["threshold"], strict=True):
        below, above = _tails(int(kk), int(n), int(NN), float(T))
        assert srs.loc[estate, "p_value"] == pytest.approx(below, rel=1e-9, abs=1e-14)
        assert srs.loc[estate, "p_value_red"] == pytest.approx(above, rel=1e-9, abs=1e-14)
    a = 0.025
    assert ((srs["verdict"] == "未达标") == (srs["p_value"] <= a)).all()
    assert ((srs["verdict"] == "达标") == (srs["p_value_red"] <= a)).all()
    # the q-gates never contradict the verdicts (every estate, exact or not)
    assert not ((e["q_value"] <= 0.05) & (e["verdict"] == "达标")).any()
    assert not ((e["q_value_red"] <= 0.05) & (e["verdict"] == "未达标")).any()


def test_a_stale_record_of_an_srs_estate_is_not_a_census() -> None:
    """An SRS estate whose record counts fewer households than respondents in a building
    keeps #18's guard: analysed by building (no exact interval on a wrong N), 样本多于户数
    located, no FPC there, never a census."""
    rnd, ing, rec = synth(n_estates=3, resp_per=60, households=90, seed=5)
    rec = rec.assign(design="simple_srs")
    built = ing.respondents.groupby(["estate_id", "building"]).size()
    stale = (rec["estate_id"] == "E000") & (rec["building"] == "1栋")
    rec.loc[stale, "N_h"] = int(built[("E000", "1栋")]) - 3
    rnd = SimpleNamespace(**{**vars(rnd), "interval_method": "exact"})
    e = score_round(rnd, ing, rec, overall_item="S05").estates.set_index("estate_id")
    assert e.loc["E000", "interval_method"] == "beta" and not e.loc["E000", "census"]
    assert "样本多于户数（1栋" in e.loc["E000", "flags"]
    assert e.loc["E000", "rate_high"] - e.loc["E000", "rate_low"] > 0.05
    assert e.loc[["E001", "E002"], "interval_method"].eq("exact").all()
