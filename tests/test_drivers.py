"""Key drivers (logistic regression) and the importance–performance table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evaluation.drivers import importance_performance, key_drivers


def _answers(n=1500, seed=3):
    """Overall dissatisfaction driven strongly by D0, weakly by D1, not by D2."""
    rng = np.random.default_rng(seed)
    dis = rng.random((n, 3)) < np.array([0.3, 0.2, 0.25])
    logit = -2.5 + 3.0 * dis[:, 0] + 0.7 * dis[:, 1] + 0.0 * dis[:, 2]
    overall_dis = rng.random(n) < 1 / (1 + np.exp(-logit))
    sat = np.column_stack([~dis, ~overall_dis]).astype(float)
    sat[rng.random((n, 4)) < 0.02] = np.nan
    return pd.DataFrame({
        "response_id": np.repeat([f"r{i}" for i in range(n)], 4),
        "estate_id": "E1", "firm": np.repeat(np.where(np.arange(n) % 2, "甲", "乙"), 4),
        "item_id": np.tile(["S1", "S2", "S3", "S9"], n),
        "dimension": np.tile(["D0", "D1", "D2", "总体评价"], n),
        "satisfied": sat.ravel(), "points": 50.0})


def test_key_drivers_ranks_the_true_driver_first():
    out = key_drivers(_answers()).set_index("dimension")
    assert out.loc["D0", "rank"] == 1
    assert out.loc["D0", "coef"] > out.loc["D1", "coef"] > 0
    assert out.loc["D0", "p_value"] < 1e-6
    assert out.importance.sum() == 1.0 or np.isclose(out.importance.sum(), 1.0)
    assert (out.imputed > 0).any()


def test_key_drivers_by_firm_and_small_groups():
    out = key_drivers(_answers(), by="firm")
    assert set(out.firm) == {"甲", "乙"}
    small = key_drivers(_answers(n=20))
    assert small.coef.isna().all() and (small.note == "样本太少，未拟合").all()


def test_importance_performance_quadrants():
    items = pd.DataFrame({"item_id": ["S1", "S2", "S3", "S9"],
                          "dimension": ["D0", "D1", "D2", "总体评价"],
                          "is_overall": [False, False, False, True]})
    out = importance_performance(_answers(), items).set_index("dimension")
    assert set(out.quadrant) <= {"优势区", "改进区", "维持区", "机会区"}
    # D0 is the most important and the worst performing → 改进区
    assert out.loc["D0", "quadrant"] == "改进区"
    assert out.loc["D0", "performance"] < out.loc["D1", "performance"]


def test_by_firm_from_register():
    a = _answers().drop(columns=["firm"])
    a["estate_id"] = np.where(np.arange(len(a)) // 4 % 2, "E1", "E2")
    reg = pd.DataFrame({"estate_id": ["E1", "E2"], "firm": ["甲", "乙"]})
    out = importance_performance(a, by="firm", register=reg)
    assert set(out.firm) == {"甲", "乙"}
    import pytest

    from sampling.errors import WuyeError
    with pytest.raises(WuyeError, match="by"):
        key_drivers(a, by="firm")
