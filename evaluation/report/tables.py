"""Display tables (Chinese headers, formatted text) for notebooks and the PDF.

Each helper takes a :class:`~evaluation.results.RoundResults` and returns a DataFrame of
strings ready to show; an empty result gives an empty frame (callers print 本轮无数据).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from evaluation.report import format as fmt
from evaluation.results import RoundResults
from evaluation.round import period_label

NO_DATA = "本轮无数据"
VERDICTS = ("达标", "临界", "未达标")

LABELS: dict[str, str] = {
    "estate_id": "小区编号",
    "estate_name": "小区名称",
    "community": "所属社区",
    "firm": "物业企业",
    "tier": "服务等级",
    "households": "户数",
    "threshold": "达标线",
    "rate": "满意率",
    "rate_low": "区间下限",
    "rate_high": "区间上限",
    "rate_se": "标准误",
    "index": "满意度指数",
    "index_low": "指数下限",
    "index_high": "指数上限",
    "n": "有效样本",
    "response_rate": "应答率（RR1）",
    "cooperation_rate": "合作率",
    "refusal_rate": "拒访率",
    "contact_rate": "接触率",
    "completion_rate": "样本完成率",
    "q_value": "q 值（全轮校正）",
    "p_value_red": "p 值（高于达标线）",
    "q_value_red": "q 值（高于达标线）",
    "p_threshold": "检验门槛（低于）",
    "p_threshold_red": "检验门槛（高于）",
    "rank_low": "名次区间下限",
    "rank_high": "名次区间上限",
    "p_top": "进入前列概率",
    "p_bottom": "落入末位概率",
    "nr_delta": "未应答敏感度 δ",
    "n_eff": "有效样本量",
    "nonprobability": "非概率样本",
    "collapsed_strata": "分层合并",
    "record_problem": "抽样记录问题",
    "margin_low": "下限超出达标线",
    "verdict": "结论",
    "point_pass": "点估计达标",
    "flags": "提示",
    "composite": "综合得分",
    "rank": "排名",
    "list": "榜单",
    "reasons": "理由",
    "dimension": "分项",
    "item_id": "题号",
    "ci_low": "区间下限",
    "ci_high": "区间上限",
    "estates": "小区数",
    "previous_rate": "上轮满意率",
    "diff": "变化",
    "diff_low": "变化下限",
    "diff_high": "变化上限",
    "significant": "显著",
    "indicator": "指标",
    "value": "数值",
    "target": "目标",
    "met": "是否达成",
    "note": "说明",
    "reason_code": "原因代码",
    "reason": "原因",
    "count": "数量",
    "importance": "重要性",
    "driver": "驱动因素",
    "coef": "系数",
    "p_value": "p 值",
    "period": "评估期",
    "round_id": "轮次",
    "read": "读入",
    "accepted": "接受",
    "quarantined": "隔离",
    "blank_rows": "跳过空行",
    "source_file": "来源文件",
    "level": "级别",
    "action": "处理",
    "deff": "设计效应",
    "df": "自由度",
    "se": "标准误",
    "N": "户数",
    "buildings": "楼栋数",
    "margin_at_threshold": "达标线处误差",
    "sample": "样本量",
    "credit_grade": "信用等级",
    "credit_score": "信用积分",
    "complaints": "投诉件数",
    "complaints_per_100": "每百户投诉",
    "eligible": "参与排名",
    "respondents": "答卷数",
    "census": "普查",
    "criteria": "依据代码",
    "performance": "满意率",
    "quadrant": "象限",
    "odds_ratio": "优势比",
    "or_low": "优势比下限",
    "or_high": "优势比上限",
    "label": "名称",
    "flag": "预警",
    "direction": "方向",
    "unit": "单位",
    "numerator": "分子",
    "denominator": "分母",
    "year": "年度",
    "coverage": "覆盖率",
    "estates_scored": "已计分小区",
    "estates_eligible": "参与排名小区",
    "red_estates": "红榜小区数",
    "black_estates": "黑榜小区数",
    "black_share": "黑榜户数占比",
    "series": "序列",
    "prev_round": "上一轮",
    "prev_rate": "上轮满意率",
    "change": "变化",
    "change_low": "变化下限",
    "change_high": "变化上限",
    "change_se": "变化标准误",
    "reserves": "备用样本",
    "planning_p": "规划比例",
    "design": "抽样设计",
    "imputed": "插补数",
    "pass": "达标",
    "borderline": "临界",
    "fail": "未达标",
    "rate_prev": "上轮满意率",
    "black_consecutive": "连续黑榜轮数",
    "red_consecutive": "连续红榜轮数",
    "black_total": "累计黑榜",
    "red_total": "累计红榜",
    "key": "编号",
    "z": "z 值",
    "index_prev": "上轮指数",
    "index_change": "指数变化",
    "index_significant": "指数变化显著",
    "index_direction": "指数方向",
    "fallback_strata": "回退分层",
    "rate_clean": "剔除标记后满意率",
    "rate_clean_low": "剔除后区间下限",
    "rate_clean_high": "剔除后区间上限",
    "index_clean": "剔除后指数",
    "n_clean": "剔除后样本",
    "verdict_clean": "剔除后结论",
    "list_clean": "剔除后榜单",
    "flagged_forms": "被标记问卷",
    "source_row": "原始行号",
    "response_id": "答卷编号",
    "surveyor": "调查员（假名）",
    "rules": "规则代码",
    "forms": "问卷数",
    "flagged_share": "被标记比例",
    "score": "造假风险分",
    "fabrication_flag": "风险分超阈值",
    "effect_flag": "满意率差异显著",
    "cmh_z": "差异 z 值",
    "checked": "已回访",
    "failed": "回访不实",
    "fail_rate": "不实率",
    "fail_low": "不实率下限",
    "fail_high": "不实率上限",
    "theme": "主题",
    "comment": "意见原文（已脱敏）",
    "mentions": "提及数",
    "dissatisfied_mentions": "不满意者提及数",
    "dissatisfied": "不满意人数",
    "share_dissatisfied": "占不满意者比例",
    "question": "题目",
    "interval_method": "区间方法",
    "sae_rate": "小区域估计",
    "sae_low": "小区域估计下限",
    "sae_high": "小区域估计上限",
    "power": "检验功效",
    "power_pass": "达标把握",
    "detectable_delta": "可识别差距",
    "census_recommended": "建议普查",
    "n_topup": "补充样本",
}
HIDDEN_COLUMNS = {"round_id"}
LEVELS = {"estate": "小区", "firm": "物业企业", "file": "文件"}
PERCENT_COLUMNS = {
    "rate",
    "rate_low",
    "rate_high",
    "ci_low",
    "ci_high",
    "response_rate",
    "threshold",
    "previous_rate",
    "share",
    "rate_se",
    "se",
    "performance",
    "coverage",
    "black_share",
    "prev_rate",
    "rate_prev",
    "planning_p",
    "change_se",
    "margin_at_threshold",
    "rate_clean",
    "rate_clean_low",
    "rate_clean_high",
    "flagged_share",
    "fail_rate",
    "fail_low",
    "fail_high",
    "share_dissatisfied",
    "cooperation_rate",
    "refusal_rate",
    "contact_rate",
    "completion_rate",
    "p_top",
    "p_bottom",
    "p_threshold",
    "p_threshold_red",
    "sae_rate",
    "sae_low",
    "sae_high",
    "power",
    "power_pass",
    "detectable_delta",
}
POINT_COLUMNS = {"diff", "diff_low", "diff_high", "change", "change_low", "change_high"}
NUMBER_COLUMNS = {
    "index",
    "index_low",
    "index_high",
    "composite",
    "deff",
    "index_prev",
    "index_change",
    "complaints_per_100",
    "index_clean",
    "score",
    "cmh_z",
}
# column renames from the stages' frames to the names the report reads (old → report)
ALIASES: dict[str, dict[str, str]] = {
    "district": {"rate_low": "ci_low", "rate_high": "ci_high"},
    "firms": {"rate_low": "ci_low", "rate_high": "ci_high"},
    "changes": {
        "rate_prev": "previous_rate",
        "change": "diff",
        "change_low": "diff_low",
        "change_high": "diff_high",
    },
}


def prepare(results: RoundResults) -> RoundResults:
    """The results with the column names the report reads (idempotent, cheap).

    Merge suffixes in ``estates`` (``firm_x``/``firm_y``) are coalesced, and interval and
    change columns of the other frames get the report's names (the originals stay).
    """
    if getattr(results, "_report_prepared", False):
        return results
    e = results.estates
    if not e.empty:
        e = e.copy()
        for suffix in ("_x", "_y", "_rank"):
            for col in [c for c in e.columns if c.endswith(suffix)]:
                base = col[: -len(suffix)]
                e[base] = e[base].combine_first(e[col]) if base in e.columns else e[col]
                e = e.drop(columns=col)
    changes = {"estates": e}
    for name, renames in ALIASES.items():
        frame = getattr(results, name)
        add = {
            new: frame[old]
            for old, new in renames.items()
            if old in frame.columns and new not in frame.columns
        }
        if add:
            changes[name] = frame.assign(**add)
    out = replace(results, **changes)
    object.__setattr__(out, "_report_prepared", True)
    return out


def estate_label_map(results: RoundResults) -> pd.DataFrame:
    """``estate_id`` → name, community, firm, tier from the estates frame or the 台账."""
    cols = ["estate_id", "estate_name", "community", "firm", "tier"]
    base = (
        results.estates
        if {"estate_id", "estate_name"} <= set(results.estates.columns)
        else results.round.register
    )
    have = [c for c in cols if c in base.columns]
    return base[have].drop_duplicates("estate_id") if "estate_id" in have else pd.DataFrame()


def format_frame(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Generic display: known columns renamed to Chinese, rates as 百分比, booleans 是/否."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    cols = [
        c
        for c in (columns or frame.columns)
        if c in frame.columns and (columns is not None or c not in HIDDEN_COLUMNS)
    ]
    out = pd.DataFrame(index=frame.index)
    for col in cols:
        s = frame[col]
        if col in PERCENT_COLUMNS and _numeric(s):
            out[col] = fmt.pct_series(s)
        elif col in POINT_COLUMNS and _numeric(s):
            out[col] = fmt.points_series(s)
        elif col in NUMBER_COLUMNS and _numeric(s):
            out[col] = fmt.number_series(s)
        elif col == "level":
            out[col] = fmt.text_series(s.map(lambda v: LEVELS.get(v, v)))
        elif s.dtype == bool:
            out[col] = s.map({True: "是", False: "否"}).astype(str)
        elif pd.api.types.is_float_dtype(s):
            whole = s.dropna()
            if len(whole) and (whole == whole.round()).all():
                out[col] = (
                    s.map(lambda v: f"{v:.0f}", na_action="ignore")
                    .astype(object)
                    .fillna(fmt.MISSING)
                )
            else:
                out[col] = fmt.number_series(s, 2)
        else:
            out[col] = fmt.text_series(s)
    out.columns = [LABELS.get(c, str(c)) for c in out.columns]
    return out.reset_index(drop=True)


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _col(frame: pd.DataFrame, name: str, default: object = pd.NA) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index)


def overview(results: RoundResults) -> pd.DataFrame:
    """Round overview: estates, households, sample, response rate and verdict counts."""
    results = prepare(results)
    e = results.estates
    rnd = results.round
    rows = [
        ("评估区域", rnd.district),
        ("评估期", period_label(rnd.period)),
        ("置信水平", fmt.pct(rnd.confidence, 0)),
    ]
    if not e.empty:
        counts = _col(e, "verdict").value_counts()
        rows += [
            ("参评小区", f"{len(e)} 个"),
            ("总户数", fmt.integer(pd.to_numeric(_col(e, "households"), errors="coerce").sum())),
            ("有效样本", fmt.integer(pd.to_numeric(_col(e, "n"), errors="coerce").sum())),
            (
                "平均应答率",
                fmt.pct(pd.to_numeric(_col(e, "response_rate"), errors="coerce").mean()),
            ),
            *((f"{v}小区", f"{int(counts.get(v, 0))} 个") for v in VERDICTS),
            ("红榜小区", f"{int((_col(e, 'list') == '红榜').sum())} 个"),
            ("黑榜小区", f"{int((_col(e, 'list') == '黑榜').sum())} 个"),
        ]
    d = results.district
    if not d.empty and {"tier", "rate"} <= set(d.columns):
        overall = d[~d["tier"].isin(list(rnd.thresholds))]
        if len(overall):
            r = overall.iloc[-1]
            rows.append(
                ("全区满意率（区间）", fmt.interval(r["rate"], r.get("ci_low"), r.get("ci_high")))
            )
    return pd.DataFrame(rows, columns=["项目", "内容"])


def tier_summary(results: RoundResults) -> pd.DataFrame:
    """Per tier: threshold, estates, verdict counts and (if scored) the tier's pooled rate."""
    results = prepare(results)
    e = results.estates
    if e.empty or "tier" not in e.columns:
        return pd.DataFrame()
    counts = pd.crosstab(e["tier"], _col(e, "verdict").fillna("—"))
    frame = pd.DataFrame({"tier": counts.index})
    frame["threshold"] = frame["tier"].map(results.round.thresholds)
    frame["estates"] = counts.sum(axis=1).to_numpy()
    for v in VERDICTS:
        frame[v] = counts[v].to_numpy() if v in counts.columns else 0
    d = results.district
    if not d.empty and {"tier", "rate"} <= set(d.columns):
        keep = [c for c in ("tier", "rate", "ci_low", "ci_high") if c in d.columns]
        frame = frame.merge(d[keep], on="tier", how="left")
    order = {t: i for i, t in enumerate(results.round.thresholds)}
    frame = frame.sort_values("tier", key=lambda s: s.map(order).fillna(99)).reset_index(drop=True)
    out = format_frame(frame, ["tier", "threshold", "estates", *VERDICTS])
    if "rate" in frame.columns:
        out["满意率（区间）"] = fmt.interval_series(
            frame["rate"], _col(frame, "ci_low"), _col(frame, "ci_high")
        ).to_numpy()
    return out


