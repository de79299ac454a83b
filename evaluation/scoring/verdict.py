"""Verdict per estate against its tier threshold T, with the interval and the point reading.

* ``达标`` (pass) when the interval's lower bound ≥ T — the estate is above T with the
  stated confidence;
* ``未达标`` (fail) when the upper bound < T;
* ``临界`` (borderline) otherwise — the sample cannot tell;
* ``未评估`` when the estate has no valid answer on the overall item (no estimate).

``point_pass`` is the plain comparison the regulation reads, ``p̂ ≥ T``; both are shown.
``nr_delta`` (when the response rate is known) is the non-response sensitivity of
:mod:`evaluation.scoring.nonresponse`.

Flags (Chinese, ``；``-joined): ``样本量不足`` (n < ``min_n``, the eligibility minimum
ranking uses too), ``应答率偏低`` (AAPOR RR1 < ``min_response_rate``), ``普查`` (every
household surveyed: zero-width interval), ``无有效样本``, ``无门槛`` (no threshold for the
tier), ``非概率样本`` (no sampling record covers the estate and ``[sampling] design`` names
no external design: no finite-population correction, not listed), ``分层回退`` (no
sampling record, but the named external design: one stratum with N = 台账 户数),
``样本多于户数（…）`` (respondents outnumber a stratum's recorded households, located per
building: no finite-population correction there, never a census), ``分层合并`` (buildings
with a single respondent collapsed with their neighbours for the variance),
``应答偏差敏感`` (a decided verdict that a plausible difference between responders and
non-responders would flip).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.scoring.nonresponse import nr_delta, sensitive
from wuye_common.errors import Problem, WuyeError
from wuye_common.vocabulary import MIN_N, MIN_RESPONSE_RATE, NR_ODDS_RATIO

VERDICTS: tuple[str, ...] = ("达标", "临界", "未达标")
NOT_SCORED = "未评估"


@dataclass(frozen=True)
class Limits:
    """The eligibility minimum scoring's flags share with ranking's eligibility
    (``[rules.eligibility]``; defaults from :mod:`wuye_common.vocabulary`)."""

    min_n: int = MIN_N
    min_response_rate: float = MIN_RESPONSE_RATE
    nr_odds_ratio: float = NR_ODDS_RATIO


def verdicts(
    estimates: pd.DataFrame,
    *,
    thresholds: dict[str, float] | None = None,
    threshold: str = "threshold",
    estimate: str = "rate",
    low: str = "rate_low",
    high: str = "rate_high",
    limits: Limits | None = None,
) -> pd.DataFrame:
    """Add ``verdict``, ``point_pass``, ``nr_delta`` and ``flags`` to a copy of
    ``estimates``.

    The threshold comes from column ``threshold`` or, when ``thresholds`` (tier → T) is
    given, from the ``tier`` column. ``limits``: the eligibility minimum (:class:`Limits`,
    default the vocabulary's). Optional columns used for flags: ``n``,
    ``response_rate``, ``census``, ``fallback_strata``, ``nonprobability``,
    ``record_problem``, ``collapsed_strata``.
    """
    for col in (estimate, low, high):
        if col not in estimates.columns:
            raise WuyeError(Problem(f"估计结果缺少列「{col}」", "先运行 score_round", column=col))
    out = estimates.copy()
    if thresholds is not None:
        if "tier" not in out.columns:
            raise WuyeError(
                Problem("按等级给门槛时需要 tier 列", "在估计结果中加入服务等级", column="tier")
            )
        out[threshold] = out["tier"].map(thresholds).astype(float)
    if threshold not in out.columns:
        raise WuyeError(
            Problem(f"估计结果缺少门槛列「{threshold}」", "传入 thresholds", column=threshold)
        )
    t = pd.to_numeric(out[threshold], errors="coerce").to_numpy(dtype=float)
    p = out[estimate].to_numpy(dtype=float)
    lo = out[low].to_numpy(dtype=float)
    hi = out[high].to_numpy(dtype=float)
    scored = ~np.isnan(p) & ~np.isnan(t)
    verdict = np.where(lo >= t, "达标", np.where(hi < t, "未达标", "临界"))
    out["verdict"] = np.where(scored, verdict, NOT_SCORED)
    out["point_pass"] = scored & (p >= t)

    rr = (
        pd.to_numeric(out["response_rate"], errors="coerce").to_numpy(dtype=float)
        if "response_rate" in out.columns
        else np.full(len(out), np.nan)
    )
    out["nr_delta"] = nr_delta(out["verdict"].to_numpy(dtype=object), lo, hi, t, rr)
    out["flags"] = _flags(out, p, t, rr, limits or Limits())
    return out


def _flags(
    out: pd.DataFrame, p: np.ndarray, t: np.ndarray, rr: np.ndarray, limits: Limits
) -> np.ndarray:
    """The flags of the module docstring, ``；``-joined, in that order."""

    def col(name: str) -> np.ndarray:
        if name not in out.columns:
            return np.zeros(len(out), dtype=bool)
        return out[name].fillna(False).to_numpy(dtype=bool)

    n = out["n"].to_numpy(dtype=float) if "n" in out.columns else np.full(len(out), np.nan)
    nonprob = col("nonprobability")
    problem = (
        out["record_problem"].fillna("").astype(str).to_numpy(dtype=object)
        if "record_problem" in out.columns
        else np.full(len(out), "", dtype=object)
    )
    flags = [
        (np.isnan(p) | (n == 0), "无有效样本"),
        ((n > 0) & (n < limits.min_n), "样本量不足"),
        (rr < limits.min_response_rate, "应答率偏低"),
        (col("census") & (n > 0), "普查"),
        (np.isnan(t), "无门槛"),
        (nonprob, "非概率样本"),
        (col("fallback_strata") & ~nonprob, "分层回退"),
        (problem != "", "样本多于户数（" + problem + "）"),
        (col("collapsed_strata"), "分层合并"),
        (sensitive(out["verdict"], out["nr_delta"], limits.nr_odds_ratio), "应答偏差敏感"),
    ]
    text = np.full(len(out), "", dtype=object)
    for mask, label in flags:
        text = np.where(mask, np.where(text == "", label, text + "；" + label), text)
    return text.astype(str)
