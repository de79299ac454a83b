"""What a bureau reads first: the cover, the 摘要, the 社区 table, 存在问题与整改建议.

Pure functions of :class:`~evaluation.results.RoundResults` returning plain rows or display
frames (strings in the style of :mod:`evaluation.report.format`), shared by the district
report, the cards and the notebooks.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from evaluation.report import format as fmt
from evaluation.report import tables
from evaluation.results import RoundResults
from evaluation.round import COVER_KEYS, period_label
from wuye_common.vocabulary import OVERALL_DIMENSION

WEAKEST = 3  # dimensions named in an estate's 整改要求


def _col(frame: pd.DataFrame, name: str, default: object = np.nan) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series(default, index=frame.index)


def cover_rows(results: RoundResults) -> list[list[str]]:
    """The cover's rows (label, text): the ``[report]`` cover fields that are set, the
    survey time (default: the period) and the report date."""
    report = results.round.report or {}
    rows = []
    for key, label in COVER_KEYS.items():
        value = report.get(key)
        if key == "survey_period" and not value:
            value = period_label(results.round.period)
        if isinstance(value, list):
            value = "\n".join(value)
        if value:
            rows.append([label, str(value)])
    rows.append(["报告日期", str(results.meta.get("generated") or date.today().isoformat())])
    return rows


def escalation_map(results: RoundResults, level: str = "estate") -> pd.DataFrame:
    """Per estate (or firm) of the round's escalations: ``key, consecutive, flag`` where
    ``consecutive`` reads ``连续 2 轮黑榜`` (empty when the frame has none)."""
    esc = results.escalations
    if esc.empty or not {"level", "key", "list"} <= set(esc.columns):
        return pd.DataFrame(columns=["key", "consecutive", "flag"])
    esc = esc[esc["level"] == level]
    black = pd.to_numeric(_col(esc, "black_consecutive", 0), errors="coerce").fillna(0)
    red = pd.to_numeric(_col(esc, "red_consecutive", 0), errors="coerce").fillna(0)
    runs = np.where(esc["list"] == "黑榜", black, red).astype(int)
    text = np.where(runs > 1, "连续 " + runs.astype(str) + " 轮" + esc["list"].astype(str), "")
    return pd.DataFrame(
        {
            "key": esc["key"].astype(str).to_numpy(),
            "consecutive": text,
            "flag": fmt.text_series(_col(esc, "flag", "")).to_numpy(),
        }
    )


def _history_text(keys: pd.Series, results: RoundResults, level: str = "estate") -> pd.Series:
    """``连续 2 轮黑榜；退出预警`` per key (empty where nothing applies)."""
    esc = escalation_map(results, level).set_index("key")
    runs = keys.astype(str).map(esc["consecutive"]).astype(object).fillna("")
    flag = keys.astype(str).map(esc["flag"]).astype(object).fillna("")
    both = runs.where(flag == "", runs + "；" + flag).str.strip("；")
    return both.astype(str)


def lists_compact(results: RoundResults) -> pd.DataFrame:
    """The estate 红黑榜 for the 摘要: list, name, firm, tier, rate, history (no reasons)."""
    e = tables.prepare(results).estates
    if e.empty or "list" not in e.columns:
        return pd.DataFrame()
    e = e[e["list"].isin(["红榜", "黑榜"])]
    if e.empty:
        return pd.DataFrame()
    e = e.assign(_r=pd.to_numeric(_col(e, "rate"), errors="coerce"))
    e = pd.concat(
        [
            e[e["list"] == "红榜"].sort_values("_r", ascending=False),
            e[e["list"] == "黑榜"].sort_values("_r"),
        ]
    )
    return pd.DataFrame(
        {
            "榜单": e["list"].astype(str),
            "小区名称": fmt.text_series(_col(e, "estate_name", "")),
            "物业企业": fmt.text_series(_col(e, "firm", "")),
            "服务等级": fmt.text_series(_col(e, "tier", "")),
            "满意率（区间）": fmt.interval_series(
                _col(e, "rate"), _col(e, "rate_low"), _col(e, "rate_high")
            ),
            "上榜记录": _history_text(e["estate_id"], results).replace("", "首次上榜"),
        }
    ).reset_index(drop=True)


def firm_lists_compact(results: RoundResults) -> pd.DataFrame:
    """The firm 红黑榜 for the 摘要 (list, firm, estates, rate, history)."""
    f = tables.prepare(results).firms
    if f.empty or "list" not in f.columns:
        return pd.DataFrame()
    f = f[f["list"].isin(["红榜", "黑榜"])]
    f = f.assign(_o=(f["list"] == "黑榜").astype(int)).sort_values(["_o", "firm"])
    if f.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "榜单": f["list"].astype(str),
            "物业企业": fmt.text_series(f["firm"]),
            "小区数": fmt.integer_series(_col(f, "estates")),
            "满意率（区间）": fmt.interval_series(
                _col(f, "rate"), _col(f, "ci_low"), _col(f, "ci_high")
            ),
            "上榜记录": _history_text(f["firm"], results, "firm").replace("", "首次上榜"),
        }
    ).reset_index(drop=True)


def summary_lines(results: RoundResults) -> list[str]:
    """The 摘要's plain sentences: district rate, verdicts, lists, warnings, what changed."""
    results = tables.prepare(results)
    e = results.estates
    if e.empty:
        return [tables.NO_DATA]
    lines = [_district_sentence(results), _verdict_sentence(results)]
    red, black = (int((_col(e, "list", "") == x).sum()) for x in ("红榜", "黑榜"))
    f = results.firms
    firm_red, firm_black = (int((_col(f, "list", "") == x).sum()) for x in ("红榜", "黑榜"))
    lines.append(
        f"红榜小区 {red} 个、黑榜小区 {black} 个；红榜企业 {firm_red} 家、黑榜企业 {firm_black} 家"
        "（名单见下表，上榜理由见第五节）。"
    )
    lines += _warning_sentences(results)
    changed = _change_sentence(results)
    if changed:
        lines.append(changed)
    return lines


