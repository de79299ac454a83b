"""The 红黑榜: composite score, ranks with their uncertainty, red/black lists with reasons,
firm roll-up, escalation.

Inputs follow ``docs/architecture.md``: the round's 台账 (``round.register``) and the scoring
stage's ``scores.estates``. Rules come from ``[rules]`` (:mod:`evaluation.ranking.rules`).
Everything is vectorised over estates and firms; reasons are plain Chinese with the numbers.

Decision procedure, per estate:

1. **Eligible** = scored, ``n ≥ min_n`` (the minimum scoring flags 样本量不足 with), AAPOR
   RR1 ≥ ``min_response_rate`` (not checked when unknown), and a probability sample (or
   ``[rules] allow_nonprobability = true``). Ineligible estates get no rank and no list;
   the reason says why.
2. **Composite** (0–100) relative to the tier threshold (:mod:`evaluation.ranking.composite`).
3. **Rank** over eligible estates by ``tie_break`` (default composite ↓, rate_low ↓, n ↓);
   estates equal on every key share the smaller rank ("1224"). Each gets a simultaneous
   95% rank interval and its chances of the top and bottom cuts
   (:mod:`evaluation.ranking.uncertainty`).
4. **Evidence**: a verdict counts for a list only with its multiplicity-controlled test —
   black needs ``q_value ≤ [rules.black] fdr`` (Benjamini–Hochberg over the round's
   estates, H0: rate ≥ T), red ``q_value_red ≤ [rules.red] fdr`` (H0: rate < T). A red
   rank cut counts when the point rank is inside it and the estate is more likely than
   not there (``p_top ≥ 50%``, :data:`~evaluation.ranking.listing.P_TOP_MIN`); the black
   ``bottom_k`` cut only when the whole rank interval lies inside it (naming needs
   certainty). An estate's own survey
   result lists it on no list when the verdict is 应答偏差敏感 or the sampling record
   contradicts the answers (样本多于户数).
5. **Black** if any black criterion holds (verdict with its test, bottom k among
   临界/未达标 supported by the rank intervals, credit grade). **Red** if verdict in the
   red verdicts with its test and the rank criterion holds, and not black: black wins.

Per firm: :func:`~evaluation.ranking.firms.firm_rollup` (a stratified design-based estimate
with the estates as strata, interval by the round's method, p- and q-values across the
firms), ranked by household-weighted composite with rank intervals; red if 达标 with its
test, in the top (point rank and p_top ≥ 50%) and without black estates; black if its weighted verdict
is 未达标 with its test, estates black on their own tested verdict hold ≥
``black_estate_share`` of its eligible households, or its credit grade is listed.
Escalation counts come from :func:`evaluation.history.consecutive_listings`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from evaluation.ranking.escalation import escalations
from evaluation.ranking.estates import Context, rank_estates
from evaluation.ranking.firms import rank_firms
from evaluation.ranking.rules import VERDICT_POINTS, Rules, parse_rules
from evaluation.ranking.uncertainty import Design
from evaluation.scoring.nonresponse import robust_thresholds
from evaluation.scoring.pvalues import bh_q_values, threshold_p_values
from wuye_common.errors import Problem, WuyeError

if TYPE_CHECKING:
    from evaluation.round import Round

ESTATE_COLUMNS = (
    "estate_id",
    "composite",
    "rank",
    "rank_low",
    "rank_high",
    "p_top",
    "p_bottom",
    "p_value",
    "q_value",
    "p_value_red",
    "q_value_red",
    "eligible",
    "list",
    "reasons",
    "criteria",
    "credit_grade",
    "complaints_per_100",
    "list_clean",
)
SCORE_REQUIRED = ("estate_id", "rate", "rate_se", "rate_low", "rate_high", "index", "n", "verdict")
#: numeric columns of the scores read when present (design, tests, sensitivity)
OPTIONAL_NUMBERS = (
    "df",
    "fpc",
    "index_low",
    "index_high",
    "p_value",
    "q_value",
    "p_value_red",
    "q_value_red",
    "nr_delta",
)
#: the threshold tests of the scores (computed by :func:`_with_tests` when absent)
TEST_COLUMNS = ("p_value", "q_value", "p_value_red", "q_value_red")


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
    ctx = Context(
        confidence=float(getattr(round, "confidence", 0.95) or 0.95),
        method=design_method(getattr(round, "interval_method", None)),
        seed=int(getattr(round, "seed", 0) or 0),
    )
    frame = _with_tests(_merge_inputs(register, scores_estates), ctx.confidence, rules)
    est, uncertain = rank_estates(frame, rules, ctx)
    est["list_clean"] = _clean_lists(frame, rules, ctx, est)
    firms = rank_firms(est, rules, uncertain, confidence=ctx.confidence, method=ctx.method)
    esc = escalations(round, frame, est, firms, history, rules)
    return Ranking(
        estates=est[list(ESTATE_COLUMNS)].reset_index(drop=True),
        firms=firms.reset_index(drop=True),
        escalations=esc,
        rules=rules,
    )


def design_method(interval_method: str | None) -> str:
    """The design-based interval method of the ranking's intervals: the round's method, or
    ``beta`` where the round says ``exact`` (the exact interval is used per estate where
    the estate's own ``interval_method`` says so, :mod:`evaluation.ranking.uncertainty`;
    firms are stratified estimates, never an SRS of one estate)."""
    method = str(interval_method or "beta")
    return "beta" if method == "exact" else method


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
    return _typed(out)


def _typed(out: pd.DataFrame) -> pd.DataFrame:
    """The merged table's columns in the types the ranking reads (numbers as float, flags
    as bool, texts as str); required numbers absent become NaN."""
    required = ("rate", "rate_se", "rate_low", "rate_high", "index", "n", "response_rate")
    for col in (*required, "threshold", *OPTIONAL_NUMBERS):
        if col in out.columns:
            out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
        elif col not in OPTIONAL_NUMBERS:
            out[col] = np.nan
    out["households"] = pd.to_numeric(out["households"], errors="coerce").astype(float)
    out["verdict"] = out["verdict"].astype("string").fillna("").astype(str)
    for col in ("census", "nonprobability"):
        if col in out.columns:
            out[col] = out[col].astype("boolean").fillna(False).astype(bool)
    for col in ("flags", "record_problem"):
        if col in out.columns:
            out[col] = out[col].astype("string").fillna("").astype(str)
    return out


def _with_tests(frame: pd.DataFrame, confidence: float, rules: Rules) -> pd.DataFrame:
    """Scores without p-values (an earlier version's, or hand-made): computed here as
    scoring does (:func:`~evaluation.scoring.pvalues.threshold_p_values` against the
    non-response-robust thresholds) from what the scores hold (an SRS's df and no FPC where
    the design columns are absent), q-values over the round."""
    if set(TEST_COLUMNS) <= set(frame.columns):
        return frame
    d = Design.of(frame, confidence)
    below_t, above_t = robust_thresholds(
        frame["threshold"].to_numpy(float),
        frame["response_rate"].to_numpy(float),
        rules.eligibility.nr_odds_ratio,
    )
    args = (d.rate, d.var, d.n, d.df, d.census, d.fpc)
    srs = {"exact": d.exact, "households": d.households}
    below = threshold_p_values(*args, below_t, confidence=confidence, **srs)[0]
    above = threshold_p_values(*args, above_t, confidence=confidence, **srs)[1]
    scored = frame["verdict"].isin(list(VERDICT_POINTS)).to_numpy()
    below, above = np.where(scored, below, np.nan), np.where(scored, above, np.nan)
    return frame.assign(
        p_value=below,
        q_value=bh_q_values(below),
        p_value_red=above,
        q_value_red=bh_q_values(above),
    )


def _clean_lists(frame: pd.DataFrame, rules: Rules, ctx: Context, est: pd.DataFrame) -> pd.Series:
    """Each estate's list under the same rules with the scores without the flagged forms
    (:data:`~evaluation.scoring.sensitivity.CLEAN_SOURCES`: rates, design, p- and q-values
    of the round scored again without them; tests absent from older scores are computed
    from the clean design, :func:`_with_tests`), with its own rank intervals and chances;
    where it differs from the estate's list, the reasons (in ``est``) say so."""
    from evaluation.scoring.sensitivity import CLEAN_SOURCES

    if not {"rate_clean", "verdict_clean"} <= set(frame.columns):
        return est["list"].copy()
    clean = frame.copy()
    for column, source in CLEAN_SOURCES.items():
        if source in frame.columns:
            clean[column] = frame[source]
        elif column in TEST_COLUMNS:
            clean = clean.drop(columns=column, errors="ignore")
    clean = _typed(clean.drop(columns=list(CLEAN_SOURCES.values()), errors="ignore"))
    clean = _with_tests(clean, ctx.confidence, rules)
    lists = rank_estates(clean, rules, ctx)[0]["list"]
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
