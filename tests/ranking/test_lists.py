"""红黑榜: composite, ranks and ties, eligibility, each list rule, reasons, firm roll-up."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evaluation.ranking.firms import firm_rollup
from evaluation.ranking.listing import min_rank
from evaluation.ranking.lists import rank_round
from evaluation.scoring.estimation import proportion_interval
from wuye_common.errors import WuyeError

Z = stats.norm.ppf(0.975)


def make(rows: list[dict], **register_extra: list) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Register + scores from compact rows: id, firm, households, rate, se, verdict, index,
    n, rr, census, threshold (the index interval from the same se, in points)."""
    ids = [r["id"] for r in rows]
    register = pd.DataFrame(
        {
            "estate_id": ids,
            "estate_name": [f"{i}小区" for i in ids],
            "community": "社区",
            "firm": [r.get("firm", "甲物业") for r in rows],
            "tier": "二级",
            "households": [r.get("households", 200) for r in rows],
            "threshold": [r.get("threshold", 0.80) for r in rows],
            **register_extra,
        }
    )
    scored = [r for r in rows if r.get("rate") is not None]
    rate = np.array([r["rate"] for r in scored], dtype=float)
    se = np.array([r.get("se", 0.03) for r in scored], dtype=float)
    index = np.array([r.get("index", 100 * p) for r, p in zip(scored, rate, strict=True)])
    scores = pd.DataFrame(
        {
            "estate_id": [r["id"] for r in scored],
            "rate": rate,
            "rate_se": se,
            "rate_low": [r.get("low", p - Z * s) for r, p, s in zip(scored, rate, se, strict=True)],
            "rate_high": [
                r.get("high", p + Z * s) for r, p, s in zip(scored, rate, se, strict=True)
            ],
            "index": index,
            "index_low": index - 100 * Z * se,
            "index_high": index + 100 * Z * se,
            "n": [r.get("n", 50) for r in scored],
            "response_rate": [r.get("rr", 1.0) for r in scored],
            "threshold": [r.get("threshold", 0.80) for r in scored],
            "tier": "二级",
            "verdict": [r["verdict"] for r in scored],
            "census": [r.get("census", False) for r in scored],
            "point_pass": True,
            "flags": "",
        }
    )
    return register, scores


def rnd(
    register: pd.DataFrame,
    rules: dict | None = None,
    round_id: str = "2025H1",
    period: str | None = None,
) -> SimpleNamespace:
    return SimpleNamespace(
        round_id=round_id,
        period=period or round_id,
        confidence=0.95,
        rules=rules or {},
        register=register,
    )


def by_id(frame: pd.DataFrame, key: str = "estate_id") -> pd.DataFrame:
    return frame.set_index(key)


ONLY_INDEX = {
    "weights": {"compliance": 0.0, "index": 1.0, "verdict": 0.0, "credit": 0.0, "complaints": 0.0}
}
TIGHT = 0.001
"""A standard error small enough that ranks 0.01 apart are certain (rank intervals of one)."""


def h(p: float, t: float) -> float:
    """Cohen's h, the composite's distance to the threshold."""
    return 2 * np.arcsin(np.sqrt(p)) - 2 * np.arcsin(np.sqrt(t))


def test_composite_matches_hand_computation() -> None:
    reg, sc = make(
        [{"id": "A", "rate": 0.9, "verdict": "达标", "index": 80}],
        complaints=[4],
        credit_score=[90.0],
    )
    reg["households"] = 200  # 4 complaints / 200 households = 2 per 100 → 80 points (cap 10)
    out = by_id(rank_round(rnd(reg, {"eligibility": {"min_n": 1}}), sc).estates)
    assert out.loc["A", "complaints_per_100"] == pytest.approx(2.0)
    compliance = 50 + 50 * h(0.9, 0.8)  # 64.19: 10 points above 80%
    assert out.loc["A", "composite"] == pytest.approx(0.8 * compliance + 0.1 * 90 + 0.1 * 80)
    # without the credit column its weight drops out and the rest is renormalised
    out = by_id(rank_round(rnd(reg.drop(columns="credit_score")), sc).estates)
    assert out.loc["A", "composite"] == pytest.approx((0.8 * compliance + 0.1 * 80) / 0.9)
    # the index and an optional inspection column, named in the rules
    reg2 = reg.assign(检查得分=[50.0])
    rules = {
        "weights": {
            "compliance": 0,
            "index": 1,
            "credit": 0,
            "complaints": 0,
            "inspection": 1,
            "inspection_column": "检查得分",
        }
    }
    out = by_id(rank_round(rnd(reg2, rules), sc).estates)
    assert out.loc["A", "composite"] == pytest.approx(65.0)


def test_equal_compliance_scores_alike_in_every_tier() -> None:
    """At its threshold an estate scores 50 whatever the tier; 5 points above scores more
    where the threshold is high (a rarer achievement on the arcsine scale)."""
    rows = [
        {"id": f"T{i}", "rate": t, "threshold": t, "verdict": "临界"}
        for i, t in enumerate([0.9, 0.8, 0.7, 0.6, 0.5])
    ]
    reg, sc = make(rows)
    only = {"weights": {"credit": 0, "complaints": 0}}
    out = by_id(rank_round(rnd(reg, only), sc).estates)
    assert out["composite"].tolist() == pytest.approx([50.0] * 5)
    assert out["rank"].nunique() == 1  # all tied
    above = [{**r, "rate": r["rate"] + 0.05} for r in rows]
    reg, sc = make(above)
    out = by_id(rank_round(rnd(reg, only), sc).estates)
    assert out["composite"].is_monotonic_decreasing
    assert out.loc["T0", "composite"] == pytest.approx(50 + 50 * h(0.95, 0.9))


