"""Change since the previous round: independent-samples difference and significance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.ranking.change import compare_firms, compare_rounds, firm_rates

CUR = pd.DataFrame(
    {
        "estate_id": ["a", "b", "c", "d"],
        "firm": ["F", "F", "G", "G"],
        "households": [100, 300, 200, 200],
        "rate": [0.90, 0.70, 0.80, 0.60],
        "rate_se": [0.03, 0.04, 0.05, 0.0],
        "index": [80.0, 70, 75, 60],
        "index_se": [1.0, 1.5, 2.0, 1.0],
    }
)
PREV = pd.DataFrame(
    {
        "estate_id": ["a", "b", "c", "x"],
        "rate": [0.80, 0.69, 0.70, 0.5],
        "rate_low": [0.74, 0.61, 0.60, 0.4],
        "rate_high": [0.86, 0.77, 0.80, 0.6],
        "index": [78.0, 70, 70, 50],
        "index_se": [1.0, 1.5, 2.0, 1.0],
    }
)


def test_difference_se_and_interval():
    out = compare_rounds(CUR, PREV, confidence=0.95).set_index("estate_id")
    z = stats.norm.ppf(0.975)
    se_prev_a = (0.86 - 0.74) / (2 * z)
    assert out.loc["a", "change"] == pytest.approx(0.10)
    assert out.loc["a", "change_se"] == pytest.approx(np.hypot(0.03, se_prev_a))
    assert out.loc["a", "change_low"] == pytest.approx(0.10 - z * np.hypot(0.03, se_prev_a))
    assert out.loc["a", "significant"] and out.loc["a", "direction"] == "上升"
    assert not out.loc["b", "significant"] and out.loc["b", "direction"] == "持平"
    assert out.loc["d", "direction"] == "无可比数据" and np.isnan(out.loc["d", "change"])
    assert out.loc["c", "index_change"] == pytest.approx(5.0)
    assert "x" not in out.index


def test_confidence_changes_width():
    w90 = compare_rounds(CUR, PREV, confidence=0.90).change_se
    w99 = compare_rounds(CUR, PREV, confidence=0.99)
    w90_full = compare_rounds(CUR, PREV, confidence=0.90)
    assert (
        ((w99.change_high - w99.change_low) > (w90_full.change_high - w90_full.change_low))
        .iloc[:3]
        .all()
    )
    assert w90.notna().sum() == 3


def test_firm_rates_household_weighted():
    f = firm_rates(CUR).set_index("firm")
    assert f.loc["F", "rate"] == pytest.approx((100 * 0.9 + 300 * 0.7) / 400)
    assert f.loc["F", "rate_se"] == pytest.approx(
        np.sqrt(100**2 * 0.03**2 + 300**2 * 0.04**2) / 400
    )


def test_firm_change_uses_common_estates():
    out = compare_firms(CUR, PREV).set_index("firm")
    # G: only c is in both rounds
    assert out.loc["G", "change"] == pytest.approx(0.10)
    assert out.loc["F", "rate_prev"] == pytest.approx((100 * 0.8 + 300 * 0.69) / 400)
