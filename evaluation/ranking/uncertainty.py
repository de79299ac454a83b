"""How sure a rank is: simultaneous rank intervals and the chances of the top and the bottom.

**Rank intervals** (``rank_low``, ``rank_high``; 1 = best) follow Klein, Wright &
Wieczorek (2020, "A joint confidence region for an overall ranking of populations",
*JRSS C* 69:589–606). If intervals [L_k, U_k] cover every population's parameter θ_k
*jointly* with probability ≥ 1 − α, then with probability ≥ 1 − α every rank
``r_k = 1 + #{j: θ_j > θ_k}`` lies in::

    rank_low_k  = 1 + #{j: L_j > U_k}          (those certainly better)
    rank_high_k = K − #{j: U_j < L_k}          (all but those certainly worse)

(their Theorem 1: the event "every θ in its interval" implies every rank in its interval).
The joint intervals here are Šidák intervals: the estates are independent samples, so
per-estate intervals at confidence ``(1 − α)^(1/K)`` cover all K rates jointly with
probability ≥ 1 − α (K = the round's scored estates, so one set of bounds serves estates
and firms). Each rate's interval is the one the estate was scored with, at that
confidence: the exact hypergeometric interval for an SRS of the whole estate
(``interval_method = "exact"``, :func:`evaluation.scoring.exact.exact_interval`), else the
round's design-based interval (:func:`~evaluation.scoring.estimation.proportion_interval`,
beta by default); the composite is increasing in the rate (and the index), so
``[composite(L), composite(U)]`` covers the estate's composite parameter
(:class:`~evaluation.ranking.composite.Composite`; register components are fixed). With the
index weighted, the rate and index intervals each take half of the per-estate α
(Bonferroni). A firm's composite is the household-weighted mean of its estates', so the
same weights applied to the estates' bounds give firm bounds that hold jointly with them.
The sets are computed by sorting, O(K log K).

**p_top / p_bottom**: the probability of being within the rules' top cut (``[rules.red]``
top_k / top_share; firms: ``[rules.firms]``) and within the bottom cut (``[rules.black]
bottom_k``, or the top cut's size when bottom_k is 0), from :data:`DRAWS` seeded parametric
draws of every estate's rate: ``Beta(x* + ½, n* − x* + ½)`` with the Korn–Graubard
effective sample size n* and x* = n*·p̂ of :func:`evaluation.scoring.pvalues.effective_n`
(a Jeffreys-prior posterior for the design-effect-adjusted binomial; a census keeps its
rate); the index, when weighted, ``N(index, se²)`` with se from its interval. Each draw
recomputes every composite and ranks the eligible estates (and firms); p_top is the share
of draws within the cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

from evaluation.ranking.composite import Composite
from evaluation.scoring.estimation import mean_interval, proportion_interval
from evaluation.scoring.pvalues import effective_n

EXACT = "exact"
"""The interval method of the estates drawn by SRS of the whole estate."""

DRAWS = 1000
"""Parametric draws behind p_top / p_bottom (Monte Carlo error ≤ 0.016 at p = 0.5)."""
CHUNK = 200
"""Draws ranked at a time (memory: CHUNK × estates)."""


@dataclass
class Design:
    """What the rank uncertainty reads of each estate's estimate (one row per estate)."""

    rate: np.ndarray
    var: np.ndarray
    n: np.ndarray
    df: np.ndarray
    census: np.ndarray
    fpc: np.ndarray
    index: np.ndarray
    index_se: np.ndarray
    index_df: np.ndarray
    exact: np.ndarray
    households: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, confidence: float = 0.95) -> Design:
        """From an estates table; absent design columns fall back to SRS values (df = n − 1,
        no census, no FPC); the index's se from its ``confidence`` interval; ``exact``: the
        estates scored with the exact interval (``interval_method``), of ``households`` N
        (the record's ``N_record``, else the 台账's ``households``)."""

        def col(name: str, default: float | np.ndarray) -> np.ndarray:
            if name in frame.columns:
                return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            return np.broadcast_to(np.asarray(default, dtype=float), (len(frame),)).copy()

        n = col("n", np.nan)
        df = col("df", n - 1)
        index_df = np.where(np.isnan(df), n - 1, df)
        q = stats.t.ppf(1 - (1 - confidence) / 2, np.maximum(index_df, 1))
        index_se = (col("index_high", np.nan) - col("index_low", np.nan)) / (2 * q)
        census = (
            frame["census"].fillna(False).astype(bool).to_numpy(dtype=bool)
            if "census" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        fpc = col("fpc", 1.0)
        exact = (
            frame["interval_method"].astype(str).eq(EXACT).to_numpy(dtype=bool)
            if "interval_method" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        households = col("N_record", np.nan)
        households = np.where(np.isnan(households), col("households", np.nan), households)
        return cls(
            rate=col("rate", np.nan),
            var=col("rate_se", np.nan) ** 2,
            n=n,
            df=np.where(np.isnan(df), n - 1, df),
            census=census,
            fpc=np.where(np.isnan(fpc), 1.0, fpc),
            index=col("index", np.nan),
            index_se=index_se,
            index_df=index_df,
            exact=exact,
            households=households,
        )


@dataclass
class Bounds:
    """Simultaneous composite bounds per estate (NaN where not scored)."""

    low: np.ndarray
    high: np.ndarray


def simultaneous_bounds(
    design: Design, parts: Composite, *, confidence: float, method: str = "beta"
) -> Bounds:
    """Šidák-joint composite bounds ``[composite(L), composite(U)]`` for every scored estate
    (module doc)."""
    scored = parts.scored & ~np.isnan(design.rate)
    k = max(int(scored.sum()), 1)
    each = confidence ** (1.0 / k)
    weighted_index = bool((parts.w_index > 0).any())
    if weighted_index:  # rate and index share the estate's α
        each = 1.0 - (1.0 - each) / 2.0
    lo, hi = proportion_interval(
        design.rate,
        design.var,
        design.n,
        design.df,
        design.census,
        design.fpc,
        method=method,
        confidence=each,
    )
    lo, hi = _exact_bounds(design, lo, hi, each)
    ilo = ihi = None
    if weighted_index:
        ilo, ihi = mean_interval(design.index, design.index_se**2, design.index_df, confidence=each)
    return Bounds(low=parts.at(lo, ilo), high=parts.at(hi, ihi))


def _exact_bounds(
    design: Design, lo: np.ndarray, hi: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """The estates scored with the exact interval get it here too, at the per-estate
    ``confidence``: k = round(p̂·n) of n out of N (:func:`evaluation.scoring.exact.
    exact_interval`; each one-sided error ≤ its α/2 at every sampling fraction)."""
    from evaluation.scoring.exact import exact_interval

    n = np.rint(np.nan_to_num(design.n)).astype(np.int64)
    rows = design.exact & ~np.isnan(design.rate) & (n > 0) & np.isfinite(design.households)
    rows &= np.nan_to_num(design.households) >= n
    if not rows.any():
        return lo, hi
    k = np.rint(design.rate[rows] * n[rows]).astype(np.int64)
    N = np.rint(design.households[rows]).astype(np.int64)
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    lo[rows], hi[rows] = exact_interval(k, n[rows], N, confidence=confidence)
    return lo, hi


def _unbounded(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds as floats, a missing bound unbounded (nothing is known on that side)."""
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    return np.where(np.isnan(low), -np.inf, low), np.where(np.isnan(high), np.inf, high)


def rank_intervals(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Klein–Wright–Wieczorek rank intervals (1 = best) from joint bounds of the ranked
    units (module doc), by two sorts and binary searches; a unit without bounds (no
    interval for a weighted component) gets the whole range and blurs the others'."""
    low, high = _unbounded(low, high)
    k = len(low)
    better = k - np.searchsorted(np.sort(low), high, side="right")  # #{j: L_j > U_k}
    worse = np.searchsorted(np.sort(high), low, side="left")  # #{j: U_j < L_k}
    return 1 + better, k - worse


def at_most_from_bottom(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Per unit, the largest rank from the bottom its interval allows among the units given
    (1 + those that could be below it): the unit is surely among the bottom k when ≤ k."""
    low, high = _unbounded(low, high)
    could_be_below = np.searchsorted(np.sort(low), high, side="left")  # #{j: L_j < U_k}
    itself = low < high
    return 1 + could_be_below - itself


def composite_draws(
    design: Design, parts: Composite, *, seed: int, draws: int = DRAWS, confidence: float = 0.95
) -> np.ndarray:
    """``draws × estates`` composites at seeded parametric draws of each rate (and index,
    when weighted) — see the module doc. Unscored estates are NaN."""
    rng = np.random.default_rng([seed, 18])
    neff = effective_n(
        design.rate, design.var, design.n, design.df, design.fpc, confidence=confidence
    )
    ok = ~np.isnan(design.rate) & np.isfinite(neff) & (neff > 0)
    x = np.where(ok, neff * design.rate, 0.5)
    a = np.where(ok, x + 0.5, 1.0)
    b = np.where(ok, neff - x + 0.5, 1.0)
    # Beta(a, b) = G_a / (G_a + G_b) for independent gammas (faster than ``rng.beta``)
    g_a = rng.standard_gamma(a, size=(draws, len(a)))
    rates = g_a / (g_a + rng.standard_gamma(b, size=(draws, len(a))))
    rates = np.where(design.census, design.rate, rates)
    rates = np.where(ok, rates, np.nan)
    index = None
    if (parts.w_index > 0).any():
        se = np.nan_to_num(design.index_se)
        index = design.index + se * rng.standard_normal((draws, len(a)))
    return parts.at(rates, index)


def rank_chances(
    draws: np.ndarray, eligible: np.ndarray, top: int, bottom: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(p_top, p_bottom)`` per unit: the share of draws ranking it (among ``eligible``)
    within the first ``top`` / the last ``bottom`` places; NaN outside ``eligible``. Each
    draw's cut value comes from a partial sort (``numpy.partition``), not a full ranking."""
    cols = np.flatnonzero(eligible)
    k = len(cols)
    p_top = np.full(draws.shape[1], np.nan)
    p_bottom = np.full(draws.shape[1], np.nan)
    if k == 0:
        return p_top, p_bottom
    in_top = np.zeros(k)
    in_bottom = np.zeros(k)
    top, bottom = min(max(top, 0), k), min(max(bottom, 0), k)
    for start in range(0, len(draws), CHUNK):
        chunk = draws[start : start + CHUNK][:, cols]
        if top:
            cut = np.partition(chunk, k - top, axis=1)[:, k - top]  # the top-th largest
            in_top += (chunk >= cut[:, None]).sum(axis=0)
        if bottom:
            cut = np.partition(chunk, bottom - 1, axis=1)[:, bottom - 1]  # bottom-th smallest
            in_bottom += (chunk <= cut[:, None]).sum(axis=0)
    p_top[cols] = in_top / len(draws)
    p_bottom[cols] = in_bottom / len(draws)
    return p_top, p_bottom


def firm_weights(
    firm: pd.Series, households: pd.Series, has: np.ndarray
) -> tuple[pd.Index, sparse.csr_matrix]:
    """The firms (sorted) and the sparse estates × firms matrix of household weights among
    each firm's estates with a composite (``has``) — the firm composite of the roll-up."""
    firms, codes = np.unique(firm.astype(str).to_numpy(), return_inverse=True)
    N = np.where(has, pd.to_numeric(households, errors="coerce").fillna(0).to_numpy(float), 0.0)
    totals = np.bincount(codes, N, len(firms))
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(totals[codes] > 0, N / totals[codes], 0.0)
    W = sparse.csr_matrix((w, (np.arange(len(firm)), codes)), shape=(len(firm), len(firms)))
    return pd.Index(firms), W


def weighted(values: np.ndarray, W: sparse.csr_matrix) -> np.ndarray:
    """``values @ W`` over the last axis, NaN treated as 0 (their weights are 0)."""
    values = np.nan_to_num(np.asarray(values, dtype=float))
    if values.ndim == 1:
        return np.asarray(W.T @ values)
    return np.asarray(W.T @ values.T).T