def test_ties_share_a_rank_and_are_broken_by_the_tie_break_order() -> None:
    rows = [
        {"id": "A", "rate": 0.95, "verdict": "达标", "index": 90, "low": 0.90},
        {"id": "B", "rate": 0.95, "verdict": "达标", "index": 90, "low": 0.90},
        {"id": "C", "rate": 0.95, "verdict": "达标", "index": 90, "low": 0.92},
        {"id": "D", "rate": 0.85, "verdict": "达标", "index": 70, "low": 0.81},
    ]
    rows = [{**r, "se": TIGHT} for r in rows]
    reg, sc = make(rows)
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}), sc).estates
    )
    # equal composite → rate_low decides: C first, then A and B fully tied share rank 2
    assert out["rank"].tolist() == [2, 2, 1, 4]
    # C is first on the tie-break only: its rank interval (1–3) is not inside the top 1
    assert out.loc["C", "rank_low"] == 1 and out.loc["C", "rank_high"] == 3
    assert out["list"].eq("").all() and out.loc["C", "criteria"] == "rank_uncertain"
    # top 3: the interval 1–3 of A, B and C is inside → all three red, D (4–4) not
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 3, "top_share": 0}}), sc).estates
    )
    assert out.loc[["A", "B", "C"], "list"].eq("红榜").all() and out.loc["D", "list"] == ""
    assert out.loc["D", "rank_low"] == out.loc["D", "rank_high"] == 4
    # a different tie-break order: composite then n
    sc2 = sc.assign(n=[40, 60, 50, 50])
    out = by_id(rank_round(rnd(reg, {**ONLY_INDEX, "tie_break": ["composite", "n"]}), sc2).estates)
    assert out["rank"].tolist() == [3, 1, 2, 4]


def test_min_rank_directions_and_missing_keys() -> None:
    frame = pd.DataFrame(
        {"composite": [50.0, 70.0, 70.0, np.nan], "complaints_per_100": [1.0, 3.0, 2.0, 0.0]}
    )
    ranks = min_rank(frame, ["composite", "complaints_per_100"], pd.Series(True, index=frame.index))
    assert ranks.tolist() == [3, 2, 1, 4]
    masked = min_rank(frame, ["composite"], frame["composite"] < 60)
    assert masked.isna().tolist() == [False, True, True, True]


def test_ineligible_estates_are_not_ranked_or_listed_and_say_why() -> None:
    rows = [
        {"id": "A", "rate": 0.95, "verdict": "达标", "n": 50},
        {"id": "B", "rate": 0.40, "verdict": "未达标", "n": 12},  # too few answers
        {"id": "C", "rate": 0.97, "verdict": "达标", "rr": 0.3},  # response rate too low
        {"id": "D", "rate": None, "verdict": None},  # in the 台账, never scored
        {"id": "E", "rate": 0.5, "verdict": "未达标", "rr": np.nan},  # rr unknown: not checked
    ]
    reg, sc = make(rows)
    out = by_id(rank_round(rnd(reg), sc).estates)
    assert out["eligible"].tolist() == [True, False, False, False, True]
    assert out.loc[["B", "C", "D"], "rank"].isna().all()
    assert out.loc[["B", "C", "D"], "rank_low"].isna().all()
    assert out.loc[["B", "C", "D"], "list"].eq("").all()
    # the one eligibility minimum: the n scoring flags 样本量不足 below (30)
    assert "样本量 12 < 30，不参与排名" in out.loc["B", "reasons"]
    assert "应答率（AAPOR RR1）30.0% < 50%，不参与排名" in out.loc["C", "reasons"]
    assert "未评分" in out.loc["D", "reasons"] and np.isnan(out.loc["D", "composite"])
    assert out.loc["A", "rank"] == 1 and out.loc["E", "list"] == "黑榜"
    assert "仍可认定低于达标线（q = 0.000）" in out.loc["E", "reasons"]