def estates_table(results: RoundResults, estate_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every estate: name, tier, threshold, rate with interval, index, sample, verdict, list."""
    results = prepare(results)
    e = results.estates
    if e.empty:
        return pd.DataFrame()
    if estate_ids is not None:
        e = e[e["estate_id"].isin(list(estate_ids))]
    e = e.sort_values([c for c in ("rank", "estate_id") if c in e.columns])
    out = pd.DataFrame(
        {
            "小区编号": fmt.text_series(e["estate_id"]),
            "小区名称": fmt.text_series(_col(e, "estate_name", "")),
            "物业企业": fmt.text_series(_col(e, "firm", "")),
            "等级": fmt.text_series(_col(e, "tier", "")),
            "达标线": fmt.pct_series(_col(e, "threshold")),
            "满意率（区间）": fmt.interval_series(
                _col(e, "rate"), _col(e, "rate_low"), _col(e, "rate_high")
            ),
            "满意度指数": fmt.index_interval_series(
                _col(e, "index"), _col(e, "index_low"), _col(e, "index_high")
            ),
            "样本": fmt.text_series(_col(e, "n").astype("Int64")) if "n" in e else "",
            "结论": fmt.text_series(_col(e, "verdict", "")),
            "q 值": fmt.number_series(pd.to_numeric(_col(e, "q_value"), errors="coerce"), 3),
            "名次（95% 区间）": rank_interval_series(e),
            "榜单": fmt.text_series(_col(e, "list", "")),
        }
    )
    return out.reset_index(drop=True)


def rank_interval_series(frame: pd.DataFrame) -> pd.Series:
    """``3（1–12）``: the rank and its simultaneous 95% interval; — when not ranked."""
    rank, low, high = (
        pd.to_numeric(_col(frame, c), errors="coerce") for c in ("rank", "rank_low", "rank_high")
    )
    text = (
        rank.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
        + "（"
        + low.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
        + "–"
        + high.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
        + "）"
    )
    plain = rank.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
    return text.fillna(plain).fillna(fmt.MISSING).astype(str)


SMALL_SAMPLE = 30
"""Estates with fewer valid answers than this get their small-area estimate shown."""
SAE_SENTENCE = (
    "小区域估计借用同一服务等级其他小区的调查结果，使样本较少的小区的满意率估计更稳定；"
    "它仅作参考，达标判定仍以本小区的直接调查结果为准。"
)
OC_SENTENCE = (
    "图中曲线表示：按本轮抽样方案，一个小区的真实满意率比达标线高或低若干个百分点时，被判为"
    "「达标」（实线）或「未达标」（虚线）的概率；真实满意率恰在达标线上的小区被误判为"
    "「未达标」的概率不超过 2.5%。"
)


def small_area_table(results: RoundResults, below: int = SMALL_SAMPLE) -> pd.DataFrame:
    """Estates with fewer than ``below`` valid answers: the direct rate with its interval
    beside the small-area estimate with its interval."""
    results = prepare(results)
    e = results.estates
    if e.empty or not {"sae_rate", "n"} <= set(e.columns):
        return pd.DataFrame()
    e = e[(pd.to_numeric(e["n"], errors="coerce") < below) & e["sae_rate"].notna()]
    if e.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "小区名称": fmt.text_series(_col(e, "estate_name", "")),
            "等级": fmt.text_series(_col(e, "tier", "")),
            "有效样本": fmt.text_series(e["n"].astype("Int64")),
            "直接估计（区间）": fmt.interval_series(e["rate"], e["rate_low"], e["rate_high"]),
            "小区域估计（区间）": fmt.interval_series(e["sae_rate"], e["sae_low"], e["sae_high"]),
            "结论": fmt.text_series(_col(e, "verdict", "")),
        }
    ).reset_index(drop=True)


def plan_power_table(results: RoundResults) -> pd.DataFrame:
    """Per tier the plan's cost and exact power: estates, households to approach, expected
    respondents, power at T − delta (lowest–highest), 达标把握 at T + delta, census
    recommendations."""
    results = prepare(results)
    plan, e = results.plan, results.estates
    if plan.empty or "power" not in plan.columns or e.empty or "tier" not in e.columns:
        return pd.DataFrame()
    first = e.drop_duplicates("estate_id")
    tiers = pd.Series(first["tier"].to_numpy(), index=first["estate_id"].astype(str).to_numpy())
    p = plan.assign(tier=plan["estate_id"].astype(str).map(tiers))
    p = p[p["N"] > 0]
    order = [t for t in results.round.thresholds if t in set(p["tier"])]
    rows = []
    for tier in order:
        g = p[p["tier"] == tier]
        census = g["census_recommended"].astype(bool) if "census_recommended" in g else False
        topup = g["n_topup"].sum() if "n_topup" in g else 0
        rows.append(
            {
                "服务等级": tier,
                "小区数": str(len(g)),
                "计划入户": str(int(g["n"].sum() + topup)),
                "预计应答": str(int(g["respondents"].sum())),
                "检验功效": f"{fmt.pct(g['power'].min(), 0)}{fmt.DASH}{fmt.pct(g['power'].max(), 0)}",
                "达标把握": f"{fmt.pct(g['power_pass'].min(), 0)}{fmt.DASH}"
                f"{fmt.pct(g['power_pass'].max(), 0)}",
                "建议普查": str(int(np.sum(census))),
            }
        )
    return pd.DataFrame(rows)


def lists_table(results: RoundResults, which: str) -> pd.DataFrame:
    """Estates on ``which`` (``"红榜"``/``"黑榜"``) with rate, firm and the reasons."""
    results = prepare(results)
    e = results.estates
    if e.empty or "list" not in e.columns:
        return pd.DataFrame()
    e = e[e["list"] == which]
    if e.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "小区名称": fmt.text_series(_col(e, "estate_name", "")),
            "物业企业": fmt.text_series(_col(e, "firm", "")),
            "满意率（区间）": fmt.interval_series(
                _col(e, "rate"), _col(e, "rate_low"), _col(e, "rate_high")
            ),
            "结论": fmt.text_series(_col(e, "verdict", "")),
            "理由": fmt.text_series(_col(e, "reasons", "")),
        }
    ).reset_index(drop=True)


def firms_table(results: RoundResults) -> pd.DataFrame:
    """Firm roll-up: estates, households, pooled rate with interval, list and reasons."""
    results = prepare(results)
    f = results.firms
    if f.empty:
        return pd.DataFrame()
    out = format_frame(f, [c for c in ("firm", "estates", "households") if c in f.columns])
    if "rate" in f.columns:
        out["满意率（区间）"] = fmt.interval_series(
            f["rate"], _col(f, "ci_low"), _col(f, "ci_high")
        ).to_numpy()
    if "rank" in f.columns:
        out["名次（95% 区间）"] = rank_interval_series(f).to_numpy()
    for col in ("verdict", "credit_grade", "list", "reasons"):
        if col in f.columns:
            out[LABELS[col]] = fmt.text_series(f[col]).to_numpy()
    return out


def changes_table(results: RoundResults) -> pd.DataFrame:
    """Change since the previous round per estate (names joined in)."""
    results = prepare(results)
    c = results.changes
    if c.empty or "estate_id" not in c.columns:
        return pd.DataFrame()
    names = estate_label_map(results)
    c = (
        c.merge(names[["estate_id", "estate_name"]], on="estate_id", how="left")
        if "estate_name" in names.columns and "estate_name" not in c.columns
        else c
    )
    cur = (
        results.estates[["estate_id", "rate"]]
        if {"estate_id", "rate"} <= set(results.estates.columns) and "rate" not in c.columns
        else None
    )
    if cur is not None:
        c = c.merge(cur, on="estate_id", how="left")
    out = format_frame(c, [x for x in ("estate_name", "previous_rate", "rate") if x in c.columns])
    if "diff" in c.columns:
        change = fmt.points_series(c["diff"])
        if {"diff_low", "diff_high"} <= set(c.columns):
            change = (
                change
                + "（"
                + fmt.points_series(c["diff_low"]).str.replace("个百分点", "")
                + fmt.DASH
                + fmt.points_series(c["diff_high"])
                + "）"
            )
        out["变化（区间）"] = change.to_numpy()
    if "significant" in c.columns:
        out["显著"] = c["significant"].map({True: "是", False: "否"}).fillna("—").to_numpy()
    if "direction" in c.columns:
        out["方向"] = fmt.text_series(c["direction"]).to_numpy()
    return out


def dimensions_table(results: RoundResults, estate_id: str | None = None) -> pd.DataFrame:
    """Dimension rates with intervals (one estate, or all estates with names)."""
    results = prepare(results)
    d = results.dimensions
    if d.empty:
        return pd.DataFrame()
    if estate_id is not None:
        d = d[d["estate_id"].astype(str) == str(estate_id)]
        if d.empty:
            return pd.DataFrame()
    out = pd.DataFrame({"分项": fmt.text_series(d["dimension"])})
    if estate_id is None:
        out.insert(0, "小区编号", fmt.text_series(d["estate_id"]))
    out["满意率（区间）"] = fmt.interval_series(
        _col(d, "rate"), _col(d, "ci_low"), _col(d, "ci_high")
    )
    if "index" in d.columns:
        out["指数"] = fmt.number_series(d["index"])
    if "n" in d.columns:
        out["样本"] = fmt.text_series(d["n"].astype("Int64"))
    return out.reset_index(drop=True)


def estate_profile(results: RoundResults, estate_id: str) -> pd.DataFrame:
    """One estate's key facts as a two-column table."""
    results = prepare(results)
    e = results.estates
    row = e[e["estate_id"].astype(str) == str(estate_id)] if "estate_id" in e.columns else e
    if row.empty:
        return pd.DataFrame()
    r = row.iloc[0]
    g = r.get
    facts = [
        ("小区名称", g("estate_name", "")),
        ("所属社区", g("community", "")),
        ("物业企业", g("firm", "")),
        ("服务等级", g("tier", "")),
        ("户数", fmt.integer(g("households"))),
        ("有效样本", fmt.integer(g("n"))),
        ("应答率", fmt.pct(g("response_rate"))),
        ("达标线", fmt.pct(g("threshold"))),
        ("满意率（区间）", fmt.interval(g("rate"), g("rate_low"), g("rate_high"))),
        ("满意度指数", fmt.index_interval(g("index"), g("index_low"), g("index_high"))),
        ("结论", g("verdict", "")),
        ("榜单", g("list", "") or "—"),
        ("理由", g("reasons", "") or "—"),
        ("提示", g("flags", "") or "—"),
    ]
    return pd.DataFrame(
        [(k, "" if pd.isna(v) else str(v)) for k, v in facts], columns=["项目", "内容"]
    )


def indicators_table(results: RoundResults) -> pd.DataFrame:
    """Action-plan indicators: value against target (shares as 百分比), met or not."""
    results = prepare(results)
    ind = results.indicators
    if ind.empty:
        return pd.DataFrame()
    name = ind["label"] if "label" in ind.columns else _col(ind, "indicator", "")
    v = pd.to_numeric(_col(ind, "value"), errors="coerce")
    t = pd.to_numeric(_col(ind, "target"), errors="coerce")
    unit = _col(ind, "unit", "").astype(object).fillna("")
    share = (unit == "比例") | (
        (v.between(0, 1) | v.isna()) & (t.between(0, 1) | t.isna()) & (unit == "")
    )
    out = pd.DataFrame(
        {
            "指标": fmt.text_series(name),
            "数值": np.where(share, fmt.pct_series(v), fmt.number_series(v, 2)),
            "目标": np.where(share, fmt.pct_series(t), fmt.number_series(t, 2)),
            "是否达成": _col(ind, "met").map({True: "是", False: "否"}).fillna("—").astype(str),
        }
    )
    if {"numerator", "denominator"} <= set(ind.columns):
        out["计算"] = (
            fmt.number_series(ind["numerator"], 0)
            + " / "
            + fmt.number_series(ind["denominator"], 0)
        )
    if "note" in ind.columns:
        out["说明"] = fmt.text_series(ind["note"])
    return out.reset_index(drop=True)


def escalations_table(results: RoundResults) -> pd.DataFrame:
    """Escalations: who (estate or firm), list, warning and the note."""
    results = prepare(results)
    esc = results.escalations
    if esc.empty:
        return pd.DataFrame()
    if "label" in esc.columns or "flag" in esc.columns:
        return format_frame(esc, ["level", "label", "firm", "list", "flag", "note"])
    return format_frame(esc)


def drivers_table(results: RoundResults) -> pd.DataFrame:
    """Key drivers: odds ratio with interval, p value, relative importance, rank."""
    results = prepare(results)
    d = results.drivers
    if d.empty:
        return pd.DataFrame()
    if "odds_ratio" not in d.columns:
        return format_frame(d)
    d = d.sort_values("rank") if "rank" in d.columns else d
    out = pd.DataFrame({"分项": fmt.text_series(_col(d, "dimension", ""))})
    ratio = fmt.number_series(d["odds_ratio"], 2)
    if {"or_low", "or_high"} <= set(d.columns):
        ratio = (
            ratio
            + "（"
            + fmt.number_series(d["or_low"], 2)
            + fmt.DASH
            + fmt.number_series(d["or_high"], 2)
            + "）"
        )
    out["优势比（区间）"] = ratio.to_numpy()
    if "p_value" in d.columns:
        pv = pd.to_numeric(d["p_value"], errors="coerce")
        out["p 值"] = np.where(pv < 0.001, "<0.001", fmt.number_series(pv, 3))
    if "importance" in d.columns:
        out["相对重要性"] = fmt.pct_series(d["importance"]).to_numpy()
    if "rank" in d.columns:
        out["排名"] = fmt.number_series(d["rank"], 0).to_numpy()
    if "note" in d.columns:
        out["说明"] = fmt.text_series(d["note"]).to_numpy()
    return out.reset_index(drop=True)


def importance_table(results: RoundResults) -> pd.DataFrame:
    """Importance–performance: each dimension's rate, importance and quadrant."""
    results = prepare(results)
    imp = results.importance
    if imp.empty:
        return pd.DataFrame()
    out = format_frame(imp)
    if "importance" in imp.columns:
        out["重要性"] = fmt.number_series(imp["importance"], 2).to_numpy()
    return out


def ingest_table(results: RoundResults, files_only: bool = False) -> pd.DataFrame:
    """Read / accepted / quarantined counts and skipped blank rows (per file only when
    ``files_only``; a round ingested before blank rows were counted has no such column)."""
    results = prepare(results)
    ic = results.ingest_counts
    if ic.empty:
        return pd.DataFrame()
    if files_only and "level" in ic.columns:
        ic = ic[ic["level"] == "file"]
        columns = ["source_file", "read", "accepted", "quarantined", "blank_rows"]
        return format_frame(ic, [c for c in columns if c in ic.columns])
    return format_frame(ic)


def quarantine_table(results: RoundResults) -> pd.DataFrame:
    """Quarantined rows by reason, with a total row."""
    results = prepare(results)
    qs = results.quarantine_summary
    out = format_frame(
        qs,
        [c for c in qs.columns if c not in ("round_id", "reason_code")]
        if "reason" in qs.columns
        else None,
    )
    if out.empty or "count" not in qs.columns:
        return out
    total = pd.DataFrame({c: [""] for c in out.columns})
    total.iloc[0, 0] = "合计"
    total.iloc[0, -1] = fmt.integer(pd.to_numeric(qs["count"], errors="coerce").sum())
    return pd.concat([out, total], ignore_index=True)


class NoData:
    """Displays 本轮无数据 in notebooks (Markdown) and as plain text."""

    def _repr_markdown_(self) -> str:
        return f"*{NO_DATA}*"

    def __repr__(self) -> str:
        return NO_DATA


def show(frame: pd.DataFrame | None) -> Any:
    """``frame`` for display without the row index, or :class:`NoData` when it is empty.

    Cell text is HTML-escaped: names come from other people's spreadsheets, and a Styler
    otherwise passes ``<script>`` or ``onerror=`` straight into the HTML report."""
    if frame is None or frame.empty:
        return NoData()
    return frame.style.hide(axis="index").format(escape="html")


class Heading:
    """A heading whose text is shown as text, never as HTML or Markdown (see :func:`heading`)."""

    def __init__(self, text: str, level: int = 2) -> None:
        self.text, self.level = str(text), int(level)

    def _repr_html_(self) -> str:
        import html

        return f"<h{self.level}>{html.escape(self.text)}</h{self.level}>"

    def __repr__(self) -> str:
        return self.text


def heading(text: str, level: int = 2) -> Heading:
    """A notebook heading for ``text`` (an estate or district name), escaped for HTML."""
    return Heading(text, level)


#: rule codes as the reports name them
RULE_LABELS: dict[str, str] = {
    "speeder": "答题过快",
    "duplicate": "重复提交",
    "straightline": "直线作答",
    "extreme": "极端作答",
    "one_source": "同源多份",
    "burst": "集中提交",
    "near_duplicate": "雷同答卷",
    "fast": "用时异常短",
    "odd_hours": "非正常时段",
    "not_in_frame": "不在住户清册",
    "surveyor_effect": "调查员差异",
    "fabrication": "调查员风险",
    "backcheck_fabricated": "回访证伪",
    "backcheck_differs": "回访不符",
}


def quality_by_estate(results: RoundResults) -> pd.DataFrame:
    """Per estate: flagged forms and the count of each rule (codes as columns, Chinese
    labels), with the estate's name; empty without flags."""
    flags = results.quality_flags
    if flags.empty or "rules" not in flags.columns:
        return pd.DataFrame()
    long = flags.assign(rule=flags["rules"].astype(str).str.split(";")).explode("rule")
    table = pd.crosstab(long["estate_id"].astype(str), long["rule"])
    table = table[[c for c in RULE_LABELS if c in table.columns]]
    table.insert(0, "flagged_forms", flags.groupby(flags["estate_id"].astype(str)).size())
    table = table.reset_index().rename(columns={"estate_id": "estate_id"})
    names = estate_label_map(results)
    if not names.empty:
        names = names.assign(estate_id=names["estate_id"].astype(str))
        table = names[["estate_id", "estate_name"]].merge(table, on="estate_id", how="right")
    return table.rename(
        columns={**RULE_LABELS, "estate_name": "小区名称", "flagged_forms": "被标记问卷"}
    )


def quality_estates_table(results: RoundResults) -> pd.DataFrame:
    """The estates whose verdict or list depends on the flagged forms: both figures."""
    e = prepare(results).estates
    if e.empty or "flags" not in e.columns:
        return pd.DataFrame()
    sensitive = e[e["flags"].astype(str).str.contains("质量敏感", na=False)]
    cols = [
        "estate_name",
        "flagged_forms",
        "rate",
        "verdict",
        "rate_clean",
        "verdict_clean",
        "list",
        "list_clean",
    ]
    return format_frame(sensitive, [c for c in cols if c in sensitive.columns])


def surveyors_table(results: RoundResults) -> pd.DataFrame:
    """Per surveyor (pseudonym): forms, flagged share, surveyor effect, fabrication score,
    back-check rates."""
    s = results.quality_surveyors
    if s.empty:
        return pd.DataFrame()
    cols = [
        "surveyor",
        "forms",
        "estates",
        "flagged_share",
        "cmh_z",
        "q_value",
        "effect_flag",
        "score",
        "fabrication_flag",
        "checked",
        "failed",
        "fail_rate",
        "fail_low",
        "fail_high",
    ]
    return s[[c for c in cols if c in s.columns]].sort_values("score", ascending=False)


def themes_by_estate(results: RoundResults) -> pd.DataFrame:
    """Comment themes per estate with the estate's name, most mentioned first."""
    t = results.comment_themes
    if t.empty:
        return pd.DataFrame()
    names = estate_label_map(results)
    t = t.assign(estate_id=t["estate_id"].astype(str))
    if not names.empty:
        names = names.assign(estate_id=names["estate_id"].astype(str))
        t = names[["estate_id", "estate_name"]].merge(t, on="estate_id", how="right")
    return t


def themes_by_firm(results: RoundResults) -> pd.DataFrame:
    """Comment themes per firm: ``firm, theme, mentions, dissatisfied_mentions`` summed over
    the firm's estates, ``dissatisfied`` (the dissatisfied respondents of its estates that
    have comments) and ``share_dissatisfied``; most mentioned first within each firm."""
    t = results.comment_themes
    names = estate_label_map(results)
    if t.empty or "firm" not in names.columns:
        return pd.DataFrame()
    firm = pd.Series(names["firm"].to_numpy(), index=names["estate_id"].astype(str).to_numpy())
    t = t.assign(firm=t["estate_id"].astype(str).map(firm)).dropna(subset=["firm"])
    base = t.drop_duplicates("estate_id").groupby("firm")["dissatisfied"].sum()
    out = t.groupby(["firm", "theme"], as_index=False)[["mentions", "dissatisfied_mentions"]].sum()
    out["dissatisfied"] = out["firm"].map(base).fillna(0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_dissatisfied"] = out["dissatisfied_mentions"] / out["dissatisfied"].where(
            out["dissatisfied"] > 0
        )
    return out.sort_values(["firm", "mentions"], ascending=[True, False]).reset_index(drop=True)


def district_themes(results: RoundResults, top: int = 12) -> pd.DataFrame:
    """Themes over the district: ``theme, mentions, dissatisfied_mentions`` (``其他``
    last), the ``top`` most mentioned."""
    t = results.comment_themes
    if t.empty:
        return pd.DataFrame()
    total = (
        t.groupby("theme")[["mentions", "dissatisfied_mentions"]].sum().reset_index()
    ).sort_values("mentions", ascending=False)
    total = pd.concat([total[total["theme"] != "其他"], total[total["theme"] == "其他"]])
    return total.head(top).reset_index(drop=True)
