"""How far non-response could move a verdict: the pattern-mixture sensitivity ``nr_delta``.

The design-based estimate speaks for the households that answer. Write RR for the estate's
AAPOR response rate RR1 (completes ÷ eligible households approached; ingest's
dispositions). The estate's rate is the mixture ``p = RR·p_R + (1 − RR)·p_NR`` of
responders and non-responders. The non-responders are not observed, so their rate is put
at a distance δ on the logit scale (a pattern-mixture model, Little 1994, *Biometrika*
81:471–483; Little & Rubin 2019, *Statistical Analysis with Missing Data*, §15)::

    logit(p_NR) = logit(p_R) − δ

δ > 0: non-responders less satisfied. On this scale δ is exactly the log of the odds ratio
of answering between satisfied and dissatisfied households: if satisfied households answer
with probability r₁ and dissatisfied ones with r₀, then by Bayes' rule
``logit(p_R) − logit(p_NR) = log[r₁(1 − r₀) / (r₀(1 − r₁))]`` whatever p — so one δ means
the same response behaviour in every tier (e^δ = 3: satisfied households' odds of
answering are three times the dissatisfied ones').

For a given δ every bound b of the estate's interval maps to ``RR·b + (1 − RR)·expit(logit(b)
− δ)`` (monotone in b, so the mapped interval keeps its coverage for that δ). ``nr_delta``
is the δ at which the verdict's deciding bound reaches T:

* 达标 (lower bound L ≥ T): the δ > 0 with ``RR·L + (1 − RR)·expit(logit(L) − δ) = T``;
* 未达标 (upper bound U < T): the δ < 0 doing the same with U;
* 临界: whichever of the two (U falling below T, L reaching T) needs the smaller |δ|.

Solving: with ``target = (T − RR·b)/(1 − RR)``, ``δ = logit(b) − logit(target)``; when the
target is outside (0, 1) no δ flips the verdict (±∞; so too when RR = 1). NaN when the
response rate or the estimate is unknown.

``sensitive`` marks decided verdicts (达标, 未达标) that flip within a plausible δ:
``|nr_delta| ≤ Δ = log(plausible_odds)``; ``plausible_odds`` is ``[rules.eligibility]
nr_odds_ratio`` (default :data:`~wuye_common.vocabulary.NR_ODDS_RATIO` = 8: response odds
of satisfied and dissatisfied households differing by up to a factor of eight either way;
it covers, for instance, 75% of satisfied and 95% of dissatisfied households answering,
odds ratio 6.3 — a convention, deliberately wide, that the bureau may change). Such an
estate is flagged ``应答偏差敏感`` and is not listed on its own survey evidence.

The tests against the threshold allow for the same band (:func:`robust_thresholds`): the
evidence that an estate is below T must hold even if its non-responders were as much more
satisfied as the band allows. Because the bound map is monotone, "the mapped upper bound is
below T" is "the responders' upper bound is below b*", where b* solves
``RR·b + (1 − RR)·expit(logit(b) + Δ) = T``; so the black test is the ordinary test against
``b* ≤ T`` (the red test against the b* ≥ T of ``−Δ``). With everyone answering (RR = 1) or
RR unknown, b* = T.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _delta(bound: np.ndarray, threshold: np.ndarray, rr: np.ndarray) -> np.ndarray:
    """The δ moving ``bound`` onto the threshold (module doc); ±∞ when none can."""
    with np.errstate(invalid="ignore", divide="ignore"):
        target = (threshold - rr * bound) / (1 - rr)
        delta = special.logit(bound) - special.logit(target)
    up = threshold > bound  # the bound must rise: non-responders more satisfied (δ < 0)
    out = np.where(target >= 1, -np.inf, np.where(target <= 0, np.inf, delta))
    out = np.where(np.isclose(bound, threshold, rtol=0, atol=1e-12), 0.0, out)
    return np.where(rr >= 1, np.where(up, -np.inf, np.inf), out)


def nr_delta(
    verdict: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    threshold: np.ndarray,
    response_rate: np.ndarray,
) -> np.ndarray:
    """The logit-scale difference between responders and non-responders that flips each
    estate's verdict (module doc), signed: > 0 when non-responders less satisfied would
    flip it, < 0 when more satisfied ones would."""
    verdict = np.asarray(verdict, dtype=object)
    lo = np.asarray(low, dtype=float)
    hi = np.asarray(high, dtype=float)
    t = np.asarray(threshold, dtype=float)
    rr = np.clip(np.asarray(response_rate, dtype=float), 0.0, 1.0)
    from_low = _delta(lo, t, rr)  # L down to T (达标), or up to T (临界 → 达标)
    from_high = _delta(hi, t, rr)  # U below T (临界 → 未达标), or up to T (未达标)
    pending = np.where(np.abs(from_high) <= np.abs(from_low), from_high, from_low)
    out = np.select(
        [verdict == "达标", verdict == "未达标", verdict == "临界"],
        [from_low, from_high, pending],
        np.nan,
    )
    missing = np.isnan(rr) | np.isnan(lo) | np.isnan(hi) | np.isnan(t)
    return np.where(missing, np.nan, out)


def sensitive(verdict: np.ndarray, delta: np.ndarray, plausible_odds: float) -> np.ndarray:
    """Decided verdicts (达标/未达标) that flip within ``|δ| ≤ log(plausible_odds)``."""
    decided = np.isin(np.asarray(verdict, dtype=object), ["达标", "未达标"])
    limit = np.log(max(float(plausible_odds), 1.0))
    with np.errstate(invalid="ignore"):
        return decided & (np.abs(np.asarray(delta, dtype=float)) <= limit)


def robust_thresholds(
    threshold: np.ndarray, response_rate: np.ndarray, plausible_odds: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(below, above)``: the responders' rates b* that mean a true rate of T when the
    non-responders are ``plausible_odds`` more satisfied (the black test's threshold) or
    less satisfied (the red test's) — module doc; vectorised bisection (60 halvings)."""
    t = np.asarray(threshold, dtype=float)
    rr = np.clip(np.asarray(response_rate, dtype=float), 0.0, 1.0)
    delta = np.log(max(float(plausible_odds), 1.0))
    known = ~np.isnan(rr) & (rr < 1) & (t > 0) & (t < 1) & (delta > 0)
    rr = np.where(known, rr, 1.0)
    out = []
    for shift in (delta, -delta):
        lo, hi = np.zeros_like(t), np.ones_like(t)
        for _ in range(60):
            mid = (lo + hi) / 2
            with np.errstate(divide="ignore"):
                mapped = rr * mid + (1 - rr) * special.expit(special.logit(mid) + shift)
            up = mapped < t
            lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
        out.append(np.where(known, (lo + hi) / 2, t))
    return out[0], out[1]