def test_red_top_share_requires_the_verdict_its_test_and_the_rank() -> None:
    rates = [0.99, 0.97, 0.95, 0.93, 0.91, 0.89, 0.87, 0.85, 0.83, 0.82]
    rows = [
        {"id": f"E{i:02d}", "rate": r, "verdict": "达标" if i != 1 else "临界", "se": TIGHT}
        for i, r in enumerate(rates)
    ]
    rows.append({"id": "X", "rate": 0.999, "verdict": "达标", "n": 5})  # ineligible
    reg, sc = make(rows)
    out = by_id(rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_share": 0.2}}), sc).estates)
    # 10 eligible → top 20% = ranks 1–2; E01 is second but only 临界
    assert out.index[out["list"] == "红榜"].tolist() == ["E00"]
    reasons = out.loc["E00", "reasons"]
    assert reasons.startswith("红榜：满意率 99.0%（下限 ")
    assert "门槛 80%）达标" in reasons
    assert "仍可认定高于达标线（q = 0.000）" in reasons
    assert (
        "综合得分 99.0，第 1/10 名（95% 名次区间 1–1 名），名次在入选线（前 2 名）之内，"
        "进入前 2 名的概率 100%，不低于 50%"
    ) in reasons
    assert out.loc["E00", "criteria"] == "top_share"
    assert out.loc["E00", "p_top"] == pytest.approx(1.0)
    assert out.loc["E09", "p_top"] == pytest.approx(0.0) and out.loc["E09", "p_bottom"] == 1.0


def test_red_is_not_decided_by_noise() -> None:
    """Five 达标 estates whose composites differ by much less than their uncertainty: the
    first's rank is 1, but it is not more likely than not the first (p_top < 50%), so none
    is red by rank; its reason says so."""
    rows = [
        {"id": f"E{i}", "rate": 0.93 - 0.002 * i, "verdict": "达标", "se": 0.01} for i in range(5)
    ]
    reg, sc = make(rows)
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}), sc).estates
    )
    assert out["list"].eq("").all() and out.loc["E0", "criteria"] == "rank_uncertain"
    assert out.loc["E0", "rank"] == 1 and 0 < out.loc["E0", "p_top"] < 0.5
    assert out["p_top"].sum() == pytest.approx(1.0)
    assert (
        "名次虽在前 1 名之内，但进入前 1 名的概率 "
        + f"{out.loc['E0', 'p_top']:.0%}，不足 50%，名次领先在抽样误差之内，不按名次上红榜"
    ) in out.loc["E0", "reasons"]


def test_red_needs_a_likely_top_rank_black_a_certain_bottom_rank() -> None:
    """The lead's rule: a red rank criterion holds with the red test, the point rank inside
    the cut and p_top ≥ 50%, even when the rank interval reaches beyond the cut; the black
    bottom_k criterion still needs the whole rank interval inside its cut."""
    rows = [
        {"id": f"E{i}", "rate": 0.93 - 0.005 * i, "verdict": "达标", "se": 0.01} for i in range(5)
    ]
    reg, sc = make(rows)
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}), sc).estates
    )
    assert out.loc["E0", "rank_high"] > 1 and out.loc["E0", "p_top"] >= 0.5
    assert out.index[out["list"] == "红榜"].tolist() == ["E0"]
    assert out.loc["E0", "criteria"] == "top_k"
    black = {**ONLY_INDEX, "black": {"verdicts": [], "bottom_k": 1, "credit_grades": []}}
    reg, sc = make([{**r, "rate": 0.30 + 0.005 * i, "verdict": "临界"} for i, r in enumerate(rows)])
    out = by_id(rank_round(rnd(reg, black), sc).estates)
    assert out.loc["E0", "p_bottom"] >= 0.5 and out.loc["E0", "rank_low"] < 5
    assert out["list"].eq("").all()


def test_red_modes_either_and_both() -> None:
    rows = [
        {"id": f"E{i}", "rate": 0.99 - 0.01 * i, "verdict": "达标", "se": TIGHT} for i in range(10)
    ]
    reg, sc = make(rows)
    either = {**ONLY_INDEX, "red": {"top_k": 3, "top_share": 0.1, "mode": "either"}}
    both = {**ONLY_INDEX, "red": {"top_k": 3, "top_share": 0.1, "mode": "both"}}
    assert (rank_round(rnd(reg, either), sc).estates["list"] == "红榜").sum() == 3
    assert (rank_round(rnd(reg, both), sc).estates["list"] == "红榜").sum() == 1
    none = {**ONLY_INDEX, "red": {"top_k": 0, "top_share": 0}}  # verdict and its test decide
    out = rank_round(rnd(reg, none), sc).estates
    assert (out["list"] == "红榜").sum() == 10 and out["p_top"].isna().all()


def test_black_needs_its_q_value() -> None:
    """One estate 未达标 on its interval but only just (p ≈ 0.02) among twenty at their
    threshold and one far below: tested together (Benjamini–Hochberg, q = 21·p/2 ≈ 0.2) the
    evidence does not hold, so it is not listed; the one far below is."""
    rows = [
        {"id": f"Z{i:02d}", "rate": 0.80, "se": 0.036, "verdict": "临界", "n": 120}
        for i in range(19)
    ]
    rows.append({"id": "E", "rate": 0.72, "se": 0.036, "verdict": "未达标", "n": 120})
    rows.append({"id": "F", "rate": 0.5, "se": 0.04, "verdict": "未达标", "n": 120})
    reg, sc = make(rows)
    out = by_id(rank_round(rnd(reg), sc).estates)
    assert out.loc["F", "list"] == "黑榜"
    assert (out.drop(index="F")["list"] == "").all()
    e = out.loc["E"]
    assert e["p_value"] < 0.025 and e["q_value"] == pytest.approx(e["p_value"] * 21 / 2)
    assert e["q_value"] > 0.05
    assert (
        "但全区 21 个小区同时检验、错误发现率控制在 5% 时，证据不足以排除抽样偶然" in e["reasons"]
    )
    assert e["criteria"] == "not_significant"
    # a looser fdr lists it
    out = by_id(rank_round(rnd(reg, {"black": {"fdr": 0.5}}), sc).estates)
    assert out.loc["E", "list"] == "黑榜"


