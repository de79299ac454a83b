"""Firms on the 红黑榜: the design-based roll-up of each firm's estates (its interval, tests
and verdict), its rank with interval and chances, and its list with reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evaluation.ranking.estates import Uncertain, top_cuts
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
from evaluation.ranking.rules import Rules, credit_grade
from evaluation.ranking.uncertainty import (
    Design,
    firm_weights,
    rank_chances,
    rank_intervals,
    weighted,
)
from evaluation.scoring.estimation import proportion_interval
from evaluation.scoring.pvalues import bh_q_values, effective_n, threshold_p_values


def firm_rollup(
    frame: pd.DataFrame, *, confidence: float = 0.95, method: str = "beta"
) -> pd.DataFrame:
    """Each firm's satisfaction rate as a stratified design-based estimate, its estates the
    strata (Cochran 1977, *Sampling Techniques*, §5.3, eqs. 5.1 and 5.6; Lohr 2019, §3.2).

    ``W_e = N_e / Σ N_e`` over the firm's *scored* estates (``N_e`` = households, so the
    household weights carry through), ``p̂_F = Σ W_e p̂_e``, ``V = Σ W_e² v_e`` with v_e the
    estate's design variance (its FPC included). An estate whose p̂_e is 0 or 1 from a
    sample has a design variance of 0 that understates it; there ``v_e = p̂_F(1 − p̂_F)/n_e*``
    — the firm's rate at the estate's effective sample size (its Korn–Graubard n* at the
    edge, ``(n − 1)/g + 1``, :func:`evaluation.scoring.pvalues.effective_n`). The interval is
    the estates' method (``method``, beta by default) at the firm's effective sample size
    ``n_F* = 1 / Σ W_e²/n_e*`` (the edge rule's n when p̂_F is 0 or 1) with df = Σ df_e: never
    zero width unless every scored estate is a census. Simulated coverage for firms of 1–3
    estates at rates 0.5–0.97 is in ``benchmarks/bench_lists.py``.

    The firm's threshold is the household-weighted mean of its estates' tier thresholds;
    ``p_value``/``p_value_red`` test its rate against it (:func:`_firm_p_values`: the
    variance under the null at the firm's effective sample size), ``q_value``/``q_value_red``
    are their Benjamini–Hochberg q-values across the firms. ``coverage`` is the share of the
    firm's households in scored estates; ``index`` and ``composite`` are weighted the same
    way.
    """
    design = Design.of(frame, confidence)
    scored = ~np.isnan(design.rate) & ~np.isnan(design.var) & frame["households"].gt(0).to_numpy()
    N = np.where(scored, frame["households"].to_numpy(dtype=float), 0.0)
    firms, codes = np.unique(frame["firm"].astype(str).to_numpy(), return_inverse=True)
    k = len(firms)
    total = np.bincount(codes, N, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(scored, N / total[codes], 0.0)
    rate = np.bincount(codes, w * np.nan_to_num(design.rate), k)
    est_n = effective_n(design.rate, design.var, design.n, design.n - 1, design.fpc)
    census = design.census & scored
    edge = scored & ~census & ((design.rate <= 0) | (design.rate >= 1) | (design.var <= 0))
    p_f = rate[codes]
    v = np.where(edge, p_f * (1 - p_f) / est_n, np.nan_to_num(design.var))
    var = np.bincount(codes, np.where(scored, w**2 * v, 0.0), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        n_eff = 1.0 / np.bincount(codes, np.where(scored & ~census, w**2 / est_n, 0.0), k)
    n = np.bincount(codes, np.where(scored, design.n, 0.0), k)
    df = np.bincount(codes, np.where(scored, design.df, 0.0), k)
    all_census = np.bincount(codes, (scored & ~census).astype(float), k) == 0
    none = np.bincount(codes, scored.astype(float), k) == 0
    threshold = np.bincount(codes, w * np.nan_to_num(frame["threshold"].to_numpy(float)), k)
    rate, threshold = np.where(none, np.nan, rate), np.where(none, np.nan, threshold)
    n_int = np.where(all_census, n, n_eff)
    lo, hi = proportion_interval(
        rate, var, n_int, df, all_census & ~none, np.ones(k), method=method, confidence=confidence
    )
    below, above = _firm_p_values(rate, n_int, df, all_census & ~none, threshold, confidence)
    out = pd.DataFrame({"firm": firms})
    out["estates"] = np.bincount(codes, minlength=k).astype("int64")
    out["estates_scored"] = np.bincount(codes, scored.astype(float), k).astype("int64")
    out["households"] = np.bincount(codes, frame["households"].fillna(0).to_numpy(float), k)
    out["households"] = out["households"].astype("int64")
    out["coverage"] = total / out["households"].where(out["households"] > 0)
    out["n"] = n.astype("int64")
    out["n_eff"] = np.where(none, np.nan, n_int)
    out["rate"], out["rate_se"] = rate, np.where(none, np.nan, np.sqrt(var))
    out["rate_low"], out["rate_high"] = lo, hi
    out["threshold"] = threshold
    for col in ("index", "composite"):
        values = frame[col].to_numpy(float) if col in frame else np.full(len(frame), np.nan)
        have = w * ~np.isnan(values)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[col] = np.bincount(codes, w * np.nan_to_num(values), k) / np.where(
                np.bincount(codes, have, k) > 0, np.bincount(codes, have, k), np.nan
            )
        out[col] = out[col].where(~none)
    out["verdict"] = np.select(
        [none, out["rate_low"] >= out["threshold"], out["rate_high"] < out["threshold"]],
        ["", "达标", "未达标"],
        default="临界",
    )
    out["p_value"], out["q_value"] = below, bh_q_values(below)
    out["p_value_red"], out["q_value_red"] = above, bh_q_values(above)
    return out


def _firm_p_values(
    rate: np.ndarray,
    n_eff: np.ndarray,
    df: np.ndarray,
    census: np.ndarray,
    threshold: np.ndarray,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p-values of the firms' rates against their thresholds (below, above).

    A score-type test: the variance is taken under the null, ``T(1 − T)/n_F*`` at the
    firm's effective sample size ``n_F* = 1 / Σ W_e²/n_e*`` (as if its estates shared one
    rate), through the Korn–Graubard beta p-values of
    :func:`~evaluation.scoring.pvalues.threshold_p_values` at ``n_F*``. The plug-in
    variance ``Σ W_e² v_e`` at the estimated rates is smaller where the rate is near 1 and
    made the 红榜 test liberal for firms of two or three estates (rejection rate 6.1% at a
    nominal 5% at the threshold, exactly computed in ``tests/ranking/test_firm_pvalues.py``);
    ignoring the estates' differences is conservative (Cochran 1977, §5.5: the stratified
    variance never exceeds the unstratified one of the same n)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        var = rate * (1 - rate) / n_eff
    return threshold_p_values(
        rate, var, n_eff, df, census, np.ones(len(rate)), threshold, confidence=confidence
    )


def _counts(est: pd.DataFrame) -> pd.DataFrame:
    """Per firm: eligible, red and black estates, and the households of the estates black
    on their own tested verdict (criteria ``verdict``) among the eligible households."""
    black = est["list"] == BLACK
    own = black & est["criteria"].str.split(",").apply(lambda c: "verdict" in c)
    return (
        est.assign(
            _el=est["eligible"].astype(int),
            _red=(est["list"] == RED).astype(int),
            _black=black.astype(int),
            _bh=est["households"].where(own, 0.0),
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
        .reset_index()
    )


def _firm_uncertainty(
    firms: pd.DataFrame, est: pd.DataFrame, uncertain: Uncertain, rules: Rules
) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:
    """Rank intervals and p_top / p_bottom of the eligible firms (and the chance of each
    red cut, by its size) from their estates' joint
    bounds and draws (:mod:`evaluation.ranking.uncertainty`)."""
    names, W = firm_weights(est["firm"], est["households"], est["composite"].notna().to_numpy())
    at = names.get_indexer(firms["firm"].astype(str))
    unknown = weighted(np.isnan(uncertain.bounds.low) | np.isnan(uncertain.bounds.high), W) > 0
    low = np.where(unknown, np.nan, weighted(uncertain.bounds.low, W))[at]
    high = np.where(unknown, np.nan, weighted(uncertain.bounds.high, W))[at]
    el = firms["eligible"].to_numpy(dtype=bool)
    rl, rh = np.full(len(firms), np.nan), np.full(len(firms), np.nan)
    if el.any():
        rl[el], rh[el] = rank_intervals(low[el], high[el])
    firms["rank_low"] = pd.array(rl, dtype="Float64").astype("Int64")
    firms["rank_high"] = pd.array(rh, dtype="Float64").astype("Int64")
    fr = rules.firms
    cuts = top_cuts(fr.red_top_k, fr.red_top_share, int(el.sum()))
    top = max([k for _, k in cuts] or [0])
    draws = weighted(uncertain.draws, W)[:, at]
    p_top, p_bottom = rank_chances(draws, el, top, top)
    firms["p_top"] = p_top if top else np.nan
    firms["p_bottom"] = p_bottom if top else np.nan
    chances = {k: p_top if k == top else rank_chances(draws, el, k, 0)[0] for _, k in cuts}
    return firms, chances


def rank_firms(
    est: pd.DataFrame,
    rules: Rules,
    uncertain: Uncertain,
    *,
    confidence: float = 0.95,
    method: str = "beta",
) -> pd.DataFrame:
    """The firm roll-up ranked and listed (module doc of :mod:`evaluation.ranking.lists`)."""
    fr = rules.firms
    firms = firm_rollup(est, confidence=confidence, method=method)
    firms = firms.merge(_counts(est), on="firm", how="left")
    firms["black_share"] = (
        firms["black_households"]
        / firms["eligible_households"].where(firms["eligible_households"] > 0)
    ).fillna(0.0)
    firms["credit_grade"] = credit_grade(firms["credit_score"], rules.credit_bands)
    eligible = (firms["estates_eligible"] >= max(fr.min_estates, 1)) & firms["rate"].notna()
    firms["eligible"] = eligible
    firms["rank"] = min_rank(firms, ("composite", "rate_low", "households"), eligible)
    firms, chances = _firm_uncertainty(firms, est, uncertain, rules)
    n_el = int(eligible.sum())
    rank = firms["rank"].astype(float)
    cuts = top_cuts(fr.red_top_k, fr.red_top_share, n_el)
    point = [(rank <= k).fillna(False).to_numpy() for _, k in cuts]
    met = [top_met(rank, k, chances[k]).to_numpy() for _, k in cuts]
    point_top = pd.Series(np.logical_or.reduce(point) if cuts else True, index=firms.index)
    top = pd.Series(np.logical_or.reduce(met) if cuts else True, index=firms.index)
    clean = (firms["black_estates"] == 0) if fr.red_requires_no_black else True
    red_tested = eligible & (firms["verdict"] == "达标") & (firms["q_value_red"] <= rules.red.fdr)
    in_black = eligible & firms["verdict"].isin(list(fr.black_verdicts))
    tested = firms["q_value"] <= rules.black.fdr
    b_verdict = in_black & tested
    b_share = (
        (eligible & (firms["black_share"] >= fr.black_estate_share) & (firms["black_share"] > 0))
        if fr.black_estate_share > 0
        else (pd.Series(False, index=firms.index))
    )
    b_credit = eligible & firms["credit_grade"].isin(list(fr.credit_grades))
    black = b_verdict | b_share | b_credit
    red = red_tested & top & clean & ~black
    firms["list"] = np.where(black, BLACK, np.where(red, RED, ""))
    masks = {
        "red": red,
        "red_tested": red_tested,
        "rank_short": red_tested & point_top & ~top & clean & ~black,
        "blocked": red_tested & top & ~black & ~red,
        "b_verdict": b_verdict,
        "b_untested": in_black & ~tested,
        "b_share": b_share,
        "b_credit": b_credit,
    }
    firms["reasons"] = _firm_reasons(firms, masks, cuts, chances, rules)
    firms["criteria"] = join_texts(
        [
            np.where(red, "top" if cuts else "verdict", ""),
            np.where(b_verdict, "verdict", ""),
            np.where(b_share, "black_share", ""),
            np.where(b_credit, "credit_grade", ""),
            np.where(masks["b_untested"], "not_significant", ""),
            np.where(masks["rank_short"], "rank_uncertain", ""),
            np.where(~eligible, "ineligible", ""),
        ],
        firms.index,
        sep=",",
    )
    firms["rank"] = firms["rank"].astype("Int64")
    return firms[list(FIRM_COLUMNS)]


FIRM_COLUMNS = (
    "firm",
    "estates",
    "estates_scored",
    "estates_eligible",
    "households",
    "coverage",
    "n",
    "n_eff",
    "rate",
    "rate_se",
    "rate_low",
    "rate_high",
    "threshold",
    "verdict",
    "p_value",
    "q_value",
    "p_value_red",
    "q_value_red",
    "index",
    "composite",
    "credit_score",
    "credit_grade",
    "red_estates",
    "black_estates",
    "black_share",
    "rank",
    "rank_low",
    "rank_high",
    "p_top",
    "p_bottom",
    "eligible",
    "list",
    "reasons",
    "criteria",
)


def _firm_phrases(
    firms: pd.DataFrame, cuts: list[tuple[str, int]], chances: dict[int, np.ndarray], rules: Rules
) -> dict[str, Any]:
    """The numbers of the firm reasons as Chinese phrases (one Series or str per piece)."""
    fr = rules.firms
    n_el = int(firms["eligible"].sum())
    family = int(firms["q_value"].notna().sum())
    rate_text = (
        "户数加权"
        + verdict_text(firms)
        + "（"
        + firms["estates_scored"].astype(str)
        + " 个小区，"
        + firms["households"].astype(str)
        + " 户）"
    )
    ranked = rank_text(firms, n_el)
    together = f"{family} 家企业同时检验、错误发现率控制在 "
    q = num(firms["q_value"], "%.3f").astype(object)
    q_red = num(firms["q_value_red"], "%.3f").astype(object)
    zone = "或".join(f"前 {k} 名" for _, k in cuts)
    odds = pd.Series("", index=firms.index, dtype=object)
    for i, (_, k) in enumerate(cuts):
        odds = odds + ("、" if i else "") + f"进入前 {k} 名的概率 " + pct(chances[k], 0)
    share_text = (
        "旗下因测评结果上黑榜的小区占参评户数 "
        + pct(firms["black_share"]).astype(object)
        + f"（≥ {fr.black_estate_share:.0%}）"
    )
    credit_text = (
        "信用等级 "
        + firms["credit_grade"]
        + "（信用积分 "
        + num(firms["credit_score"]).astype(object)
        + "）"
    )
    return {
        "rate": rate_text,
        "rank": ranked,
        "together": together,
        "q": q,
        "q_red": q_red,
        "zone": zone,
        "odds": odds,
        "share": share_text,
        "credit": credit_text,
    }


def _firm_reasons(
    firms: pd.DataFrame,
    m: dict[str, pd.Series],
    cuts: list[tuple[str, int]],
    chances: dict[int, np.ndarray],
    rules: Rules,
) -> pd.Series:
    """Plain-Chinese reasons of the firm lists, with the numbers."""
    t = _firm_phrases(firms, cuts, chances, rules)
    rate_text, ranked, together = t["rate"], t["rank"], t["together"]
    q, q_red, zone, odds = t["q"], t["q_red"], t["zone"], t["odds"]
    share_text, credit_text = t["share"], t["credit"]
    fr, b = rules.firms, rules.black
    eligible = firms["eligible"]
    reasons = join_texts(
        [
            np.where(
                firms["list"] == RED, "红榜：", np.where(firms["list"] == BLACK, "黑榜：", "")
            ),
            rate_text,
            np.where(
                m["b_verdict"], together + f"{b.fdr:.0%} 时仍可认定低于达标线（q = " + q + "）", ""
            ),
            np.where(
                m["b_untested"],
                "但"
                + together
                + f"{b.fdr:.0%} 时证据不足（q = "
                + q
                + f" > {b.fdr:g}），不按企业满意率上黑榜",
                "",
            ),
            np.where(
                m["red_tested"],
                together + f"{rules.red.fdr:.0%} 时仍可认定高于达标线（q = " + q_red + "）",
                "",
            ),
            np.where(
                m["red"],
                ranked
                + "，名次在入选线（"
                + zone
                + "）之内，"
                + odds
                + f"，不低于 {P_TOP_MIN:.0%}",
                "",
            ),
            np.where(
                m["rank_short"],
                ranked
                + "，名次虽在"
                + zone
                + "之内，但"
                + odds
                + f"，不足 {P_TOP_MIN:.0%}，名次领先在抽样误差之内，不按名次上红榜",
                "",
            ),
            np.where(m["b_share"], share_text, ""),
            np.where(m["b_credit"], credit_text, ""),
            np.where(m["blocked"], "旗下有黑榜小区，不上红榜", ""),
            np.where(eligible & ~m["red"] & ~m["rank_short"], ranked, ""),
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
    return reasons.str.replace("：；", "：", regex=False)
