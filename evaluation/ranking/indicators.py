"""District indicators of the 三年提升行动方案 (鄂葛管办发〔2024〕16号), against each year's target.

Targets as the plan states them (二、工作目标):

========================  ==========  ==========  ==========  ==================================
indicator                  2024        2025        2026        source text
========================  ==========  ==========  ==========  ==================================
红色物业创建率              30%         50%         70%         (一) 创建率达到30%/50%/70%
专业物业服务覆盖率          80%         80% *       100%        (三) 2024年80%，2026年100%
业委会组建率                35%         35% *       70%         (五) 2024年35%，2026年70%
业委会党员比例              ≥ 30%       ≥ 30% *     ≥ 50%       (五) 超30%；一般不低于50%
规上物业企业数（≥1000万元）  2 家        2 家 *      ≥ 5 家      (四) 2024年2家，2026年5家以上
========================  ==========  ==========  ==========  ==================================

\\* The plan sets no 2025 figure for these; the 2024 target is **carried** (a target binds only
once the plan states it) and the note gives the straight-line path to 2026 for reference.
Years after 2026 keep the 2026 targets; years before 2024 have no target.

Rates count estates (小区个数) in the register passed in: pass the full 台账 (quarterly
rounds cover only 还建社区). The party share is the unweighted mean of
``committee_party_share`` over estates whose 业委会 is formed (values > 1 are read as
percentages). Firms with revenue ≥ 1000 万元 are counted once per firm (its largest
reported ``firm_revenue``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PLAN = "鄂葛管办发〔2024〕16号"
LARGE_FIRM_REVENUE = 1000.0  # 万元
#: indicator → (label, column, targets by year, unit)
TARGETS: dict[str, tuple[str, str, dict[int, float], str]] = {
    "red_property_rate": (
        "红色物业创建率",
        "red_property",
        {2024: 0.30, 2025: 0.50, 2026: 0.70},
        "比例",
    ),
    "professional_rate": ("专业物业服务覆盖率", "professional", {2024: 0.80, 2026: 1.00}, "比例"),
    "committee_rate": ("业委会组建率", "committee", {2024: 0.35, 2026: 0.70}, "比例"),
    "committee_party_share": (
        "业委会党员比例",
        "committee_party_share",
        {2024: 0.30, 2026: 0.50},
        "比例",
    ),
    "large_firms": ("规上物业企业数（年营收≥1000万元）", "firm_revenue", {2024: 2, 2026: 5}, "家"),
}
COLUMNS = (
    "indicator",
    "label",
    "column",
    "year",
    "value",
    "target",
    "met",
    "numerator",
    "denominator",
    "unit",
    "note",
)


def target_for(targets: dict[int, float], year: int) -> tuple[float, str]:
    """The target binding in ``year`` and a note on how it was chosen (carry rule above)."""
    years = sorted(targets)
    if year in targets:
        return float(targets[year]), f"{year}年目标（{PLAN}）"
    if year < years[0]:
        return float("nan"), f"行动方案自{years[0]}年起设目标，{year}年无目标"
    if year > years[-1]:
        return float(targets[years[-1]]), f"沿用{years[-1]}年目标"
    before = max(y for y in years if y < year)
    after = min(y for y in years if y > year)
    path = targets[before] + (targets[after] - targets[before]) * (year - before) / (after - before)
    shown = f"{path:.1%}" if targets[after] <= 1 else f"{path:.1f}"
    return float(targets[before]), (
        f"方案未规定{year}年目标，沿用{before}年目标（按线性进度应为 {shown}）"
    )


def _bool(s: pd.Series) -> pd.Series:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.fillna(False).astype(bool)
    text = s.astype("string").str.strip().str.lower()
    return text.isin(["是", "有", "已", "已成立", "y", "yes", "true", "1", "√", "✓"]).fillna(False)


def district_indicators(register: pd.DataFrame, year: int) -> pd.DataFrame:
    """Each action-plan indicator whose column is in the 台账: value, target, met, note.

    Returns one row per indicator (columns :data:`COLUMNS`); ``met`` is a nullable boolean
    (NA when there is no target or no data). Indicators whose column is absent are left out.
    """
    rows = []
    n = len(register)
    for key, (label, column, targets, unit) in TARGETS.items():
        if column not in register.columns:
            continue
        target, note = target_for(targets, int(year))
        if key == "committee_party_share":
            formed = (
                _bool(register["committee"])
                if "committee" in register.columns
                else pd.Series(True, index=register.index)
            )
            share = pd.to_numeric(register[column], errors="coerce")
            share = share.where(share <= 1, share / 100.0)
            vals = share[formed & share.notna()]
            num, den = float(vals.sum()), len(vals)
            value = float(vals.mean()) if den else float("nan")
            note += "；按已成立业委会的小区取平均（未加权）"
            if int(year) <= 2024:
                note += "；方案原文为「超30%」"
        elif key == "large_firms":
            revenue = pd.to_numeric(register[column], errors="coerce")
            per_firm = revenue.groupby(register["firm"].astype(str)).max()
            value = float((per_firm >= LARGE_FIRM_REVENUE).sum())
            num, den = value, int(per_firm.notna().sum())
            note += "；按企业计数，年营收取该企业在台账中的最大值（万元）"
        else:
            flags = _bool(register[column])
            num, den = float(flags.sum()), n
            value = num / den if den else float("nan")
            note += "；按小区个数计"
            if key == "committee_rate":
                note += "（方案 2026 年口径为符合条件的小区，台账未区分时按全部小区）"
        met = pd.NA if np.isnan(target) or np.isnan(value) else bool(value >= target - 1e-12)
        rows.append(
            {
                "indicator": key,
                "label": label,
                "column": column,
                "year": int(year),
                "value": value,
                "target": target,
                "met": met,
                "numerator": num,
                "denominator": den,
                "unit": unit,
                "note": note,
            }
        )
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out["met"] = out["met"].astype("boolean")
    return out