def test_black_by_verdict_bottom_k_and_credit_grade() -> None:
    rows = [
        {"id": "A", "rate": 0.98, "verdict": "达标"},
        {"id": "B", "rate": 0.82, "verdict": "临界"},
        {"id": "C", "rate": 0.78, "verdict": "临界"},
        {"id": "D", "rate": 0.60, "verdict": "未达标", "high": 0.68},
        {"id": "E", "rate": 0.90, "verdict": "达标"},
    ]
    rows = [{**r, "se": TIGHT} for r in rows]
    reg, sc = make(rows, credit_score=[58.0, 90.0, 90.0, 90.0, 90.0])
    base = {**ONLY_INDEX, "red": {"top_share": 0.0, "top_k": 1}}
    out = by_id(rank_round(rnd(reg, base), sc).estates)
    # A is first and 达标 but its firm's credit grade is C: black wins over red
    assert (
        out.loc["A", "list"] == "黑榜" and "信用等级 C（信用积分 58.0）" in out.loc["A", "reasons"]
    )
    assert out.loc["D", "list"] == "黑榜"
    assert "满意率 60.0%（上限 68.0%，门槛 80%）未达标" in out.loc["D", "reasons"]
    assert out.loc["A", "criteria"] == "credit_grade" and out.loc["D", "criteria"] == "verdict"
    assert "综合得分 60.0，第 5/5 名" in out.loc["D", "reasons"]  # position shown when black
    # ranks count every eligible estate: E is second, outside top_k = 1
    assert out.loc["E", "rank"] == 2 and out.loc["E", "list"] == ""
    # bottom k among 临界/未达标 only (verdict rule off, credit rule off)
    rules = {**base, "black": {"verdicts": [], "bottom_k": 2, "credit_grades": []}}
    out = by_id(rank_round(rnd(reg, rules), sc).estates)
    assert out.index[out["list"] == "黑榜"].tolist() == ["C", "D"]
    assert (
        "在临界/未达标小区中综合得分倒数第 1（60.0 分），名次区间确认其在倒数 2 名之内"
        in out.loc["D", "reasons"]
    )
    assert "倒数第 2" in out.loc["C", "reasons"] and out.loc["C", "criteria"] == "bottom_k"
    assert out.loc["A", "criteria"] == "top_k"
    assert out.loc["A", "list"] == "红榜"
    # with wide intervals the bottom two are not certain: nobody is black on rank alone
    wide = sc.assign(
        rate_se=0.05,
        index_low=sc["index"] - 100 * Z * 0.05,
        index_high=sc["index"] + 100 * Z * 0.05,
    )
    loose = by_id(rank_round(rnd(reg, rules), wide).estates)
    assert (loose["list"] != "黑榜").all()


def test_red_top_k_counts_rank_even_when_the_leader_is_black() -> None:
    """Documented behaviour: ranks are over all eligible estates; a black-listed leader
    keeps its rank, so top_k = 1 then gives no red estate."""
    reg, sc = make(
        [
            {"id": "A", "rate": 0.98, "verdict": "达标", "se": TIGHT},
            {"id": "B", "rate": 0.90, "verdict": "达标", "se": TIGHT},
        ],
        credit_score=[50.0, 95.0],
    )
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}), sc).estates
    )
    assert out["list"].tolist() == ["黑榜", ""]


def test_unlisted_estates_get_their_numbers_too() -> None:
    reg, sc = make(
        [
            {"id": "A", "rate": 0.921, "low": 0.883, "high": 0.95, "verdict": "达标", "se": TIGHT},
            {"id": "B", "rate": 0.85, "low": 0.78, "high": 0.91, "verdict": "临界", "se": TIGHT},
        ]
    )
    out = by_id(
        rank_round(rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}), sc).estates
    )
    assert out.loc["A", "reasons"] == (
        "红榜：满意率 92.1%（下限 88.3%，门槛 80%）达标；"
        "全区 2 个小区同时检验、错误发现率控制在 5% 时，仍可认定高于达标线（q = 0.000）；"
        "综合得分 92.1，第 1/2 名（95% 名次区间 1–1 名），名次在入选线（前 1 名）之内，"
        "进入前 1 名的概率 100%，不低于 50%"
    )
    assert out.loc["B", "reasons"] == (
        "满意率 85.0%（区间 78.0%–91.0%，门槛 80%）临界；"
        "综合得分 85.0，第 2/2 名（95% 名次区间 2–2 名）"
    )


