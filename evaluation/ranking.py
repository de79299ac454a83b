"""The 红黑榜: composite score, ranks, red/black lists with reasons, firm roll-up, escalation.

Inputs follow ``docs/architecture.md``: the round's 台账 (``round.register``) and the scoring
stage's ``scores.estates``. Rules come from ``[rules]`` (:mod:`evaluation.rules`). Everything
is vectorised over estates and firms; reasons are Chinese text with the numbers.

Decision procedure, per estate:

1. **Eligible** = scored, ``n ≥ min_n`` and response rate ≥ ``min_response_rate`` (not
   checked when unknown). Ineligible estates get no rank and no list; the reason says why.
2. **Composite** (0–100) = weighted mean of the available components (:func:`composite_score`).
3. **Rank** over eligible estates by ``tie_break`` (default composite ↓, rate_low ↓, n ↓);
   estates equal on every key share the smaller rank ("1224"), so a tie on the boundary of
   top k puts both in.
4. **Black** if any black criterion holds (verdict, bottom k among 临界/未达标, credit
   grade). **Red** if verdict in the red verdicts and rank within top k / top x%
   (``ceil(x · eligible)``), and not black: black wins. Ranks count every eligible estate,
   black-listed ones included.

Per firm: :func:`firm_rollup` (household-weighted stratified estimate with interval), ranked
by weighted composite; red if 达标, in the top and (by default) without black estates; black
if its weighted verdict is 未达标, black estates hold ≥ ``black_estate_share`` of its
eligible households, or its credit grade is listed. Escalation counts come from
:func:`evaluation.history.consecutive_listings`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.history import consecutive_listings
from evaluation.rules import TIE_KEYS, VERDICT_POINTS, Rules, credit_grade, parse_rules
from sampling.errors import Problem, WuyeError

RED, BLACK = "红榜", "黑榜"
ESTATE_COLUMNS = ("estate_id", "composite", "rank", "eligible", "list", "reasons", "criteria",
                  "credit_grade", "complaints_per_100")
SCORE_REQUIRED = ("estate_id", "rate", "rate_se", "rate_low", "rate_high", "index", "n",
                  "verdict")


@dataclass
class Ranking:
    """Result of :func:`rank_round`.

    - ``estates``: one row per estate of the 台账 — ``estate_id, composite`` (0–100),
      ``rank`` (Int64, 1 = best, ties share the smaller rank; NA when not eligible),
      ``eligible``, ``list`` (``红榜``/``黑榜``/``""``), ``reasons`` (Chinese, with the
      numbers), ``criteria`` (codes of the criteria met: ``top_k, top_share, verdict,
      bottom_k, credit_grade, ineligible``, comma-joined), ``credit_grade``,
      ``complaints_per_100``.
    - ``firms``: one row per firm — roll-up (``rate, rate_se, rate_low, rate_high, threshold,
      verdict, index, composite``), counts, ``rank, eligible, list, reasons, criteria``.
    - ``escalations``: one row per estate/firm listed this round — ``level`` (estate/firm),
      ``key``, ``label`` (estate name or firm), ``list``, ``black_consecutive, black_total, red_consecutive,
      red_total``, ``flag`` (``退出预警``/``推荐表彰``/``""``), ``note``.
    """

    estates: pd.DataFrame
    firms: pd.DataFrame
    escalations: pd.DataFrame
    rules: Rules = field(default_factory=Rules)


def rank_round(round: Any, scores_estates: pd.DataFrame, *, history: Any = None,
               rules: Rules | None = None, firms: pd.DataFrame | None = None) -> Ranking:
    """Rank a scored round: composite, eligibility, lists with reasons, firms, escalations.

    ``history`` is the earlier rounds' listings as returned by
    ``evaluation.history.history(db, kind="lists")``, or a ``Store`` / database path to read
    them from (rows of this ``round_id`` are ignored). A database that does not exist yet
    means no history.
    ``firms`` is an optional firm register (企业名录: ``firm`` / 物业企业, optional
    ``credit_score`` / 信用积分, ``firm_revenue``): every firm of the 台账 must be in it, and
    its credit score, when given, replaces the 台账's per-estate copy.
    Raises :class:`WuyeError` for bad rules, a round without scores, estates scored but
    missing from the 台账, estates without a firm, or firms missing from the firm register —
    before anything is computed or written.
    """
    rules = rules if rules is not None else parse_rules(getattr(round, "rules", {}) or {})
    register = round.register
    if firms is not None:
        register = _apply_firm_register(register, firms)
    frame = _merge_inputs(register, scores_estates)
    est = _rank_estates(frame, rules)
    firms = _rank_firms(frame, est, rules, confidence=float(getattr(round, "confidence", 0.95)))
    esc = _escalations(round, frame, est, firms, history, rules)
    return Ranking(estates=est[list(ESTATE_COLUMNS)].reset_index(drop=True),
                   firms=firms.reset_index(drop=True), escalations=esc, rules=rules)


# ----------------------------------------------------------------------------- inputs

def _apply_firm_register(register: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """Check every 台账 firm is in the firm register; take firm-level credit scores from it."""
    from evaluation.round import REGISTER_COLUMNS
    from sampling.tables import rename_columns

    table = rename_columns(firms, {**REGISTER_COLUMNS, "企业名称": "firm"})
    if "firm" not in table.columns:
        raise WuyeError(Problem("企业名录缺少「物业企业」列", "在第一行写上 物业企业（或 firm）",
                                file=firms.attrs.get("file"), row=1))
    names = table["firm"].astype("string").str.strip()
    known = set(names.dropna())
    used = register["firm"].astype("string").str.strip()
    missing = sorted(set(used.dropna()) - known)
    if missing:
        raise WuyeError(Problem(f"台账中的物业企业不在企业名录中：{'、'.join(missing[:10])}",
                                "在企业名录中补上这些企业，或改正台账中的企业名称",
                                file=firms.attrs.get("file"), column="物业企业"))
    if "credit_score" in table.columns:
        score = pd.to_numeric(table["credit_score"], errors="coerce")
        by_firm = pd.Series(score.to_numpy(), index=names.to_numpy()).groupby(level=0).max()
        register = register.assign(credit_score=used.map(by_firm).astype(float).to_numpy())
    return register


def _merge_inputs(register: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """台账 ⟕ scores on estate_id, with clear errors for mismatches."""
    problems: list[Problem] = []
    if scores is None or len(scores) == 0:
        raise WuyeError(Problem("本轮还没有评分结果，不能排名",
                                "先运行评分（wuye-eval score <轮次>），再运行 wuye-eval rank"))
    missing = [c for c in SCORE_REQUIRED if c not in scores.columns]
    if missing:
        raise WuyeError(Problem(f"评分结果缺少列：{'、'.join(missing)}",
                                "先运行评分（wuye-eval score），再排名"))
    if scores["estate_id"].duplicated().any():
        dup = scores.loc[scores["estate_id"].duplicated(), "estate_id"].astype(str).unique()
        problems.append(Problem(f"评分结果中小区编号重复：{'、'.join(dup[:10])}",
                                "每个小区只能有一行评分结果"))
    firm = register["firm"].astype("string").str.strip()
    no_firm = firm.isna() | (firm == "")
    if no_firm.any():
        ids = register.loc[no_firm, "estate_id"].astype(str).tolist()
        problems.append(Problem(f"台账中这些小区没有物业企业：{'、'.join(ids[:10])}",
                                "在台账「物业企业」列补上企业名称", column="物业企业"))
    unknown = ~scores["estate_id"].astype(str).isin(register["estate_id"].astype(str))
    if unknown.any():
        ids = scores.loc[unknown, "estate_id"].astype(str).tolist()
        problems.append(Problem(f"评分结果中的小区不在台账中：{'、'.join(ids[:10])}",
                                "把这些小区（及其物业企业）补进台账，或检查小区编号"))
    if problems:
        raise WuyeError(problems)
    reg = register.copy()
    reg["estate_id"] = reg["estate_id"].astype(str)
    reg["firm"] = firm.astype(str)
    sc = scores.copy()
    sc["estate_id"] = sc["estate_id"].astype(str)
    # the verdict's threshold comes from scoring; every other shared column from the 台账
    if "threshold" in sc.columns and "threshold" in reg.columns:
        reg = reg.drop(columns="threshold")
    drop = [c for c in sc.columns if c in reg.columns and c != "estate_id"]
    out = reg.merge(sc.drop(columns=drop), on="estate_id", how="left", validate="one_to_one")
    for col in ("rate", "rate_se", "rate_low", "rate_high", "index", "n", "response_rate",
                "threshold"):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        else:
            out[col] = np.nan
    out["households"] = pd.to_numeric(out["households"], errors="coerce").astype(float)
    out["verdict"] = out["verdict"].astype("string").fillna("").astype(str)
    return out


# ----------------------------------------------------------------------------- estates

def composite_score(frame: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Component scores (0–100) and the composite ``Σ w·s / Σ w`` over available components.

    Components: ``index``; verdict (达标 100, 临界 50, 未达标 0); ``credit_score`` clipped to
    0–100; complaints per 100 households mapped linearly from 0 → 100 to ``complaints_cap``
    → 0; the inspection column. A component missing for an estate (column absent or value
    NA) drops out of that estate's weighted mean, so weights are renormalised per estate.
    """
    w = rules.weights
    nan = pd.Series(np.nan, index=frame.index)
    per100 = (frame["complaints"] / frame["households"] * 100.0 if "complaints" in frame
              else nan)
    comps = pd.DataFrame({
        "s_index": frame["index"].clip(0, 100),
        "s_verdict": frame["verdict"].map(VERDICT_POINTS).astype(float),
        "s_credit": frame["credit_score"].clip(0, 100) if "credit_score" in frame else nan,
        "s_complaints": 100.0 * (1.0 - (per100 / w.complaints_cap).clip(0, 1)),
        "s_inspection": (pd.to_numeric(frame[w.inspection_column], errors="coerce").clip(0, 100)
                         if w.inspection_column in frame else nan),
    }, index=frame.index).astype(float)
    weights = np.array([w.index, w.verdict, w.credit, w.complaints, w.inspection])
    values = comps.to_numpy()
    have = ~np.isnan(values) & (weights > 0)
    num = np.where(have, values * weights, 0.0).sum(axis=1)
    den = np.where(have, weights, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(den > 0, num / den, np.nan)
    # an unscored estate has no composite, whatever the register says
    composite = np.where(frame["verdict"].isin(list(VERDICT_POINTS)).to_numpy(), composite,
                         np.nan)
    comps["composite"] = np.round(composite, 6)
    comps["complaints_per_100"] = per100.astype(float)
    return comps


def min_rank(frame: pd.DataFrame, keys: tuple[str, ...] | list[str], mask: pd.Series, *,
             from_bottom: bool = False) -> pd.Series:
    """Competition rank ("1224") over ``keys`` (directions from ``TIE_KEYS``) among ``mask``.

    Rows equal on every key share the smaller rank; NA keys count as worst. With
    ``from_bottom`` rank 1 is the worst row. Returns Int64 with NA outside ``mask``.
    """
    sub = frame.loc[mask, list(keys)].astype(float)
    ascending = [TIE_KEYS[k][0] != from_bottom for k in keys]
    worst = -np.inf if from_bottom else np.inf  # NA fill, on the ascending scale
    filled = pd.DataFrame({k: sub[k].fillna(worst if asc else -worst)
                           for k, asc in zip(keys, ascending, strict=True)}, index=sub.index)
    ordered = filled.sort_values(list(keys), ascending=ascending, kind="mergesort")
    vals = ordered.to_numpy()
    new = np.ones(len(ordered), dtype=bool)
    if len(ordered) > 1:
        new[1:] = (vals[1:] != vals[:-1]).any(axis=1)
    pos = np.arange(1, len(ordered) + 1, dtype=float)
    ranks = pd.Series(np.where(new, pos, np.nan), index=ordered.index).ffill()
    return ranks.reindex(frame.index).astype("Int64")


def _pct(x: pd.Series, digits: int = 1) -> np.ndarray:
    return np.char.mod(f"%.{digits}f%%", np.asarray(x, dtype=float) * 100.0)


def _num(x: pd.Series, fmt: str = "%.1f") -> np.ndarray:
    return np.char.mod(fmt, np.asarray(x, dtype=float))


def _join(parts: list[Any], index: pd.Index, sep: str = "；") -> pd.Series:
    """Join per-row text parts, skipping empty ones (vectorised)."""
    out = pd.Series("", index=index, dtype=object)
    for part in parts:
        part = pd.Series(np.asarray(part, dtype=object), index=index).fillna("")
        out = out + np.where(part != "", part + sep, "")
    return out.str.removesuffix(sep).astype(str)


def verdict_text(frame: pd.DataFrame) -> pd.Series:
    """``满意率 92.1%（下限 88.3%，门槛 90%）达标`` — the bound that decided the verdict."""
    v = frame["verdict"]
    rate, low, high = _pct(frame["rate"]), _pct(frame["rate_low"]), _pct(frame["rate_high"])
    thr = _pct(frame["threshold"], 0)
    bound = np.where(v == "达标", "下限 " + low.astype(object),
                     np.where(v == "未达标", "上限 " + high.astype(object),
                              "区间 " + low.astype(object) + "–" + high.astype(object)))
    text = "满意率 " + rate.astype(object) + "（" + bound + "，门槛 " + thr.astype(object) + "）" + v
    return pd.Series(np.where(v.isin(list(VERDICT_POINTS)), text, ""), index=frame.index)


def _rank_estates(frame: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    comps = composite_score(frame, rules)
    est = pd.concat([frame, comps], axis=1)
    el = rules.eligibility
    scored = est["verdict"].isin(list(VERDICT_POINTS)) & est["composite"].notna()
    small_n = est["n"].fillna(0) < el.min_n
    low_rr = est["response_rate"].notna() & (est["response_rate"] < el.min_response_rate)
    eligible = scored & ~small_n & ~low_rr
    est["eligible"] = eligible
    est["rank"] = min_rank(est, rules.tie_break, eligible)
    n_el = int(eligible.sum())
    rank = est["rank"].astype(float)

    red_rule = rules.red
    tests = []
    share_k = math.ceil(red_rule.top_share * n_el - 1e-9) if red_rule.top_share > 0 else 0
    if red_rule.top_k > 0:
        tests.append(rank <= red_rule.top_k)
    if red_rule.top_share > 0:
        tests.append(rank <= share_k)
    if tests:
        top = np.logical_or.reduce(tests) if red_rule.mode == "either" else np.logical_and.reduce(
            tests)
    else:
        top = pd.Series(True, index=est.index)
    red = eligible & est["verdict"].isin(list(red_rule.verdicts)) & top

    b = rules.black
    grade = (credit_grade(est["credit_score"], rules.credit_bands) if "credit_score" in est
             else pd.Series("", index=est.index))
    est["credit_grade"] = grade
    black_verdict = eligible & est["verdict"].isin(list(b.verdicts))
    among = eligible & est["verdict"].isin(list(b.bottom_among))
    black_bottom = pd.Series(False, index=est.index)
    if b.bottom_k > 0 and among.any():
        from_bottom = min_rank(est, rules.tie_break, among, from_bottom=True)
        black_bottom = among & (from_bottom <= b.bottom_k).fillna(False).astype(bool)
    else:
        from_bottom = pd.Series(np.nan, index=est.index)
    black_credit = eligible & grade.isin(list(b.credit_grades))
    black = black_verdict | black_bottom | black_credit
    red = red & ~black
    est["list"] = np.where(black, BLACK, np.where(red, RED, ""))

    vtext = verdict_text(est)
    rank_str = pd.Series(rank).astype("Int64").astype(str)
    comp = _num(est["composite"]).astype(object)
    rank_text = ("综合得分 " + comp + "，第 " + rank_str + "/" + str(n_el) + " 名")
    top_bits = []
    if red_rule.top_k > 0:
        top_bits.append(f"前 {red_rule.top_k} 名")
    if red_rule.top_share > 0:
        top_bits.append(f"前 {red_rule.top_share:.0%} 即前 {share_k} 名")
    joiner = "或" if red_rule.mode == "either" else "且"
    red_text = rank_text + ("（入选线：" + joiner.join(top_bits) + "）" if top_bits else "")
    bottom_text = ("在" + "/".join(b.bottom_among) + "小区中综合得分倒数第 "
                   + pd.Series(from_bottom).astype("Int64").astype(str) + "（"
                   + comp + " 分，倒数 " + str(b.bottom_k) + " 名上黑榜）")
    credit_text = ("信用等级 " + grade + "（信用积分 "
                   + (_num(est["credit_score"]).astype(object) if "credit_score" in est else "")
                   + "）")
    why_not = _join([
        np.where(~scored, "未评分（无有效样本），不参与排名", ""),
        np.where(scored & small_n, "样本量 " + _num(est["n"], "%.0f").astype(object)
                 + " < " + str(el.min_n) + "，不参与排名", ""),
        np.where(scored & low_rr, "应答率 " + _pct(est["response_rate"]).astype(object)
                 + " < " + f"{el.min_response_rate:.0%}" + "，不参与排名", ""),
    ], est.index)
    reasons = _join([
        np.where(est["list"] == RED, "红榜：", np.where(est["list"] == BLACK, "黑榜：", "")),
        vtext,
        np.where(red, red_text, ""),
        np.where(black_bottom, bottom_text, ""),
        np.where(black_credit, credit_text, ""),
        np.where(eligible & ~red, rank_text, ""),
        np.where(~eligible, why_not, ""),
    ], est.index)
    est["reasons"] = reasons.str.replace("：；", "：", regex=False)
    est["criteria"] = _join([
        np.where(red & (rank <= red_rule.top_k) if red_rule.top_k > 0 else False, "top_k", ""),
        np.where(red & (rank <= share_k) if red_rule.top_share > 0 else False, "top_share", ""),
        np.where(red & (red_rule.top_k == 0) & (red_rule.top_share == 0), "verdict", ""),
        np.where(black_verdict, "verdict", ""),
        np.where(black_bottom, "bottom_k", ""),
        np.where(black_credit, "credit_grade", ""),
        np.where(~eligible, "ineligible", ""),
    ], est.index, sep=",")
    return est


# ----------------------------------------------------------------------------- firms

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
        estates=("_one", "sum"), estates_scored=("_scored", "sum"), households=("_all", "sum"),
        households_scored=("_N", "sum"), n=("_n", "sum"), rate=("_wp", "sum"),
        var=("_wv", "sum"), threshold=("_wt", "sum"), index=("_wi", "sum"),
        index_w=("_wi_have", "sum"), composite=("_wc", "sum"), composite_w=("_wc_have", "sum"),
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
    out["composite"] = (agg["composite"] / agg["composite_w"].where(agg["composite_w"] > 0)
                        ).mask(none)
    out["verdict"] = np.select(
        [none, out["rate_low"] >= out["threshold"], out["rate_high"] < out["threshold"]],
        ["", "达标", "未达标"], default="临界")
    return out.reset_index()


def _rank_firms(frame: pd.DataFrame, est: pd.DataFrame, rules: Rules, *, confidence: float
                ) -> pd.DataFrame:
    fr = rules.firms
    firms = firm_rollup(est, confidence=confidence)
    est_black = est["list"] == BLACK
    counts = est.assign(
        _el=est["eligible"].astype(int), _red=(est["list"] == RED).astype(int),
        _black=est_black.astype(int), _bh=est["households"].where(est_black, 0.0),
        _eh=est["households"].where(est["eligible"], 0.0),
        _credit=est.get("credit_score", np.nan),
    ).groupby("firm", sort=True).agg(
        estates_eligible=("_el", "sum"), red_estates=("_red", "sum"),
        black_estates=("_black", "sum"), black_households=("_bh", "sum"),
        eligible_households=("_eh", "sum"), credit_score=("_credit", "mean"))
    firms = firms.merge(counts.reset_index(), on="firm", how="left")
    firms["black_share"] = (firms["black_households"] / firms["eligible_households"]
                            .where(firms["eligible_households"] > 0)).fillna(0.0)
    firms["credit_grade"] = credit_grade(firms["credit_score"], rules.credit_bands)
    eligible = (firms["estates_eligible"] >= max(fr.min_estates, 1)) & firms["rate"].notna()
    firms["eligible"] = eligible
    firms["rank"] = min_rank(firms, ("composite", "rate_low", "households"),
                             eligible)
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
    b_share = (eligible & (firms["black_share"] >= fr.black_estate_share)
               & (firms["black_estates"] > 0)) if fr.black_estate_share > 0 else (
        pd.Series(False, index=firms.index))
    b_credit = eligible & firms["credit_grade"].isin(list(fr.credit_grades))
    black = b_verdict | b_share | b_credit
    red = red & ~black
    firms["list"] = np.where(black, BLACK, np.where(red, RED, ""))

    rate_text = verdict_text(firms.assign(threshold=firms["threshold"]))
    rate_text = ("户数加权" + rate_text + "（" + firms["estates_scored"].astype(str) + " 个小区，"
                 + firms["households"].astype(str) + " 户）")
    rank_str = firms["rank"].astype(str)
    comp = _num(firms["composite"]).astype(object)
    rank_text = "综合得分 " + comp + "，第 " + rank_str + "/" + str(n_el) + " 名"
    bits = ([f"前 {fr.red_top_k} 名"] if fr.red_top_k > 0 else []) + (
        [f"前 {fr.red_top_share:.0%} 即前 {share_k} 名"] if fr.red_top_share > 0 else [])
    red_rank = rank_text + ("（入选线：" + "或".join(bits) + "）" if bits else "")
    share_text = ("旗下黑榜小区 " + firms["black_estates"].astype(str) + " 个，占参评户数 "
                  + _pct(firms["black_share"]).astype(object) + "（≥ "
                  + f"{fr.black_estate_share:.0%}）")
    credit_text = "信用等级 " + firms["credit_grade"] + "（信用积分 " + _num(
        firms["credit_score"]).astype(object) + "）"
    blocked = eligible & (firms["verdict"] == "达标") & top & ~black & ~red
    reasons = _join([
        np.where(red, "红榜：", np.where(black, "黑榜：", "")),
        rate_text,
        np.where(red, red_rank, ""),
        np.where(b_share, share_text, ""),
        np.where(b_credit, credit_text, ""),
        np.where(blocked, "旗下有黑榜小区，不上红榜", ""),
        np.where(eligible & ~red & ~black, rank_text, ""),
        np.where(~eligible, "参评小区 " + firms["estates_eligible"].astype(str) + " 个 < "
                 + str(max(fr.min_estates, 1)) + "，不参与排名", ""),
    ], firms.index)
    firms["reasons"] = reasons.str.replace("：；", "：", regex=False)
    firms["criteria"] = _join([
        np.where(red, "top", ""), np.where(b_verdict, "verdict", ""),
        np.where(b_share, "black_share", ""), np.where(b_credit, "credit_grade", ""),
        np.where(~eligible, "ineligible", ""),
    ], firms.index, sep=",")
    firms["rank"] = firms["rank"].astype("Int64")
    cols = ["firm", "estates", "estates_scored", "estates_eligible", "households", "coverage",
            "n", "rate", "rate_se", "rate_low", "rate_high", "threshold", "verdict", "index",
            "composite", "credit_score", "credit_grade", "red_estates", "black_estates",
            "black_share", "rank", "eligible", "list", "reasons", "criteria"]
    return firms[cols]


# ----------------------------------------------------------------------------- history

def current_lists(round: Any, est: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """This round's lists in the shape of ``history(db, kind="lists")``."""
    e = pd.DataFrame({"level": "estate", "key": est["estate_id"].astype(str),
                      "label": est["estate_name"].astype(str) if "estate_name" in est
                      else est["estate_id"].astype(str),
                      "firm": est["firm"].astype(str), "list": est["list"],
                      "eligible": est["eligible"]})
    f = pd.DataFrame({"level": "firm", "key": firms["firm"].astype(str),
                      "label": firms["firm"].astype(str), "firm": firms["firm"].astype(str),
                      "list": firms["list"], "eligible": firms["eligible"]})
    out = pd.concat([e, f], ignore_index=True)
    out.insert(0, "period", str(round.period))
    out.insert(0, "round_id", str(round.round_id))
    return out


def _escalations(round: Any, frame: pd.DataFrame, est: pd.DataFrame, firms: pd.DataFrame,
                 history: Any, rules: Rules) -> pd.DataFrame:
    now = current_lists(round, est, firms)
    frames = [now]
    if isinstance(history, (str, Path)) and not Path(history).exists():
        history = None
    if history is not None and not isinstance(history, pd.DataFrame):
        from evaluation.history import history as read_history

        history = read_history(history, kind="lists")
    if history is not None and len(history):
        prev = history[history["round_id"].astype(str) != str(round.round_id)]
        frames.insert(0, prev[[c for c in now.columns if c in prev.columns]])
    allrows = pd.concat(frames, ignore_index=True)
    counts = consecutive_listings(allrows, str(round.round_id))
    listed = now[now["list"] != ""][["level", "key", "label", "firm", "list"]]
    out = listed.merge(counts, on=["level", "key"], how="left")
    for col in ("black_consecutive", "black_total", "red_consecutive", "red_total"):
        out[col] = out[col].fillna(0).astype("int64")
    exit_warn = out["black_consecutive"] >= rules.escalation_count
    commend = out["red_consecutive"] >= rules.commendation_count
    out["flag"] = np.where(exit_warn, "退出预警", np.where(commend, "推荐表彰", ""))
    out["note"] = np.where(
        exit_warn, "连续 " + out["black_consecutive"].astype(str) + " 轮黑榜（≥ "
        + str(rules.escalation_count) + " 轮触发退出预警），累计黑榜 "
        + out["black_total"].astype(str) + " 次",
        np.where(out["list"] == RED, "连续 " + out["red_consecutive"].astype(str)
                 + " 轮红榜，累计红榜 " + out["red_total"].astype(str) + " 次",
                 "连续 " + out["black_consecutive"].astype(str) + " 轮黑榜，累计黑榜 "
                 + out["black_total"].astype(str) + " 次"))
    out.insert(0, "round_id", str(round.round_id))
    return out.sort_values(["level", "flag", "key"], ascending=[False, False, True],
                           kind="mergesort").reset_index(drop=True)
