"""Firms on the 红黑榜: the household-weighted roll-up of each firm's estates, its interval,
verdict, rank and list with reasons."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.ranking.listing import BLACK, RED, join_texts, min_rank, num, pct, verdict_text
from evaluation.ranking.rules import Rules, credit_grade


def firm_rollup(frame: pd.DataFrame, *, confidence: float = 0.95) -> pd.DataFrame:
    """Household-weighted firm satisfaction rate with a normal-theory interval.

    Each firm's estates are treated as strata sampled independently (stratified estimator,
    Cochran 1977, *Sampling Techniques*, §5.3, eqs. 5.1 and 5.6; Lohr 2019, §3.2):
    ``W_e = N_e / Σ N_e`` over the firm's *scored* estates (``N_e`` = households),
    ``p̂_F = Σ W_e p̂_e``, ``Var(p̂_F) = Σ W_e² se_e²``, interval ``p̂_F ± z·se`` clipped to
    [0, 1]. The firm's threshold is the household-weighted mean of its estates' tier
    thresholds; ``coverage`` is the share of the firm's households in scored estates (the
    estimate speaks for those estates only). ``index`` and ``composite`` are weighted the
    same way. A census estate (se 0) contributes no variance.
    """
    scored = frame["rate"].notna() & frame["rate_se"].notna() & frame["households"].gt(0)
    g = frame.assign(
        _N=frame["households"].where(scored, 0.0),
        _all=frame["households"],
        _one=1,
        _scored=scored.astype(int),
        _n=frame["n"].where(scored, 0.0),
    )
    total = g.groupby("firm", sort=True)["_N"].transform("sum")
    w = (g["_N"] / total.where(total > 0)).fillna(0.0)
    g = g.assign(
        _wp=w * g["rate"].fillna(0.0),
        _wv=w**2 * g["rate_se"].fillna(0.0) ** 2,
        _wt=w * g["threshold"].fillna(0.0),
        _wi=w * g["index"].fillna(0.0),
        _wi_have=w * g["index"].notna(),
        _wc=w * g["composite"].fillna(0.0) if "composite" in g else 0.0,
        _wc_have=w * g["composite"].notna() if "composite" in g else 0.0,
    )
    agg = g.groupby("firm", sort=True).agg(
        estates=("_one", "sum"),
        estates_scored=("_scored", "sum"),
        households=("_all", "sum"),
        households_scored=("_N", "sum"),
        n=("_n", "sum"),
        rate=("_wp", "sum"),
        var=("_wv", "sum"),
        threshold=("_wt", "sum"),
        index=("_wi", "sum"),
        index_w=("_wi_have", "sum"),
        composite=("_wc", "sum"),
        composite_w=("_wc_have", "sum"),
    )
    none = agg["estates_scored"] == 0
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    out = pd.DataFrame(index=agg.index)
    out["estates"] = agg["estates"].astype("int64")
    out["estates_scored"] = agg["estates_scored"].astype("int64")
    out["households"] = agg["households"].astype("int64")
    out["coverage"] = agg["households_scored"] / agg["households"]
    out["n"] = agg["n"].astype("int64")
    out["rate"] = agg["rate"].mask(none)
    out["rate_se"] = np.sqrt(agg["var"]).mask(none)
    out["rate_low"] = (out["rate"] - z * out["rate_se"]).clip(0, 1)
    out["rate_high"] = (out["rate"] + z * out["rate_se"]).clip(0, 1)
    out["threshold"] = agg["threshold"].mask(none)
    out["index"] = (agg["index"] / agg["index_w"].where(agg["index_w"] > 0)).mask(none)
    out["composite"] = (agg["composite"] / agg["composite_w"].where(agg["composite_w"] > 0)).mask(
        none
    )
    out["verdict"] = np.select(
        [none, out["rate_low"] >= out["threshold"], out["rate_high"] < out["threshold"]],
        ["", "达标", "未达标"],
        default="临界",
    )
    return out.reset_index()


def rank_firms(
    frame: pd.DataFrame, est: pd.DataFrame, rules: Rules, *, confidence: float
) -> pd.DataFrame:
    fr = rules.firms
    firms = firm_rollup(est, confidence=confidence)
    est_black = est["list"] == BLACK
    counts = (
        est.assign(
            _el=est["eligible"].astype(int),
            _red=(est["list"] == RED).astype(int),
            _black=est_black.astype(int),
            _bh=est["households"].where(est_black, 0.0),
            _eh=est["households"].where(est["eligible"], 0.0),
            _credit=est.get("credit_score", np.nan),
        )
        .groupby("firm", sort=True)
        .agg(
            estates_eligible=("_el", "sum"),
            red_estates=("_red", "sum"),
            black_estates=("_black", "sum"),
            black_households=("_bh", "sum"),
            eligible_households=("_eh", "sum"),
            credit_score=("_credit", "mean"),
        )
    )
    firms = firms.merge(counts.reset_index(), on="firm", how="left")
    firms["black_share"] = (
        firms["black_households"]
        / firms["eligible_households"].where(firms["eligible_households"] > 0)
    ).fillna(0.0)
    firms["credit_grade"] = credit_grade(firms["credit_score"], rules.credit_bands)
    eligible = (firms["estates_eligible"] >= max(fr.min_estates, 1)) & firms["rate"].notna()
    firms["eligible"] = eligible
    firms["rank"] = min_rank(firms, ("composite", "rate_low", "households"), eligible)
    n_el = int(eligible.sum())
    rank = firms["rank"].astype(float)
    share_k = math.ceil(fr.red_top_share * n_el - 1e-9) if fr.red_top_share > 0 else 0
    tops = []
    if fr.red_top_k > 0:
        tops.append(rank <= fr.red_top_k)
    if fr.red_top_share > 0:
        tops.append(rank <= share_k)
    top = np.logical_or.reduce(tops) if tops else pd.Series(True, index=firms.index)
    clean = (firms["black_estates"] == 0) if fr.red_requires_no_black else True
    red = eligible & (firms["verdict"] == "达标") & top & clean
    b_verdict = eligible & firms["verdict"].isin(list(fr.black_verdicts))
    b_share = (
        (eligible & (firms["black_share"] >= fr.black_estate_share) & (firms["black_estates"] > 0))
        if fr.black_estate_share > 0
        else (pd.Series(False, index=firms.index))
    )
    b_credit = eligible & firms["credit_grade"].isin(list(fr.credit_grades))
    black = b_verdict | b_share | b_credit
    red = red & ~black
    firms["list"] = np.where(black, BLACK, np.where(red, RED, ""))

    rate_text = verdict_text(firms.assign(threshold=firms["threshold"]))
    rate_text = (
        "户数加权"
        + rate_text
        + "（"
        + firms["estates_scored"].astype(str)
        + " 个小区，"
        + firms["households"].astype(str)
        + " 户）"
    )
    rank_str = firms["rank"].astype(str)
    comp = num(firms["composite"]).astype(object)
    rank_text = "综合得分 " + comp + "，第 " + rank_str + "/" + str(n_el) + " 名"
    bits = ([f"前 {fr.red_top_k} 名"] if fr.red_top_k > 0 else []) + (
        [f"前 {fr.red_top_share:.0%} 即前 {share_k} 名"] if fr.red_top_share > 0 else []
    )
    red_rank = rank_text + ("（入选线：" + "或".join(bits) + "）" if bits else "")
    share_text = (
        "旗下黑榜小区 "
        + firms["black_estates"].astype(str)
        + " 个，占参评户数 "
        + pct(firms["black_share"]).astype(object)
        + "（≥ "
        + f"{fr.black_estate_share:.0%}）"
    )
    credit_text = (
        "信用等级 "
        + firms["credit_grade"]
        + "（信用积分 "
        + num(firms["credit_score"]).astype(object)
        + "）"
    )
    blocked = eligible & (firms["verdict"] == "达标") & top & ~black & ~red
    reasons = join_texts(
        [
            np.where(red, "红榜：", np.where(black, "黑榜：", "")),
            rate_text,
            np.where(red, red_rank, ""),
            np.where(b_share, share_text, ""),
            np.where(b_credit, credit_text, ""),
            np.where(blocked, "旗下有黑榜小区，不上红榜", ""),
            np.where(eligible & ~red & ~black, rank_text, ""),
            np.where(
                ~eligible,
                "参评小区 "
                + firms["estates_eligible"].astype(str)
                + " 个 < "
                + str(max(fr.min_estates, 1))
                + "，不参与排名",
                "",
            ),
        ],
        firms.index,
    )
    firms["reasons"] = reasons.str.replace("：；", "：", regex=False)
    firms["criteria"] = join_texts(
        [
            np.where(red, "top", ""),
            np.where(b_verdict, "verdict", ""),
            np.where(b_share, "black_share", ""),
            np.where(b_credit, "credit_grade", ""),
            np.where(~eligible, "ineligible", ""),
        ],
        firms.index,
        sep=",",
    )
    firms["rank"] = firms["rank"].astype("Int64")
    cols = [
        "firm",
        "estates",
        "estates_scored",
        "estates_eligible",
        "households",
        "coverage",
        "n",
        "rate",
        "rate_se",
        "rate_low",
        "rate_high",
        "threshold",
        "verdict",
        "index",
        "composite",
        "credit_score",
        "credit_grade",
        "red_estates",
        "black_estates",
        "black_share",
        "rank",
        "eligible",
        "list",
        "reasons",
        "criteria",
    ]
    return firms[cols]