def test_survey_evidence_that_cannot_hold_lists_nobody() -> None:
    """未达标 estates whose verdict a plausible non-response difference flips, whose record
    contradicts the answers, or that are a non-probability sample are not listed on it;
    a credit grade still lists them (register evidence)."""
    rows = [
        {"id": "S", "rate": 0.7, "verdict": "未达标", "high": 0.79, "rr": 0.6},
        {"id": "R", "rate": 0.5, "verdict": "未达标"},
        {"id": "N", "rate": 0.5, "verdict": "未达标"},
        {"id": "K", "rate": 0.5, "verdict": "未达标"},
    ]
    reg, sc = make(rows, credit_score=[90.0, 90.0, 90.0, 50.0])
    sc = sc.assign(
        nr_delta=[-0.1, np.nan, np.nan, np.nan],
        record_problem=["", "3栋：答卷 25 份 > 记录 20 户", "", ""],
        nonprobability=[False, False, True, False],
    )
    out = by_id(rank_round(rnd(reg), sc).estates)
    assert out.loc[["S", "R", "N"], "list"].eq("").all() and out.loc["K", "list"] == "黑榜"
    assert "相差 1.1 倍即可改变判定（应答率 60.0%），结果对未应答敏感" in out.loc["S", "reasons"]
    assert out.loc["S", "criteria"] == "nr_sensitive" and out.loc["S", "eligible"]
    assert "抽样记录与答卷不符（3栋：答卷 25 份 > 记录 20 户）" in out.loc["R", "reasons"]
    assert out.loc["R", "criteria"] == "record_problem"
    assert not out.loc["N", "eligible"] and "属非概率样本，不参与排名" in out.loc["N", "reasons"]
    assert out.loc["N", "criteria"] == "nonprobability,ineligible"
    allowed = by_id(rank_round(rnd(reg, {"allow_nonprobability": True}), sc).estates)
    assert allowed.loc["N", "eligible"] and allowed.loc["N", "list"] == "黑榜"
    # a narrower plausible band (odds within 1.05) no longer protects S
    strict = by_id(rank_round(rnd(reg, {"eligibility": {"nr_odds_ratio": 1.05}}), sc).estates)
    assert strict.loc["S", "list"] == "黑榜"


def test_bad_inputs_raise_before_anything() -> None:
    reg, sc = make([{"id": "A", "rate": 0.9, "verdict": "达标"}])
    extra = pd.concat([sc, sc.assign(estate_id="Z")], ignore_index=True)
    with pytest.raises(WuyeError, match="不在台账中：Z"):
        rank_round(rnd(reg), extra)
    with pytest.raises(WuyeError, match="没有物业企业"):
        rank_round(rnd(reg.assign(firm=[" "])), sc)
    with pytest.raises(WuyeError, match="评分结果缺少列"):
        rank_round(rnd(reg), sc.drop(columns=["rate_se"]))
    with pytest.raises(WuyeError, match="重复"):
        rank_round(rnd(reg), pd.concat([sc, sc]))
    with pytest.raises(WuyeError, match="还没有评分结果"):
        rank_round(rnd(reg), sc.iloc[0:0])
    with pytest.raises(WuyeError) as err:
        rank_round(rnd(reg, {"weights": {"index": -1}}), sc)
    assert err.value.problems[0].column == "rules.weights.index"


# ----------------------------------------------------------------------------- firms


def test_firm_rollup_matches_hand_computation() -> None:
    rows = [
        {"id": "A", "firm": "甲", "households": 100, "rate": 0.95, "se": 0.02, "verdict": "达标"},
        {"id": "B", "firm": "甲", "households": 300, "rate": 0.90, "se": 0.03, "verdict": "达标"},
        {"id": "C", "firm": "乙", "households": 200, "rate": 0.70, "se": 0.0, "census": True},
        {"id": "D", "firm": "乙", "households": 200, "rate": 0.50, "se": 0.05},
        {"id": "E", "firm": "乙", "households": 100, "rate": None, "verdict": None},  # unscored
    ]
    rows = [{"verdict": "未达标", **r} for r in rows]
    rows[0]["index"], rows[1]["index"] = 90, 80
    rows[0]["threshold"] = 0.9
    reg, sc = make(rows)
    firms = by_id(rank_round(rnd(reg, ONLY_INDEX), sc).firms, "firm")
    w = np.array([0.25, 0.75])
    p = w @ [0.95, 0.90]
    var = w**2 @ np.array([0.02, 0.03]) ** 2
    assert firms.loc["甲", "rate"] == pytest.approx(0.9125)
    assert firms.loc["甲", "rate"] == pytest.approx(p)
    assert firms.loc["甲", "rate_se"] == pytest.approx(np.sqrt(var))
    # the beta interval at the firm's effective n: 1 / Σ W²/n*, n* = p̂(1−p̂)/V per estate
    n_star = 1 / (0.25**2 / (0.95 * 0.05 / 0.02**2) + 0.75**2 / (0.9 * 0.1 / 0.03**2))
    assert firms.loc["甲", "n_eff"] == pytest.approx(n_star)
    lo, hi = proportion_interval(
        np.array([p]),
        np.array([var]),
        np.array([n_star]),
        np.array([98.0]),
        np.array([False]),
        np.array([1.0]),
    )
    assert firms.loc["甲", "rate_low"] == pytest.approx(lo[0])
    assert firms.loc["甲", "rate_high"] == pytest.approx(hi[0])
    assert firms.loc["甲", "threshold"] == pytest.approx(0.25 * 0.9 + 0.75 * 0.8)
    assert firms.loc["甲", "index"] == pytest.approx(82.5)
    assert firms.loc["甲", "verdict"] == "达标"
    # 乙: E is unscored → weights over C and D only; C is a census (no sampling variance)
    assert firms.loc["乙", "rate"] == pytest.approx(0.6)
    assert firms.loc["乙", "rate_se"] == pytest.approx(0.5 * 0.05)
    assert firms.loc["乙", "coverage"] == pytest.approx(400 / 500)
    assert firms.loc["乙", "estates"] == 3 and firms.loc["乙", "estates_scored"] == 2
    assert firms.loc["乙", "households"] == 500 and firms.loc["乙", "n"] == 100
    assert firms.loc["乙", "verdict"] == "未达标" and firms.loc["乙", "list"] == "黑榜"
    assert firms.loc["乙", "q_value"] < 0.05


