"""Verdict per estate against its tier threshold T, with the interval and the point reading.

* ``达标`` (pass) when the interval's lower bound ≥ T — the estate is above T with the
  stated confidence;
* ``未达标`` (fail) when the upper bound < T;
* ``临界`` (borderline) otherwise — the sample cannot tell;
* ``未评估`` when the estate has no valid answer on the overall item (no estimate).

``point_pass`` is the plain comparison the regulation reads, ``p̂ ≥ T``; both are shown.
Flags (Chinese, ``；``-joined): ``样本量不足`` (n < ``min_n``), ``应答率偏低``
(response rate < ``min_response_rate``), ``普查`` (every household surveyed: zero-width
interval), ``无有效样本``, ``无门槛`` (no threshold for the tier), ``分层回退`` (the
sampling record did not cover the estate; one stratum with N = 台账 户数).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wuye_common.errors import Problem, WuyeError

VERDICTS: tuple[str, ...] = ("达标", "临界", "未达标")
NOT_SCORED = "未评估"


def verdicts(
    estimates: pd.DataFrame,
    *,
    thresholds: dict[str, float] | None = None,
    threshold: str = "threshold",
    estimate: str = "rate",
    low: str = "rate_low",
    high: str = "rate_high",
    min_n: int = 30,
    min_response_rate: float = 0.5,
) -> pd.DataFrame:
    """Add ``verdict``, ``point_pass`` and ``flags`` to a copy of ``estimates``.

    The threshold comes from column ``threshold`` or, when ``thresholds`` (tier → T) is
    given, from the ``tier`` column. Optional columns used for flags: ``n``,
    ``response_rate``, ``census``, ``fallback_strata``.
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

    flags = []
    n = out["n"].to_numpy(dtype=float) if "n" in out.columns else np.full(len(out), np.nan)
    flags.append((np.isnan(p) | (n == 0), "无有效样本"))
    flags.append(((n > 0) & (n < min_n), "样本量不足"))
    if "response_rate" in out.columns:
        rr = pd.to_numeric(out["response_rate"], errors="coerce").to_numpy(dtype=float)
        flags.append((rr < min_response_rate, "应答率偏低"))
    if "census" in out.columns:
        flags.append((out["census"].fillna(False).to_numpy(dtype=bool) & (n > 0), "普查"))
    flags.append((np.isnan(t), "无门槛"))
    if "fallback_strata" in out.columns:
        flags.append((out["fallback_strata"].fillna(False).to_numpy(dtype=bool), "分层回退"))
    text = np.full(len(out), "", dtype=object)
    for mask, label in flags:
        text = np.where(mask, np.where(text == "", label, text + "；" + label), text)
    out["flags"] = text.astype(str)
    return out
