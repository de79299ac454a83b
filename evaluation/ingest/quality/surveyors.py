"""Surveyor-level checks: does a surveyor's satisfaction differ from the other surveyors of
the same estates beyond chance, and a fabrication score that makes a dishonest surveyor stand
out as a person rather than as scattered rows. Vectorised over surveyors × estates.

**Surveyor effect** — for surveyor *s* and each estate *e* both *s* and other surveyors worked,
the 2 × 2 table (forms of *s* / of the others) × (satisfied / not on the overall item) is one
stratum of the Cochran–Mantel–Haenszel test (Cochran 1954; Mantel & Haenszel 1959):
``A = Σ_e a_e``, ``E = Σ_e n_1e m_1e / N_e``,
``V = Σ_e n_1e n_2e m_1e m_2e / (N_e² (N_e − 1))``, ``χ²_MH = (|A − E| − ½)² / V`` on one
degree of freedom; the p-values are adjusted by Benjamini & Hochberg (1995). With two
surveyors in an estate, one surveyor's inflated forms make his colleague look deflated by as
much, so the test steps down: the most significant surveyor with ``q < alpha`` (and at least
``min_forms`` forms) is flagged, his forms are set aside, and the others are tested again
without them, until none is left below ``alpha``.

**Fabrication score** — indicators per surveyor, net of the estates (a two-way additive model
``form value = estate effect + surveyor effect`` fitted by backfitting, so that a surveyor is
compared with the others through the estates they share and a colleague of a dishonest
surveyor does not mirror him), as proposed for interviewer falsification by Bredl, Winker &
Kötschau (2012), Menold & Kemper (2014) and De Haas & Winker (2016):

- ``fast``: mean robust duration z of the surveyor's forms (negative = fast; suspicious
  direction only);
- ``duplicates``: forms with an identical answer vector among the surveyor's own forms of the
  same estate, against the within-estate permutation null (surveyor labels permuted within
  the estate). Its expectation is exact: a form whose pattern has ``c`` copies in an estate of
  ``N`` forms, ``n`` of them the surveyor's, has another copy among the surveyor's other forms
  with probability ``1 − C(N−c, n−1) / C(N−1, n−1)`` (hypergeometric); the indicator is
  ``(O − E) / √Σ p(1 − p)`` (suspicious direction only);
- response styles: non-differentiation (the standard deviation of a form's item codes),
  extreme responding (share of answers at a scale end), middle responding (share at the middle
  option), item non-response (share of items without an answer: falsifiers answer everything);
  two-sided except item non-response (low is suspicious);
- ``flagged``: share of the surveyor's forms carrying a row-level flag;
- ``effect``: the surveyor effect's ``|A − E| / √V`` (from the step-down).

Each indicator becomes a robust z across surveyors that allows for each surveyor's own
sampling noise, as a funnel plot with over-dispersion does (Spiegelhalter 2005, "Funnel
plots for comparing institutional performance", *Stat. Med.* 24:1185–1202):
``z_s = (x_s − median) / √(τ² + se_s²)`` with the between-surveyor spread
``τ² = max(0, (1.4826 · MAD)² − median(se²))`` and ``se_s`` the standard error of the
surveyor's effect (residual standard deviation of his forms ÷ √n; 1 for the indicators
that are already z statistics: ``duplicates``, ``effect``) — so that a surveyor with few
forms is not an outlier by chance alone. The score is the
root mean square of the indicators' z (directional ones counted only in the suspicious
direction): about 1 for an ordinary surveyor, above ``threshold`` for one whose forms stand
apart on several indicators at once — a multivariate outlier in the sense of the cluster
approaches of Bredl et al. and De Haas & Winker, without the need to fix the number of
falsifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import chi2

from evaluation.ingest.groups import group_sizes

INDICATORS: dict[str, str] = {
    "fast": "up",
    "duplicates": "up",
    "nondifferentiation": "both",
    "extreme_share": "both",
    "middle_share": "both",
    "nonresponse_share": "down",
    "flagged_share": "up",
    "effect": "up",
}
"""Fabrication-score indicators and their suspicious direction (``up``: high values,
``down``: low values, ``both``: either)."""


@dataclass
class SurveyorForms:
    """The accepted forms of the surveyed rounds, surveyor and estate as integer codes."""

    surveyor: np.ndarray
    """Each form's surveyor code (−1: no surveyor)."""
    estate: np.ndarray
    satisfied: np.ndarray
    """1.0 / 0.0 on the overall item, NaN without an answer."""
    codes: np.ndarray
    """Forms × items, 0 = no answer."""
    scale_sizes: np.ndarray
    pattern: np.ndarray
    """One integer per distinct answer vector."""
    duration_z: np.ndarray
    flagged: np.ndarray
    """The form carries a row-level flag."""