def test_firm_rollup_edge_cases() -> None:
    """A census at p̂ = 1 knows its rate; a sample at p̂ = 1 does not (one-sided interval,
    never zero width); an estate at p̂ = 1 beside one with variance borrows the firm's rate
    for its own variance instead of counting 0."""
    frame = pd.DataFrame(
        {
            "firm": ["甲", "乙", "丙", "丁", "丁"],
            "households": [50.0, 80.0, 50.0, 2000.0, 200.0],
            "rate": [1.0, np.nan, 1.0, 1.0, 0.9],
            "rate_se": [0.0, np.nan, 0.0, 0.0, 0.03],
            "threshold": [0.8, 0.8, 0.8, 0.8, 0.8],
            "index": [100.0, np.nan, 100.0, 100.0, 90.0],
            "n": [50, 0, 50, 30, 60],
            "census": [True, False, False, False, False],
        }
    )
    out = by_id(firm_rollup(frame), "firm")
    assert out.loc["甲", "rate"] == 1.0 and out.loc["甲", "rate_low"] == 1.0  # census, p̂ = 1
    assert out.loc["甲", "rate_high"] == 1.0 and out.loc["甲", "verdict"] == "达标"
    assert np.isnan(out.loc["乙", "rate"]) and out.loc["乙", "verdict"] == ""
    assert out.loc["乙", "coverage"] == 0.0
    # 丙: Clopper–Pearson one-sided at n = 50: [(α/2)^(1/50), 1]
    assert out.loc["丙", "rate_low"] == pytest.approx(0.025 ** (1 / 50))
    assert out.loc["丙", "rate_high"] == 1.0
    # 丁: the big estate (p̂ = 1, n = 30) gets v = p̂_F(1 − p̂_F)/30, not 0
    w = np.array([2000, 200]) / 2200
    p = w @ [1.0, 0.9]
    var = w[0] ** 2 * p * (1 - p) / 30 + w[1] ** 2 * 0.03**2
    assert out.loc["丁", "rate_se"] == pytest.approx(np.sqrt(var))
    assert out.loc["丁", "rate_high"] - out.loc["丁", "rate_low"] > 0.05


def test_firm_lists_and_reasons() -> None:
    rows = [
        {"id": "A1", "firm": "甲", "households": 300, "rate": 0.97, "verdict": "达标"},
        {"id": "A2", "firm": "甲", "households": 300, "rate": 0.96, "verdict": "达标"},
        {"id": "B1", "firm": "乙", "households": 100, "rate": 0.99, "verdict": "达标"},
        {"id": "B2", "firm": "乙", "households": 100, "rate": 0.60, "verdict": "未达标"},
        {"id": "C1", "firm": "丙", "households": 100, "rate": 0.95, "verdict": "达标"},
        {"id": "D1", "firm": "丁", "households": 100, "rate": 0.99, "verdict": "达标", "n": 5},
    ]
    reg, sc = make([{**r, "se": TIGHT} for r in rows])
    rules = {**ONLY_INDEX, "firms": {"red_top_k": 2, "red_top_share": 0.0}}
    firms = by_id(rank_round(rnd(reg, rules), sc).firms, "firm")
    assert firms.loc["甲", "list"] == "红榜"
    assert "红榜：户数加权满意率 96.5%（下限 " in firms.loc["甲", "reasons"]
    assert "（2 个小区，600 户）" in firms.loc["甲", "reasons"]
    # 乙: one of two equal-size estates black on its tested verdict → 50% ≥ 0.5 → black
    assert firms.loc["乙", "list"] == "黑榜"
    assert "旗下因测评结果上黑榜的小区占参评户数 50.0%（≥ 50%）" in firms.loc["乙", "reasons"]
    assert firms.loc["乙", "criteria"] == "verdict,black_share"
    assert firms.loc["甲", "criteria"] == "top"
    assert firms.loc["丙", "list"] == "红榜"
    assert firms.loc["丁", "eligible"] == np.False_ and pd.isna(firms.loc["丁", "rank"])
    assert "参评小区 0 个 < 1，不参与排名" in firms.loc["丁", "reasons"]
    assert firms.loc["甲", "rank_high"] == 1 and firms.loc["丙", "rank_low"] == 2
    # a firm with a black estate cannot be red even when ranked in the top
    reg = reg.assign(households=np.where(reg["estate_id"] == "B1", 900, reg["households"]))
    rules = {**ONLY_INDEX, "firms": {"red_top_k": 3, "red_top_share": 0.0}}
    firms = by_id(rank_round(rnd(reg, rules), sc).firms, "firm")
    assert firms.loc["乙", "verdict"] == "达标" and firms.loc["乙", "rank"] == 2
    assert firms.loc["乙", "black_share"] == pytest.approx(0.1)
    assert firms.loc["乙", "list"] == ""
    assert "旗下有黑榜小区，不上红榜" in firms.loc["乙", "reasons"]


