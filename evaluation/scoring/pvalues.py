"""One-sided p-values against the tier threshold and Benjamini–Hochberg q-values.

For each estate (and, in the ranking stage, each firm) two one-sided tests of its rate p
against its threshold T:

* ``p_value`` — H0: p ≥ T (the estate reaches T) against H1: p < T: evidence for 未达标,
  the black list;
* ``p_value_red`` — H0: p < T (the estate does not reach T) against H1: p ≥ T: evidence
  for 达标, the red list. (For the continuous design-based test below H0: p < T and
  H0: p ≤ T give the same p-value; for the exact test the null is "fewer than ⌈T·N⌉
  satisfied households", the count just below T: that is the test 达标 inverts.)

:func:`threshold_p_values` is the one place they are computed, in two ways:

**Exact, for estates drawn by SRS of the whole estate** (``interval_method = "exact"``,
the estates :func:`evaluation.scoring.round_scores.exact_estates` analyses as one stratum):
``k = round(p̂·n)`` satisfied of ``n`` answers out of ``N`` households is hypergeometric,
and :func:`evaluation.scoring.exact.exact_p_value` gives, with ``m_T = ⌈T·N⌉``::

    p_value     = P(X ≤ k | M = m_T)          (alternative "less")
    p_value_red = P(X ≥ k | M = m_T − 1)      (alternative "greater")

the largest null probabilities, so ``P(p ≤ u) ≤ u`` under H0 for every N, n and true
count — at any sampling fraction. They decide exactly as the exact interval does: 未达标
⇔ ``p_value ≤ α/2`` and 达标 ⇔ ``p_value_red ≤ α/2`` (tested).

**Design-based, everywhere else** (stratified or systematic samples, named external
designs, non-probability samples, firms): from the design-based estimate p̂ and its
effective sample size, the same Korn & Graubard (1998, *Survey Methodology* 24:193–201)
construction as the ``beta`` interval of
:func:`evaluation.scoring.estimation.proportion_interval` (R ``svyciprop(method="beta")``):
``n* = p̂(1−p̂)/V · (t_{α/2, n−1}/t_{α/2, df})²`` and ``x* = n*·p̂``; when p̂ is 0 or 1 or V
is 0 from a sample, ``n* = (n−1)/g + 1`` (g the mean finite-population correction), as for
the interval. The p-values are the Clopper–Pearson tail areas at (x*, n*) — for integer
x* exactly the binomial tails P(X ≤ x* | n*, T) and P(X ≥ x* | n*, T)::

    p_value     = I_{1−T}(n* − x*, x* + 1)        (= 1 when x* = n*)
    p_value_red = I_T(x*, n* − x* + 1)            (= 1 when x* = 0)

with I the regularised incomplete beta function. So the tests and the beta interval agree:
the interval's upper bound is below T exactly when ``p_value < α/2``, its lower bound at
or above T exactly when ``p_value_red ≤ α/2`` (tested). A census (every household
answered) knows p: the p-value is 0 when p̂ is on the alternative's side, else 1. Like the
beta interval with a large finite-population correction, this test is not conservative
at high sampling fractions (n/N ≥ 0.5 in an SRS its size at p = T exceeds the nominal
level); the exact test above is, which is why SRS estates use it
(``tests/scoring/test_exact_pvalues.py``).

q-values: :func:`bh_q_values`, the Benjamini & Hochberg (1995, *JRSS B* 57:289–300) step-up
adjusted p-values (``statsmodels.stats.multitest.multipletests(method="fdr_bh")``) over a
family — the round's estates, or its firms. Listing an estate when ``q ≤ fdr`` keeps the
expected share of wrongly listed estates among the listed ones at most ``fdr`` (the
estates are independent samples), and the chance that a round where no estate deserves a
list names one at most ``fdr``.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from evaluation.scoring.estimation import _tq, check_confidence


def effective_n(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    fpc: np.ndarray,
    *,
    confidence: float = 0.95,
) -> np.ndarray:
    """Korn–Graubard effective sample size n* of a design-based proportion (module doc):
    the df-adjusted ``p̂(1−p̂)/V``, or ``(n−1)/g + 1`` when p̂ ∈ {0, 1} or V = 0."""
    alpha = 1 - check_confidence(confidence)
    p = np.asarray(p, dtype=float)
    var = np.asarray(var, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (_tq(alpha / 2, n - 1) / _tq(alpha / 2, np.asarray(df, dtype=float))) ** 2
        inner = (var > 0) & (p > 0) & (p < 1)
        neff = p * (1 - p) / var * ratio
        fpc = np.asarray(fpc, dtype=float)
        g = np.where(np.isfinite(fpc), np.clip(fpc, 1e-12, 1.0), 1.0)
        neff0 = np.maximum(n - 1, 0) / g + 1
    return np.where(inner, neff, neff0)


def threshold_p_values(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    census: np.ndarray,
    fpc: np.ndarray,
    threshold: np.ndarray,
    *,
    confidence: float = 0.95,
    exact: np.ndarray | None = None,
    households: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(p_value, p_value_red)``: one-sided p-values of H0: p ≥ T and of H0: p < T (module
    doc). Arguments as :func:`~evaluation.scoring.estimation.proportion_interval` takes them,
    plus the threshold T; NaN where there is no estimate or no threshold. Rows marked
    ``exact`` (an SRS of the whole estate of ``households`` N) get the exact hypergeometric
    p-values, the others the design-based ones."""
    p = np.asarray(p, dtype=float)
    t = np.asarray(threshold, dtype=float)
    below, above = _design_p_values(p, var, n, df, census, fpc, t, confidence)
    if exact is not None:
        nn = np.asarray(n, dtype=float)
        big_n = np.broadcast_to(np.asarray(households, dtype=float), p.shape)
        rows = np.asarray(exact, dtype=bool) & ~np.isnan(p) & (t > 0) & (t <= 1) & (nn > 0)
        rows &= np.isfinite(big_n) & (big_n >= nn)  # else no N to be exact with
        if rows.any():
            below, above = below.copy(), above.copy()
            below[rows], above[rows] = _exact_p_values(p[rows], nn[rows], big_n[rows], t[rows])
    missing = np.isnan(p) | np.isnan(t) | (np.asarray(n, dtype=float) <= 0)
    return np.where(missing, np.nan, below), np.where(missing, np.nan, above)


