"""Estates on the 红黑榜: eligibility, composite, ranks with their uncertainty, and the lists
with their evidence and reasons (the decision procedure of :mod:`evaluation.ranking.lists`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation.ranking.composite import composite_parts
from evaluation.ranking.listing import (
    BLACK,
    P_TOP_MIN,
    RED,
    join_texts,
    min_rank,
    num,
    pct,
    rank_text,
    top_met,
    verdict_text,
)
from evaluation.ranking.rules import VERDICT_POINTS, Rules, credit_grade
from evaluation.ranking.uncertainty import (
    DRAWS,
    Bounds,
    Design,
    at_most_from_bottom,
    composite_draws,
    rank_chances,
    rank_intervals,
    simultaneous_bounds,
)
from evaluation.scoring.nonresponse import sensitive


@dataclass(frozen=True)
class Context:
    """The round's settings the ranking uses: confidence, interval method, seed (draws)."""

    confidence: float = 0.95
    method: str = "beta"
    seed: int = 0


@dataclass
class Uncertain:
    """The estates' joint composite bounds and composite draws (rows of the estates
    table), which the firm ranking aggregates."""

    bounds: Bounds
    draws: np.ndarray
    top_chances: dict[int, np.ndarray]


@dataclass
class Evidence:
    """Per estate: who is ranked, and whose own survey result may list it."""

    scored: pd.Series
    small_n: pd.Series
    low_rr: pd.Series
    nonprob: pd.Series
    eligible: pd.Series
    sensitive: pd.Series
    record: pd.Series

    @property
    def blocked(self) -> pd.Series:
        """Eligible, but the survey result may list it on no list (module doc)."""
        return self.sensitive | self.record


def _evidence(est: pd.DataFrame, rules: Rules) -> Evidence:
    el = rules.eligibility
    idx = est.index
    scored = est["verdict"].isin(list(VERDICT_POINTS)) & est["composite"].notna()
    small_n = est["n"].fillna(0) < el.min_n
    low_rr = est["response_rate"].notna() & (est["response_rate"] < el.min_response_rate)
    nonprob = (
        est["nonprobability"].astype(bool)
        if "nonprobability" in est and not rules.allow_nonprobability
        else pd.Series(False, index=idx)
    )
    delta = est["nr_delta"] if "nr_delta" in est else pd.Series(np.nan, index=idx)
    flip = pd.Series(sensitive(est["verdict"], delta, el.nr_odds_ratio), index=idx)
    record = (
        est["record_problem"].astype(str).ne("")
        if "record_problem" in est
        else pd.Series(False, index=idx)
    )
    return Evidence(
        scored=scored,
        small_n=small_n,
        low_rr=low_rr,
        nonprob=nonprob,
        eligible=scored & ~small_n & ~low_rr & ~nonprob,
        sensitive=flip,
        record=record,
    )


def top_cuts(top_k: int, top_share: float, n: int) -> list[tuple[str, int]]:
    """The rank cuts a red rule uses: ``("top_k", k)`` and ``("top_share", ceil(share·n))``."""
    cuts = []
    if top_k > 0:
        cuts.append(("top_k", int(top_k)))
    if top_share > 0:
        cuts.append(("top_share", math.ceil(top_share * n - 1e-9)))
    return cuts


def _cut_size(cuts: list[tuple[str, int]], mode: str) -> int:
    """The size of the top zone the cuts define together (0: none)."""
    sizes = [k for _, k in cuts]
    if not sizes:
        return 0
    return max(sizes) if mode == "either" else min(sizes)


