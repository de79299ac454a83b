"""``[rules]`` parsing: defaults, every key, and clear errors naming the key."""

from __future__ import annotations

import tomllib

import numpy as np
import pandas as pd
import pytest

from evaluation.ranking.rules import Rules, credit_grade, parse_rules
from wuye_common.errors import WuyeError
from wuye_common.vocabulary import MIN_N, MIN_RESPONSE_RATE


def test_empty_rules_give_documented_defaults() -> None:
    rules = parse_rules({})
    assert rules == Rules()
    assert rules.weights.compliance == 0.8 and rules.weights.compliance_scale == 1.0
    assert rules.weights.index == 0.0 and rules.weights.verdict == 0.0
    assert rules.weights.credit == 0.1 and rules.weights.complaints == 0.1
    # the one eligibility minimum, shared with scoring's 样本量不足 / 应答率偏低 flags
    assert rules.eligibility.min_n == MIN_N == 30
    assert rules.eligibility.min_response_rate == MIN_RESPONSE_RATE == 0.5
    assert rules.eligibility.nr_odds_ratio == 8.0
    assert rules.red.verdicts == ("达标",) and rules.red.top_share == 0.10
    assert rules.red.fdr == rules.black.fdr == 0.05 and rules.allow_nonprobability is False
    assert rules.black.verdicts == ("未达标",) and rules.black.credit_grades == ("C",)
    assert rules.escalation_count == 2
    assert rules.tie_break == ("composite", "margin_low", "n")
    assert dict(rules.credit_bands) == {"AAA": 85, "AA": 80, "A": 70, "B": 60, "C": 0}
    assert parse_rules(None) == Rules()


def test_every_section_parses_from_toml() -> None:
    text = """
    tie_break = ["composite", "complaints_per_100"]
    escalation_count = 3
    allow_nonprobability = true
    commendation_count = 1
    [weights]
    index = 1
    verdict = 0
    inspection = 0.5
    inspection_column = "检查得分"
    complaints_cap = 5
    [eligibility]
    min_n = 10
    min_response_rate = 0.0
    nr_odds_ratio = 2
    [red]
    fdr = 0.1
    top_k = 2
    top_share = 0.0
    mode = "both"
    [black]
    verdicts = []
    fdr = 0.01
    bottom_k = 2
    bottom_among = ["未达标"]
    credit_grades = ["C", "B"]
    [credit_bands]
    A = 80
    B = 60
    C = 0
    [firms]
    min_estates = 2
    red_requires_no_black = false
    black_estate_share = 0.0
    """
    rules = parse_rules(tomllib.loads(text))
    assert rules.weights.index == 1.0 and rules.weights.verdict == 0.0
    assert rules.weights.inspection_column == "检查得分" and rules.weights.complaints_cap == 5
    assert rules.eligibility.min_n == 10 and rules.eligibility.nr_odds_ratio == 2.0
    assert rules.red.fdr == 0.1 and rules.black.fdr == 0.01 and rules.allow_nonprobability
    assert rules.red.top_k == 2 and rules.red.mode == "both"
    assert rules.black.verdicts == () and rules.black.bottom_k == 2
    assert rules.black.credit_grades == ("C", "B")
    assert rules.credit_bands == (("A", 80.0), ("B", 60.0), ("C", 0.0))
    assert rules.firms.min_estates == 2 and rules.firms.red_requires_no_black is False
    assert rules.tie_break == ("composite", "complaints_per_100")
    assert rules.escalation_count == 3 and rules.commendation_count == 1


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"weights": {"index": -0.1}}, "rules.weights.index"),
        ({"weights": {"credit": "high"}}, "rules.weights.credit"),
        (
            {"weights": {"compliance": 0, "index": 0, "verdict": 0, "credit": 0, "complaints": 0}},
            "rules.weights",
        ),
        ({"weights": {"complaints_cap": 0}}, "rules.weights.complaints_cap"),
        ({"weights": {"speed": 1}}, "rules.weights.speed"),
        ({"eligibility": {"min_n": 2.5}}, "rules.eligibility.min_n"),
        ({"eligibility": {"min_n": -1}}, "rules.eligibility.min_n"),
        ({"eligibility": {"min_response_rate": 1.5}}, "rules.eligibility.min_response_rate"),
        ({"eligibility": {"nr_odds_ratio": 0.5}}, "rules.eligibility.nr_odds_ratio"),
        ({"black": {"fdr": 0}}, "rules.black.fdr"),
        ({"red": {"fdr": 1.5}}, "rules.red.fdr"),
        ({"weights": {"compliance_scale": 0}}, "rules.weights.compliance_scale"),
        ({"allow_nonprobability": "yes"}, "rules.allow_nonprobability"),
        ({"red": {"top_share": 1.2}}, "rules.red.top_share"),
        ({"red": {"mode": "any"}}, "rules.red.mode"),
        ({"red": {"verdicts": ["优秀"]}}, "rules.red.verdicts"),
        ({"red": {"top_k": True}}, "rules.red.top_k"),
        ({"black": {"credit_grades": ["D"]}}, "rules.black.credit_grades"),
        ({"black": {"verdicts": "未达标 临界"}}, "rules.black.verdicts"),
        ({"black": 3}, "rules.black"),
        ({"tie_break": ["composite", "luck"]}, "rules.tie_break"),
        ({"escalation_count": 0}, "rules.escalation_count"),
        ({"credit_bands": {"AAA": -5}}, "rules.credit_bands.AAA"),
        ({"colour": "red"}, "rules.colour"),
    ],
)
def test_bad_rules_name_the_key(raw: dict, key: str) -> None:
    with pytest.raises(WuyeError) as err:
        parse_rules(raw, file="round.toml")
    columns = [p.column for p in err.value.problems]
    assert key in columns
    assert all(p.file == "round.toml" and p.fix for p in err.value.problems)


def test_all_problems_reported_together() -> None:
    with pytest.raises(WuyeError) as err:
        parse_rules({"weights": {"index": -1, "verdict": -2}, "escalation_count": "two"})
    assert len(err.value.problems) == 3
    assert "不能为负数" in str(err.value)


def test_string_is_accepted_for_a_single_verdict_list() -> None:
    assert parse_rules({"black": {"verdicts": "未达标"}}).black.verdicts == ("未达标",)


def test_credit_grades_use_yantai_bands() -> None:
    scores = pd.Series([100, 85, 84.99, 80, 79.9, 70, 69.9, 60, 59.99, 0, np.nan])
    grades = credit_grade(scores)
    assert grades.tolist() == ["AAA", "AAA", "AA", "AA", "A", "A", "B", "B", "C", "C", ""]
    custom = credit_grade(pd.Series([90, 50]), (("优", 80.0), ("差", 0.0)))
    assert custom.tolist() == ["优", "差"]