def _exact_p_values(
    p: np.ndarray, n: np.ndarray, households: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact p-values (:func:`evaluation.scoring.exact.exact_p_value`) of ``k = round(p̂·n)``
    satisfied of ``n`` answers out of ``N`` households (item non-response taken as random,
    as for the exact interval)."""
    from evaluation.scoring.exact import exact_p_value

    nn = np.rint(n).astype(np.int64)
    k = np.rint(p * nn).astype(np.int64)
    N = np.rint(households).astype(np.int64)
    return (
        exact_p_value(k, nn, N, t, alternative="less"),
        exact_p_value(k, nn, N, t, alternative="greater"),
    )


def _design_p_values(
    p: np.ndarray,
    var: np.ndarray,
    n: np.ndarray,
    df: np.ndarray,
    census: np.ndarray,
    fpc: np.ndarray,
    t: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The design-based (Korn–Graubard) p-values of the module doc, every row."""
    neff = effective_n(p, var, n, df, fpc, confidence=confidence)
    x = neff * p
    with np.errstate(invalid="ignore", divide="ignore"):
        below = special.betainc(np.maximum(neff - x, 1e-300), x + 1, 1 - t)
        above = special.betainc(np.maximum(x, 1e-300), neff - x + 1, t)
    below = np.where(neff - x <= 1e-12, 1.0, below)
    above = np.where(x <= 1e-12, 1.0, above)
    census = np.asarray(census, dtype=bool)
    below = np.where(census, np.where(p < t, 0.0, 1.0), below)
    above = np.where(census, np.where(p >= t, 0.0, 1.0), above)
    return below, above


def bh_q_values(p_values: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values) over the non-missing ``p_values``;
    NaN stays NaN (not part of the family)."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    q = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        q[ok] = multipletests(np.clip(p[ok], 0.0, 1.0), method="fdr_bh")[1]
    return q
