"""Verdicts against the tier threshold: interval reading, point reading, flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.scoring.verdict import Limits, verdicts
from wuye_common.errors import WuyeError


def _frame():
    return pd.DataFrame(
        {
            "estate_id": ["a", "b", "c", "d", "e", "f"],
            "tier": ["一级", "一级", "二级", "二级", "三级", "三级"],
            "rate": [0.95, 0.91, 0.79, 0.70, np.nan, 0.70],
            "rate_low": [0.92, 0.85, 0.70, 0.60, np.nan, 0.70],
            "rate_high": [0.98, 0.95, 0.86, 0.79, np.nan, 0.70],
            "n": [60, 20, 50, 50, 0, 80],
            "response_rate": [0.9, 0.4, np.nan, 0.8, 0.0, 1.0],
            "census": [False, False, False, False, False, True],
        }
    )


def test_three_way_verdict_and_point_pass():
    out = verdicts(_frame(), thresholds={"一级": 0.9, "二级": 0.8, "三级": 0.7})
    assert out.verdict.tolist() == ["达标", "临界", "临界", "未达标", "未评估", "达标"]
    assert out.point_pass.tolist() == [True, True, False, False, False, True]


def test_lower_bound_equal_to_threshold_passes_upper_equal_is_borderline():
    f = pd.DataFrame(
        {
            "rate": [0.92, 0.85],
            "rate_low": [0.9, 0.8],
            "rate_high": [0.95, 0.9],
            "threshold": [0.9, 0.9],
        }
    )
    assert verdicts(f).verdict.tolist() == ["达标", "临界"]


def test_flags_in_chinese():
    out = verdicts(
        _frame(),
        thresholds={"一级": 0.9, "二级": 0.8, "三级": 0.7},
        limits=Limits(min_n=30, min_response_rate=0.5),
    )
    flags = out["flags"].tolist()
    assert flags[0] == "应答偏差敏感"  # L = 0.92 two points above T at RR 0.9 (next test)
    assert flags[1] == "样本量不足；应答率偏低"
    assert flags[2] == ""  # unknown response rate is not flagged
    assert "无有效样本" in flags[4]
    assert flags[5] == "普查"
    # f: a census answered by all (RR = 1) — no non-response can move it
    assert out.loc[5, "nr_delta"] == np.inf


def test_a_verdict_a_plausible_non_response_difference_flips_is_flagged():
    """a: 达标 with L = 0.92, T = 0.9 and RR = 0.9 flips at δ = logit 0.92 − logit 0.72
    (1.50: inside the default band log 8 = 2.08, outside log 3 = 1.10); d: 未达标 with
    U = 0.79, T = 0.8 and RR = 0.8 flips at δ = logit 0.79 − logit 0.84 (−0.34)."""
    thresholds = {"一级": 0.9, "二级": 0.8, "三级": 0.7}
    out = verdicts(_frame(), thresholds=thresholds)
    logit = lambda x: np.log(x / (1 - x))  # noqa: E731
    assert out.loc[0, "nr_delta"] == pytest.approx(logit(0.92) - logit((0.9 - 0.9 * 0.92) / 0.1))
    assert out.loc[3, "nr_delta"] == pytest.approx(logit(0.79) - logit((0.8 - 0.8 * 0.79) / 0.2))
    assert "应答偏差敏感" in out.loc[0, "flags"] and "应答偏差敏感" in out.loc[3, "flags"]
    three = verdicts(_frame(), thresholds=thresholds, limits=Limits(nr_odds_ratio=3))
    assert "应答偏差敏感" not in three.loc[0, "flags"] and "应答偏差敏感" in three.loc[3, "flags"]
    # a stricter plausible odds ratio (1.2: |δ| ≤ 0.18) no longer flags d
    strict = verdicts(_frame(), thresholds=thresholds, limits=Limits(nr_odds_ratio=1.2))
    assert "应答偏差敏感" not in strict.loc[3, "flags"]


def test_missing_threshold_is_flagged():
    out = verdicts(_frame(), thresholds={"一级": 0.9})
    assert out.loc[2, "verdict"] == "未评估"
    assert "无门槛" in out.loc[2, "flags"]


def test_missing_columns_raise():
    with pytest.raises(WuyeError, match="threshold"):
        verdicts(_frame())
    with pytest.raises(WuyeError, match="rate_low"):
        verdicts(pd.DataFrame({"rate": [0.5]}))
