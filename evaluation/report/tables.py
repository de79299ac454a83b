"""Display tables (Chinese headers, formatted text) for notebooks and the PDF.

Each helper takes a :class:`~evaluation.results.RoundResults` and returns a DataFrame of
strings ready to show; an empty result gives an empty frame (callers print 本轮无数据).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from evaluation.report import format as fmt
from evaluation.results import RoundResults
from evaluation.round import period_label

NO_DATA = "本轮无数据"
VERDICTS = ("达标", "临界", "未达标")

LABELS: dict[str, str] = {
    "estate_id": "小区编号", "estate_name": "小区名称", "community": "所属社区",
    "firm": "物业企业", "tier": "服务等级", "households": "户数", "threshold": "达标线",
    "rate": "满意率", "rate_low": "区间下限", "rate_high": "区间上限", "rate_se": "标准误",
    "index": "满意度指数", "index_low": "指数下限", "index_high": "指数上限", "n": "有效样本",
    "response_rate": "应答率", "verdict": "结论", "point_pass": "点估计达标", "flags": "提示",
    "composite": "综合得分", "rank": "排名", "list": "榜单", "reasons": "理由",
    "dimension": "分项", "item_id": "题号", "ci_low": "区间下限", "ci_high": "区间上限",
    "estates": "小区数", "previous_rate": "上轮满意率", "diff": "变化", "diff_low": "变化下限",
    "diff_high": "变化上限", "significant": "显著", "indicator": "指标", "value": "数值",
    "target": "目标", "met": "是否达成", "note": "说明", "reason_code": "原因代码",
    "reason": "原因", "count": "数量", "importance": "重要性", "driver": "驱动因素",
    "coef": "系数", "p_value": "p 值", "period": "评估期", "round_id": "轮次", "read": "读入",
    "accepted": "接受", "quarantined": "隔离", "source_file": "来源文件", "level": "级别",
    "action": "处理", "deff": "设计效应", "df": "自由度", "se": "标准误", "N": "户数",
    "buildings": "楼栋数", "margin_at_threshold": "达标线处误差", "sample": "样本量",
}
PERCENT_COLUMNS = {
    "rate", "rate_low", "rate_high", "ci_low", "ci_high", "response_rate", "threshold",
    "previous_rate", "share", "rate_se", "se",
}
POINT_COLUMNS = {"diff", "diff_low", "diff_high"}
NUMBER_COLUMNS = {"index", "index_low", "index_high", "composite", "importance", "coef",
                  "deff", "margin_at_threshold"}


def estate_label_map(results: RoundResults) -> pd.DataFrame:
    """``estate_id`` → name, community, firm, tier from the estates frame or the 台账."""
    cols = ["estate_id", "estate_name", "community", "firm", "tier"]
    base = results.estates if {"estate_id", "estate_name"} <= set(results.estates.columns) \
        else results.round.register
    have = [c for c in cols if c in base.columns]
    return base[have].drop_duplicates("estate_id") if "estate_id" in have else pd.DataFrame()


def format_frame(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Generic display: known columns renamed to Chinese, rates as 百分比, booleans 是/否."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    cols = [c for c in (columns or frame.columns) if c in frame.columns]
    out = pd.DataFrame(index=frame.index)
    for col in cols:
        s = frame[col]
        if col in PERCENT_COLUMNS and _numeric(s):
            out[col] = fmt.pct_series(s)
        elif col in POINT_COLUMNS and _numeric(s):
            out[col] = fmt.points_series(s)
        elif col in NUMBER_COLUMNS and _numeric(s):
            out[col] = fmt.number_series(s)
        elif s.dtype == bool:
            out[col] = s.map({True: "是", False: "否"}).astype(str)
        elif pd.api.types.is_float_dtype(s):
            whole = s.dropna()
            if len(whole) and (whole == whole.round()).all():
                out[col] = s.map(lambda v: f"{v:.0f}", na_action="ignore").astype(object).fillna(fmt.MISSING)
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
    e = results.estates
    rnd = results.round
    rows = [("评估区域", rnd.district), ("评估期", period_label(rnd.period)),
            ("置信水平", fmt.pct(rnd.confidence, 0))]
    if not e.empty:
        counts = _col(e, "verdict").value_counts()
        rows += [
            ("参评小区", f"{len(e)} 个"),
            ("总户数", fmt.integer(pd.to_numeric(_col(e, "households"), errors="coerce").sum())),
            ("有效样本", fmt.integer(pd.to_numeric(_col(e, "n"), errors="coerce").sum())),
            ("平均应答率", fmt.pct(pd.to_numeric(_col(e, "response_rate"), errors="coerce").mean())),
            *((f"{v}小区", f"{int(counts.get(v, 0))} 个") for v in VERDICTS),
            ("红榜小区", f"{int((_col(e, 'list') == '红榜').sum())} 个"),
            ("黑榜小区", f"{int((_col(e, 'list') == '黑榜').sum())} 个"),
        ]
    return pd.DataFrame(rows, columns=["项目", "内容"])


def tier_summary(results: RoundResults) -> pd.DataFrame:
    """Per tier: threshold, estates, verdict counts and (if scored) the tier's pooled rate."""
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
        out["满意率（区间）"] = fmt.interval_series(frame["rate"], _col(frame, "ci_low"),
                                              _col(frame, "ci_high")).to_numpy()
    return out


