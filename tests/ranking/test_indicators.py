"""Action-plan district indicators (鄂葛管办发〔2024〕16号) against each year's target."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.ranking.indicators import district_indicators, target_for


@pytest.fixture
def register() -> pd.DataFrame:
    # 10 estates: 6 红色物业, 9 专业物业, 4 业委会 (party shares 0.4, 0.6, 55%, 0.2)
    return pd.DataFrame(
        {
            "estate_id": [f"E{i}" for i in range(10)],
            "firm": ["甲", "甲", "乙", "乙", "丙", "丙", "丁", "丁", "戊", "己"],
            "red_property": [True] * 6 + [False] * 4,
            "professional": [True] * 9 + [False],
            "committee": [True] * 4 + [False] * 6,
            "committee_party_share": [
                0.4,
                0.6,
                55.0,
                0.2,
                0.9,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
                np.nan,
            ],
            "firm_revenue": [1500, 800, 1000, 1000, 999, np.nan, 2000, 2000, 5, np.nan],
        }
    )


def rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("indicator")


def test_values_and_targets_2024(register: pd.DataFrame) -> None:
    out = rows(district_indicators(register, 2024))
    assert out.loc["red_property_rate", "value"] == pytest.approx(0.6)
    assert out.loc["red_property_rate", "target"] == pytest.approx(0.30)
    assert out.loc["professional_rate", "value"] == pytest.approx(0.9)
    assert out.loc["professional_rate", "target"] == pytest.approx(0.80)
    assert out.loc["committee_rate", "value"] == pytest.approx(0.4)
    assert out.loc["committee_rate", "target"] == pytest.approx(0.35)
    # mean over formed committees only; 55 read as 55%; E4 has no committee → ignored
    assert out.loc["committee_party_share", "value"] == pytest.approx((0.4 + 0.6 + 0.55 + 0.2) / 4)
    assert out.loc["committee_party_share", "denominator"] == 4
    # firms counted once: 甲 (1500), 乙 (1000), 丁 (2000) ≥ 1000 万元; 丙 999 is not
    assert out.loc["large_firms", "value"] == 3 and out.loc["large_firms", "target"] == 2
    assert out["met"].tolist() == [True, True, True, True, True]
    assert out.loc["red_property_rate", "label"] == "红色物业创建率"


def test_targets_rise_by_2026(register: pd.DataFrame) -> None:
    out = rows(district_indicators(register, 2026))
    assert out["target"].tolist() == pytest.approx([0.70, 1.00, 0.70, 0.50, 5])
    assert out["met"].tolist() == [False, False, False, False, False]
    out = rows(district_indicators(register, 2025))
    assert out.loc["red_property_rate", "target"] == pytest.approx(0.50)
    assert bool(out.loc["red_property_rate", "met"])
    # no 2025 figure in the plan: the 2024 target is carried, the linear path noted
    assert out.loc["professional_rate", "target"] == pytest.approx(0.80)
    assert "沿用2024年目标" in out.loc["professional_rate", "note"]
    assert "90.0%" in out.loc["professional_rate", "note"]
    assert out.loc["large_firms", "target"] == 2


def test_years_outside_the_plan(register: pd.DataFrame) -> None:
    before = district_indicators(register, 2023)
    assert before["target"].isna().all() and before["met"].isna().all()
    after = rows(district_indicators(register, 2027))
    assert after.loc["red_property_rate", "target"] == pytest.approx(0.70)
    assert "沿用2026年目标" in after.loc["red_property_rate", "note"]
    assert target_for({2024: 0.35, 2026: 0.70}, 2025)[0] == pytest.approx(0.35)


def test_only_present_columns_and_text_flags() -> None:
    reg = pd.DataFrame({"firm": ["甲", "乙"], "red_property": ["是", "否"]})
    out = district_indicators(reg, 2024)
    assert out["indicator"].tolist() == ["red_property_rate"]
    assert out.loc[0, "value"] == pytest.approx(0.5) and bool(out.loc[0, "met"])
    assert district_indicators(pd.DataFrame({"firm": ["甲"]}), 2024).empty


def test_exact_target_is_met_and_empty_data_is_unknown() -> None:
    reg = pd.DataFrame(
        {
            "firm": list("abcdefghij"),
            "red_property": [True] * 3 + [False] * 7,
            "committee": False,
            "committee_party_share": np.nan,
        }
    )
    out = rows(district_indicators(reg, 2024))
    assert bool(out.loc["red_property_rate", "met"])  # 30% exactly
    assert pd.isna(out.loc["committee_party_share", "met"])  # no committee formed