def surveyor_effect(forms: SurveyorForms, n_surveyors: int) -> pd.DataFrame:
    """Per surveyor: ``cmh_a, cmh_e, cmh_v, cmh_z, cmh_p, odds_ratio`` (module doc)."""
    ok = (forms.surveyor >= 0) & ~np.isnan(forms.satisfied)
    s, e, y = forms.surveyor[ok], forms.estate[ok], forms.satisfied[ok]
    n_estates = int(forms.estate.max(initial=-1)) + 1
    N = np.bincount(e, minlength=n_estates).astype(float)
    M1 = np.bincount(e, weights=y, minlength=n_estates)
    cell = s.astype(np.int64) * n_estates + e
    size = n_surveyors * n_estates
    n1 = np.bincount(cell, minlength=size).astype(float).reshape(n_surveyors, n_estates)
    a = np.bincount(cell, weights=y, minlength=size).reshape(n_surveyors, n_estates)
    n2 = N[None, :] - n1
    m1, m2 = M1[None, :], (N - M1)[None, :]
    both = (n1 > 0) & (n2 > 0) & (N[None, :] > 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(both, n1 * m1 / N, 0.0)
        var = np.where(both, n1 * n2 * m1 * m2 / (N**2 * (N - 1)), 0.0)
        b, c = n1 - a, m1 - a
        d = n2 - c
        num = np.where(both, a * d / N, 0.0).sum(axis=1)
        den = np.where(both, b * c / N, 0.0).sum(axis=1)
        A = np.where(both, a, 0.0).sum(axis=1)
        E, V = expected.sum(axis=1), var.sum(axis=1)
        stat = (np.maximum(np.abs(A - E) - 0.5, 0.0)) ** 2 / V
        z = (A - E) / np.sqrt(V)
        odds = num / den
    p = np.where(V > 0, chi2.sf(stat, 1), np.nan)
    return pd.DataFrame(
        {
            "cmh_a": A,
            "cmh_e": E,
            "cmh_z": np.where(V > 0, z, np.nan),
            "cmh_p": p,
            "odds_ratio": np.where(V > 0, odds, np.nan),
        }
    )


def surveyor_effect_stepdown(
    forms: SurveyorForms, n_surveyors: int, *, alpha: float, eligible: np.ndarray
) -> pd.DataFrame:
    """:func:`surveyor_effect` stepping down (module doc): ``cmh_a, cmh_e, cmh_z, cmh_p,
    odds_ratio, q_value, effect_flag``; a flagged surveyor keeps the figures of the pass
    that flagged him, the others those of the last pass."""
    active = np.ones(len(forms.surveyor), dtype=bool)
    flagged = np.zeros(n_surveyors, dtype=bool)
    final: pd.DataFrame | None = None
    for _ in range(n_surveyors):
        part = SurveyorForms(
            surveyor=np.where(active, forms.surveyor, -1),
            estate=forms.estate,
            satisfied=forms.satisfied,
            codes=forms.codes,
            scale_sizes=forms.scale_sizes,
            pattern=forms.pattern,
            duration_z=forms.duration_z,
            flagged=forms.flagged,
        )
        table = surveyor_effect(part, n_surveyors)
        table["q_value"] = bh_qvalues(np.where(eligible & ~flagged, table["cmh_p"], np.nan))
        if final is None:
            final = table.copy()
        final.loc[~flagged] = table.loc[~flagged]
        candidates = np.flatnonzero((table["q_value"] < alpha).to_numpy() & ~flagged)
        if not len(candidates):
            break
        worst = candidates[np.argmin(table["cmh_p"].to_numpy()[candidates])]
        flagged[worst] = True
        active &= forms.surveyor != worst
    assert final is not None
    final["effect_flag"] = flagged
    return final


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg (1995) adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if not len(ok):
        return q
    order = ok[np.argsort(p[ok])]
    m = len(order)
    ranked = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return q


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def duplicate_excess(forms: SurveyorForms, n_surveyors: int) -> pd.DataFrame:
    """Per surveyor: ``dup_observed, dup_expected`` and the indicator ``duplicates`` (module
    doc: within-estate permutation null, exact expectation)."""
    has = forms.surveyor >= 0
    s, e, pat = forms.surveyor[has], forms.estate[has], forms.pattern[has]
    N = np.bincount(e)[e].astype(float)
    c = group_sizes(e, pat).astype(float)
    n = group_sizes(s, e).astype(float)
    own = group_sizes(s, e, pat)
    observed = (own >= 2).astype(float)
    # P(none of the other c − 1 copies among the surveyor's other n − 1 forms)
    log_none = _log_comb(N - c, n - 1) - _log_comb(N - 1, n - 1)
    none = np.where(N - c >= n - 1, np.exp(log_none), 0.0)
    prob = np.clip(1.0 - none, 0.0, 1.0)
    obs = np.bincount(s, weights=observed, minlength=n_surveyors)
    E = np.bincount(s, weights=prob, minlength=n_surveyors)
    V = np.bincount(s, weights=prob * (1 - prob), minlength=n_surveyors)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(V > 0, (obs - E) / np.sqrt(V), 0.0)
    return pd.DataFrame({"dup_observed": obs, "dup_expected": E, "duplicates": z})


def response_styles(forms: SurveyorForms, n_surveyors: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per surveyor, net of the estates (backfitting, module doc): ``fast`` (duration z),
    ``nondifferentiation``, ``extreme_share``, ``middle_share``, ``nonresponse_share``,
    ``flagged_share``; and the standard errors of these effects (same columns)."""
    codes = forms.codes.astype(float)
    answered = codes > 0
    k = answered.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(answered, codes, np.nan)
        sd = (
            np.nanstd(values, axis=1)
            if codes.shape[1] and answered.any()
            else np.full(len(codes), np.nan)
        )
        sizes = forms.scale_sizes[None, :]
        ends = (answered & ((codes == 1) | (codes == sizes))).sum(axis=1) / k
        middle = (sizes % 2 == 1) & (codes == (sizes + 1) / 2)
        middle_share = (answered & middle).sum(axis=1) / k
    per_form = pd.DataFrame(
        {
            "fast": forms.duration_z,
            "nondifferentiation": sd,
            "extreme_share": ends,
            "middle_share": middle_share,
            "nonresponse_share": 1.0 - k / max(codes.shape[1], 1),
            "flagged_share": forms.flagged.astype(float),
        }
    )
    has = forms.surveyor >= 0
    fits = {
        name: backfit(
            per_form[name].to_numpy(dtype=float)[has],
            forms.surveyor[has],
            forms.estate[has],
            n_surveyors,
        )
        for name in per_form.columns
    }
    effects = pd.DataFrame({name: fit[0] for name, fit in fits.items()})
    return effects, pd.DataFrame({name: fit[1] for name, fit in fits.items()})


def backfit(
    y: np.ndarray, surveyor: np.ndarray, estate: np.ndarray, n_surveyors: int, rounds: int = 25
) -> tuple[np.ndarray, np.ndarray]:
    """Surveyor effects of ``y = estate effect + surveyor effect + noise`` by backfitting
    (alternating group means; Hastie & Tibshirani 1990), NaN values left out, and their
    standard errors (the residual standard deviation of the surveyor's values ÷ √n, n − 1
    in the variance); a surveyor without values gets NaN (and NaN with one value)."""
    ok = ~np.isnan(y)
    y, s, e = y[ok], surveyor[ok], estate[ok]
    n_e = int(estate.max(initial=-1)) + 1
    ns = np.bincount(s, minlength=n_surveyors).astype(float)
    ne = np.bincount(e, minlength=n_e).astype(float)
    s_eff = np.zeros(n_surveyors)
    e_eff = np.zeros(n_e)
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(rounds):
            e_eff = np.nan_to_num(np.bincount(e, weights=y - s_eff[s], minlength=n_e) / ne)
            s_eff = np.bincount(s, weights=y - e_eff[e], minlength=n_surveyors) / ns
        resid = y - e_eff[e] - np.nan_to_num(s_eff)[s]
        var = np.bincount(s, weights=resid**2, minlength=n_surveyors) / (ns - 1)
        se = np.sqrt(var / ns)
    return np.where(ns > 0, s_eff, np.nan), np.where(ns > 1, se, np.nan)


def robust_z(values: pd.Series, se: pd.Series | None = None) -> pd.Series:
    """``(x − median) / √(τ² + se²)`` across surveyors with ``τ² = max(0, (1.4826 · MAD)² −
    median(se²))`` (module doc); without ``se``, ``(x − median) / (1.4826 · MAD)`` (the
    standard deviation when the MAD is zero; 0 when both are)."""
    x = values.astype(float)
    median = x.median()
    mad = 1.4826 * (x - median).abs().median()
    if se is not None:
        se2 = se.astype(float).reindex(x.index) ** 2
        tau2 = max(0.0, mad**2 - float(se2.median())) if se2.notna().any() else mad**2
        scale = np.sqrt(tau2 + se2.fillna(se2.median()))
        ok = scale > 0
        return ((x - median) / scale.where(ok)).fillna(0.0)
    scale = mad if mad > 0 else x.std()
    if not scale or np.isnan(scale):
        return pd.Series(0.0, index=x.index)
    return (x - median) / scale


def fabrication_score(
    indicators: pd.DataFrame, eligible: np.ndarray, se: pd.DataFrame | None = None
) -> pd.Series:
    """Root mean square of the indicators' robust z across the ``eligible`` surveyors, each
    counted in its suspicious direction (:data:`INDICATORS`); NaN for the others. ``se``:
    the standard errors of the indicators it has (the others count as z statistics, se 1;
    without ``se``, the plain robust z)."""
    parts = []
    for name, direction in INDICATORS.items():
        noise = None
        if se is not None:
            noise = se[name] if name in se.columns else pd.Series(1.0, index=indicators.index)
            noise = noise.loc[eligible]
        z = robust_z(indicators.loc[eligible, name], noise).reindex(indicators.index)
        if direction == "up":
            z = z.clip(lower=0)
        elif direction == "down":
            z = (-z).clip(lower=0)
        else:
            z = z.abs()
        parts.append(z.fillna(0.0))
    squares = np.square(np.column_stack(parts))
    score = np.sqrt(squares.mean(axis=1))
    return pd.Series(np.where(eligible, score, np.nan), index=indicators.index)
