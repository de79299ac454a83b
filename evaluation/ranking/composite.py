"""The composite score that ranks estates, measured against each estate's own tier threshold.

Components (each 0–100) and the composite ``Σ w·s / Σ w`` over the components an estate
has (weights ``[rules.weights]``; a component missing for an estate drops out of its
weighted mean, so weights are renormalised per estate):

* ``compliance`` (default weight 0.8) — the satisfaction rate relative to the threshold on
  the variance-stabilising arcsine scale (Cohen 1988, *Statistical Power Analysis*, §6.2,
  the effect size h for proportions)::

      h = 2·arcsin √p̂ − 2·arcsin √T,      s = clip(50 + 50·h / compliance_scale, 0, 100)

  An estate exactly at its threshold scores 50 in every tier, in expectation too (E h ≈ 0),
  and because Var(2·arcsin √p̂) ≈ 1/n whatever p, equally compliant estates of equal
  sample size are spread alike in every tier: equal compliance gives equal expected rank
  (and equal chances of the top and the bottom) across tiers. With the default scale 1,
  h = ±1 (e.g. 92% against 50%, or 47% against 90%) scores 100 / 0;
* ``index`` (0 by default) — the satisfaction index (0–100). It is not relative to the
  tier (一级 estates score higher at equal compliance), so it is off unless a bureau wants it;
* ``verdict`` (0 by default) — 达标 100, 临界 50, 未达标 0;
* ``credit`` (0.1) — the firm's 信用积分 clipped to 0–100;
* ``complaints`` (0.1) — complaints per 100 households, 0 → 100 linearly to
  ``complaints_cap`` → 0;
* ``inspection`` (0) — the register column ``inspection_column``, clipped to 0–100.

:class:`Composite` splits the composite into the part fixed by the register (credit,
complaints, inspection) and the part that follows the survey (compliance, index,
verdict), so the rank uncertainty (:mod:`evaluation.ranking.uncertainty`) can evaluate it
at interval bounds and at thousands of drawn rates at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evaluation.ranking.rules import VERDICT_POINTS

if TYPE_CHECKING:
    from evaluation.ranking.rules import Rules


def compliance_score(rate: np.ndarray, threshold: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``clip(50 + 50·h/scale, 0, 100)`` with Cohen's ``h = 2 asin √p − 2 asin √T``
    (module doc); NaN where rate or threshold is missing. Broadcasts."""
    p = np.clip(np.asarray(rate, dtype=float), 0.0, 1.0)
    t = np.clip(np.asarray(threshold, dtype=float), 0.0, 1.0)
    h = np.arcsin(np.sqrt(p))
    h -= np.arcsin(np.sqrt(t))
    h *= 100.0 / scale  # 50·2·(asin √p − asin √T)/scale
    h += 50.0
    return np.clip(h, 0.0, 100.0, out=h)


def verdict_points_at(rate: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """The verdict component for a *true* rate: 100 above T, 0 below, 50 at T (the
    parameter the observed verdict estimates; used for bounds and draws)."""
    rate = np.asarray(rate, dtype=float)
    t = np.asarray(threshold, dtype=float)
    return np.where(rate > t, 100.0, np.where(rate < t, 0.0, 50.0))


@dataclass
class Composite:
    """A round's composite as ``(fixed + w_c·s_c(p) + w_v·s_v(p) + w_i·index) / den`` per
    estate (module doc). ``has_*`` mark the survey components an estate has; ``scored``
    the estates with a verdict (the others get no composite)."""

    fixed: np.ndarray
    den: np.ndarray
    threshold: np.ndarray
    w_compliance: np.ndarray
    w_verdict: np.ndarray
    w_index: np.ndarray
    scored: np.ndarray
    scale: float

    def at(self, rate: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
        """The composite with the survey part at ``rate`` (and ``index``), broadcasting over
        leading axes (e.g. draws × estates); the verdict part at its true-rate value."""
        rate = np.asarray(rate, dtype=float)
        num = self.fixed + self.w_compliance * np.nan_to_num(
            compliance_score(rate, self.threshold, self.scale)
        )
        if (self.w_verdict > 0).any():
            num = num + self.w_verdict * verdict_points_at(rate, self.threshold)
        if index is not None and (self.w_index > 0).any():
            num = num + self.w_index * np.nan_to_num(np.clip(index, 0, 100))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(self.den > 0, num / self.den, np.nan)
        return np.where(self.scored, out, np.nan)


def composite_parts(frame: pd.DataFrame, rules: Rules) -> tuple[pd.DataFrame, Composite]:
    """Component scores (0–100), the composite, ``complaints_per_100`` and ``margin_low``
    (the interval's lower bound minus the threshold: the tier-neutral tie-break) per
    estate, and the :class:`Composite` that evaluates it at other rates."""
    w = rules.weights
    nan = pd.Series(np.nan, index=frame.index)
    per100 = frame["complaints"] / frame["households"] * 100.0 if "complaints" in frame else nan
    threshold = pd.to_numeric(frame["threshold"], errors="coerce").astype(float)
    comps = pd.DataFrame(
        {
            "s_compliance": compliance_score(frame["rate"], threshold, w.compliance_scale),
            "s_index": frame["index"].clip(0, 100),
            "s_verdict": frame["verdict"].map(VERDICT_POINTS).astype(float),
            "s_credit": frame["credit_score"].clip(0, 100) if "credit_score" in frame else nan,
            "s_complaints": 100.0 * (1.0 - (per100 / w.complaints_cap).clip(0, 1)),
            "s_inspection": (
                pd.to_numeric(frame[w.inspection_column], errors="coerce").clip(0, 100)
                if w.inspection_column in frame
                else nan
            ),
        },
        index=frame.index,
    ).astype(float)
    weights = np.array(
        [w.compliance, w.index, w.verdict, w.credit, w.complaints, w.inspection], dtype=float
    )
    values = comps.to_numpy()
    have = ~np.isnan(values) & (weights > 0)
    used = np.where(have, weights, 0.0)
    den = used.sum(axis=1)
    scored = frame["verdict"].isin(list(VERDICT_POINTS)).to_numpy()
    parts = Composite(
        fixed=np.where(have[:, 3:], values[:, 3:] * weights[3:], 0.0).sum(axis=1),
        den=den,
        threshold=threshold.to_numpy(),
        w_compliance=used[:, 0],
        w_verdict=used[:, 2],
        w_index=used[:, 1],
        scored=scored,
        scale=w.compliance_scale,
    )
    num = np.where(have, values * weights, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(den > 0, num / den, np.nan)
    # an unscored estate has no composite, whatever the register says
    comps["composite"] = np.round(np.where(scored, composite, np.nan), 6)
    comps["complaints_per_100"] = per100.astype(float)
    comps["margin_low"] = pd.to_numeric(frame["rate_low"], errors="coerce") - threshold
    return comps, parts


def composite_score(frame: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Component scores, ``composite`` and ``complaints_per_100`` (:func:`composite_parts`)."""
    return composite_parts(frame, rules)[0]
