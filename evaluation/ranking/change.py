"""Change since the previous round, per estate and per firm, with intervals.

The two rounds are independent samples, so the difference ``d = p̂₁ − p̂₀`` has
``se(d) = sqrt(se₁² + se₀²)`` and the interval ``d ± z_{1−α/2}·se(d)`` (normal quantile:
each round's df is large and the Welch–Satterthwaite df would not change the reading at
these sizes). ``significant`` is ``True`` when the interval excludes 0 (two-sided test at
level 1 − confidence); ``direction`` is ``上升``/``下降`` when significant, else ``持平``.
When a round lacks ``rate_se`` it is recovered from its interval as
``(high − low)/(2 z)``. Census rounds have se = 0. The index (0–100) is compared the same
way when both rounds have it.

Firm roll-up: the household-weighted mean of its estates' rates, ``Σ N_e p̂_e / Σ N_e``
with ``V = Σ (N_e/ΣN)² se_e²`` (estates are independent strata), compared between rounds
over the estates scored in both (so a firm's change is not an artefact of a changed
portfolio).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.scoring.estimation import check_confidence
from wuye_common.errors import Problem, WuyeError


def _se(frame: pd.DataFrame, value: str, z: float) -> np.ndarray:
    if f"{value}_se" in frame.columns:
        return pd.to_numeric(frame[f"{value}_se"], errors="coerce").to_numpy(dtype=float)
    low, high = f"{value}_low", f"{value}_high"
    if low in frame.columns and high in frame.columns:
        lo = pd.to_numeric(frame[low], errors="coerce").to_numpy(dtype=float)
        hi = pd.to_numeric(frame[high], errors="coerce").to_numpy(dtype=float)
        return (hi - lo) / (2 * z)
    return np.full(len(frame), np.nan)


def _diff(
    cur: np.ndarray, prev: np.ndarray, se1: np.ndarray, se0: np.ndarray, z: float
) -> dict[str, np.ndarray]:
    d = cur - prev
    se = np.sqrt(se1**2 + se0**2)
    lo, hi = d - z * se, d + z * se
    sig = (lo > 0) | (hi < 0)
    direction = np.where(sig & (d > 0), "上升", np.where(sig & (d < 0), "下降", "持平"))
    direction = np.where(np.isnan(d), "无可比数据", direction)
    return {
        "change": d,
        "change_se": se,
        "change_low": lo,
        "change_high": hi,
        "significant": sig & ~np.isnan(d),
        "direction": direction,
    }


def compare_rounds(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    *,
    confidence: float = 0.95,
    key: str = "estate_id",
) -> pd.DataFrame:
    """Per estate: ``rate_prev, change, change_se, change_low, change_high, significant,
    direction`` (and ``index_*`` when both rounds have the index). Estates present in only
    one round get NaN and ``direction = 无可比数据``."""
    z = float(stats.norm.isf((1 - check_confidence(confidence)) / 2))
    for name, frame in (("current", current), ("previous", previous)):
        if key not in frame.columns or "rate" not in frame.columns:
            raise WuyeError(
                Problem(
                    f"参数 {name} 缺少 {key} 或 rate 列", "传入 score_round 的 estates", column=name
                )
            )
    cur = current.assign(**{key: current[key].astype(str)}).drop_duplicates(key)
    prev = previous.assign(**{key: previous[key].astype(str)}).drop_duplicates(key)
    prev = prev.set_index(key).reindex(cur[key])
    out = pd.DataFrame({key: cur[key].to_numpy()})
    for col in ("estate_name", "firm", "tier"):
        if col in cur.columns:
            out[col] = cur[col].to_numpy()
    for value in ("rate", "index"):
        if value not in cur.columns or value not in prev.columns:
            continue
        c = pd.to_numeric(cur[value], errors="coerce").to_numpy(dtype=float)
        p = pd.to_numeric(prev[value], errors="coerce").to_numpy(dtype=float)
        res = _diff(c, p, _se(cur, value, z), _se(prev.reset_index(), value, z), z)
        prefix = "" if value == "rate" else "index_"
        out[value] = c
        out[f"{value}_prev"] = p
        for k, v in res.items():
            out[f"{prefix}{k}"] = v
    return out


def firm_rates(estates: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Household-weighted firm rate with se and normal interval (see module docstring)."""
    z = float(stats.norm.isf((1 - check_confidence(confidence)) / 2))
    for col in ("firm", "rate", "households"):
        if col not in estates.columns:
            raise WuyeError(
                Problem(f"估计结果缺少列「{col}」", "合并台账后再计算企业汇总", column=col)
            )
    e = estates[estates["rate"].notna()]
    N = e["households"].to_numpy(dtype=float)
    se = _se(e, "rate", z)
    g = e.assign(_wp=N * e["rate"].to_numpy(dtype=float), _N=N, _v=N**2 * se**2)
    agg = g.groupby("firm", sort=True).agg(
        _wp=("_wp", "sum"), _N=("_N", "sum"), _v=("_v", "sum"), estates=("rate", "size")
    )
    rate = agg["_wp"] / agg["_N"]
    rse = np.sqrt(agg["_v"]) / agg["_N"]
    return pd.DataFrame(
        {
            "firm": agg.index,
            "rate": rate.to_numpy(),
            "rate_se": rse.to_numpy(),
            "rate_low": (rate - z * rse).clip(0, 1).to_numpy(),
            "rate_high": (rate + z * rse).clip(0, 1).to_numpy(),
            "estates": agg["estates"].to_numpy(),
        }
    )


def compare_firms(
    current: pd.DataFrame, previous: pd.DataFrame, *, confidence: float = 0.95
) -> pd.DataFrame:
    """Per firm change over the estates scored in both rounds (firm from ``current``)."""
    cur = current[current["rate"].notna()].assign(estate_id=lambda f: f["estate_id"].astype(str))
    prev = previous[previous["rate"].notna()].assign(estate_id=lambda f: f["estate_id"].astype(str))
    both = sorted(set(cur["estate_id"]) & set(prev["estate_id"]))
    cur = cur[cur["estate_id"].isin(both)]
    prev = prev.drop(columns=[c for c in ("firm", "households") if c in prev.columns])
    prev = prev.merge(cur[["estate_id", "firm", "households"]], on="estate_id")
    fc = firm_rates(cur, confidence=confidence)
    fp = firm_rates(prev, confidence=confidence).set_index("firm").reindex(fc["firm"])
    return compare_rounds(
        fc.rename(columns={"firm": "estate_id"}),
        fp.reset_index().rename(columns={"firm": "estate_id"}),
        confidence=confidence,
    ).rename(columns={"estate_id": "firm"})