def _uncertainty(
    est: pd.DataFrame, parts, eligible: pd.Series, rules: Rules, ctx: Context
) -> Uncertain:
    """Rank intervals, p_top and p_bottom of the eligible estates (into ``est``)."""
    design = Design.of(est, ctx.confidence)
    bounds = simultaneous_bounds(design, parts, confidence=ctx.confidence, method=ctx.method)
    draws = composite_draws(design, parts, seed=ctx.seed, draws=DRAWS, confidence=ctx.confidence)
    el = eligible.to_numpy(dtype=bool)
    low, high = np.full(len(est), np.nan), np.full(len(est), np.nan)
    if el.any():
        low[el], high[el] = rank_intervals(bounds.low[el], bounds.high[el])
    est["rank_low"] = pd.array(np.where(el, low, np.nan), dtype="Float64").astype("Int64")
    est["rank_high"] = pd.array(np.where(el, high, np.nan), dtype="Float64").astype("Int64")
    n_el = int(el.sum())
    cuts = top_cuts(rules.red.top_k, rules.red.top_share, n_el)
    top = _cut_size(cuts, rules.red.mode)
    bottom = rules.black.bottom_k or top
    p_top, p_bottom = rank_chances(draws, el, top, bottom)
    est["p_top"] = p_top if top else np.nan
    est["p_bottom"] = p_bottom if bottom else np.nan
    chances = {k: p_top if k == top else rank_chances(draws, el, k, 0)[0] for _, k in cuts}
    return Uncertain(bounds=bounds, draws=draws, top_chances=chances)


@dataclass
class Lists:
    """The list criteria per estate (bool Series) and the numbers their reasons quote."""

    red: pd.Series
    red_tested: pd.Series
    red_rank_short: pd.Series
    black_verdict: pd.Series
    black_untested: pd.Series
    black_bottom: pd.Series
    black_credit: pd.Series
    tops: list[tuple[str, int, pd.Series]]
    chances: dict[int, np.ndarray]
    from_bottom: pd.Series


def _lists(est: pd.DataFrame, ev: Evidence, rules: Rules, uncertain: Uncertain) -> Lists:
    """Each list criterion with its evidence (module doc of :mod:`evaluation.ranking.lists`)."""
    idx = est.index
    eligible = ev.eligible
    listable = eligible & ~ev.blocked
    rank = est["rank"].astype(float)
    r, b = rules.red, rules.black
    n_el = int(eligible.sum())
    chances = uncertain.top_chances
    tops = [
        (label, k, top_met(rank, k, chances[k]))
        for label, k in top_cuts(r.top_k, r.top_share, n_el)
    ]
    if tops:
        pick = np.logical_or if r.mode == "either" else np.logical_and
        top = pd.Series(pick.reduce([t.to_numpy() for _, _, t in tops]), index=idx)
        points = [(rank <= k).fillna(False).to_numpy() for _, k, _ in tops]
        point_top = pd.Series(pick.reduce(points), index=idx)
    else:
        top = point_top = pd.Series(True, index=idx)
    red_tested = listable & est["verdict"].isin(list(r.verdicts)) & (est["q_value_red"] <= r.fdr)
    red = red_tested & top
    in_black = eligible & est["verdict"].isin(list(b.verdicts))
    tested = est["q_value"] <= b.fdr
    among = eligible & est["verdict"].isin(list(b.bottom_among))
    black_bottom = pd.Series(False, index=idx)
    from_bottom = pd.Series(np.nan, index=idx)
    if b.bottom_k > 0 and among.any():
        from_bottom = min_rank(est, rules.tie_break, among, from_bottom=True).astype(float)
        m = among.to_numpy(dtype=bool)
        worst = np.full(len(est), np.inf)
        worst[m] = at_most_from_bottom(uncertain.bounds.low[m], uncertain.bounds.high[m])
        sure = pd.Series(worst <= b.bottom_k, index=idx)
        black_bottom = among & ~ev.blocked & (from_bottom <= b.bottom_k).fillna(False) & sure
    grade = est["credit_grade"]
    black_verdict = in_black & tested & ~ev.blocked
    black_credit = eligible & grade.isin(list(b.credit_grades))
    black = black_verdict | black_bottom | black_credit
    return Lists(
        red=red & ~black,
        red_tested=red_tested,
        red_rank_short=red_tested & point_top & ~top & ~black,
        black_verdict=black_verdict,
        black_untested=in_black & ~tested & ~ev.blocked,
        black_bottom=black_bottom,
        black_credit=black_credit,
        tops=tops,
        chances=chances,
        from_bottom=from_bottom,
    )