def _district_sentence(results: RoundResults) -> str:
    e = results.estates
    households = fmt.integer(pd.to_numeric(_col(e, "households"), errors="coerce").sum())
    n = fmt.integer(pd.to_numeric(_col(e, "n"), errors="coerce").sum())
    rr = fmt.pct(pd.to_numeric(_col(e, "response_rate"), errors="coerce").mean())
    text = f"本轮测评 {len(e)} 个小区、{households} 户，有效样本 {n} 份，平均应答率（RR1）{rr}"
    d = results.district
    if not d.empty and {"tier", "rate"} <= set(d.columns):
        overall = d[~d["tier"].isin(list(results.round.thresholds))]
        if len(overall):
            r = overall.iloc[-1]
            text += f"；全区满意率 {fmt.interval(r['rate'], r.get('ci_low'), r.get('ci_high'))}"
    return text + "。"


def _verdict_sentence(results: RoundResults) -> str:
    e = results.estates
    counts = _col(e, "verdict", "").value_counts()
    parts = "、".join(f"{fmt.quoted(v)} {int(counts.get(v, 0))} 个" for v in tables.VERDICTS)
    failing = e[_col(e, "verdict", "") == "未达标"]
    text = f"按各等级达标线判定：{parts}。"
    if len(failing):
        failing = failing.assign(_r=pd.to_numeric(failing["rate"], errors="coerce"))
        failing = failing.sort_values("_r")
        names = "、".join(
            f"{n}（{fmt.pct(r)}）"
            for n, r in zip(_col(failing, "estate_name", ""), failing["_r"], strict=True)
        )
        text += f"未达标小区：{names}。"
    return text


def _warning_sentences(results: RoundResults) -> list[str]:
    out = []
    for level, what in (("estate", "小区"), ("firm", "企业")):
        esc = escalation_map(results, level)
        warned = esc[esc["flag"] == "退出预警"]
        if len(warned):
            names = _names(warned["key"], results, level)
            out.append(f"{fmt.TERMS['exit_warning']}（{what}）：{'、'.join(names)}。")
        praised = esc[esc["flag"] == "推荐表彰"]
        if len(praised):
            names = _names(praised["key"], results, level)
            out.append(f"推荐表彰（{what}）：{'、'.join(names)}。")
    return out


def _names(keys: pd.Series, results: RoundResults, level: str) -> list[str]:
    if level != "estate":
        return keys.astype(str).tolist()
    labels = tables.estate_label_map(results)
    if labels.empty or "estate_name" not in labels.columns:
        return keys.astype(str).tolist()
    names = pd.Series(labels["estate_name"].to_numpy(), index=labels["estate_id"].astype(str))
    return keys.astype(str).map(names).fillna(keys.astype(str)).astype(str).tolist()