def test_black_estate_share_counts_only_estates_black_on_their_tested_verdict() -> None:
    """乙's one estate is black for its firm's credit grade only and 丙's is 未达标 without
    a passing q-value: neither firm is black through black_estate_share."""
    rows = [
        {"id": "B1", "firm": "乙", "rate": 0.95, "verdict": "达标"},
        {"id": "C1", "firm": "丙", "rate": 0.74, "se": 0.03, "verdict": "未达标", "high": 0.79},
        *[
            {"id": f"Z{i}", "firm": f"戊{i}", "rate": 0.78, "se": 0.04, "verdict": "临界"}
            for i in range(12)
        ],
    ]
    reg, sc = make(rows, credit_score=[50.0] + [90.0] * 13)
    firms = by_id(rank_round(rnd(reg), sc).firms, "firm")
    estates = by_id(rank_round(rnd(reg), sc).estates)
    assert estates.loc["B1", "list"] == "黑榜" and estates.loc["B1", "criteria"] == "credit_grade"
    assert estates.loc["C1", "list"] == "" and "not_significant" in estates.loc["C1", "criteria"]
    assert firms.loc["乙", "black_share"] == 0 and "black_share" not in firms.loc["乙", "criteria"]
    assert firms.loc["乙", "list"] == "黑榜" and firms.loc["乙", "criteria"] == "credit_grade"
    assert firms.loc["丙", "black_share"] == 0 and firms.loc["丙", "list"] == ""


def test_firm_black_by_weighted_verdict() -> None:
    reg, sc = make(
        [
            {"id": "A", "firm": "甲", "rate": 0.6, "se": 0.02, "verdict": "临界"},
            {"id": "B", "firm": "甲", "rate": 0.62, "se": 0.02, "verdict": "临界"},
        ]
    )
    firms = rank_round(rnd(reg, ONLY_INDEX), sc).firms
    assert firms.loc[0, "verdict"] == "未达标" and firms.loc[0, "list"] == "黑榜"
    assert "户数加权满意率 61.0%（上限 " in firms.loc[0, "reasons"]
    assert "1 家企业同时检验、错误发现率控制在 5% 时仍可认定低于达标线" in firms.loc[0, "reasons"]


# ----------------------------------------------------------------------------- escalation


def test_escalation_over_three_rounds_with_history_frame() -> None:
    periods = ["2025H1", "2025H2", "2026H1"]
    verdicts = {
        "A": ["未达标", "未达标", "达标"],
        "B": ["未达标", "达标", "未达标"],
        "C": ["达标", "达标", "达标"],
    }
    rates = {"未达标": 0.5, "达标": 0.95}
    history = None
    results = []
    for i, period in enumerate(periods):
        rows = [
            {
                "id": k,
                "firm": f"{k}物业",
                "rate": rates[v[i]] + (0.01 if k == "C" else 0),
                "verdict": v[i],
                "se": TIGHT,
            }
            for k, v in verdicts.items()
        ]
        reg, sc = make(rows)
        ranking = rank_round(
            rnd(reg, {**ONLY_INDEX, "red": {"top_k": 1, "top_share": 0}}, round_id=period),
            sc,
            history=history,
        )
        results.append(ranking)
        lists = ranking.estates.assign(level="estate", key=ranking.estates["estate_id"])
        firm_lists = ranking.firms.assign(level="firm", key=ranking.firms["firm"])
        now = pd.concat([lists, firm_lists])[["level", "key", "list"]].assign(
            round_id=period, period=period
        )
        history = now if history is None else pd.concat([history, now], ignore_index=True)
    esc = [by_id(r.escalations.query("level == 'estate'"), "key") for r in results]
    assert esc[0].loc["A", "black_consecutive"] == 1 and esc[0].loc["A", "flag"] == ""
    assert esc[1].loc["A", "black_consecutive"] == 2 and esc[1].loc["A", "flag"] == "退出预警"
    assert "连续 2 轮黑榜（≥ 2 轮触发退出预警）" in esc[1].loc["A", "note"]
    assert "A" not in esc[2].index  # not listed in round 3: no escalation row
    assert esc[2].loc["B", "black_consecutive"] == 1 and esc[2].loc["B", "black_total"] == 2
    assert esc[2].loc["C", "red_consecutive"] == 3 and esc[2].loc["C", "flag"] == "推荐表彰"
    firm_esc = by_id(results[1].escalations.query("level == 'firm'"), "key")
    assert firm_esc.loc["A物业", "flag"] == "退出预警"