def estates_table(results: RoundResults, estate_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every estate: name, tier, threshold, rate with interval, index, sample, verdict, list."""
    e = results.estates
    if e.empty:
        return pd.DataFrame()
    if estate_ids is not None:
        e = e[e["estate_id"].isin(list(estate_ids))]
    e = e.sort_values([c for c in ("rank", "estate_id") if c in e.columns])
    out = pd.DataFrame({
        "小区编号": fmt.text_series(e["estate_id"]),
        "小区名称": fmt.text_series(_col(e, "estate_name", "")),
        "物业企业": fmt.text_series(_col(e, "firm", "")),
        "等级": fmt.text_series(_col(e, "tier", "")),
        "达标线": fmt.pct_series(_col(e, "threshold")),
        "满意率（区间）": fmt.interval_series(_col(e, "rate"), _col(e, "rate_low"),
                                       _col(e, "rate_high")),
        "满意度指数": fmt.index_interval_series(_col(e, "index"), _col(e, "index_low"),
                                           _col(e, "index_high")),
        "样本": fmt.text_series(_col(e, "n").astype("Int64")) if "n" in e else "",
        "结论": fmt.text_series(_col(e, "verdict", "")),
        "榜单": fmt.text_series(_col(e, "list", "")),
    })
    return out.reset_index(drop=True)


def lists_table(results: RoundResults, which: str) -> pd.DataFrame:
    """Estates on ``which`` (``"红榜"``/``"黑榜"``) with rate, firm and the reasons."""
    e = results.estates
    if e.empty or "list" not in e.columns:
        return pd.DataFrame()
    e = e[e["list"] == which]
    if e.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "小区名称": fmt.text_series(_col(e, "estate_name", "")),
        "物业企业": fmt.text_series(_col(e, "firm", "")),
        "满意率（区间）": fmt.interval_series(_col(e, "rate"), _col(e, "rate_low"),
                                       _col(e, "rate_high")),
        "结论": fmt.text_series(_col(e, "verdict", "")),
        "理由": fmt.text_series(_col(e, "reasons", "")),
    }).reset_index(drop=True)


def firms_table(results: RoundResults) -> pd.DataFrame:
    """Firm roll-up: estates, households, pooled rate with interval, list and reasons."""
    f = results.firms
    if f.empty:
        return pd.DataFrame()
    out = format_frame(f, [c for c in ("firm", "estates", "households") if c in f.columns])
    if "rate" in f.columns:
        out["满意率（区间）"] = fmt.interval_series(f["rate"], _col(f, "ci_low"),
                                              _col(f, "ci_high")).to_numpy()
    for col in ("list", "reasons"):
        if col in f.columns:
            out[LABELS[col]] = fmt.text_series(f[col]).to_numpy()
    return out


def changes_table(results: RoundResults) -> pd.DataFrame:
    """Change since the previous round per estate (names joined in)."""
    c = results.changes
    if c.empty or "estate_id" not in c.columns:
        return pd.DataFrame()
    names = estate_label_map(results)
    c = c.merge(names[["estate_id", "estate_name"]], on="estate_id", how="left") \
        if "estate_name" in names.columns and "estate_name" not in c.columns else c
    cur = results.estates[["estate_id", "rate"]] if {"estate_id", "rate"} <= set(
        results.estates.columns) and "rate" not in c.columns else None
    if cur is not None:
        c = c.merge(cur, on="estate_id", how="left")
    out = format_frame(c, [x for x in ("estate_name", "previous_rate", "rate") if x in c.columns])
    if "diff" in c.columns:
        change = fmt.points_series(c["diff"])
        if {"diff_low", "diff_high"} <= set(c.columns):
            change = change + "（" + fmt.points_series(c["diff_low"]).str.replace(
                "个百分点", "") + fmt.DASH + fmt.points_series(c["diff_high"]) + "）"
        out["变化（区间）"] = change.to_numpy()
    if "significant" in c.columns:
        out["显著"] = c["significant"].map({True: "是", False: "否"}).fillna("—").to_numpy()
    return out


def dimensions_table(results: RoundResults, estate_id: str | None = None) -> pd.DataFrame:
    """Dimension rates with intervals (one estate, or all estates with names)."""
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
    out["满意率（区间）"] = fmt.interval_series(_col(d, "rate"), _col(d, "ci_low"),
                                          _col(d, "ci_high"))
    if "index" in d.columns:
        out["指数"] = fmt.number_series(d["index"])
    if "n" in d.columns:
        out["样本"] = fmt.text_series(d["n"].astype("Int64"))
    return out.reset_index(drop=True)


def estate_profile(results: RoundResults, estate_id: str) -> pd.DataFrame:
    """One estate's key facts as a two-column table."""
    e = results.estates
    row = e[e["estate_id"].astype(str) == str(estate_id)] if "estate_id" in e.columns else e
    if row.empty:
        return pd.DataFrame()
    r = row.iloc[0]
    g = r.get
    facts = [
        ("小区名称", g("estate_name", "")), ("所属社区", g("community", "")),
        ("物业企业", g("firm", "")), ("服务等级", g("tier", "")),
        ("户数", fmt.integer(g("households"))), ("有效样本", fmt.integer(g("n"))),
        ("应答率", fmt.pct(g("response_rate"))), ("达标线", fmt.pct(g("threshold"))),
        ("满意率（区间）", fmt.interval(g("rate"), g("rate_low"), g("rate_high"))),
        ("满意度指数", fmt.index_interval(g("index"), g("index_low"), g("index_high"))),
        ("结论", g("verdict", "")), ("榜单", g("list", "") or "—"),
        ("理由", g("reasons", "") or "—"), ("提示", g("flags", "") or "—"),
    ]
    return pd.DataFrame([(k, "" if pd.isna(v) else str(v)) for k, v in facts],
                        columns=["项目", "内容"])


def indicators_table(results: RoundResults) -> pd.DataFrame:
    """Action-plan indicators; values and targets in [0, 1] show as 百分比."""
    ind = results.indicators
    if ind.empty:
        return pd.DataFrame()
    out = format_frame(ind)
    if {"value", "target"} <= set(ind.columns):
        v = pd.to_numeric(ind["value"], errors="coerce")
        t = pd.to_numeric(ind["target"], errors="coerce")
        share = (v.between(0, 1) | v.isna()) & (t.between(0, 1) | t.isna())
        out["数值"] = np.where(share, fmt.pct_series(v), fmt.number_series(v, 2))
        out["目标"] = np.where(share, fmt.pct_series(t), fmt.number_series(t, 2))
    return out


class NoData:
    """Displays 本轮无数据 in notebooks (Markdown) and as plain text."""

    def _repr_markdown_(self) -> str:
        return f"*{NO_DATA}*"

    def __repr__(self) -> str:
        return NO_DATA


def show(frame: pd.DataFrame | None) -> pd.DataFrame | NoData:
    """``frame`` for display, or :class:`NoData` when it is empty."""
    return NoData() if frame is None or frame.empty else frame