def _change_sentence(results: RoundResults) -> str:
    c = results.changes
    if c.empty or "significant" not in c.columns or "diff" not in c.columns:
        return ""
    sig = c["significant"].astype("boolean").fillna(False).astype(bool)
    diff = pd.to_numeric(c["diff"], errors="coerce")
    up, down = int((sig & (diff > 0)).sum()), int((sig & (diff < 0)).sum())
    return (
        f"与上一轮相比：{len(c)} 个可比小区中，满意率显著上升 {up} 个、显著下降 {down} 个，"
        f"其余变化在抽样误差之内（详见第七节）。"
    )


def community_frame(results: RoundResults) -> pd.DataFrame:
    """Per 社区 (numbers): ``community, estates, households, n``, the verdict counts,
    ``rate`` (the household-weighted mean of its estates' rates: a point estimate with the
    estates as strata), ``red_estates, black_estates``; best rate first."""
    e = tables.prepare(results).estates
    if e.empty or "community" not in e.columns:
        return pd.DataFrame()
    h = pd.to_numeric(_col(e, "households"), errors="coerce")
    r = pd.to_numeric(_col(e, "rate"), errors="coerce")
    verdict, listed = _col(e, "verdict", "").astype(str), _col(e, "list", "").astype(str)
    parts = pd.DataFrame(
        {
            "community": e["community"].astype(str),
            "estates": 1,
            "households": h,
            "n": pd.to_numeric(_col(e, "n"), errors="coerce"),
            **{v: (verdict == v).astype(int) for v in tables.VERDICTS},
            "_hr": (h * r).where(r.notna()),
            "_hs": h.where(r.notna()),
            "red_estates": (listed == "红榜").astype(int),
            "black_estates": (listed == "黑榜").astype(int),
        }
    )
    out = parts.groupby("community", sort=True).sum(min_count=1)
    out.insert(4 + len(tables.VERDICTS) - 1, "rate", out["_hr"] / out["_hs"].replace(0, np.nan))
    out = out.drop(columns=["_hr", "_hs"]).sort_values("rate", ascending=False)
    return out.reset_index()


def community_table(results: RoundResults) -> pd.DataFrame:
    """:func:`community_frame` for display (Chinese headers, formatted)."""
    frame = community_frame(results)
    if frame.empty:
        return frame
    out = pd.DataFrame({"所属社区": frame["community"]})
    for col, label in (("estates", "小区数"), ("households", "户数"), ("n", "有效样本")):
        out[label] = fmt.integer_series(frame[col])
    for v in tables.VERDICTS:
        out[v] = fmt.integer_series(frame[v])
    out["满意率（户数加权）"] = fmt.pct_series(frame["rate"])
    out["红榜"] = fmt.integer_series(frame["red_estates"])
    out["黑榜"] = fmt.integer_series(frame["black_estates"])
    return out


def weakest_dimensions(results: RoundResults, k: int = WEAKEST) -> pd.Series:
    """Per estate id, its ``k`` lowest service dimensions (the overall item apart):
    ``停车管理 45.2%、收费与公开 48.0%``."""
    d = results.dimensions
    if d.empty or not {"estate_id", "dimension", "rate"} <= set(d.columns):
        return pd.Series(dtype=str)
    d = d[d["dimension"].astype(str) != OVERALL_DIMENSION]
    d = d.assign(_r=pd.to_numeric(d["rate"], errors="coerce")).dropna(subset=["_r"])
    d = d.sort_values(["estate_id", "_r"]).groupby(d["estate_id"].astype(str)).head(k)
    text = d["dimension"].astype(str) + " " + fmt.pct_series(d["_r"])
    return text.groupby(d["estate_id"].astype(str)).agg("、".join)


def requirements(results: RoundResults) -> pd.Series:
    """Per estate id, its 整改要求 (for 未达标 or 黑榜 estates; others empty)."""
    e = tables.prepare(results).estates
    if e.empty:
        return pd.Series(dtype=str)
    ids = e["estate_id"].astype(str)
    weak = ids.map(weakest_dimensions(results)).astype(object).fillna("")
    due = (_col(e, "verdict", "") == "未达标") | (_col(e, "list", "") == "黑榜")
    text = np.where(
        weak != "",
        "优先整改满意率最低的分项：" + weak + "；物业企业应在一个月内提交整改方案，下一轮复测。",
        "物业企业应在一个月内提交整改方案，下一轮复测。",
    )
    return pd.Series(np.where(due.to_numpy(), text, ""), index=ids.to_numpy())


