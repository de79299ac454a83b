"""The reports' one style sheet: terms and number formats used by the PDF, the workbook, the
cards and the HTML notebooks.

* rates ``70.0%`` (one decimal), intervals ``85.2%（81.0%～88.9%）`` in full-width brackets;
* changes ``+2.3 个百分点（−1.0～+5.6）`` (true minus sign, ``～`` between the bounds);
* counts with thousands separators ``35,508``;
* quotes “…”, never 「…」; one word per concept (:data:`TERMS`: the 达标线, never 门槛).

Scalar helpers for templates and vectorised ``*_series`` helpers for tables. Missing values
(``None``/NaN) show as ``—``; nothing raises on them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

MISSING = "—"
DASH = "～"  # between an interval's bounds
MINUS = "−"  # U+2212, the sign of a negative change
PP = " 个百分点"

#: one word per concept, used by every output
TERMS = {
    "threshold": "达标线",
    "rate": "满意率",
    "index": "满意度指数",
    "response_rate": "应答率（RR1）",
    "completion_rate": "样本完成率",
    "composite": "综合得分",
    "red": "红榜",
    "black": "黑榜",
    "exit_warning": "退出预警",
}
#: wording from other stages restyled for display: 「」 quotes, the old word for the 达标线
_RESTYLE = str.maketrans({"「": "“", "」": "”"})


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def pct(value: Any, digits: int = 1) -> str:
    """``0.852`` → ``"85.2%"``; missing → ``"—"``."""
    if _is_missing(value):
        return MISSING
    return f"{float(value) * 100:.{digits}f}%"


def interval(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """``(0.852, 0.81, 0.889)`` → ``"85.2%（81.0%–88.9%）"``; no interval → just the rate."""
    if _is_missing(value):
        return MISSING
    if _is_missing(low) or _is_missing(high):
        return pct(value, digits)
    return f"{pct(value, digits)}（{pct(low, digits)}{DASH}{pct(high, digits)}）"


def number(value: Any, digits: int = 1) -> str:
    """A plain number with ``digits`` decimals (the 0–100 index): ``82.34`` → ``"82.3"``."""
    if _is_missing(value):
        return MISSING
    return f"{float(value):.{digits}f}"


def index_interval(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """The 0–100 index with its interval: ``"82.3（79.0–85.6）"``."""
    if _is_missing(value):
        return MISSING
    if _is_missing(low) or _is_missing(high):
        return number(value, digits)
    return f"{number(value, digits)}（{number(low, digits)}{DASH}{number(high, digits)}）"


def signed(value: Any, digits: int = 1) -> str:
    """A change in 百分点 without its unit: ``0.032`` → ``"+3.2"``, ``-0.01`` → ``"−1.0"``."""
    if _is_missing(value):
        return MISSING
    v = float(value) * 100
    if math.isclose(v, 0.0, abs_tol=0.5 * 10**-digits):
        return f"{0:.{digits}f}"
    return f"{v:+.{digits}f}".replace("-", MINUS)


def points(value: Any, digits: int = 1) -> str:
    """A difference of proportions in 百分点: ``0.032`` → ``"+3.2 个百分点"``."""
    if _is_missing(value):
        return MISSING
    return signed(value, digits) + PP


def points_interval(value: Any, low: Any, high: Any, digits: int = 1) -> str:
    """``(0.023, -0.01, 0.056)`` → ``"+2.3 个百分点（−1.0～+5.6）"``."""
    if _is_missing(value):
        return MISSING
    if _is_missing(low) or _is_missing(high):
        return points(value, digits)
    return f"{points(value, digits)}（{signed(low, digits)}{DASH}{signed(high, digits)}）"


def integer(value: Any) -> str:
    """An integer count with thousands separators (``35,508``); missing → ``"—"``."""
    if _is_missing(value):
        return MISSING
    return f"{round(float(value)):,}"


def quoted(text: Any) -> str:
    """``达标`` → ``“达标”``."""
    return f"“{text}”"


def restyle(text: Any) -> str:
    """Text from other stages in the reports' style: 「」 → “”, 门槛 → 达标线."""
    if _is_missing(text):
        return ""
    return str(text).translate(_RESTYLE).replace("门槛", TERMS["threshold"])


def pct_series(values: pd.Series, digits: int = 1) -> pd.Series:
    """Vectorised :func:`pct`."""
    num = pd.to_numeric(values, errors="coerce").astype(float)
    text = (num * 100).round(digits).map(lambda v: f"{v:.{digits}f}%", na_action="ignore")
    text = text.astype(object)
    return text.fillna(MISSING).astype(str)


def number_series(values: pd.Series, digits: int = 1) -> pd.Series:
    """Vectorised :func:`number`."""
    num = pd.to_numeric(values, errors="coerce").astype(float)
    text = num.map(lambda v: f"{v:.{digits}f}", na_action="ignore").astype(object)
    return text.fillna(MISSING).astype(str)


def points_series(values: pd.Series, digits: int = 1) -> pd.Series:
    """Vectorised :func:`points`."""
    num = pd.to_numeric(values, errors="coerce").astype(float)
    text = num.map(lambda v: points(v, digits), na_action="ignore").astype(object)
    return text.fillna(MISSING).astype(str)


def points_interval_series(
    values: pd.Series, low: pd.Series, high: pd.Series, digits: int = 1
) -> pd.Series:
    """Vectorised :func:`points_interval`."""
    out = [
        points_interval(v, lo, hi, digits)
        for v, lo, hi in zip(values.tolist(), low.tolist(), high.tolist(), strict=True)
    ]
    return pd.Series(out, index=values.index, dtype=str)


def integer_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`integer`."""
    num = pd.to_numeric(values, errors="coerce").astype(float)
    text = num.map(lambda v: f"{round(v):,}", na_action="ignore").astype(object)
    return text.fillna(MISSING).astype(str)


def restyle_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`restyle` (missing → ``""``)."""
    text = text_series(values)
    return text.str.translate(_RESTYLE).str.replace("门槛", TERMS["threshold"], regex=False)


def interval_series(
    values: pd.Series, low: pd.Series, high: pd.Series, digits: int = 1
) -> pd.Series:
    """Vectorised :func:`interval`."""
    p, lo, hi = (pct_series(s, digits) for s in (values, low, high))
    has_ci = (
        pd.to_numeric(low, errors="coerce").notna().to_numpy()
        & pd.to_numeric(high, errors="coerce").notna().to_numpy()
    )
    full = p + "（" + lo + DASH + hi + "）"
    out = np.where(has_ci & (p != MISSING).to_numpy(), full, p)
    return pd.Series(out, index=values.index, dtype=str)


def index_interval_series(
    values: pd.Series, low: pd.Series, high: pd.Series, digits: int = 1
) -> pd.Series:
    """Vectorised :func:`index_interval`."""
    p, lo, hi = (number_series(s, digits) for s in (values, low, high))
    has_ci = (
        pd.to_numeric(low, errors="coerce").notna().to_numpy()
        & pd.to_numeric(high, errors="coerce").notna().to_numpy()
    )
    full = p + "（" + lo + DASH + hi + "）"
    out = np.where(has_ci & (p != MISSING).to_numpy(), full, p)
    return pd.Series(out, index=values.index, dtype=str)


def text_series(values: pd.Series) -> pd.Series:
    """Strings for display: missing → ``""``."""
    return values.astype(object).where(values.notna(), "").astype(str)


def display_width(text: str) -> int:
    """Columns a string takes in a spreadsheet: East Asian wide/fullwidth characters count 2."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(text))
