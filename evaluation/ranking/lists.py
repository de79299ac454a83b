"""The 红黑榜: composite score, ranks, red/black lists with reasons, firm roll-up, escalation.

Inputs follow ``docs/architecture.md``: the round's 台账 (``round.register``) and the scoring
stage's ``scores.estates``. Rules come from ``[rules]`` (:mod:`evaluation.ranking.rules`). Everything
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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.ranking.escalation import escalations
from evaluation.ranking.firms import rank_firms
from evaluation.ranking.listing import BLACK, RED, join_texts, min_rank, num, pct, verdict_text
from evaluation.ranking.rules import VERDICT_POINTS, Rules, credit_grade, parse_rules
from wuye_common.errors import Problem, WuyeError

if TYPE_CHECKING:
    from evaluation.round import Round

ESTATE_COLUMNS = (
    "estate_id",
    "composite",
    "rank",
    "eligible",
    "list",
    "reasons",
    "criteria",
    "credit_grade",
    "complaints_per_100",
    "list_clean",
)
#: the scores without the flagged forms (:mod:`evaluation.scoring.sensitivity`) → the column
#: they stand in for when the lists are drawn again without those forms
CLEAN_SOURCES: dict[str, str] = {
    "rate": "rate_clean",
    "rate_low": "rate_clean_low",
    "rate_high": "rate_clean_high",
    "index": "index_clean",
    "n": "n_clean",
    "verdict": "verdict_clean",
}
SCORE_REQUIRED = ("estate_id", "rate", "rate_se", "rate_low", "rate_high", "index", "n", "verdict")


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


def rank_round(
    round: Round,
    scores_estates: pd.DataFrame,
    *,
    history: Any = None,
    rules: Rules | None = None,
    firms: pd.DataFrame | None = None,
) -> Ranking:
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
    rules = parse_rules(rules if rules is not None else getattr(round, "rules", None))
    register = round.register
    if firms is not None:
        register = _apply_firm_register(register, firms)
    frame = _merge_inputs(register, scores_estates)
    est = _rank_estates(frame, rules)
    est["list_clean"] = _clean_lists(frame, rules, est)
    firms = rank_firms(frame, est, rules, confidence=float(getattr(round, "confidence", 0.95)))
    esc = escalations(round, frame, est, firms, history, rules)
    return Ranking(
        estates=est[list(ESTATE_COLUMNS)].reset_index(drop=True),
        firms=firms.reset_index(drop=True),
        escalations=esc,
        rules=rules,
    )


# ----------------------------------------------------------------------------- inputs


def _apply_firm_register(register: pd.DataFrame, firms: pd.DataFrame) -> pd.DataFrame:
    """Check every 台账 firm is in the firm register; take firm-level credit scores from it."""
    from evaluation.round import REGISTER_COLUMNS
    from sampling.tables import rename_columns

    table = rename_columns(firms, {**REGISTER_COLUMNS, "企业名称": "firm"})
    if "firm" not in table.columns:
        raise WuyeError(
            Problem(
                "企业名录缺少「物业企业」列",
                "在第一行写上 物业企业（或 firm）",
                file=firms.attrs.get("file"),
                row=1,
            )
        )
    names = table["firm"].astype("string").str.strip()
    known = set(names.dropna())
    used = register["firm"].astype("string").str.strip()
    missing = sorted(set(used.dropna()) - known)
    if missing:
        raise WuyeError(
            Problem(
                f"台账中的物业企业不在企业名录中：{'、'.join(missing[:10])}",
                "在企业名录中补上这些企业，或改正台账中的企业名称",
                file=firms.attrs.get("file"),
                column="物业企业",
            )
        )
    if "credit_score" in table.columns:
        score = pd.to_numeric(table["credit_score"], errors="coerce")
        by_firm = pd.Series(score.to_numpy(), index=names.to_numpy()).groupby(level=0).max()
        register = register.assign(credit_score=used.map(by_firm).astype(float).to_numpy())
    return register


def _merge_inputs(register: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """台账 ⟕ scores on estate_id, with clear errors for mismatches."""
    problems: list[Problem] = []
    if scores is None or len(scores) == 0:
        raise WuyeError(
            Problem(
                "本轮还没有评分结果，不能排名",
                "先运行评分（wuye-eval score <轮次>），再运行 wuye-eval rank",
            )
        )
    missing = [c for c in SCORE_REQUIRED if c not in scores.columns]
    if missing:
        raise WuyeError(
            Problem(
                f"评分结果缺少列：{'、'.join(missing)}", "先运行评分（wuye-eval score），再排名"
            )
        )
    if scores["estate_id"].duplicated().any():
        dup = scores.loc[scores["estate_id"].duplicated(), "estate_id"].astype(str).unique()
        problems.append(
            Problem(f"评分结果中小区编号重复：{'、'.join(dup[:10])}", "每个小区只能有一行评分结果")
        )
    firm = register["firm"].astype("string").str.strip()
    no_firm = firm.isna() | (firm == "")
    if no_firm.any():
        ids = register.loc[no_firm, "estate_id"].astype(str).tolist()
        problems.append(
            Problem(
                f"台账中这些小区没有物业企业：{'、'.join(ids[:10])}",
                "在台账「物业企业」列补上企业名称",
                column="物业企业",
            )
        )
    unknown = ~scores["estate_id"].astype(str).isin(register["estate_id"].astype(str))
    if unknown.any():
        ids = scores.loc[unknown, "estate_id"].astype(str).tolist()
        problems.append(
            Problem(
                f"评分结果中的小区不在台账中：{'、'.join(ids[:10])}",
                "把这些小区（及其物业企业）补进台账，或检查小区编号",
            )
        )
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
    for col in (
        "rate",
        "rate_se",
        "rate_low",
        "rate_high",
        "index",
        "n",
        "response_rate",
        "threshold",
    ):
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
    per100 = frame["complaints"] / frame["households"] * 100.0 if "complaints" in frame else nan
    comps = pd.DataFrame(
        {
            "s_index": frame["index"].clip(0, 100),
            "s_verdict": frame["verdict"].map(VERDICT_POINTS).astype(float),
            "s_credit": frame["credit_score"].clip(0, 100) if "credit_score" in frame else nan,
            "s_complaints": 100.0 * (1.0 - (per100 / w.complaints_cap).clip(0, 1)),
            "s_inspection": (
                pd.to_numeric(frame[w.inspection_column], errors="coerce").clip(0, 100)
                if w.inspection_column in frame
                else nan
            ),
        },
        index=frame.index,
    ).astype(float)
    weights = np.array([w.index, w.verdict, w.credit, w.complaints, w.inspection])
    values = comps.to_numpy()
    have = ~np.isnan(values) & (weights > 0)
    num = np.where(have, values * weights, 0.0).sum(axis=1)
    den = np.where(have, weights, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        composite = np.where(den > 0, num / den, np.nan)
    # an unscored estate has no composite, whatever the register says
    composite = np.where(frame["verdict"].isin(list(VERDICT_POINTS)).to_numpy(), composite, np.nan)
    comps["composite"] = np.round(composite, 6)
    comps["complaints_per_100"] = per100.astype(float)
    return comps


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
        top = (
            np.logical_or.reduce(tests)
            if red_rule.mode == "either"
            else np.logical_and.reduce(tests)
        )
    else:
        top = pd.Series(True, index=est.index)
    red = eligible & est["verdict"].isin(list(red_rule.verdicts)) & top

    b = rules.black
    grade = (
        credit_grade(est["credit_score"], rules.credit_bands)
        if "credit_score" in est
        else pd.Series("", index=est.index)
    )
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
    comp = num(est["composite"]).astype(object)
    rank_text = "综合得分 " + comp + "，第 " + rank_str + "/" + str(n_el) + " 名"
    top_bits = []
    if red_rule.top_k > 0:
        top_bits.append(f"前 {red_rule.top_k} 名")
    if red_rule.top_share > 0:
        top_bits.append(f"前 {red_rule.top_share:.0%} 即前 {share_k} 名")
    joiner = "或" if red_rule.mode == "either" else "且"
    red_text = rank_text + ("（入选线：" + joiner.join(top_bits) + "）" if top_bits else "")
    bottom_text = (
        "在"
        + "/".join(b.bottom_among)
        + "小区中综合得分倒数第 "
        + pd.Series(from_bottom).astype("Int64").astype(str)
        + "（"
        + comp
        + " 分，倒数 "
        + str(b.bottom_k)
        + " 名上黑榜）"
    )
    credit_text = (
        "信用等级 "
        + grade
        + "（信用积分 "
        + (num(est["credit_score"]).astype(object) if "credit_score" in est else "")
        + "）"
    )
    why_not = join_texts(
        [
            np.where(~scored, "未评分（无有效样本），不参与排名", ""),
            np.where(
                scored & small_n,
                "样本量 "
                + num(est["n"], "%.0f").astype(object)
                + " < "
                + str(el.min_n)
                + "，不参与排名",
                "",
            ),
            np.where(
                scored & low_rr,
                "应答率 "
                + pct(est["response_rate"]).astype(object)
                + " < "
                + f"{el.min_response_rate:.0%}"
                + "，不参与排名",
                "",
            ),
        ],
        est.index,
    )
    reasons = join_texts(
        [
            np.where(est["list"] == RED, "红榜：", np.where(est["list"] == BLACK, "黑榜：", "")),
            vtext,
            np.where(red, red_text, ""),
            np.where(black_bottom, bottom_text, ""),
            np.where(black_credit, credit_text, ""),
            np.where(eligible & ~red, rank_text, ""),
            np.where(~eligible, why_not, ""),
        ],
        est.index,
    )
    est["reasons"] = reasons.str.replace("：；", "：", regex=False)
    est["criteria"] = join_texts(
        [
            np.where(red & (rank <= red_rule.top_k) if red_rule.top_k > 0 else False, "top_k", ""),
            np.where(red & (rank <= share_k) if red_rule.top_share > 0 else False, "top_share", ""),
            np.where(red & (red_rule.top_k == 0) & (red_rule.top_share == 0), "verdict", ""),
            np.where(black_verdict, "verdict", ""),
            np.where(black_bottom, "bottom_k", ""),
            np.where(black_credit, "credit_grade", ""),
            np.where(~eligible, "ineligible", ""),
        ],
        est.index,
        sep=",",
    )
    return est


def _clean_lists(frame: pd.DataFrame, rules: Rules, est: pd.DataFrame) -> pd.Series:
    """Each estate's list with the scores without the flagged forms; where it differs from
    its list, the reasons (in ``est``) say so."""
    if not all(c in frame.columns for c in CLEAN_SOURCES.values()):
        return est["list"].copy()
    clean = frame.copy()
    for column, source in CLEAN_SOURCES.items():
        clean[column] = clean[source]
    for column in ("rate", "rate_low", "rate_high", "index", "n"):
        clean[column] = pd.to_numeric(clean[column], errors="coerce").astype(float)
    clean["verdict"] = clean["verdict"].astype("string").fillna("").astype(str)
    lists = _rank_estates(clean, rules)["list"]
    changed = (lists != est["list"]).to_numpy()
    shown = lists.replace("", "不上榜")
    est.loc[changed, "reasons"] = (
        est.loc[changed, "reasons"] + "；质量敏感：剔除被标记的问卷后为「" + shown[changed] + "」"
    )
    return lists


def mark_list_sensitivity(estates: pd.DataFrame) -> pd.DataFrame:
    """``estates`` (scores merged with the ranking) with ``质量敏感`` added to ``flags``
    where ``list_clean`` differs from ``list``."""
    from evaluation.scoring.sensitivity import add_flag

    if not {"list", "list_clean", "flags"} <= set(estates.columns):
        return estates
    listed = estates["list"].astype("string").fillna("")
    clean = estates["list_clean"].astype("string").fillna("")
    return estates.assign(flags=add_flag(estates["flags"], (listed != clean).to_numpy()))