def estate_themes(results: RoundResults, k: int = WEAKEST) -> pd.Series:
    """Per estate id, its ``k`` most mentioned comment themes (``其他`` aside)."""
    t = results.comment_themes
    if t.empty or not {"estate_id", "theme", "mentions"} <= set(t.columns):
        return pd.Series(dtype=str)
    t = t[t["theme"].astype(str) != "其他"].sort_values(
        ["estate_id", "mentions"], ascending=[True, False]
    )
    t = t.groupby(t["estate_id"].astype(str)).head(k)
    return t["theme"].astype(str).groupby(t["estate_id"].astype(str)).agg("、".join)


def problems_table(results: RoundResults) -> pd.DataFrame:
    """存在问题与整改建议 per estate: the 未达标 and black-listed estates, worst first, with
    their weakest dimensions and what is required."""
    e = tables.prepare(results).estates
    if e.empty:
        return pd.DataFrame()
    req = requirements(results)
    ids = e["estate_id"].astype(str)
    due = ids.map(req).astype(object).fillna("") != ""
    e = e[due.to_numpy()].assign(_r=pd.to_numeric(_col(e, "rate"), errors="coerce")[due])
    if e.empty:
        return pd.DataFrame()
    e = e.sort_values("_r")
    weak = weakest_dimensions(results)
    return pd.DataFrame(
        {
            "小区名称": fmt.text_series(_col(e, "estate_name", "")),
            "物业企业": fmt.text_series(_col(e, "firm", "")),
            "满意率": fmt.pct_series(e["_r"]),
            "结论": fmt.text_series(_col(e, "verdict", "")),
            "榜单": fmt.text_series(_col(e, "list", "")),
            "最弱分项": e["estate_id"].astype(str).map(weak).astype(object).fillna("—").to_numpy(),
            "居民意见主题": e["estate_id"]
            .astype(str)
            .map(estate_themes(results))
            .astype(object)
            .fillna("—")
            .to_numpy(),
        }
    ).reset_index(drop=True)


def district_advice(results: RoundResults) -> list[str]:
    """The district's problems in plain sentences, from the key drivers and the
    importance–performance quadrants."""
    imp = results.importance
    out = []
    dims = results.dimensions
    if not dims.empty and {"dimension", "rate"} <= set(dims.columns):
        dims = dims[dims["dimension"].astype(str) != OVERALL_DIMENSION]
        mean = pd.to_numeric(dims["rate"], errors="coerce").groupby(dims["dimension"].astype(str))
        low = mean.mean().dropna().sort_values().head(WEAKEST)
        if len(low):
            names = "、".join(f"{d}（各小区平均 {fmt.pct(r)}）" for d, r in low.items())
            out.append(f"全区满意率最低的分项：{names}。")
    if not imp.empty and {"dimension", "quadrant"} <= set(imp.columns):
        perf = pd.to_numeric(_col(imp, "performance"), errors="coerce")
        for quadrant, advice in (
            ("改进区", "对总体满意度影响大而满意率偏低，应列为全区整改重点"),
            ("机会区", "满意率偏低，影响次之，宜在整改重点之后安排"),
        ):
            rows = imp[imp["quadrant"] == quadrant]
            if len(rows):
                names = "、".join(
                    f"{d}（{fmt.pct(p)}）"
                    for d, p in zip(rows["dimension"], perf[rows.index], strict=True)
                )
                out.append(f"{names}：{advice}。")
    themes = tables.district_themes(results, top=4)
    themes = themes[themes["theme"] != "其他"].head(3) if not themes.empty else themes
    if len(themes):
        named = "、".join(
            f"{t}（{int(m)} 次）" for t, m in zip(themes["theme"], themes["mentions"], strict=True)
        )
        out.append(f"居民意见中提及最多的问题：{named}，整改应优先回应（见第十一节）。")
    d = results.drivers
    if not d.empty and {"dimension", "rank"} <= set(d.columns):
        top = d.sort_values("rank").head(3)["dimension"].astype(str).tolist()
        out.append(f"关键驱动因素分析表明，{'、'.join(top)}对居民总体满意度影响最大（见第六节）。")
    return out or [tables.NO_DATA]