def rank_estates(frame: pd.DataFrame, rules: Rules, ctx: Context) -> tuple[pd.DataFrame, Uncertain]:
    """Composite, eligibility, ranks with intervals and chances, lists, reasons, criteria."""
    comps, parts = composite_parts(frame, rules)
    est = pd.concat([frame, comps], axis=1)
    est["credit_grade"] = (
        credit_grade(est["credit_score"], rules.credit_bands)
        if "credit_score" in est
        else pd.Series("", index=est.index)
    )
    ev = _evidence(est, rules)
    est["eligible"] = ev.eligible
    est["rank"] = min_rank(est, rules.tie_break, ev.eligible)
    uncertain = _uncertainty(est, parts, ev.eligible, rules, ctx)
    lists = _lists(est, ev, rules, uncertain)
    black = lists.black_verdict | lists.black_bottom | lists.black_credit
    est["list"] = np.where(black, BLACK, np.where(lists.red, RED, ""))
    est["reasons"] = _reasons(est, ev, lists, rules)
    est["criteria"] = _criteria(est, ev, lists)
    return est, uncertain


def _q_text(q: pd.Series) -> np.ndarray:
    return num(q, "%.3f").astype(object)


def _reasons(est: pd.DataFrame, ev: Evidence, lists: Lists, rules: Rules) -> pd.Series:
    """Plain-Chinese reasons with the numbers, in the order of the decision procedure."""
    r, b = rules.red, rules.black
    n_el = int(ev.eligible.sum())
    family = int(est["q_value"].notna().sum())
    ranked = rank_text(est, n_el)
    together = f"全区 {family} 个小区同时检验、错误发现率控制在 "
    black_pass = (
        together + f"{b.fdr:.0%} 时，仍可认定低于达标线（q = " + _q_text(est["q_value"]) + "）"
    )
    black_fail = (
        "但"
        + together
        + f"{b.fdr:.0%} 时，证据不足以排除抽样偶然（q = "
        + _q_text(est["q_value"])
        + f" > {b.fdr:g}），不上黑榜"
    )
    red_pass = (
        together + f"{r.fdr:.0%} 时，仍可认定高于达标线（q = " + _q_text(est["q_value_red"]) + "）"
    )
    joiner = "或" if r.mode == "either" else "且"
    zone = joiner.join(f"前 {k} 名" for _, k, _ in lists.tops)
    odds = pd.Series("", index=est.index, dtype=object)
    for i, (_, k, _) in enumerate(lists.tops):
        odds = odds + ("、" if i else "") + f"进入前 {k} 名的概率 " + pct(lists.chances[k], 0)
    red_rank = ranked + "，名次在入选线（" + zone + "）之内，" + odds + _likely_text()
    short = (
        ranked
        + "，名次虽在"
        + zone
        + "之内，但"
        + odds
        + f"，不足 {P_TOP_MIN:.0%}，名次领先在抽样误差之内，不按名次上红榜"
    )
    bottom_text = (
        "在"
        + "/".join(b.bottom_among)
        + "小区中综合得分倒数第 "
        + pd.Series(lists.from_bottom).astype("Int64").astype(str)
        + "（"
        + num(est["composite"]).astype(object)
        + f" 分），名次区间确认其在倒数 {b.bottom_k} 名之内"
    )
    credit_text = (
        "信用等级 "
        + est["credit_grade"]
        + "（信用积分 "
        + (num(est["credit_score"]).astype(object) if "credit_score" in est else "")
        + "）"
    )
    blocked = ev.eligible & est["verdict"].isin(["达标", "未达标"])
    reasons = join_texts(
        [
            np.where(est["list"] == RED, "红榜：", np.where(est["list"] == BLACK, "黑榜：", "")),
            verdict_text(est),
            np.where(lists.black_verdict, black_pass, ""),
            np.where(lists.black_untested, black_fail, ""),
            np.where(lists.red_tested, red_pass, ""),
            np.where(lists.red, red_rank, ""),
            np.where(lists.red_rank_short, short, ""),
            np.where(lists.black_bottom, bottom_text, ""),
            np.where(lists.black_credit, credit_text, ""),
            np.where(ev.eligible & ~lists.red & ~lists.red_rank_short, ranked, ""),
            np.where(blocked & ev.sensitive, _sensitivity_text(est), ""),
            np.where(blocked & ev.record, _record_text(est), ""),
            np.where(~ev.eligible, _why_not(est, ev, rules), ""),
        ],
        est.index,
    )
    return reasons.str.replace("：；", "：", regex=False)