def test_quarterly_rounds_do_not_break_or_join_half_year_streaks() -> None:
    reg, sc = make([{"id": "A", "rate": 0.5, "verdict": "未达标"}])
    history = pd.DataFrame(
        {
            "round_id": ["2025H1", "2025Q3"],
            "period": ["2025H1", "2025Q3"],
            "level": "estate",
            "key": "A",
            "list": ["黑榜", ""],
        }
    )
    esc = rank_round(rnd(reg, round_id="2025H2"), sc, history=history).escalations
    row = esc.query("level == 'estate'").iloc[0]
    assert row["black_consecutive"] == 2 and row["flag"] == "退出预警"
    esc = rank_round(rnd(reg, round_id="2025Q4"), sc, history=history).escalations
    assert esc.query("level == 'estate'").iloc[0]["black_consecutive"] == 1


def test_scores_sharing_register_columns_are_merged_cleanly() -> None:
    reg, sc = make([{"id": "A", "rate": 0.9, "verdict": "达标", "threshold": 0.8}])
    sc = sc.assign(households=999, firm="别的企业", threshold=0.85)  # scoring echoes some columns
    out = rank_round(rnd(reg, ONLY_INDEX), sc)
    assert out.firms["firm"].tolist() == ["甲物业"]  # the 台账 decides the firm
    assert out.firms["households"].tolist() == [200]
    assert out.firms["threshold"].tolist() == [pytest.approx(0.85)]  # scoring's threshold


def test_firm_register_checks_firms_and_supplies_credit_scores() -> None:
    reg, sc = make(
        [
            {"id": "A", "firm": "甲", "rate": 0.9, "verdict": "达标"},
            {"id": "B", "firm": "乙", "rate": 0.9, "verdict": "达标"},
        ]
    )
    with pytest.raises(WuyeError, match="不在企业名录中：乙"):
        rank_round(rnd(reg), sc, firms=pd.DataFrame({"物业企业": ["甲"]}))
    firms = pd.DataFrame({"物业企业": ["甲", "乙"], "信用积分": ["88", "55"]})
    out = by_id(rank_round(rnd(reg), sc, firms=firms).estates)
    assert out["credit_grade"].tolist() == ["AAA", "C"]
    assert out.loc["B", "list"] == "黑榜"


def with_clean(scores: pd.DataFrame, **changes: dict) -> pd.DataFrame:
    """``scores`` with the sensitivity columns (:data:`~evaluation.scoring.sensitivity.
    CLEAN_SOURCES`) equal to the scores, except ``changes``: estate → {source: value}."""
    from evaluation.scoring.sensitivity import CLEAN_SOURCES

    out = scores.copy()
    for source, clean in CLEAN_SOURCES.items():
        if source in out.columns:
            out[clean] = out[source]
    for estate, values in changes.items():
        row = out["estate_id"] == estate
        for source, value in values.items():
            out.loc[row, CLEAN_SOURCES.get(source, source)] = value
    return out


def test_list_clean_follows_the_list_rules_without_the_flagged_forms() -> None:
    """Twenty estates at their threshold and one (F) far below it. Without its flagged
    forms F would be 临界: its list without them is none, and the reasons say so; an
    estate whose clean scores equal its own keeps its list. The clean tests are computed
    from the clean design when the scores hold none (an earlier version's)."""
    from evaluation.ranking.lists import mark_list_sensitivity

    rows = [
        {"id": f"Z{i:02d}", "rate": 0.80, "se": 0.036, "verdict": "临界", "n": 120}
        for i in range(19)
    ]
    rows.append({"id": "G", "rate": 0.45, "se": 0.04, "verdict": "未达标", "n": 120})
    rows.append({"id": "F", "rate": 0.5, "se": 0.04, "verdict": "未达标", "n": 120})
    reg, sc = make(rows)
    lifted = {"rate": 0.78, "rate_low": 0.78 - Z * 0.036, "rate_high": 0.78 + Z * 0.036}
    lifted |= {"rate_se": 0.036, "index": 78.0, "verdict": "临界"}
    out = by_id(rank_round(rnd(reg), with_clean(sc, F=lifted)).estates)
    assert out.loc["F", "list"] == "黑榜" and out.loc["F", "list_clean"] == ""
    assert "质量敏感：剔除被标记的问卷后为「不上榜」" in out.loc["F", "reasons"]
    assert out.loc["G", "list"] == out.loc["G", "list_clean"] == "黑榜"
    assert "质量敏感" not in out.loc["G", "reasons"]
    gathered = sc.assign(flags="").merge(out.reset_index()[["estate_id", "list", "list_clean"]])
    flags = by_id(mark_list_sensitivity(gathered))["flags"]
    assert flags["F"] == "质量敏感" and flags["G"] == ""
    # the same verdict without the flagged forms, but its test no longer holds (the clean
    # q-value above the black fdr): no black list under the q-gated rule
    weak = {"q_value": 0.2, "p_value": 0.01}
    scored = rank_round(rnd(reg), sc).estates  # scores with their tests, as scoring gives
    tested = sc.merge(scored[["estate_id", "p_value", "q_value", "p_value_red", "q_value_red"]])
    out = by_id(rank_round(rnd(reg), with_clean(tested, F=weak)).estates)
    assert out.loc["F", "list"] == "黑榜" and out.loc["F", "list_clean"] == ""
    assert out.loc["G", "list_clean"] == "黑榜"
    # scores without any sensitivity columns: the list is its own clean list
    out = by_id(rank_round(rnd(reg), sc).estates)
    assert (out["list_clean"] == out["list"]).all()