def _likely_text() -> str:
    return f"，不低于 {P_TOP_MIN:.0%}"


def _sensitivity_text(est: pd.DataFrame) -> pd.Series:
    """``若满意与不满意住户的应答意愿相差 2.1 倍即可改变判定（应答率 62.0%）…``"""
    delta = (
        pd.to_numeric(est["nr_delta"], errors="coerce").abs()
        if "nr_delta" in est
        else pd.Series(np.nan, index=est.index)
    )
    return (
        "若满意与不满意住户的应答意愿（几率）相差 "
        + num(np.exp(delta.clip(upper=50)), "%.1f").astype(object)
        + " 倍即可改变判定（应答率 "
        + pct(est["response_rate"]).astype(object)
        + "），结果对未应答敏感，不按本小区测评结果上榜"
    )


def _record_text(est: pd.DataFrame) -> pd.Series:
    where = est["record_problem"].astype(str) if "record_problem" in est else ""
    return "抽样记录与答卷不符（" + where + "），不按本小区测评结果上榜"


def _why_not(est: pd.DataFrame, ev: Evidence, rules: Rules) -> pd.Series:
    el = rules.eligibility
    return join_texts(
        [
            np.where(~ev.scored, "未评分（无有效样本），不参与排名", ""),
            np.where(
                ev.scored & ev.small_n,
                "样本量 " + num(est["n"], "%.0f").astype(object) + f" < {el.min_n}，不参与排名",
                "",
            ),
            np.where(
                ev.scored & ev.low_rr,
                "应答率（AAPOR RR1）"
                + pct(est["response_rate"]).astype(object)
                + f" < {el.min_response_rate:.0%}，不参与排名",
                "",
            ),
            np.where(
                ev.scored & ev.nonprob,
                "无抽样记录，属非概率样本，不参与排名、不上榜（如为外部抽样，"
                "在 round.toml 的 [sampling] design 写明抽样设计）",
                "",
            ),
        ],
        est.index,
    )


def _criteria(est: pd.DataFrame, ev: Evidence, lists: Lists) -> pd.Series:
    """Codes of the criteria met (and of what kept an estate off a list)."""
    red = lists.red
    return join_texts(
        [
            *[np.where(red & met, label, "") for label, _, met in lists.tops],
            np.where(red & (len(lists.tops) == 0), "verdict", ""),
            np.where(lists.black_verdict, "verdict", ""),
            np.where(lists.black_bottom, "bottom_k", ""),
            np.where(lists.black_credit, "credit_grade", ""),
            np.where(lists.black_untested, "not_significant", ""),
            np.where(lists.red_rank_short, "rank_uncertain", ""),
            np.where(ev.eligible & ev.sensitive, "nr_sensitive", ""),
            np.where(ev.eligible & ev.record, "record_problem", ""),
            np.where(ev.scored & ev.nonprob, "nonprobability", ""),
            np.where(~ev.eligible, "ineligible", ""),
        ],
        est.index,
        sep=",",
    )
